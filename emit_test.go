package goroutinereceiver

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/pdatatest/plogtest"
	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/pdatatest/pmetrictest"
	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/pdatatest/pprofiletest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/featuregate"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pprofile"
	"go.opentelemetry.io/collector/pdata/xpdata/pref"
	"go.opentelemetry.io/collector/receiver/receivertest"

	"github.com/goroutinewatch/goroutinereceiver/internal/metadata"
)

func TestHorizonName(t *testing.T) {
	tests := []struct {
		give time.Duration
		want string
	}{
		{30 * time.Minute, "30m"},
		{5 * time.Hour, "5h"},
		{48 * time.Hour, "48h"},
		{90 * time.Minute, "1h30m"},
		{90 * time.Second, "1m30s"},
		{45 * time.Second, "45s"},
		{time.Hour + time.Second, "1h0m1s"},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, horizonName(tt.give), tt.give)
	}
}

// TestGrowthPerHorizon scrapes a leak of 4 goroutines a scrape every 15 s
// for 40 minutes with horizons of 10m and 1h: each horizon's growth and flag
// are series of their own, labeled goroutine.horizon, emitted once that
// window holds half its span; the group's log record names the horizon
// that flagged it. Growth that fast is the short horizon's alone to flag.
func TestGrowthPerHorizon(t *testing.T) {
	st := &syntheticTarget{counts: map[string]int64{"app.leak": 1}, vdso: 0x7f0000000000}
	srv := httptest.NewServer(st)
	t.Cleanup(srv.Close)
	cfg := createDefaultConfig()
	cfg.Endpoint = srv.URL
	cfg.CollectionInterval = 15 * time.Second
	cfg.Leak.Windows = []time.Duration{10 * time.Minute, time.Hour}
	cfg.LeakProfile = ptr(false) // the synthetic target serves its profile at every path
	cs := newClockScraper(t, cfg)

	firstSeen := map[string]time.Duration{}
	suspectedBy := map[string]bool{}
	for i := range 40 * 4 {
		st.set("app.leak", int64(1+4*i))
		at := time.Duration(i) * 15 * time.Second
		m := cs.scrapeAt(t, at)
		ms := m.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics()
		for j := range ms.Len() {
			mt := ms.At(j)
			if mt.Type() != pmetric.MetricTypeGauge {
				continue
			}
			for k := range mt.Gauge().DataPoints().Len() {
				dp := mt.Gauge().DataPoints().At(k)
				h := attr(dp.Attributes(), "goroutine.horizon")
				switch mt.Name() {
				case "go.goroutine.group.growth", "go.goroutine.growth":
					require.NotEmpty(t, h, "%s without a horizon", mt.Name())
					if _, ok := firstSeen[mt.Name()+"/"+h]; !ok {
						firstSeen[mt.Name()+"/"+h] = at
					}
				case "go.goroutine.group.suspected":
					require.NotEmpty(t, h)
					suspectedBy[h] = suspectedBy[h] || dp.IntValue() == 1
				default:
					assert.Empty(t, h, "%s carries no horizon", mt.Name())
				}
			}
		}
	}
	assert.Equal(t, 5*time.Minute, firstSeen["go.goroutine.group.growth/10m"], "half of 10m")
	assert.Equal(t, 30*time.Minute, firstSeen["go.goroutine.group.growth/1h"], "half of 1h")
	assert.Equal(t, 5*time.Minute, firstSeen["go.goroutine.growth/10m"])
	assert.True(t, suspectedBy["10m"])
	_, judged := suspectedBy["1h"]
	assert.True(t, judged, "the 1h flag is emitted")
	assert.False(t, suspectedBy["1h"], "16/min is growth the 10m horizon judges, not the 1h")

	records := cs.records()
	require.Len(t, records, 1)
	assert.Equal(t, "10m", attr(records[0].Attributes(), "goroutine.horizon"), "the shortest horizon flagged first")
}

