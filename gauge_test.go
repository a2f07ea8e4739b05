package goroutinereceiver

import (
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/receiver/receivertest"

	"github.com/goroutinewatch/goroutinereceiver/internal/metadata"
)

// gaugeTest is an emitter under a metrics config of the test's, whose
// go.goroutine.group.count points it records and emits.
type gaugeTest struct {
	e *emitter
}

func newGaugeTest(t *testing.T, mc metadata.MetricsBuilderConfig, labels ...string) gaugeTest {
	t.Helper()
	cfg := createDefaultConfig()
	cfg.MetricsBuilderConfig = mc
	cfg.Labels = labels
	return gaugeTest{newEmitter(cfg, receivertest.NewNopSettings(metadata.Type), 1, nil)}
}

// emit returns the metrics the gauges recorded, as the emitter appends
// them to a resource's.
func (gt gaugeTest) emit() pmetric.MetricSlice {
	ms := pmetric.NewMetricSlice()
	for _, g := range gt.e.gauges {
		g.appendTo(ms)
	}
	return ms
}

func countPoints(t *testing.T, ms pmetric.MetricSlice) pmetric.NumberDataPointSlice {
	t.Helper()
	require.Equal(t, 1, ms.Len())
	require.Equal(t, metadata.MetricsInfo.GoGoroutineGroupCount.Name, ms.At(0).Name())
	return ms.At(0).Gauge().DataPoints()
}

// TestRecordWithLabelsKeepsLabelledGroupsApart records one stack under two
// label values: two points, each with its label, not one summed point.
func TestRecordWithLabelsKeepsLabelledGroupsApart(t *testing.T) {
	gt := newGaugeTest(t, metadata.NewDefaultMetricsBuilderConfig(), "tenant")
	a := func(tenant string) *groupAttributes {
		return &groupAttributes{signature: "abc", wait: "chan send", function: "main.f", file: "f.go", line: 1, entry: "main.f", labelValues: []string{tenant}}
	}
	gt.e.counts.record(1, 2, 3, a("a"))
	gt.e.counts.record(1, 2, 4, a("b"))
	gt.e.counts.record(1, 2, 5, a(""))

	dps := countPoints(t, gt.emit())
	require.Equal(t, 3, dps.Len())
	for i, want := range []struct {
		tenant string
		count  int64
	}{{"a", 3}, {"b", 4}, {"", 5}} {
		v, ok := dps.At(i).Attributes().Get("goroutine.label.tenant")
		require.True(t, ok)
		assert.Equal(t, want.tenant, v.Str())
		assert.Equal(t, want.count, dps.At(i).IntValue())
		assert.Equal(t, pcommon.Timestamp(1), dps.At(i).StartTimestamp())
		assert.Equal(t, pcommon.Timestamp(2), dps.At(i).Timestamp())
	}
}

func TestRecordWithLabelsDisabled(t *testing.T) {
	cfg := metadata.NewDefaultMetricsBuilderConfig()
	cfg.Metrics.GoGoroutineGroupCount.Enabled = false
	cfg.Metrics.GoGoroutineCount.Enabled = true
	gt := newGaugeTest(t, cfg, "tenant")
	gt.e.counts.record(1, 2, 3, &groupAttributes{signature: "abc", labelValues: []string{"a"}})
	assert.Equal(t, 0, gt.emit().Len())
}

// TestRecordWithoutSignatureMerges disables goroutine.signature: groups that
// the remaining attributes no longer tell apart become one point, by the
// aggregation strategy, as the generated code merges them, instead of two
// points with equal attributes.
func TestRecordWithoutSignatureMerges(t *testing.T) {
	tests := []struct {
		strategy string
		labels   []string
		want     int64
	}{
		{strategy: metadata.AggregationStrategyAvg, want: 4},
		{strategy: metadata.AggregationStrategySum, want: 8},
		{strategy: metadata.AggregationStrategyMin, want: 3},
		{strategy: metadata.AggregationStrategyMax, want: 5},
		{strategy: metadata.AggregationStrategySum, labels: []string{"tenant"}, want: 8},
	}
	for _, tt := range tests {
		t.Run(tt.strategy, func(t *testing.T) {
			cfg := metadata.NewDefaultMetricsBuilderConfig()
			cfg.Metrics.GoGoroutineGroupCount.EnabledAttributes = []metadata.GoGoroutineGroupCountMetricAttributeKey{
				metadata.GoGoroutineGroupCountMetricAttributeKeyGoroutineWait, metadata.GoGoroutineGroupCountMetricAttributeKeyCodeFunctionName,
			}
			cfg.Metrics.GoGoroutineGroupCount.AggregationStrategy = tt.strategy
			gt := newGaugeTest(t, cfg, tt.labels...)
			values := make([]string, len(tt.labels))
			for i, sig := range []string{"a", "b"} {
				gt.e.counts.record(1, 2, []int64{3, 5}[i], &groupAttributes{signature: sig, wait: "chan send", function: "main.f", line: 1, labelValues: values})
			}
			// A third group the attributes still tell apart.
			gt.e.counts.record(1, 2, 7, &groupAttributes{signature: "c", wait: "select", function: "main.f", line: 1, labelValues: values})
			dps := countPoints(t, gt.emit())
			require.Equal(t, 2, dps.Len())
			want := map[string]any{"goroutine.wait": "chan send", "code.function.name": "main.f"}
			if len(tt.labels) > 0 {
				want["goroutine.label.tenant"] = ""
			}
			assert.Equal(t, want, dps.At(0).Attributes().AsRaw())
			assert.Equal(t, tt.want, dps.At(0).IntValue())
			assert.Equal(t, int64(7), dps.At(1).IntValue())
		})
	}
}

