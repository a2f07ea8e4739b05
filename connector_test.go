package goroutinereceiver

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/connector/connectortest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pprofile"

	"github.com/goroutinewatch/goroutinereceiver/internal/decode"
	"github.com/goroutinewatch/goroutinereceiver/internal/metadata"
	"github.com/goroutinewatch/goroutinereceiver/internal/otlpprofile"
	"github.com/goroutinewatch/goroutinereceiver/internal/signature"
	"github.com/goroutinewatch/goroutinereceiver/internal/state"
)

// newTestConnector returns a connector with cfg on clock, its metrics in
// the sink returned.
func newTestConnector(t *testing.T, cfg *ConnectorConfig, clock *time.Time) (*profilesConnector, *consumertest.MetricsSink) {
	t.Helper()
	require.NoError(t, cfg.Validate())
	sink := new(consumertest.MetricsSink)
	// The id of a collector's connector, the same at every start: the
	// storage's records are the id's.
	set := connectortest.NewNopSettings(metadata.Type)
	set.ID = component.NewID(metadata.Type)
	pc, err := newProfilesConnector(cfg, set, sink, func() time.Time { return *clock })
	require.NoError(t, err)
	return pc, sink
}

// TestConnectorJudgesAsTheReceiver: the profiles a receiver sends (every
// scrape), judged by the connector, give the same groups, counts and flags
// as the receiver's own metrics, scrape after scrape, under the same
// resource: a gateway judging a node collector's profiles tells what the
// node's receiver tells.
func TestConnectorJudgesAsTheReceiver(t *testing.T) {
	st := &syntheticTarget{counts: map[string]int64{"app.poolWorker": 50, "app.leak": 1}, vdso: 0x7f0000000000}
	srv := startSynthetic(t, st)
	cfg := createDefaultConfig()
	cfg.Targets = []TargetConfig{{Endpoint: srv, ServiceName: "app"}}
	cfg.CollectionInterval = 15 * time.Second
	cfg.LeakProfile = ptr(false)
	cfg.Evidence = evidenceNone
	cfg.Profiles.Every = 1
	cs := newClockScraper(t, cfg)
	profiles := new(consumertest.ProfilesSink)
	cs.profiles = profiles

	ccfg := createDefaultConnectorConfig()
	ccfg.Interval = cfg.CollectionInterval
	clock := t0
	pc, sink := newTestConnector(t, ccfg, &clock)

	flagged := 0
	for i := range 160 {
		st.set("app.leak", int64(1+4*i))
		m := cs.scrapeAt(t, time.Duration(i)*15*time.Second)
		clock = cs.now
		batches := profiles.AllProfiles()
		require.Len(t, batches, i+1, "a profile every scrape")
		require.NoError(t, pc.ConsumeProfiles(context.Background(), batches[i]))
		judged := sink.AllMetrics()
		require.Len(t, judged, i+1)
		got := judged[i]

		for _, name := range []string{"go.goroutine.group.count", "go.goroutine.group.suspected", "go.goroutine.group.growth", "go.goroutine.count"} {
			assert.Equal(t, valuesOf(t, m, name), valuesOf(t, got, name), "%s at scrape %d", name, i)
		}
		if pointsBy(t, got, "app", "go.goroutine.group.suspected")["app.leak"].IntValue() == 1 {
			flagged++
		}
		want, _ := m.ResourceMetrics().At(0).Resource().Attributes().Get("url.full")
		have, _ := got.ResourceMetrics().At(0).Resource().Attributes().Get("url.full")
		assert.Equal(t, want.AsString(), have.AsString())
	}
	assert.Positive(t, flagged, "the leak flagged by the connector")
	for _, m := range sink.AllMetrics() {
		assert.Zero(t, pointsBy(t, m, "app", "go.goroutine.group.suspected")["app.poolWorker"].IntValue(), "the pool flagged")
	}
}

// valuesOf returns a metric's points of the first resource as
// "function=value" strings, for comparing two outputs.
func valuesOf(t *testing.T, m pmetric.Metrics, name string) []string {
	t.Helper()
	var out []string
	ms := m.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics()
	for i := range ms.Len() {
		if ms.At(i).Name() != name {
			continue
		}
		dps := ms.At(i).Gauge().DataPoints()
		for j := range dps.Len() {
			dp := dps.At(j)
			fn, h := attr(dp.Attributes(), "code.function.name"), attr(dp.Attributes(), "goroutine.horizon")
			v := dp.DoubleValue()
			if dp.ValueType() == pmetric.NumberDataPointValueTypeInt {
				v = float64(dp.IntValue())
			}
			out = append(out, fn+"/"+h+"="+formatValue(v))
		}
	}
	return out
}

