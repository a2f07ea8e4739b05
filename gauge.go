package goroutinereceiver // import "github.com/goroutinewatch/goroutinereceiver"

import (
	"slices"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/receiver"

	"github.com/goroutinewatch/goroutinereceiver/internal/group"
	"github.com/goroutinewatch/goroutinereceiver/internal/metadata"
)

// The per-group gauges carry one attribute per kept pprof label besides
// those metadata.yaml declares, and metadata.yaml cannot declare them:
// their keys come from the user's `labels`. mdatagen's Record…DataPoint
// methods take a fixed list of attributes, so groupGauge builds a gauge's
// points itself, in a copy of the metric the generated builder made once
// (name, description, unit and type stay the generated ones), and places
// it where the generated builder places its metrics: in metadata.yaml's
// order, which mdatagen keeps sorted by name. It uses only what mdatagen
// exports (the metric's name and attribute keys, the user's enabled
// attributes and aggregation strategy, the Record method);
// TestGroupGaugeGeneratedAPI fails when that changes.

// groupAttributes are the attributes every per-group point carries.
type groupAttributes struct {
	signature, wait, function, file string
	line                            int64
	entry                           string
	// creator is set where every scrape reads it (mode: dump); an empty
	// one is left out, as are an empty user function and known leak.
	creator string
	// user and userLine are the user's code behind the group: the
	// innermost frame of the target's own code in the stack, or, on the
	// series a dump sets, the origin the dump found.
	user     string
	userLine int64
	// knownLibrary and knownID are the known leak the group's entry
	// matches.
	knownLibrary, knownID string
	// horizon is the leak test's horizon of a growth or a flag.
	horizon string
	// labelValues are the values of the kept pprof labels, one per key.
	labelValues []string
}

// attribute is one attribute metadata.yaml declares for the per-group
// metrics: its key, and which field of groupAttributes it carries, looked
// up once per gauge rather than once per point.
type attribute struct {
	key   string
	field field
}

// field names a field of groupAttributes.
type field uint8

const (
	fieldSignature field = iota + 1
	fieldWait
	fieldFunction
	fieldFile
	fieldLine
	fieldEntry
	fieldCreator
	fieldUser
	fieldUserLine
	fieldKnownLibrary
	fieldKnownID
	fieldHorizon
	// fieldEnd is one past the last field.
	fieldEnd
)

// fieldOf returns the field that carries the declared attribute key, 0 for
// a key this receiver does not know.
func fieldOf(key string) field {
	switch key {
	case string(metadata.GoGoroutineGroupCountMetricAttributeKeyGoroutineSignature):
		return fieldSignature
	case string(metadata.GoGoroutineGroupCountMetricAttributeKeyGoroutineWait):
		return fieldWait
	case string(metadata.GoGoroutineGroupCountMetricAttributeKeyCodeFunctionName):
		return fieldFunction
	case string(metadata.GoGoroutineGroupCountMetricAttributeKeyCodeFilePath):
		return fieldFile
	case string(metadata.GoGoroutineGroupCountMetricAttributeKeyCodeLineNumber):
		return fieldLine
	case string(metadata.GoGoroutineGroupCountMetricAttributeKeyGoroutineEntry):
		return fieldEntry
	case string(metadata.GoGoroutineGroupCountMetricAttributeKeyGoroutineCreator):
		return fieldCreator
	case string(metadata.GoGoroutineGroupCountMetricAttributeKeyGoroutineUserFunction):
		return fieldUser
	case string(metadata.GoGoroutineGroupCountMetricAttributeKeyGoroutineUserLine):
		return fieldUserLine
	case string(metadata.GoGoroutineGroupCountMetricAttributeKeyGoroutineKnownLeakLibrary):
		return fieldKnownLibrary
	case string(metadata.GoGoroutineGroupCountMetricAttributeKeyGoroutineKnownLeakID):
		return fieldKnownID
	case string(metadata.GoGoroutineGroupGrowthMetricAttributeKeyGoroutineHorizon):
		return fieldHorizon
	}
	return 0
}

