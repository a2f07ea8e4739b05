package goroutinereceiver

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/receiver/receivertest"

	"github.com/goroutinewatch/goroutinereceiver/internal/decode"
	"github.com/goroutinewatch/goroutinereceiver/internal/fetch"
	"github.com/goroutinewatch/goroutinereceiver/internal/group"
	"github.com/goroutinewatch/goroutinereceiver/internal/metadata"
)

// TestPanicIsContained makes the decoder panic for one target: that target
// fails with an internal error, the other keeps its data, and the next
// scrape works again.
func TestPanicIsContained(t *testing.T) {
	bad := serveFile(t, "testdata/profiles/fanout-1.pb.gz")
	good := serveFile(t, "testdata/profiles/leaktarget.pb.gz") // another process
	cfg := createDefaultConfig()
	cfg.Targets = []TargetConfig{{Endpoint: bad.URL, ServiceName: "bad"}, {Endpoint: good.URL, ServiceName: "good"}}
	s := newTestScraper(t, cfg)
	s.reader.decode = func(d *decode.Decoder, r io.Reader, lim decode.Limits) (*decode.Profile, error) {
		p, err := d.Decode(r, lim)
		if err == nil && p.Instance() == badInstance {
			panic("decoder bug")
		}
		return p, err
	}
	m, err := s.scrape(context.Background())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "internal error: panic reading the profile: decoder bug")
	assert.Len(t, s.workers, cap(s.workers), "every worker given back")
	assert.Equal(t, int64(0), gaugeValue(t, byService(t, m, "bad"), "go.goroutine.scrape.up"))
	assert.Equal(t, int64(1), gaugeValue(t, byService(t, m, "good"), "go.goroutine.scrape.up"))
	errs := metric(t, byService(t, m, "bad"), "go.goroutine.scrape.errors").Sum().DataPoints()
	typ, _ := errs.At(0).Attributes().Get("error.type")
	assert.Equal(t, metadata.AttributeErrorTypeInternal.String(), typ.Str())

	s.reader.decode = (*decode.Decoder).Decode
	_, err = s.scrape(context.Background())
	require.NoError(t, err)
}

// TestPanicInEvidenceIsContained makes the decoder panic on the leak
// profile, an evidence fetch: the fetch fails with an internal error, the
// scrape goes on, counted once, as a success, and the target keeps its
// windows. Before, the panic came out of the middle of the target's report,
// which ran again as a failed scrape over the half-written state: the
// scrape counted as both a success and a failure, and reported down.
func TestPanicInEvidenceIsContained(t *testing.T) {
	profile := mustRead("testdata/dumps/leaktarget.pb.gz")
	_, url := startPprofTarget(t, profile, nil, mustRead("testdata/dumps/leaktarget-leak.pb.gz"))
	cfg := createDefaultConfig()
	cfg.Endpoint, cfg.LeakProfile = url, ptr(true)
	cs := newClockScraper(t, cfg)
	cs.reader.decode = func(d *decode.Decoder, r io.Reader, lim decode.Limits) (*decode.Profile, error) {
		p, err := d.Decode(r, lim)
		if err == nil && p.SampleType[0].Type == "goroutineleak" {
			panic("decoder bug")
		}
		return p, err
	}
	m := cs.scrapeAt(t, 0)
	ms := m.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics()
	assert.Equal(t, int64(1), gaugeValue(t, ms, "go.goroutine.scrape.up"))
	errs := metric(t, ms, "go.goroutine.scrape.errors").Sum().DataPoints()
	require.Equal(t, 1, errs.Len())
	typ, _ := errs.At(0).Attributes().Get("error.type")
	assert.Equal(t, metadata.AttributeErrorTypeInternal.String(), typ.Str())
	tg := cs.targets[0]
	assert.Equal(t, int64(1), tg.health.scrapesOK)
	assert.Zero(t, tg.health.scrapeErrors, "the scrape counted as failed")
	assert.Positive(t, tg.tracker.Len(), "the windows of the scrape kept")
	assert.Equal(t, int64(1), tg.health.fetches[evidenceLeakProfile][outcomeFailure])
	assert.Len(t, cs.workers, cap(cs.workers), "every worker given back")
}

// brokenSource reads an observation no grouper made: a group without an
// identity, which observing it trips over, as a bug in the stages would.
type brokenSource struct{}

func (brokenSource) read(ctx context.Context, l *lease, _ fetch.Endpoints) observation {
	if _, err := l.get(ctx); err != nil {
		return observation{err: err}
	}
	return observation{groups: group.Result{Total: 3, Groups: []group.Group{{Key: group.Key{ID: 7}, Count: 3}}}}
}