func formatValue(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }

// goodProfiles is one batch of a goroutine profile of 12 goroutines in two
// groups for each service, taken at at.
func goodProfiles(services []string, at time.Time) pprofile.Profiles {
	b := otlpprofile.NewBatch(8, 4)
	for _, svc := range services {
		rp := b.Profiles().ResourceProfiles().AppendEmpty()
		rp.Resource().Attributes().PutStr("service.name", svc)
		sp := rp.ScopeProfiles().AppendEmpty()
		p := b.NewProfile(sp, otlpprofile.Goroutine, pcommon.NewTimestampFromTime(at), svc)
		park := signature.Frame{Function: "runtime.gopark", File: "runtime/proc.go", Line: 1}
		p.Add([]signature.Frame{park, {Function: "app.worker", File: "app/main.go", Line: 10}}, 8)
		p.Add([]signature.Frame{park, {Function: "app.other", File: "app/main.go", Line: 20}}, 4)
	}
	return b.Profiles()
}

// TestConnectorRefusesHostileProfiles feeds the connector profiles that
// break its limits or point outside their tables, beside a good source:
// each bad one is counted as its source's scrape error, named by error
// type, and the good source is judged as ever.
func TestConnectorRefusesHostileProfiles(t *testing.T) {
	ccfg := createDefaultConnectorConfig()
	ccfg.MaxSamples = 10
	clock := t0
	pc, sink := newTestConnector(t, ccfg, &clock)

	tests := []struct {
		name      string
		mangle    func(ps pprofile.Profiles)
		errorType string
	}{
		{"too many samples", func(ps pprofile.Profiles) {
			p := ps.ResourceProfiles().At(0).ScopeProfiles().At(0).Profiles().At(0)
			for range 20 {
				p.Samples().AppendEmpty().Values().Append(1)
			}
		}, "limit"},
		{"bad stack index", func(ps pprofile.Profiles) {
			ps.ResourceProfiles().At(0).ScopeProfiles().At(0).Profiles().At(0).Samples().At(0).SetStackIndex(999)
		}, "decode"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock = clock.Add(15 * time.Second)
			ps := goodProfiles([]string{"bad", "good"}, clock)
			tt.mangle(ps)
			require.NoError(t, pc.ConsumeProfiles(context.Background(), ps))
			all := sink.AllMetrics()
			m := all[len(all)-1]
			assert.Equal(t, int64(1), gaugeValue(t, byService(t, m, "good"), "go.goroutine.scrape.up"))
			assert.Equal(t, int64(12), gaugeValue(t, byService(t, m, "good"), "go.goroutine.count"))
			bad := byService(t, m, "bad")
			assert.Equal(t, int64(0), gaugeValue(t, bad, "go.goroutine.scrape.up"))
			// The source's errors since it was first seen, by type: one of
			// this kind.
			errs := metric(t, bad, "go.goroutine.scrape.errors").Sum().DataPoints()
			byType := map[string]int64{}
			for i := range errs.Len() {
				byType[attr(errs.At(i).Attributes(), "error.type")] = errs.At(i).IntValue()
			}
			assert.Equal(t, int64(1), byType[tt.errorType], "%v", byType)
		})
	}
}

// TestConnectorSourcesBounded: at most max_sources sources are judged at
// once, the others' profiles dropped until a
// source goes quiet for forgetAfter intervals and is forgotten; a profile no
// later than its source's last is not judged again.
func TestConnectorSourcesBounded(t *testing.T) {
	ccfg := createDefaultConnectorConfig()
	ccfg.MaxSources = 2
	ccfg.Interval = 15 * time.Second
	clock := t0
	pc, sink := newTestConnector(t, ccfg, &clock)
	judged := func(services ...string) []string {
		t.Helper()
		before := len(sink.AllMetrics())
		require.NoError(t, pc.ConsumeProfiles(context.Background(), goodProfiles(services, clock)))
		var out []string
		for _, m := range sink.AllMetrics()[before:] {
			for i := range m.ResourceMetrics().Len() {
				out = append(out, attr(m.ResourceMetrics().At(i).Resource().Attributes(), "service.name"))
			}
		}
		return out
	}
	assert.Equal(t, []string{"a", "b"}, judged("a", "b", "c"), "the third source beyond max_sources")
	assert.Len(t, pc.sources, 2)
	assert.Empty(t, judged("a"), "the same profile again")

	clock = clock.Add(15 * time.Second)
	assert.Equal(t, []string{"a"}, judged("a", "c"))
	// b has been quiet for more than forgetAfter intervals: c takes its place.
	clock = clock.Add(forgetAfter * 15 * time.Second)
	assert.Equal(t, []string{"a", "c"}, judged("a", "c"))
	assert.Len(t, pc.sources, 2)
}