// TestGroupGaugeGeneratedAPI holds groupGauge to what it takes from
// mdatagen's output: each per-group metric's shell record emits exactly one
// gauge of the declared name, each declared attribute is one groupAttributes
// puts, and the attributes enabled by default are the declared ones. An
// mdatagen upgrade or a metadata.yaml edit that changes any of these fails
// here, not in a user's dashboard.
func TestGroupGaugeGeneratedAPI(t *testing.T) {
	e := newEmitter(createDefaultConfig(), receivertest.NewNopSettings(metadata.Type), 1, nil)
	info := metadata.MetricsInfo
	declared := map[*groupGauge[int64]][]string{
		e.counts:    info.GoGoroutineGroupCount.Attributes,
		e.suspected: info.GoGoroutineGroupSuspected.Attributes,
		e.waits:     info.GoGoroutineGroupWaitMax.Attributes,
		e.leaked:    info.GoGoroutineGroupLeaked.Attributes,
	}
	keys := func(attrs []attribute) []string {
		var out []string
		for _, a := range attrs {
			out = append(out, a.key)
		}
		return out
	}
	for g, attrs := range declared {
		assert.Equal(t, attrs, keys(g.attrs), "%s: every declared attribute enabled by default, in order", g.template.Name())
	}
	assert.Equal(t, info.GoGoroutineGroupGrowth.Attributes, keys(e.growths.attrs))

	a := groupAttributes{creator: "main.main", user: "main.handle", userLine: 12, knownLibrary: "net/http", knownID: "http-client-body-not-closed"}
	for _, attrs := range [][]string{
		info.GoGoroutineGroupCount.Attributes, info.GoGoroutineGroupGrowth.Attributes,
		info.GoGoroutineGroupSuspected.Attributes, info.GoGoroutineGroupWaitMax.Attributes, info.GoGoroutineGroupLeaked.Attributes,
	} {
		for _, k := range attrs {
			require.NotZero(t, fieldOf(k), "attribute %s is declared but never put", k)
			m := pcommon.NewMap()
			a.put(m, attribute{key: k, field: fieldOf(k)})
			_, ok := m.Get(k)
			assert.True(t, ok, k)
		}
	}

	assert.False(t, e.counts.appendTo(pmetric.NewMetricSlice()), "nothing recorded, nothing appended")
	metrics := []struct {
		name  string
		attrs []string
	}{
		{info.GoGoroutineGroupCount.Name, info.GoGoroutineGroupCount.Attributes},
		{info.GoGoroutineGroupGrowth.Name, info.GoGoroutineGroupGrowth.Attributes},
		{info.GoGoroutineGroupSuspected.Name, info.GoGoroutineGroupSuspected.Attributes},
		{info.GoGoroutineGroupWaitMax.Name, info.GoGoroutineGroupWaitMax.Attributes},
		{info.GoGoroutineGroupLeaked.Name, info.GoGoroutineGroupLeaked.Attributes},
	}
	require.Len(t, e.gauges, len(metrics))
	for i, g := range e.gauges {
		t.Run(metrics[i].name, func(t *testing.T) {
			switch g := g.(type) {
			case *groupGauge[int64]:
				g.record(1, 2, 9, &a)
			case *groupGauge[float64]:
				g.record(1, 2, 9, &a)
			}
			ms := pmetric.NewMetricSlice()
			require.True(t, g.appendTo(ms))
			require.Equal(t, 1, ms.Len())
			m := ms.At(0)
			require.Equal(t, metrics[i].name, m.Name(), "the generated metric's name")
			require.Equal(t, pmetric.MetricTypeGauge, m.Type())
			assert.NotEmpty(t, m.Description(), "the generated metric's description")
			assert.NotEmpty(t, m.Unit(), "the generated metric's unit")
			dps := m.Gauge().DataPoints()
			require.Equal(t, 1, dps.Len(), "the point recorded, alone")
			got := dps.At(0).Attributes().AsRaw()
			assert.Len(t, got, len(metrics[i].attrs))
			_, hasCreator := got["goroutine.creator"]
			assert.Equal(t, slices.Contains(metrics[i].attrs, "goroutine.creator"), hasCreator)
			assert.Equal(t, pcommon.Timestamp(1), dps.At(0).StartTimestamp())
			assert.False(t, g.appendTo(pmetric.NewMetricSlice()), "the points moved out")
		})
	}
}

