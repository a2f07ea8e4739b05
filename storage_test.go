package goroutinereceiver

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
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
	assert.Equal(t, [numOutcomes]int64{outcomeSuccess: 1}, second.telemetry.t.restores, "one restore, in the collector's own telemetry")
	assert.Positive(t, first.telemetry.t.saves[outcomeSuccess])
	assert.Zero(t, first.telemetry.t.saves[outcomeFailure])
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
	assert.Equal(t, [numOutcomes]int64{outcomeDiscarded: 1}, s.telemetry.t.restores)
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
// storage, fails the start with the extension's name.
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
			s, err := newScraper(cfg, receivertest.NewNopSettings(metadata.Type), time.Now)
			require.NoError(t, err)
			err = s.start(context.Background(), tt.host)
			require.ErrorContains(t, err, tt.want)
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
