package goroutinereceiver

import (
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pmetric"
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