// TestPooledPipelineSeesTheSame runs the receiver as a collector started
// with --feature-gates=+pdata.useProtoPooling runs it: the pipeline owns
// each batch it is given and, once it is exported, returns its objects to
// pdata's pools, from which the receiver builds its next batch. Were the
// emitter to keep any part of a batch it delivered (a point, an attribute
// map, a resource), a later batch would hold objects reset and reused:
// every batch, metrics, log records and profiles, must equal what the same
// receiver without the gate delivers, scrape by scrape, as a leak grows
// until it is suspected. The batches are released as they are delivered,
// as an exporter without a queue does.
func TestPooledPipelineSeesTheSame(t *testing.T) {
	st := &syntheticTarget{counts: map[string]int64{"app.leak": 1, "app.steady": 5}, vdso: 0x7f0000000000}
	srv := httptest.NewServer(st)
	t.Cleanup(srv.Close)
	cfg := createDefaultConfig()
	cfg.Endpoint = srv.URL
	cfg.CollectionInterval = 15 * time.Second
	cfg.Leak.Windows = []time.Duration{10 * time.Minute, time.Hour}
	cfg.LeakProfile = ptr(false)
	cfg.Profiles.Every = 4
	// One receiver's settings for both: its id is in each profile's id.
	set := receivertest.NewNopSettings(metadata.Type)
	const scrapes = 40 * 4
	at := func(i int) time.Duration { return time.Duration(i) * 15 * time.Second }
	leak := func(i int) { st.set("app.leak", int64(1+4*i)) }

	// The reference, without the gate: its batches are the GC's.
	kept := startClockScraper(t, cfg, componenttest.NewNopHost(), set, 0)
	keptProfiles := new(consumertest.ProfilesSink)
	kept.profiles = keptProfiles
	want := make([]pmetric.Metrics, scrapes)
	suspected := false
	for i := range scrapes {
		leak(i)
		want[i] = kept.scrapeAt(t, at(i))
		suspected = suspected || viewOf(want[i]).suspected["app.leak"] == 1
	}
	require.NoError(t, kept.shutdown(context.Background()))
	require.True(t, suspected, "the leak was never suspected: the test did not reach the records")
	wantLogs, wantProfiles := kept.logs.AllLogs(), keptProfiles.AllProfiles()
	require.NotEmpty(t, wantLogs)
	require.NotEmpty(t, wantProfiles)

	setGate(t, pref.UseProtoPooling, true)
	pooled := startClockScraper(t, cfg, componenttest.NewNopHost(), set, 0)
	t.Cleanup(func() { require.NoError(t, pooled.shutdown(context.Background())) })
	released := &releasing{}
	// The clock scraper keeps a logs sink of its own: the scraper's is set.
	pooled.metrics, pooled.scraper.logs, pooled.profiles = released, released, released
	for i := range scrapes {
		leak(i)
		pooled.now = t0.Add(at(i))
		require.NoError(t, pooled.scrapeTarget(context.Background(), 0))
		require.Len(t, released.metrics, i+1)
		require.NoError(t, pmetrictest.CompareMetrics(want[i], released.metrics[i],
			pmetrictest.IgnoreMetricValues("go.goroutine.scrape.duration")), "scrape %d", i)
	}
	require.Zero(t, released.unrecycled, "batches pdata did not recycle: the test no longer holds the receiver to the pools")
	require.Len(t, released.logs, len(wantLogs))
	for i := range wantLogs {
		require.NoError(t, plogtest.CompareLogs(wantLogs[i], released.logs[i]), "log batch %d", i)
	}
	require.Len(t, released.profiles, len(wantProfiles))
	for i := range wantProfiles {
		require.NoError(t, pprofiletest.CompareProfiles(wantProfiles[i], released.profiles[i]), "profiles batch %d", i)
	}
}

// releasing is the end of a collector's pipeline under
// pdata.useProtoPooling: it keeps a copy of each batch, then releases the
// batch as the pipeline does once its exporter is done with it.
type releasing struct {
	metrics  []pmetric.Metrics
	logs     []plog.Logs
	profiles []pprofile.Profiles
	// unrecycled counts the batches pdata did not reset on release: the
	// test would then no longer hold the receiver to the pools.
	unrecycled int
}

func (r *releasing) Capabilities() consumer.Capabilities { return consumer.Capabilities{} }

func (r *releasing) ConsumeMetrics(_ context.Context, md pmetric.Metrics) error {
	c := pmetric.NewMetrics()
	md.CopyTo(c)
	r.metrics = append(r.metrics, c)
	if pref.MarkPipelineOwnedMetrics(md) {
		pref.UnrefMetrics(md)
	}
	if md.ResourceMetrics().Len() != 0 {
		r.unrecycled++
	}
	return nil
}

func (r *releasing) ConsumeLogs(_ context.Context, ld plog.Logs) error {
	c := plog.NewLogs()
	ld.CopyTo(c)
	r.logs = append(r.logs, c)
	if pref.MarkPipelineOwnedLogs(ld) {
		pref.UnrefLogs(ld)
	}
	if ld.ResourceLogs().Len() != 0 {
		r.unrecycled++
	}
	return nil
}

func (r *releasing) ConsumeProfiles(_ context.Context, pd pprofile.Profiles) error {
	c := pprofile.NewProfiles()
	pd.CopyTo(c)
	r.profiles = append(r.profiles, c)
	if pref.MarkPipelineOwnedProfiles(pd) {
		pref.UnrefProfiles(pd)
	}
	if pd.ResourceProfiles().Len() != 0 {
		r.unrecycled++
	}
	return nil
}

// setGate sets a feature gate of the collector's registry for the test,
// and back after it. The registry is the process's: a test that sets one
// must not run in parallel.
func setGate(tb testing.TB, g *featuregate.Gate, on bool) {
	tb.Helper()
	r, was := featuregate.GlobalRegistry(), g.IsEnabled()
	require.NoError(tb, r.Set(g.ID(), on))
	tb.Cleanup(func() { require.NoError(tb, r.Set(g.ID(), was)) })
}
