package goroutinereceiver

import (
	"context"
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
)

// TestScheduleNeverOverlaps runs rounds that outlast the interval: each
// delays the next, none runs beside another, and stop waits for the one
// under way.
func TestScheduleNeverOverlaps(t *testing.T) {
	var running, most, rounds atomic.Int32
	sc := newSchedule(time.Millisecond, 0, func(context.Context) {
		n := running.Add(1)
		// Raise most to n unless another round raised it higher.
		for m := most.Load(); n > m; m = most.Load() {
			if most.CompareAndSwap(m, n) {
				break
			}
		}
		time.Sleep(5 * time.Millisecond)
		rounds.Add(1)
		running.Add(-1)
	})
	sc.start(context.Background())
	require.Eventually(t, func() bool { return rounds.Load() >= 3 }, 5*time.Second, time.Millisecond)
	sc.stop()
	after := rounds.Load()
	assert.Equal(t, int32(1), most.Load(), "rounds overlapped")
	assert.Zero(t, running.Load(), "stop returned with a round under way")
	time.Sleep(20 * time.Millisecond)
	assert.Equal(t, after, rounds.Load(), "a round after stop")
}

// TestScheduleStopsDuringDelay: a receiver shut down before its first
// scrape never scrapes.
func TestScheduleStopsDuringDelay(t *testing.T) {
	var rounds atomic.Int32
	sc := newSchedule(time.Millisecond, time.Hour, func(context.Context) { rounds.Add(1) })
	sc.start(context.Background())
	sc.stop()
	assert.Zero(t, rounds.Load())
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
	require.NoError(t, r.Start(context.Background(), componenttest.NewNopHost()))
	require.Eventually(t, func() bool { return len(sink.AllMetrics()) == 3 }, 10*time.Second, 10*time.Millisecond)

	// The receiver's health in the collector's own telemetry, once the
	// round is over: two scrapes good and one refused, the index asked of
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
	assert.Contains(t, logs.All()[0].ContextMap()["error"], "target "+gone.URL)
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