// put sets attribute at of a in m, when a has it.
func (a *groupAttributes) put(m pcommon.Map, at attribute) {
	if !a.has(at.field) {
		return
	}
	switch at.field {
	case fieldSignature:
		m.PutStr(at.key, a.signature)
	case fieldWait:
		m.PutStr(at.key, a.wait)
	case fieldFunction:
		m.PutStr(at.key, a.function)
	case fieldFile:
		m.PutStr(at.key, a.file)
	case fieldLine:
		m.PutInt(at.key, a.line)
	case fieldEntry:
		m.PutStr(at.key, a.entry)
	case fieldCreator:
		m.PutStr(at.key, a.creator)
	case fieldUser:
		m.PutStr(at.key, a.user)
	case fieldUserLine:
		m.PutInt(at.key, a.userLine)
	case fieldKnownLibrary:
		m.PutStr(at.key, a.knownLibrary)
	case fieldKnownID:
		m.PutStr(at.key, a.knownID)
	case fieldHorizon:
		m.PutStr(at.key, a.horizon)
	}
}

// has reports whether a carries the attribute field: a creator, user
// function or known leak a source did not tell is left out, as is the
// user's line without the user's function; a field this receiver does not
// know is never put.
func (a *groupAttributes) has(f field) bool {
	switch f {
	case fieldCreator:
		return a.creator != ""
	case fieldUser, fieldUserLine:
		return a.user != ""
	case fieldKnownLibrary:
		return a.knownLibrary != ""
	case fieldKnownID:
		return a.knownID != ""
	}
	return f >= fieldSignature && f < fieldEnd
}

// origin sets the user's code of a group whose stack holds none to the
// most common origin a dump found, for the series a dump sets.
func (a *groupAttributes) origin(origins []group.Origin) {
	if a.user != "" {
		return
	}
	for _, o := range origins {
		if o.Missing == group.Found {
			a.user, a.userLine = o.Function, o.Line
			return
		}
	}
}

// number is the value of a gauge's points.
type number interface{ int64 | float64 }

// groupGauge records one per-group gauge's points for one resource at a
// time.
type groupGauge[N number] struct {
	// template is the metric as the generated builder made it, without
	// points; its zero value when the user disabled the metric.
	template pmetric.Metric
	enabled  bool
	// attrs are the declared attributes the user enabled, in the generated
	// order, so that output does not depend on the order of the
	// configuration's list; labelKeys the goroutine.label.<key> attributes.
	attrs     []attribute
	labelKeys []string
	// distinct is set when goroutine.signature is enabled: a group is its
	// signature and label values, so no two groups' points can share
	// attributes, and none need be compared. Without it, points the
	// enabled attributes no longer tell apart are merged as the generated
	// code merges them, by the aggregation strategy.
	distinct bool
	strategy string

	// gauge holds the points of the resource being recorded.
	gauge   pmetric.Gauge
	merged  []int64     // how many groups each point holds, for avg
	scratch pcommon.Map // a point's attributes, to compare before merging
	// capacity is the most points one resource had: moving the points out
	// takes their array, so the next resource's is sized once up front.
	capacity int
}

// newGroupGauge returns the recorder of the metric that the generated
// builder emitted as template, whose declared attributes are declared and
// of which the user enabled enabled.
func newGroupGauge[N number, K ~string](template pmetric.Metric, on bool, declared []string, enabled []K, strategy string, labelKeys []string) *groupGauge[N] {
	g := &groupGauge[N]{
		template: template, enabled: on, labelKeys: labelKeys, strategy: strategy,
		gauge: pmetric.NewGauge(), scratch: pcommon.NewMap(),
	}
	for _, k := range declared {
		if slices.Contains(enabled, K(k)) {
			g.attrs = append(g.attrs, attribute{key: k, field: fieldOf(k)})
			g.distinct = g.distinct || fieldOf(k) == fieldSignature
		}
	}
	return g
}