// TestPanicForgetsTheTarget makes a stage that writes the target's state
// panic: the scrape is the target's internal error, counted once; what the
// target learned is forgotten rather than kept half-written; the next
// scrape starts it afresh.
func TestPanicForgetsTheTarget(t *testing.T) {
	srv := serveFile(t, "testdata/profiles/leaktarget.pb.gz")
	cfg := createDefaultConfig()
	cfg.Endpoint = srv.URL
	cs := newClockScraper(t, cfg)
	cs.scrapeAt(t, 0)
	tg := cs.targets[0]
	require.Positive(t, tg.tracker.Len())
	good := cs.source
	cs.source = brokenSource{}
	cs.now = t0.Add(30 * time.Second)
	_, err := cs.scrape(context.Background())
	require.ErrorContains(t, err, "internal error: panic observing the groups")
	assert.Zero(t, tg.tracker.Len(), "the half-written windows kept")
	assert.Empty(t, tg.suspected)
	assert.Equal(t, int64(1), tg.health.scrapesOK)
	assert.Equal(t, int64(1), tg.health.scrapeErrors[metadata.AttributeErrorTypeInternal], "counted once")
	assert.Len(t, cs.workers, cap(cs.workers), "every worker given back")

	cs.source = good
	cs.scrapeAt(t, time.Minute)
	assert.Positive(t, tg.tracker.Len(), "started afresh")
}

// badInstance is the process identity of fanout-1.pb.gz, the profile the
// panicking decoder chokes on.
var badInstance = func() uint64 {
	p, err := decode.Decode(bytes.NewReader(validProfile), decode.Limits{MaxBytes: 1 << 20})
	if err != nil {
		panic(err)
	}
	return p.Instance()
}()

// TestShutdownCancelsScrape shuts the receiver down while its scrape waits
// on a target that never answers, under a deadline an hour away: shutdown
// returns once the scrape is cancelled (the target sees its request end),
// not at the deadline, and no goroutine is left behind (goleak, in
// TestMain).
func TestShutdownCancelsScrape(t *testing.T) {
	arrived, cancelled := make(chan struct{}, 1), make(chan struct{}, 1)
	hung := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		<-r.Context().Done()
		cancelled <- struct{}{}
	}))
	t.Cleanup(hung.Close)
	cfg := createDefaultConfig()
	cfg.Endpoint = hung.URL
	cfg.CollectionInterval, cfg.Timeout, cfg.InitialDelay = time.Hour, time.Hour, 0

	sink := new(consumertest.MetricsSink)
	r, err := NewFactory().CreateMetrics(context.Background(), receivertest.NewNopSettings(metadata.Type), cfg, sink)
	require.NoError(t, err)
	sc := r.(*goroutineReceiver).scraper
	sc.slots[0] = slotNow(cfg.CollectionInterval)
	require.NoError(t, r.Start(context.Background(), componenttest.NewNopHost()))
	<-arrived // the first scrape waits on the target

	stopped := make(chan error, 1)
	go func() { stopped <- r.Shutdown(context.Background()) }()
	select {
	case err := <-stopped:
		require.NoError(t, err)
	case <-time.After(time.Minute):
		t.Fatal("shutdown waits for the scrape's deadline, an hour away")
	}
	select {
	case <-cancelled: // the request was cut, not left open behind the receiver
	case <-time.After(time.Minute):
		t.Fatal("the target's request is still open after shutdown")
	}
	assert.Zero(t, sink.DataPointCount(), "a scrape cut short by shutdown is dropped")
}

// TestTargetThatWentAwayIsForgotten: after forgetAfter failed scrapes in a
// row, a target's leak windows are freed.
func TestTargetThatWentAwayIsForgotten(t *testing.T) {
	srv := serveFile(t, "testdata/profiles/leaktarget.pb.gz")
	cfg := createDefaultConfig()
	cfg.Endpoint = srv.URL
	cfg.Timeout = time.Second
	s := newTestScraper(t, cfg)
	_, err := s.scrape(context.Background())
	require.NoError(t, err)
	require.Positive(t, s.targets[0].tracker.Len())

	srv.Close()
	for i := range forgetAfter {
		_, err := s.scrape(context.Background())
		require.Error(t, err)
		if i < forgetAfter-1 {
			assert.Positive(t, s.targets[0].tracker.Len(), "a failed scrape or two is a gap")
		}
	}
	assert.Zero(t, s.targets[0].tracker.Len())
}
