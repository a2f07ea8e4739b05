package goroutinereceiver // import "github.com/goroutinewatch/goroutinereceiver"

import (
	"slices"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/goroutinewatch/goroutinereceiver/internal/metadata"
)

// The per-group gauges carry one attribute per kept pprof label besides
// those metadata.yaml declares, and metadata.yaml cannot declare them:
// their keys come from the user's `labels`. mdatagen's Record…DataPoint
// methods take a fixed list of attributes, so groupGauge builds a gauge's
// points itself and moves them into the metric the generated builder
// emits: name, description, unit and type stay the generated ones. It uses
// only what mdatagen exports (the metric's name and attribute keys, the
// user's enabled attributes and aggregation strategy, the Record method);
// TestGroupGaugeGeneratedAPI fails when that changes.

// groupAttributes are the attributes every per-group point carries.
type groupAttributes struct {
	signature, wait, function, file string
	line                            int64
	entry                           string
	// creator is set where every scrape reads it (mode: dump); an empty
	// one is left out.
	creator string
	// labelValues are the values of the kept pprof labels, one per key.
	labelValues []string
}

// put sets the attribute key of a, for the keys metadata.yaml declares.
func (a *groupAttributes) put(m pcommon.Map, key string) bool {
	switch metadata.GoGoroutineGroupCountMetricAttributeKey(key) {
	case metadata.GoGoroutineGroupCountMetricAttributeKeyGoroutineSignature:
		m.PutStr(key, a.signature)
	case metadata.GoGoroutineGroupCountMetricAttributeKeyGoroutineWait:
		m.PutStr(key, a.wait)
	case metadata.GoGoroutineGroupCountMetricAttributeKeyCodeFunctionName:
		m.PutStr(key, a.function)
	case metadata.GoGoroutineGroupCountMetricAttributeKeyCodeFilePath:
		m.PutStr(key, a.file)
	case metadata.GoGoroutineGroupCountMetricAttributeKeyCodeLineNumber:
		m.PutInt(key, a.line)
	case metadata.GoGoroutineGroupCountMetricAttributeKeyGoroutineEntry:
		m.PutStr(key, a.entry)
	case metadata.GoGoroutineGroupCountMetricAttributeKeyGoroutineCreator:
		if a.creator != "" {
			m.PutStr(key, a.creator)
		}
	default:
		return false
	}
	return true
}

// number is the value of a gauge's points.
type number interface{ int64 | float64 }

// groupGauge records one per-group gauge's points for one resource at a
// time.
type groupGauge[N number] struct {
	name    string
	enabled bool
	// keys are the declared attributes the user enabled, in the generated
	// order, so that output does not depend on the order of the
	// configuration's list; labelKeys the goroutine.label.<key> attributes.
	keys, labelKeys []string
	// distinct is set when goroutine.signature is enabled: a group is its
	// signature and label values, so no two groups' points can share
	// attributes, and none need be compared. Without it, points the
	// enabled attributes no longer tell apart are merged as the generated
	// code merges them, by the aggregation strategy.
	distinct bool
	strategy string
	// shell records one placeholder point through the generated method, so
	// that the emitted resource holds the metric that the points move into.
	shell func(ts pcommon.Timestamp)

	points  pmetric.NumberDataPointSlice
	merged  []int64     // how many groups each point holds, for avg
	scratch pcommon.Map // a point's attributes, to compare before merging
}

// newGroupGauge returns the recorder of the metric name, whose declared
// attributes are declared and of which the user enabled enabled.
func newGroupGauge[N number, K ~string](name string, on bool, declared []string, enabled []K, strategy string, labelKeys []string, shell func(pcommon.Timestamp)) *groupGauge[N] {
	g := &groupGauge[N]{name: name, enabled: on, labelKeys: labelKeys, strategy: strategy, shell: shell,
		points: pmetric.NewNumberDataPointSlice(), scratch: pcommon.NewMap()}
	for _, k := range declared {
		if slices.Contains(enabled, K(k)) {
			g.keys = append(g.keys, k)
		}
	}
	g.distinct = slices.Contains(g.keys, string(metadata.GoGoroutineGroupCountMetricAttributeKeyGoroutineSignature))
	return g
}

