package goroutinereceiver

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/extension/extensiontest"
	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/receiver/receivertest"

	"github.com/goroutinewatch/goroutinereceiver/internal/metadata"
	"github.com/goroutinewatch/goroutinereceiver/internal/state"
	"github.com/goroutinewatch/goroutinereceiver/internal/state/statetest"
)

// extensions is a collector host that holds the extensions given.
type extensions map[component.ID]component.Component

func (e extensions) GetExtensions() map[component.ID]component.Component { return e }

var fileStorageID = component.MustNewID("file_storage")

// fileStorage starts the real file_storage extension over dir and
// returns the host that holds it.
func fileStorage(tb testing.TB, dir string) extensions {
	tb.Helper()
	return extensions{fileStorageID: statetest.FileStorage(tb, dir)}
}

// startStored starts a receiver with storage on host, its clock at at; the
// test shuts it down, as a collector's restart does.
func startStored(t *testing.T, cfg *Config, host component.Host, at time.Duration) *clockScraper {
	t.Helper()
	return startClockScraper(t, cfg, host, storedSettings(), at)
}

// TestStorageAcrossRestarts runs two receivers in turn over the real
// file_storage: the second starts with every window the first held at its
// shutdown, the record of a target no longer configured is deleted, and
// each target reports the size of its state.
func TestStorageAcrossRestarts(t *testing.T) {
	host := fileStorage(t, t.TempDir())
	a, b := serveFile(t, "testdata/profiles/leaktarget.pb.gz"), serveFile(t, "testdata/profiles/fanout-1.pb.gz")
	cfg := createDefaultConfig()
	cfg.Storage = &fileStorageID
	cfg.Targets = []TargetConfig{{Endpoint: a.URL, ServiceName: "a"}, {Endpoint: b.URL, ServiceName: "b"}}

	first := startStored(t, cfg, host, 0)
	var m pmetric.Metrics
	for i := range 5 {
		m = first.scrapeAt(t, time.Duration(i)*30*time.Second)
	}
	assert.Positive(t, gaugeValue(t, byService(t, m, "a"), "go.goroutine.state.size"), "a save within two minutes")
	assert.False(t, hasMetric(byService(t, m, "a"), "go.goroutine.state.errors"))
	before := first.targets[0].appendState(nil, t0.Add(3*time.Minute))
	groups := first.targets[0].tracker.Len()
	require.Positive(t, groups)
	require.NoError(t, first.shutdown(context.Background()))

	// Started again without target b.
	cfg.Targets = cfg.Targets[:1]
	second := startStored(t, cfg, host, 3*time.Minute)
	assert.Zero(t, second.targets[0].health.stateErrors)
	assert.Equal(t, [numOutcomes]int64{outcomeSuccess: 1}, second.telemetry.sum().restores, "one restore, in the collector's own telemetry")
	assert.Positive(t, first.telemetry.sum().saves[outcomeSuccess])
	assert.Zero(t, first.telemetry.sum().saves[outcomeFailure])
	assert.Equal(t, groups, second.targets[0].tracker.Len(), "every group's windows restored")
	assert.True(t, bytes.Equal(before, second.targets[0].appendState(nil, t0.Add(3*time.Minute))), "the state as it was at shutdown")
	require.NoError(t, second.shutdown(context.Background()))

	client := storageClient(t, host)
	gone, err := client.Get(context.Background(), state.Key(first.targets[1].resource.url))
	require.NoError(t, err)
	assert.Nil(t, gone, "the record of a target no longer configured")
	require.NoError(t, client.Close(context.Background()))
}

// TestStorageUnreadable starts a receiver whose storage holds garbage for
// its target: the start goes on, the target starts afresh, the record is
// deleted, and the target's metrics count it.
func TestStorageUnreadable(t *testing.T) {
	host := fileStorage(t, t.TempDir())
	a := serveFile(t, "testdata/profiles/leaktarget.pb.gz")
	cfg := createDefaultConfig()
	cfg.Storage = &fileStorageID
	cfg.Endpoint = a.URL

	client := storageClient(t, host)
	u, err := targetURL(a.URL)
	require.NoError(t, err)
	key := state.Key(u.Redacted())
	require.NoError(t, client.Set(context.Background(), key, []byte("grst\x01 not a record")))
	require.NoError(t, client.Close(context.Background()))

	s := startStored(t, cfg, host, 0)
	m := s.scrapeAt(t, 0)
	assert.Equal(t, [numOutcomes]int64{outcomeDiscarded: 1}, s.telemetry.sum().restores)
	require.NoError(t, s.shutdown(context.Background()))
	client = storageClient(t, host)
	got, err := client.Get(context.Background(), key)
	require.NoError(t, err)
	require.NoError(t, client.Close(context.Background()))
	assert.NotEqual(t, []byte("grst\x01 not a record"), got, "the unreadable record is deleted, and the shutdown saved the target's own")
	_, err = state.Decode(got, 1<<20)
	require.NoError(t, err)

	errs := metric(t, m.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics(), "go.goroutine.state.errors").Sum().DataPoints()
	require.Equal(t, 1, errs.Len())
	kind, _ := errs.At(0).Attributes().Get("goroutine.state.error")
	assert.Equal(t, metadata.AttributeGoroutineStateErrorUnreadable.String(), kind.Str())
	assert.Equal(t, int64(1), errs.At(0).IntValue())
}