// record adds one group's point.
func (g *groupGauge[N]) record(start, ts pcommon.Timestamp, val N, a *groupAttributes) {
	if !g.enabled {
		return
	}
	points := g.gauge.DataPoints()
	if points.Len() == 0 {
		points.EnsureCapacity(g.capacity)
	}
	if g.distinct {
		dp := points.AppendEmpty()
		g.putAll(dp.Attributes(), a)
		g.set(dp, start, ts, val)
		return
	}
	g.scratch.Clear()
	g.putAll(g.scratch, a)
	for i := range points.Len() {
		if prev := points.At(i); prev.Attributes().Equal(g.scratch) {
			g.merge(i, prev, val)
			return
		}
	}
	dp := points.AppendEmpty()
	g.scratch.CopyTo(dp.Attributes())
	g.set(dp, start, ts, val)
	g.merged = append(g.merged, 1)
}

func (g *groupGauge[N]) putAll(attrs pcommon.Map, a *groupAttributes) {
	// The attributes' array is most of a point's bytes (40 bytes an
	// attribute): sized to what a puts, not to what it may.
	n := len(g.labelKeys)
	for _, at := range g.attrs {
		if a.has(at.field) {
			n++
		}
	}
	attrs.EnsureCapacity(n)
	for _, at := range g.attrs {
		a.put(attrs, at)
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

// appendTo appends the metric with the points recorded to ms, and reports
// whether there were any.
func (g *groupGauge[N]) appendTo(ms pmetric.MetricSlice) bool {
	points := g.gauge.DataPoints()
	if points.Len() == 0 {
		return false
	}
	g.capacity = max(g.capacity, points.Len())
	if g.strategy == metadata.AggregationStrategyAvg && !g.distinct {
		for i, n := range g.merged {
			p := points.At(i)
			setValue(p, valueOf[N](p)/N(n))
		}
	}
	g.merged = g.merged[:0]
	m := ms.AppendEmpty()
	g.template.CopyTo(m)
	g.gauge.MoveTo(m.Gauge())
	return true
}

// drop forgets the points recorded, for a resource the user's resource
// filters left out.
func (g *groupGauge[N]) drop() {
	g.gauge.DataPoints().RemoveIf(func(pmetric.NumberDataPoint) bool { return true })
	g.merged = g.merged[:0]
}

// templates returns, by name, the per-group metrics as the generated
// builder makes them from cfg, without points: one point of each recorded
// and emitted once, by a builder of their own.
func templates(cfg metadata.MetricsBuilderConfig, set receiver.Settings) map[string]pmetric.Metric {
	mb := metadata.NewMetricsBuilder(cfg, set)
	mb.RecordGoGoroutineGroupCountDataPoint(0, 0, "", "", "", "", 0, "", "", "", 0, "", "")
	mb.RecordGoGoroutineGroupGrowthDataPoint(0, 0, "", "", "", "", 0, "", "", "", 0, "", "", "")
	mb.RecordGoGoroutineGroupSuspectedDataPoint(0, 0, "", "", "", "", 0, "", "", "", 0, "", "", "")
	mb.RecordGoGoroutineGroupWaitMaxDataPoint(0, 0, "", "", "", "", 0, "", "", "", 0, "", "")
	mb.RecordGoGoroutineGroupLeakedDataPoint(0, 0, "", "", "", "", 0, "", "", 0, "", "")
	out := map[string]pmetric.Metric{}
	rms := mb.Emit().ResourceMetrics()
	if rms.Len() == 0 {
		return out
	}
	ms := rms.At(0).ScopeMetrics().At(0).Metrics()
	for i := range ms.Len() {
		m := pmetric.NewMetric()
		ms.At(i).CopyTo(m)
		m.Gauge().DataPoints().RemoveIf(func(pmetric.NumberDataPoint) bool { return true })
		out[m.Name()] = m
	}
	return out
}

// byName orders a resource's metrics as the generated builder does.
func byName(a, b pmetric.Metric) bool { return a.Name() < b.Name() }

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
