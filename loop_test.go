package goroutinereceiver

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/receiver/receivertest"
	otelattribute "go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/goroutinewatch/goroutinereceiver/internal/metadata"
	"github.com/goroutinewatch/goroutinereceiver/internal/state"
)

// TestSlotNext: a slot's instants fall at its offset past each multiple of
// the interval, on the wall clock.
func TestSlotNext(t *testing.T) {
	s := slot{interval: 10 * time.Second, offset: 3 * time.Second}
	at := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		give, want time.Duration // past at
	}{
		{0, 3 * time.Second},
		{3 * time.Second, 3 * time.Second},
		{3*time.Second + 1, 13 * time.Second},
		{9 * time.Second, 13 * time.Second},
		{59 * time.Second, 63 * time.Second},
	}
	for _, tt := range tests {
		assert.Equal(t, at.Add(tt.want), s.next(at.Add(tt.give)), "at +%v", tt.give)
	}
	assert.Equal(t, time.Unix(-7, 0), s.next(time.Unix(-8, 0)), "before the epoch")
}

// TestSlotsSpread: the slots of a thousand targets spread over the
// interval: every tenth of it holds a tenth of them, give or take a third.
func TestSlotsSpread(t *testing.T) {
	const n, bins = 1000, 10
	interval := 5 * time.Second
	var counts [bins]int
	for i := range n {
		u, err := targetURL(fmt.Sprintf("10.0.%d.%d:6060", i/250, i%250+1))
		require.NoError(t, err)
		s := slotOf(state.Key(u.Redacted()), interval)
		require.Less(t, s.offset, interval)
		counts[s.offset*bins/interval]++
	}
	for b, c := range counts {
		assert.InDelta(t, n/bins, c, n/bins/3, "tenth %d of the interval", b)
	}
}