// TestGeneratedOrderIsByName: the generated builder emits a resource's
// metrics in metadata.yaml's order, which mdatagen keeps sorted by name;
// the emitter places the per-group gauges by that rule.
func TestGeneratedOrderIsByName(t *testing.T) {
	cfg := metadata.NewDefaultMetricsBuilderConfig()
	mb := metadata.NewMetricsBuilder(cfg, receivertest.NewNopSettings(metadata.Type))
	mb.RecordGoGoroutineCountDataPoint(0, 1)
	mb.RecordGoGoroutineGroupCountDataPoint(0, 1, "", "", "", "", 0, "", "", "", 0, "", "")
	mb.RecordGoGoroutineGroupGrowthDataPoint(0, 1, "", "", "", "", 0, "", "", "", 0, "", "", "")
	mb.RecordGoGoroutineGroupLeakedDataPoint(0, 1, "", "", "", "", 0, "", "", 0, "", "")
	mb.RecordGoGoroutineGroupSuspectedDataPoint(0, 1, "", "", "", "", 0, "", "", "", 0, "", "", "")
	mb.RecordGoGoroutineGroupWaitMaxDataPoint(0, 1, "", "", "", "", 0, "", "", "", 0, "", "")
	mb.RecordGoGoroutineGrowthDataPoint(0, 1, "30m")
	mb.RecordGoGoroutineLeakProfileAvailableDataPoint(0, 1)
	mb.RecordGoGoroutineScrapeDurationDataPoint(0, 1)
	mb.RecordGoGoroutineScrapeErrorsDataPoint(0, 1, metadata.AttributeErrorTypeConnect)
	mb.RecordGoGoroutineScrapeLimitBreachesDataPoint(0, 1, metadata.AttributeLimitMaxFrames)
	mb.RecordGoGoroutineScrapeSizeDataPoint(0, 1)
	mb.RecordGoGoroutineScrapeTruncatedDataPoint(0, 1)
	mb.RecordGoGoroutineScrapeUpDataPoint(0, 1)
	ms := mb.Emit().ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics()
	var names []string
	for i := range ms.Len() {
		names = append(names, ms.At(i).Name())
	}
	assert.Len(t, names, 14, "every metric recorded")
	assert.True(t, slices.IsSorted(names), "%v", names)
}

// TestHasIsWhatPutPuts: the points' attribute arrays are sized by has, and
// put writes what has counts, for every field and every optional attribute
// set or left out.
func TestHasIsWhatPutPuts(t *testing.T) {
	full := groupAttributes{
		signature: "s", wait: "chan receive", function: "f", file: "f.go", line: 1, entry: "e",
		creator: "c", user: "u", userLine: 2, knownLibrary: "l", knownID: "k", horizon: "30m",
	}
	optional := []field{fieldCreator, fieldUser, fieldUserLine, fieldKnownLibrary, fieldKnownID}
	for _, tt := range []struct {
		name string
		give groupAttributes
		// wantLeftOut are the fields put leaves out.
		wantLeftOut []field
	}{
		{name: "every attribute set", give: full},
		{
			name:        "none of the optional ones",
			give:        groupAttributes{signature: "s", wait: "w", function: "f", file: "f.go", entry: "e", horizon: "5h"},
			wantLeftOut: optional,
		},
		{
			name:        "a user line without the user's function",
			give:        groupAttributes{signature: "s", userLine: 7},
			wantLeftOut: optional,
		},
		{
			name:        "a known library without its id",
			give:        groupAttributes{signature: "s", user: "u", knownLibrary: "l"},
			wantLeftOut: []field{fieldCreator, fieldKnownID},
		},
		{name: "the other group", give: groupAttributes{signature: otherSignature}, wantLeftOut: optional},
	} {
		t.Run(tt.name, func(t *testing.T) {
			for f := fieldSignature; f < fieldEnd; f++ {
				m := pcommon.NewMap()
				tt.give.put(m, attribute{key: "k", field: f})
				want := !slices.Contains(tt.wantLeftOut, f)
				assert.Equal(t, want, m.Len() == 1, "field %d put", f)
				assert.Equal(t, want, tt.give.has(f), "field %d has", f)
			}
			for _, f := range []field{0, fieldEnd} {
				m := pcommon.NewMap()
				tt.give.put(m, attribute{key: "k", field: f})
				assert.Zero(t, m.Len(), "a field the receiver does not know is not put")
				assert.False(t, tt.give.has(f))
			}
		})
	}
}