// TestStorageFileCorrupt starts a receiver whose storage file is not a
// database: the file_storage extension cannot open it, and the receiver
// starts anyway, keeping its targets' state in memory, counted.
func TestStorageFileCorrupt(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "receiver_goroutine_"), bytes.Repeat([]byte("not a database "), 1000), 0o600))
	host := fileStorage(t, dir)
	a := serveFile(t, "testdata/profiles/leaktarget.pb.gz")
	cfg := createDefaultConfig()
	cfg.Storage = &fileStorageID
	cfg.Endpoint = a.URL
	s := startStored(t, cfg, host, 0)
	assert.Nil(t, s.store)
	m := s.scrapeAt(t, 0)
	require.NoError(t, s.shutdown(context.Background()))
	errs := metric(t, m.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics(), "go.goroutine.state.errors").Sum().DataPoints()
	require.Equal(t, 1, errs.Len())
	kind, _ := errs.At(0).Attributes().Get("goroutine.state.error")
	assert.Equal(t, metadata.AttributeGoroutineStateErrorRead.String(), kind.Str())
}

// TestStorageMisconfigured: a storage that is not configured, or not a
// storage, fails the start with the extension's name, and leaves none of
// the receiver's instruments in the collector's telemetry: before, a start
// that failed left their callbacks registered, reporting a receiver that
// never ran.
func TestStorageMisconfigured(t *testing.T) {
	tests := []struct {
		name string
		host component.Host
		want string
	}{
		{name: "not configured", host: extensions{}, want: `no extension "file_storage" is configured`},
		{name: "not a storage", host: extensions{fileStorageID: nopExtension(t)}, want: `"file_storage" is not a storage extension`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := createDefaultConfig()
			cfg.Storage = &fileStorageID
			cfg.Endpoint = "http://127.0.0.1:1"
			tel := componenttest.NewTelemetry()
			t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
			set := receivertest.NewNopSettings(metadata.Type)
			set.TelemetrySettings = tel.NewTelemetrySettings()
			s, err := newScraper(cfg, set, time.Now)
			require.NoError(t, err)
			err = s.start(context.Background(), tt.host)
			require.ErrorContains(t, err, tt.want)
			_, err = tel.GetMetric("otelcol_receiver_goroutine_scrapes")
			require.Error(t, err, "the failed start's instruments are still registered")
			require.NoError(t, s.shutdown(context.Background()))
		})
	}
}

// storedSettings are a receiver's settings under one id, the same from
// run to run, as a collector's configuration names it: its storage is the
// id's.
func storedSettings() receiver.Settings {
	set := receivertest.NewNopSettings(metadata.Type)
	set.ID = component.NewID(metadata.Type)
	return set
}

// storageClient is a client of the receiver's own namespace in host's
// file_storage, to look at what the receiver keeps while no receiver runs
// (a file holds one client at a time).
func storageClient(tb testing.TB, host extensions) storage.Client {
	tb.Helper()
	c, err := host[fileStorageID].(storage.Extension).GetClient(context.Background(), component.KindReceiver, storedSettings().ID, "")
	require.NoError(tb, err)
	return c
}

func nopExtension(t *testing.T) component.Component {
	f := extensiontest.NewNopFactory()
	ext, err := f.Create(context.Background(), extensiontest.NewNopSettings(f.Type()), f.CreateDefaultConfig())
	require.NoError(t, err)
	return ext
}

// counting is the real file_storage, its clients' writes counted.
type counting struct {
	storage.Extension
	sets, batches *atomic.Int32
}