// TestLoopNeverOverlaps runs scrapes that outlast the interval several
// times: none runs beside another, and the next starts at a slot after the
// last ended, not at once for each slot it ran past.
func TestLoopNeverOverlaps(t *testing.T) {
	const long = 7 * time.Millisecond
	var running, overlapped atomic.Int32
	starts := make(chan time.Time, 100)
	l := &loop{slot: slot{interval: 2 * time.Millisecond}, scrape: func(context.Context) {
		if running.Add(1) > 1 {
			overlapped.Add(1)
		}
		starts <- time.Now()
		time.Sleep(long) // the scrape under test outlasts three slots
		running.Add(-1)
	}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { l.run(ctx); close(done) }()
	var at []time.Time
	for len(at) < 5 {
		at = append(at, <-starts)
	}
	cancel()
	<-done
	assert.Zero(t, overlapped.Load(), "scrapes overlapped")
	assert.Zero(t, running.Load(), "run returned with a scrape under way")
	for i := 1; i < len(at); i++ {
		assert.GreaterOrEqual(t, at[i].Sub(at[i-1]), long, "scrape %d started before the last ended", i)
	}
}

// TestLoopStops: a loop stopped before its first slot never scrapes, and one
// stopped mid-scrape cancels it and returns once it has ended.
func TestLoopStops(t *testing.T) {
	var scrapes atomic.Int32
	l := &loop{slot: slot{interval: time.Millisecond}, delay: time.Hour, scrape: func(context.Context) { scrapes.Add(1) }}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { l.run(ctx); close(done) }()
	cancel()
	<-done
	assert.Zero(t, scrapes.Load(), "scraped during initial_delay")

	started, ended := make(chan struct{}), make(chan struct{})
	l = &loop{slot: slot{interval: time.Millisecond}, scrape: func(ctx context.Context) {
		close(started)
		<-ctx.Done() // a fetch that never answers, until the stop
		close(ended)
	}}
	ctx, cancel = context.WithCancel(context.Background())
	done = make(chan struct{})
	go func() { l.run(ctx); close(done) }()
	<-started
	cancel()
	<-done
	select {
	case <-ended:
	default:
		t.Fatal("run returned before the scrape under way ended")
	}
}

// slotNow returns a slot of interval whose next instant is at once: a test
// of the receiver through its factory scrapes without waiting for the
// targets' own slots.
func slotNow(interval time.Duration) slot {
	return slot{interval: interval, offset: time.Duration(time.Now().Add(20*time.Millisecond).UnixNano() % int64(interval))}
}

// TestReceiverDeliversEachTarget runs the receiver as the collector does:
// each target's scrape goes down the pipeline as a batch of its own, the
// points counted in the collector's own receiver metrics, and a target that
// fails is said in the log, naming it, while the others' data still goes.
func TestReceiverDeliversEachTarget(t *testing.T) {
	good := serveFile(t, "testdata/profiles/leaktarget.pb.gz")
	other := serveFile(t, "testdata/profiles/fanout-1.pb.gz")
	gone := httptest.NewServer(http.NotFoundHandler())
	gone.Close()
	cfg := createDefaultConfig()
	cfg.Targets = []TargetConfig{{Endpoint: good.URL, ServiceName: "good"}, {Endpoint: gone.URL, ServiceName: "gone"}, {Endpoint: other.URL, ServiceName: "other"}}
	cfg.CollectionInterval, cfg.InitialDelay = time.Hour, 0
	cfg.MaxGroups = 5

	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	set := receivertest.NewNopSettings(metadata.Type)
	set.TelemetrySettings = tel.NewTelemetrySettings()
	core, logs := observer.New(zapcore.ErrorLevel)
	set.Logger = zap.New(core)
	sink := new(consumertest.MetricsSink)
	r, err := NewFactory().CreateMetrics(context.Background(), set, cfg, sink)
	require.NoError(t, err)
	sc := r.(*goroutineReceiver).scraper
	for i := range sc.slots {
		sc.slots[i] = slotNow(cfg.CollectionInterval)
	}
	require.NoError(t, r.Start(context.Background(), componenttest.NewNopHost()))
	require.Eventually(t, func() bool { return len(sink.AllMetrics()) == 3 }, 10*time.Second, 10*time.Millisecond)

	// The receiver's health in the collector's own telemetry, once each
	// target is scraped: two scrapes good and one refused, the index asked of
	// the two that answered (a server with no index page), the groups
	// beyond max_groups, the groups tracked.
	require.Eventually(t, func() bool {
		return selfMetric(t, tel, "otelcol_receiver_goroutine_scrapes", "outcome")["success"] == 2
	}, 10*time.Second, 10*time.Millisecond)
	assert.Equal(t, map[string]int64{"success": 2, "failure/connect": 1},
		selfMetric(t, tel, "otelcol_receiver_goroutine_scrapes", "outcome", "error.type"))
	assert.Equal(t, map[string]int64{set.ID.String(): 3}, selfMetric(t, tel, "otelcol_receiver_goroutine_scrapes", "receiver"), "the receiver's id on every point")
	assert.Equal(t, map[string]int64{"index/absent": 2},
		selfMetric(t, tel, "otelcol_receiver_goroutine_evidence_fetches", "evidence", "outcome"))
	var groups int64
	for _, m := range sink.AllMetrics() {
		if n := countGroups(m); n > 0 {
			groups += n
		}
	}
	dropped := selfMetric(t, tel, "otelcol_receiver_goroutine_series_dropped")[""]
	tracked := selfMetric(t, tel, "otelcol_receiver_goroutine_groups_tracked")[""]
	assert.Positive(t, dropped, "more groups than max_groups")
	assert.Equal(t, tracked, groups+dropped-2, "every group tracked: those reported (less the two others) and those summed into other")
	require.NoError(t, r.Shutdown(context.Background()))

	services, points := map[string]int{}, int64(0)
	for _, m := range sink.AllMetrics() {
		points += int64(m.DataPointCount())
		require.Equal(t, 1, m.ResourceMetrics().Len(), "one target a batch")
		name, _ := m.ResourceMetrics().At(0).Resource().Attributes().Get("service.name")
		services[name.Str()] = m.DataPointCount()
	}
	assert.Len(t, services, 3)
	assert.Greater(t, services["good"], services["gone"], "the failed target sends its health only")

	accepted, err := tel.GetMetric("otelcol_receiver_accepted_metric_points")
	require.NoError(t, err)
	var counted int64
	for _, dp := range accepted.Data.(metricdata.Sum[int64]).DataPoints {
		counted += dp.Value
	}
	assert.Equal(t, points, counted)
	require.Equal(t, 1, logs.FilterMessage("Error scraping metrics").Len())
	assert.Equal(t, gone.URL+defaultPath, logs.All()[0].ContextMap()["target"])
}

// selfMetric returns the points of one of the receiver's own metrics, keyed
// by the values of keys, joined by "/" (a value absent is left out).
func selfMetric(t *testing.T, tel *componenttest.Telemetry, name string, keys ...string) map[string]int64 {
	t.Helper()
	m, err := tel.GetMetric(name)
	if err != nil {
		return nil
	}
	var dps []metricdata.DataPoint[int64]
	switch d := m.Data.(type) {
	case metricdata.Sum[int64]:
		dps = d.DataPoints
	case metricdata.Gauge[int64]:
		dps = d.DataPoints
	default:
		t.Fatalf("%s: %T", name, m.Data)
	}
	out := map[string]int64{}
	for _, dp := range dps {
		var parts []string
		for _, k := range keys {
			if v, ok := dp.Attributes.Value(otelattribute.Key(k)); ok {
				parts = append(parts, v.AsString())
			}
		}
		out[strings.Join(parts, "/")] += dp.Value
	}
	return out
}

// countGroups counts the points of go.goroutine.group.count in m: a
// target's reported groups, its other among them.
func countGroups(m pmetric.Metrics) int64 {
	var n int64
	for i := range m.ResourceMetrics().Len() {
		sms := m.ResourceMetrics().At(i).ScopeMetrics()
		for j := range sms.Len() {
			ms := sms.At(j).Metrics()
			for k := range ms.Len() {
				if ms.At(k).Name() == "go.goroutine.group.count" {
					n += int64(ms.At(k).Gauge().DataPoints().Len())
				}
			}
		}
	}
	return n
}

// TestLoopStoppedScrapesNothing: a loop whose slot falls due as it is
// stopped starts no scrape (select takes either case when both are ready:
// without the check, about half of these loops would scrape).
func TestLoopStoppedScrapesNothing(t *testing.T) {
	var scrapes atomic.Int32
	for range 100 {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		// A slot an hour past: due at once.
		l := &loop{slot: slot{interval: time.Millisecond}, delay: -time.Hour, scrape: func(context.Context) { scrapes.Add(1) }}
		l.run(ctx)
	}
	assert.Zero(t, scrapes.Load(), "scrapes started by stopped loops")
}
