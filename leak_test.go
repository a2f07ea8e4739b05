package goroutinereceiver

import (
	"bytes"
	"context"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/pprof/profile"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/receiver/receivertest"

	"github.com/goroutinewatch/goroutinereceiver/internal/metadata"
)

// syntheticTarget serves goroutine profiles written by google/pprof: one
// group per function with the count set, in the process whose [vdso] sits at
// vdso (a new value is a restart).
type syntheticTarget struct {
	mu     sync.Mutex
	counts map[string]int64
	vdso   uint64
}

func (st *syntheticTarget) set(fn string, n int64) {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.counts[fn] = n
}

func (st *syntheticTarget) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	st.mu.Lock()
	defer st.mu.Unlock()
	p := &profile.Profile{
		SampleType: []*profile.ValueType{{Type: "goroutine", Unit: "count"}},
		PeriodType: &profile.ValueType{Type: "goroutine", Unit: "count"},
		Period:     1,
		Mapping: []*profile.Mapping{
			{ID: 1, Start: 0x400000, Limit: 0x800000, File: "/app", BuildID: "b1"},
			{ID: 2, Start: st.vdso, Limit: st.vdso + 0x2000, File: "[vdso]"},
		},
	}
	park := &profile.Function{ID: 1, Name: "runtime.gopark", Filename: "runtime/proc.go"}
	send := &profile.Function{ID: 2, Name: "runtime.chansend1", Filename: "runtime/chan.go"}
	p.Function = []*profile.Function{park, send}
	p.Location = []*profile.Location{
		{ID: 1, Mapping: p.Mapping[0], Address: 0x401000, Line: []profile.Line{{Function: park, Line: 1}}},
		{ID: 2, Mapping: p.Mapping[0], Address: 0x402000, Line: []profile.Line{{Function: send, Line: 2}}},
	}
	// In the order of the names, so that the body is the same for the same
	// counts: tests compare two scrapers of one target exactly, the bytes
	// read and what a dump fetch makes of them included.
	for _, fn := range slices.Sorted(maps.Keys(st.counts)) {
		n := st.counts[fn]
		f := &profile.Function{ID: uint64(len(p.Function) + 1), Name: fn, Filename: "app/main.go"}
		l := &profile.Location{ID: uint64(len(p.Location) + 1), Mapping: p.Mapping[0], Address: 0x500000 + uint64(len(p.Location)), Line: []profile.Line{{Function: f, Line: 10}}}
		p.Function = append(p.Function, f)
		p.Location = append(p.Location, l)
		p.Sample = append(p.Sample, &profile.Sample{Location: []*profile.Location{p.Location[0], p.Location[1], l}, Value: []int64{n}})
	}
	var buf bytes.Buffer
	if err := p.Write(&buf); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	_, _ = w.Write(buf.Bytes())
}

// groupView is one scrape's per-group points, by stuck function.
type groupView struct {
	count, suspected map[string]int64
	growth           map[string]float64
	totalGrowth      *float64
}

func viewOf(m pmetric.Metrics) groupView {
	v := groupView{count: map[string]int64{}, suspected: map[string]int64{}, growth: map[string]float64{}}
	ms := m.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics()
	for i := range ms.Len() {
		mt := ms.At(i)
		if mt.Name() == "go.goroutine.growth" {
			g := mt.Gauge().DataPoints().At(0).DoubleValue()
			v.totalGrowth = &g
			continue
		}
		if mt.Type() != pmetric.MetricTypeGauge {
			continue
		}
		for j := range mt.Gauge().DataPoints().Len() {
			dp := mt.Gauge().DataPoints().At(j)
			fn, _ := dp.Attributes().Get("code.function.name")
			sig, _ := dp.Attributes().Get("goroutine.signature")
			name := fn.Str()
			if sig.Str() == otherSignature {
				name = otherSignature
			}
			switch mt.Name() {
			case "go.goroutine.group.count":
				v.count[name] = dp.IntValue()
			case "go.goroutine.group.suspected":
				v.suspected[name] = dp.IntValue()
			case "go.goroutine.group.growth":
				v.growth[name] = dp.DoubleValue()
			}
		}
	}
	return v
}

// TestLeakGaugesThroughTheScraper scrapes a target every 15s of an injected
// clock: two big steady groups and a small one leaking 4 per scrape. With
// max_groups 2 the leak is summed into other until it is suspected; from
// then on it is reported on its own with its growth. Then the target
// restarts: the windows start afresh, with no negative growth and no flag.
func TestLeakGaugesThroughTheScraper(t *testing.T) {
	st := &syntheticTarget{counts: map[string]int64{"app.poolWorker": 500, "app.handler": 300, "app.leak": 1}, vdso: 0x7f0000000000}
	srv := httptest.NewServer(st)
	t.Cleanup(srv.Close)

	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	cfg := createDefaultConfig()
	cfg.Endpoint = srv.URL
	cfg.MaxGroups = 2
	cfg.CollectionInterval = 15 * time.Second
	require.NoError(t, cfg.Validate())
	s, err := newScraper(cfg, receivertest.NewNopSettings(metadata.Type), func() time.Time { return now })
	require.NoError(t, err)
	require.NoError(t, s.start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { require.NoError(t, s.shutdown(context.Background())) })

	scrape := func() groupView {
		m, err := s.scrape(context.Background())
		require.NoError(t, err)
		now = now.Add(15 * time.Second)
		return viewOf(m)
	}

	var flaggedAt time.Duration = -1
	for i := range 30 * 4 { // 30 minutes
		st.set("app.leak", int64(1+4*i))
		v := scrape()
		elapsed := time.Duration(i) * 15 * time.Second
		assert.Zero(t, v.suspected["app.poolWorker"], "steady pool flagged at %v", elapsed)
		assert.Zero(t, v.suspected["app.handler"], "steady handler flagged at %v", elapsed)
		if elapsed < cfg.windows()[0]/2 {
			assert.Nil(t, v.totalGrowth, "growth before half the window, at %v", elapsed)
			assert.Empty(t, v.growth, "group growth before half the window, at %v", elapsed)
		}
		if v.suspected["app.leak"] == 1 && flaggedAt < 0 {
			flaggedAt = elapsed
			assert.Equal(t, int64(1+4*i), v.count["app.leak"], "the suspected group is reported beyond max_groups")
			assert.InDelta(t, 16, v.growth["app.leak"], 0.5, "4 per 15s scrape")
			assert.NotContains(t, v.count, otherSignature, "nothing else is left to sum")
		}
		if flaggedAt < 0 && len(v.count) == 3 {
			assert.Equal(t, int64(1+4*i), v.count[otherSignature], "the leak is in other until suspected")
		}
	}
	require.GreaterOrEqual(t, flaggedAt, cfg.windows()[0]/2)
	assert.LessOrEqual(t, flaggedAt, cfg.windows()[0])

	// Restart: the process comes back with a new [vdso] and few goroutines.
	st.vdso = 0x7f1000000000
	st.set("app.leak", 1)
	st.set("app.handler", 20)
	for range 10 * 4 {
		v := scrape()
		assert.Nil(t, v.totalGrowth, "total growth right after the restart")
		assert.Empty(t, v.growth, "group growth right after the restart")
		assert.Zero(t, v.suspected["app.leak"])
	}
}