// BenchmarkConnectorConsume judges one source's goroutine profile of 200
// groups of 30 frames, as a node's receiver sends it: the gateway's cost
// of a source's scrape.
//
//	go test -run '^$' -bench ConnectorConsume -benchmem .
func BenchmarkConnectorConsume(b *testing.B) {
	ccfg := createDefaultConnectorConfig()
	clock := t0
	pc, err := newProfilesConnector(ccfg, connectortest.NewNopSettings(metadata.Type), consumertest.NewNop(), func() time.Time { return clock })
	if err != nil {
		b.Fatal(err)
	}
	stacks := benchStacks(200, 30)
	for b.Loop() {
		b.StopTimer() // the sender's cost, not the gateway's
		clock = clock.Add(15 * time.Second)
		bt := otlpprofile.NewBatch(6000, 200)
		rp := bt.Profiles().ResourceProfiles().AppendEmpty()
		rp.Resource().Attributes().PutStr("service.name", "svc")
		p := bt.NewProfile(rp.ScopeProfiles().AppendEmpty(), otlpprofile.Goroutine, pcommon.NewTimestampFromTime(clock), "svc")
		for i, s := range stacks {
			p.Add(s, int64(i+1))
		}
		b.StartTimer()
		if err := pc.ConsumeProfiles(context.Background(), bt.Profiles()); err != nil {
			b.Fatal(err)
		}
	}
}