func (c counting) GetClient(ctx context.Context, kind component.Kind, id component.ID, name string) (storage.Client, error) {
	client, err := c.Extension.GetClient(ctx, kind, id, name)
	return countingClient{Client: client, sets: c.sets, batches: c.batches}, err
}

type countingClient struct {
	storage.Client
	sets, batches *atomic.Int32
}

func (c countingClient) Set(ctx context.Context, key string, value []byte) error {
	c.sets.Add(1)
	return c.Client.Set(ctx, key, value)
}

func (c countingClient) Batch(ctx context.Context, ops ...*storage.Operation) error {
	c.batches.Add(1)
	return c.Client.Batch(ctx, ops...)
}

// TestShutdownSavesInOneBatch shuts down a receiver of three targets: their
// states are written in one batch of the storage, one transaction, where
// before each was a write of its own.
func TestShutdownSavesInOneBatch(t *testing.T) {
	sets, batches := new(atomic.Int32), new(atomic.Int32)
	host := extensions{fileStorageID: counting{Extension: statetest.FileStorage(t, t.TempDir()), sets: sets, batches: batches}}
	cfg := createDefaultConfig()
	cfg.Storage = &fileStorageID
	for i := range 3 {
		cfg.Targets = append(cfg.Targets, TargetConfig{Endpoint: serveFile(t, "testdata/profiles/leaktarget.pb.gz").URL, ServiceName: fmt.Sprint("t", i)})
	}
	s := startStored(t, cfg, host, 0)
	s.scrapeAt(t, 0)
	sets.Store(0)
	batches.Store(0)
	require.NoError(t, s.shutdown(context.Background()))
	assert.Zero(t, sets.Load(), "a write a target")
	assert.Equal(t, int32(1), batches.Load())
	restored := startStored(t, cfg, host, time.Minute)
	t.Cleanup(func() { require.NoError(t, restored.shutdown(context.Background())) })
	assert.Equal(t, [numOutcomes]int64{outcomeSuccess: 3}, restored.telemetry.sum().restores)
}

// TestShutdownMidScrapeKeepsState shuts the receiver down while its loop
// waits on a target that failed twice before and now never answers: the
// scrape cut short is no failure of the target's, so its leak windows,
// which a third failure in a row would have freed, are saved whole and
// restored. Before, the cancelled fetch counted as a connect failure, the
// third, and the windows were freed just before the final save.
func TestShutdownMidScrapeKeepsState(t *testing.T) {
	good := mustRead("testdata/profiles/leaktarget.pb.gz")
	var mode atomic.Int32 // 0 answers, 1 fails, 2 hangs
	hung := make(chan struct{}, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch mode.Load() {
		case 0:
			_, _ = w.Write(good)
		case 1:
			http.Error(w, "busy", http.StatusServiceUnavailable)
		default:
			select {
			case hung <- struct{}{}:
			default:
			}
			<-r.Context().Done()
		}
	}))
	t.Cleanup(srv.Close)
	host := fileStorage(t, t.TempDir())
	cfg := createDefaultConfig()
	cfg.Storage, cfg.Endpoint = &fileStorageID, srv.URL
	cfg.CollectionInterval, cfg.InitialDelay, cfg.Timeout = time.Minute, 0, 50*time.Second

	s := startStored(t, cfg, host, 0)
	for i := range 4 {
		s.scrapeAt(t, time.Duration(i)*time.Minute)
	}
	mode.Store(1)
	for i := 4; i < 4+forgetAfter-1; i++ {
		_, err := s.scrape(context.Background())
		require.ErrorContains(t, err, "HTTP status 503")
	}
	groups := s.targets[0].tracker.Len()
	require.Positive(t, groups)

	mode.Store(2)
	s.slots[0] = slotNow(cfg.CollectionInterval)
	s.run()
	<-hung // the loop's scrape waits on the target
	require.NoError(t, s.shutdown(context.Background()))
	tg := s.targets[0]
	assert.Zero(t, tg.health.errors[metadata.AttributeErrorTypeConnect], "the cancelled fetch counted as a failure")
	assert.Equal(t, int64(forgetAfter-1), tg.health.errors[metadata.AttributeErrorTypeHTTPStatus])
	assert.Equal(t, groups, tg.tracker.Len(), "the windows freed at shutdown")

	restored := startStored(t, cfg, host, 10*time.Minute)
	t.Cleanup(func() { require.NoError(t, restored.shutdown(context.Background())) })
	assert.Equal(t, groups, restored.targets[0].tracker.Len(), "every window saved and restored")
}