// record adds one group's point.
func (g *groupGauge[N]) record(start, ts pcommon.Timestamp, val N, a *groupAttributes) {
	if !g.enabled {
		return
	}
	if g.distinct {
		dp := g.points.AppendEmpty()
		g.putAll(dp.Attributes(), a)
		g.set(dp, start, ts, val)
		return
	}
	g.scratch.Clear()
	g.putAll(g.scratch, a)
	for i := range g.points.Len() {
		if prev := g.points.At(i); prev.Attributes().Equal(g.scratch) {
			g.merge(i, prev, val)
			return
		}
	}
	dp := g.points.AppendEmpty()
	g.scratch.CopyTo(dp.Attributes())
	g.set(dp, start, ts, val)
	g.merged = append(g.merged, 1)
}

func (g *groupGauge[N]) putAll(attrs pcommon.Map, a *groupAttributes) {
	attrs.EnsureCapacity(len(g.keys) + len(g.labelKeys))
	for _, k := range g.keys {
		a.put(attrs, k)
	}
	for i, k := range g.labelKeys {
		attrs.PutStr(k, a.labelValues[i])
	}
}

func (g *groupGauge[N]) set(dp pmetric.NumberDataPoint, start, ts pcommon.Timestamp, val N) {
	dp.SetStartTimestamp(start)
	dp.SetTimestamp(ts)
	setValue(dp, val)
}

// merge folds val into point i, as the generated code folds a point whose
// attributes equal an earlier one's.
func (g *groupGauge[N]) merge(i int, prev pmetric.NumberDataPoint, val N) {
	cur := valueOf[N](prev)
	switch g.strategy {
	case metadata.AggregationStrategySum, metadata.AggregationStrategyAvg:
		setValue(prev, cur+val)
		g.merged[i]++
	case metadata.AggregationStrategyMin:
		setValue(prev, min(cur, val))
	case metadata.AggregationStrategyMax:
		setValue(prev, max(cur, val))
	}
}

// recordShell makes the generated builder emit the metric, if any point
// was recorded.
func (g *groupGauge[N]) recordShell(ts pcommon.Timestamp) {
	if g.points.Len() > 0 {
		g.shell(ts)
	}
}

// moveInto moves the points recorded into the metric of ms that the shell
// made the generated builder emit, replacing its placeholder point. With
// no such metric (the resource was filtered out) they are dropped.
func (g *groupGauge[N]) moveInto(ms pmetric.MetricSlice) {
	defer func() {
		g.points.RemoveIf(func(pmetric.NumberDataPoint) bool { return true })
		g.merged = g.merged[:0]
	}()
	if g.points.Len() == 0 {
		return
	}
	for i := range ms.Len() {
		m := ms.At(i)
		if m.Name() != g.name || m.Type() != pmetric.MetricTypeGauge {
			continue
		}
		if g.strategy == metadata.AggregationStrategyAvg && !g.distinct {
			for j, n := range g.merged {
				p := g.points.At(j)
				setValue(p, valueOf[N](p)/N(n))
			}
		}
		dps := m.Gauge().DataPoints()
		dps.RemoveIf(func(pmetric.NumberDataPoint) bool { return true })
		g.points.MoveAndAppendTo(dps)
		return
	}
}

func setValue[N number](dp pmetric.NumberDataPoint, v N) {
	switch v := any(v).(type) {
	case int64:
		dp.SetIntValue(v)
	case float64:
		dp.SetDoubleValue(v)
	}
}

func valueOf[N number](dp pmetric.NumberDataPoint) N {
	var v N
	switch any(v).(type) {
	case int64:
		return N(dp.IntValue())
	default:
		return N(dp.DoubleValue())
	}
}