// TestConnectorConfig: the connector's keys decode, a misspelled one fails,
// and its limits are checked as the receiver's.
func TestConnectorConfig(t *testing.T) {
	tests := []struct {
		name string
		give map[string]any
		want string
	}{
		{name: "defaults", give: map[string]any{}},
		{name: "keys", give: map[string]any{
			"interval": "10s", "max_sources": 5, "labels": []any{"pattern"}, "leak": map[string]any{"window": "5m"},
			"metrics": map[string]any{"go.goroutine.group.wait.max": map[string]any{"enabled": false}},
		}},
		{name: "misspelled", give: map[string]any{"max_source": 5}, want: "max_source"},
		{name: "no sources", give: map[string]any{"max_sources": 0}, want: "max_sources 0: must be positive"},
		{name: "no interval", give: map[string]any{"interval": "0s"}, want: "interval 0s: must be positive"},
		{name: "window too short", give: map[string]any{"interval": "1m", "leak": map[string]any{"window": "5m"}}, want: "must hold at least 20 collection intervals"},
		{name: "bad limit", give: map[string]any{"max_samples": -1}, want: "max_samples -1: must be positive"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := createDefaultConnectorConfig()
			err := confmap.NewFromStringMap(tt.give).Unmarshal(cfg)
			if err == nil {
				err = cfg.Validate()
			}
			if tt.want == "" {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}

// judgeOne sends one batch of b's profiles and returns the metrics of the
// source of service svc it brought, nil when none.
func judgeOne(t *testing.T, pc *profilesConnector, sink *consumertest.MetricsSink, ps pprofile.Profiles, svc string) pmetric.MetricSlice {
	t.Helper()
	before := len(sink.AllMetrics())
	require.NoError(t, pc.ConsumeProfiles(context.Background(), ps))
	for _, m := range sink.AllMetrics()[before:] {
		for i := range m.ResourceMetrics().Len() {
			if rm := m.ResourceMetrics().At(i); attr(rm.Resource().Attributes(), "service.name") == svc {
				return rm.ScopeMetrics().At(0).Metrics()
			}
		}
	}
	return pmetric.NewMetricSlice()
}

// errorsByType returns a source's go.goroutine.scrape.errors by type.
func errorsByType(t *testing.T, ms pmetric.MetricSlice) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	if !hasMetric(ms, "go.goroutine.scrape.errors") {
		return out
	}
	dps := metric(t, ms, "go.goroutine.scrape.errors").Sum().DataPoints()
	for i := range dps.Len() {
		out[attr(dps.At(i).Attributes(), "error.type")] = dps.At(i).IntValue()
	}
	return out
}

// TestConnectorBoundsWhatItReads: a request's shared stacks multiply once
// read (a stack of N frames under S samples is S×N frames), and a request's
// dictionary is shared by all its sources. What a profile would build is
// bounded before it is built, by the entries its own samples reach; a stack
// deeper than max_frames is cut and reported as the receiver does.
func TestConnectorBoundsWhatItReads(t *testing.T) {
	deep := make([]signature.Frame, 5000)
	for i := range deep {
		deep[i] = signature.Frame{Function: fmt.Sprintf("app.f%d", i), File: "app/deep.go", Line: int64(i + 1)}
	}
	tests := []struct {
		name   string
		cfg    func(*ConnectorConfig)
		build  func(b *otlpprofile.Batch, at pcommon.Timestamp)
		up     int64
		errors map[string]int64
		limit  string
	}{
		{
			name: "a stack shared by thousands of samples",
			cfg:  func(c *ConnectorConfig) { c.MaxProfileBytes = 1 << 20 },
			build: func(b *otlpprofile.Batch, at pcommon.Timestamp) {
				p := sourceProfile(b, "s", at)
				for i := range 2000 {
					p.Add(deep[:1024], 1, otlpprofile.Attr{Key: "n", Value: strconv.Itoa(i)})
				}
			},
			errors: map[string]int64{"limit": 1},
		},
		{
			name: "a stack deeper than max_frames",
			build: func(b *otlpprofile.Batch, at pcommon.Timestamp) {
				sourceProfile(b, "s", at).Add(deep, 3)
			},
			up: 1, errors: map[string]int64{}, limit: "max_frames",
		},
		{
			name: "forty sources in one dictionary, each within max_locations",
			cfg:  func(c *ConnectorConfig) { c.MaxLocations = 1000 },
			build: func(b *otlpprofile.Batch, at pcommon.Timestamp) {
				for i := range 40 {
					p := sourceProfile(b, fmt.Sprint("src", i), at)
					p.Add(deep[i*100:i*100+100], 2)
				}
				sourceProfile(b, "s", at).Add(deep[4000:4100], 2)
			},
			up: 1, errors: map[string]int64{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ccfg := createDefaultConnectorConfig()
			if tt.cfg != nil {
				tt.cfg(ccfg)
			}
			clock := t0
			pc, sink := newTestConnector(t, ccfg, &clock)
			b := otlpprofile.NewBatch(8, 4)
			tt.build(b, pcommon.NewTimestampFromTime(clock))
			ms := judgeOne(t, pc, sink, b.Profiles(), "s")
			assert.Equal(t, tt.up, gaugeValue(t, ms, "go.goroutine.scrape.up"))
			assert.Equal(t, tt.errors, errorsByType(t, ms))
			if tt.limit != "" {
				dps := metric(t, ms, "go.goroutine.scrape.limit_breaches").Sum().DataPoints()
				require.Equal(t, 1, dps.Len())
				assert.Equal(t, tt.limit, attr(dps.At(0).Attributes(), "limit"))
			}
		})
	}
}

// sourceProfile appends a resource of service svc with a goroutine profile taken
// at at to b.
func sourceProfile(b *otlpprofile.Batch, svc string, at pcommon.Timestamp) otlpprofile.Profile {
	rp := b.Profiles().ResourceProfiles().AppendEmpty()
	rp.Resource().Attributes().PutStr("service.name", svc)
	return b.NewProfile(rp.ScopeProfiles().AppendEmpty(), otlpprofile.Goroutine, at, svc)
}

// TestConnectorContainsPanics: a panic while a source's profile is read is
// that source's internal error; the other source of the request is judged.
func TestConnectorContainsPanics(t *testing.T) {
	clock := t0
	pc, sink := newTestConnector(t, createDefaultConnectorConfig(), &clock)
	calls := 0
	decodeOK := pc.reader.decode
	pc.reader.decode = func(d *decode.Decoder, r io.Reader, lim decode.Limits) (*decode.Profile, error) {
		if calls++; calls == 1 {
			panic("a decoder bug")
		}
		return decodeOK(d, r, lim)
	}
	ps := goodProfiles([]string{"first", "second"}, clock)
	second := judgeOne(t, pc, sink, ps, "second")
	assert.Equal(t, int64(1), gaugeValue(t, second, "go.goroutine.scrape.up"))
	first := byService(t, sink.AllMetrics()[0], "first")
	assert.Equal(t, map[string]int64{"internal": 1}, errorsByType(t, first))
}

// TestConnectorTellsSourcesApart: sources are told apart by their whole
// resource, value types included; a profile from the future is not judged
// (it would hold back the source's later ones as stale).
func TestConnectorTellsSourcesApart(t *testing.T) {
	clock := t0
	pc, sink := newTestConnector(t, createDefaultConnectorConfig(), &clock)
	b := otlpprofile.NewBatch(8, 4)
	for _, res := range []func(pcommon.Map){
		func(m pcommon.Map) { m.PutInt("k", 1) },
		func(m pcommon.Map) { m.PutStr("k", "1") },
	} {
		rp := b.Profiles().ResourceProfiles().AppendEmpty()
		res(rp.Resource().Attributes())
		rp.Resource().Attributes().PutStr("service.name", "s")
		b.NewProfile(rp.ScopeProfiles().AppendEmpty(), otlpprofile.Goroutine, pcommon.NewTimestampFromTime(clock), "s").Add(nil, 1)
	}
	require.NoError(t, pc.ConsumeProfiles(context.Background(), b.Profiles()))
	assert.Len(t, pc.sources, 2)
	assert.Equal(t, 2, sink.AllMetrics()[0].ResourceMetrics().Len())

	future := goodProfiles([]string{"later"}, clock.Add(time.Hour))
	require.NoError(t, pc.ConsumeProfiles(context.Background(), future))
	assert.Len(t, pc.sources, 2, "a profile from an hour ahead")
}

// TestConnectorReadsLabels: the pprof labels a receiver sends as
// goroutine.label.<key> are the connector's labels, as the receiver's.
func TestConnectorReadsLabels(t *testing.T) {
	ccfg := createDefaultConnectorConfig()
	ccfg.Labels = []string{"pattern"}
	clock := t0
	pc, sink := newTestConnector(t, ccfg, &clock)
	b := otlpprofile.NewBatch(8, 4)
	p := sourceProfile(b, "s", pcommon.NewTimestampFromTime(clock))
	park := signature.Frame{Function: "runtime.gopark", File: "runtime/proc.go", Line: 1}
	w := signature.Frame{Function: "app.worker", File: "app/main.go", Line: 10}
	p.Add([]signature.Frame{park, w}, 5, otlpprofile.Attr{Key: "goroutine.label.pattern", Value: "fanout"})
	p.Add([]signature.Frame{park, w}, 7, otlpprofile.Attr{Key: "goroutine.label.pattern", Value: "pool"})
	ms := judgeOne(t, pc, sink, b.Profiles(), "s")
	dps := metric(t, ms, "go.goroutine.group.count").Gauge().DataPoints()
	got := map[string]int64{}
	for i := range dps.Len() {
		got[attr(dps.At(i).Attributes(), "goroutine.label.pattern")] = dps.At(i).IntValue()
	}
	assert.Equal(t, map[string]int64{"fanout": 5, "pool": 7}, got)
}

// TestConnectorKeepsStateAcrossRestarts: with `storage`, a gateway that
// restarts judges its sources as one that did not: the windows, flags and
// growths after the restart equal an uninterrupted connector's, scrape for
// scrape. A source from before the restart that does not come back has its
// record deleted once it has been quiet for three intervals.
func TestConnectorKeepsStateAcrossRestarts(t *testing.T) {
	ccfg := createDefaultConnectorConfig()
	ccfg.Interval = 15 * time.Second
	ccfg.Leak.Window = 10 * time.Minute
	profileAt := func(i int, services ...string) pprofile.Profiles {
		b := otlpprofile.NewBatch(8, 4)
		at := pcommon.NewTimestampFromTime(t0.Add(time.Duration(i) * 15 * time.Second))
		park := signature.Frame{Function: "runtime.gopark", File: "runtime/proc.go", Line: 1}
		for _, svc := range services {
			p := sourceProfile(b, svc, at)
			p.Add([]signature.Frame{park, {Function: "app.leak", File: "app/main.go", Line: 10}}, int64(1+3*i))
			p.Add([]signature.Frame{park, {Function: "app.pool", File: "app/main.go", Line: 20}}, 16)
		}
		return b.Profiles()
	}
	run := func(pc *profilesConnector, sink *consumertest.MetricsSink, clock *time.Time, from, to int, services ...string) [][]string {
		var out [][]string
		for i := from; i < to; i++ {
			*clock = t0.Add(time.Duration(i) * 15 * time.Second)
			ms := judgeOne(t, pc, sink, profileAt(i, services...), "x")
			m := pmetric.NewMetrics()
			ms.CopyTo(m.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty().Metrics())
			out = append(out, append(valuesOf(t, m, "go.goroutine.group.suspected"), valuesOf(t, m, "go.goroutine.group.growth")...))
		}
		return out
	}

	clock := t0
	whole, wholeSink := newTestConnector(t, ccfg, &clock)
	want := run(whole, wholeSink, &clock, 0, 80, "x")

	ccfg.Storage = &fileStorageID
	host := fileStorage(t, t.TempDir())
	first, firstSink := newTestConnector(t, ccfg, &clock)
	require.NoError(t, first.Start(context.Background(), host))
	run(first, firstSink, &clock, 0, 40, "x", "y")
	require.NoError(t, first.Shutdown(context.Background()))
	require.Len(t, first.saved, 2)

	second, secondSink := newTestConnector(t, ccfg, &clock)
	require.NoError(t, second.Start(context.Background(), host))
	got := run(second, secondSink, &clock, 40, 80, "x")
	assert.Equal(t, want[40:], got, "judged after the restart as without it")
	flagged := false
	for _, vs := range got {
		flagged = flagged || slices.Contains(vs, "app.leak/10m=1")
	}
	assert.True(t, flagged, "the leak flagged after the restart: %v", got[len(got)-1])

	// y never came back: its record went after three quiet intervals, from
	// the storage and its index.
	assert.Len(t, second.saved, 1)
	assert.Empty(t, second.waiting)
	yKey := recordKey(resourceKey(profileAt(0, "y").ResourceProfiles().At(0).Resource()))
	b, err := second.store.Load(context.Background(), yKey)
	require.NoError(t, err)
	assert.Nil(t, b, "y's record")
	xKey := recordKey(resourceKey(profileAt(0, "x").ResourceProfiles().At(0).Resource()))
	_, index, err := state.Attach(context.Background(), second.store.Client())
	require.NoError(t, err)
	assert.Equal(t, []string{xKey}, index)
	require.NoError(t, second.Shutdown(context.Background()))
}

// TestConnectorRefusesBadStoredState: stored state is input too. A record
// that is not one is counted (go.goroutine.state.errors, unreadable),
// deleted, and its source judged afresh.
func TestConnectorRefusesBadStoredState(t *testing.T) {
	ccfg := createDefaultConnectorConfig()
	ccfg.Interval = 15 * time.Second
	ccfg.Storage = &fileStorageID
	host := fileStorage(t, t.TempDir())
	clock := t0
	pc, sink := newTestConnector(t, ccfg, &clock)
	key := recordKey(resourceKey(goodProfiles([]string{"x"}, clock).ResourceProfiles().At(0).Resource()))
	client, err := host[fileStorageID].(storage.Extension).GetClient(context.Background(), component.KindConnector, pc.set.ID, "")
	require.NoError(t, err)
	require.NoError(t, client.Set(context.Background(), key, []byte("not a record")))
	require.NoError(t, client.Close(context.Background()))

	require.NoError(t, pc.Start(context.Background(), host))
	ms := judgeOne(t, pc, sink, goodProfiles([]string{"x"}, clock), "x")
	assert.Equal(t, int64(1), gaugeValue(t, ms, "go.goroutine.scrape.up"))
	dps := metric(t, ms, "go.goroutine.state.errors").Sum().DataPoints()
	require.Equal(t, 1, dps.Len())
	assert.Equal(t, "unreadable", attr(dps.At(0).Attributes(), "goroutine.state.error"))
	b, err := pc.store.Load(context.Background(), key)
	require.NoError(t, err)
	assert.Nil(t, b, "the record deleted")
	require.NoError(t, pc.Shutdown(context.Background()))
}
