package metadata

import (
	"slices"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

// The methods here record like the generated Record…DataPoint methods of the
// per-group metrics and then add one attribute per kept pprof label.
// metadata.yaml cannot declare those attributes: their keys come from the
// user's `labels`. They are added to the point just recorded, before the next
// record compares attributes, so that groups differing only in label values
// stay separate points instead of being merged.

// GroupAttributes are the attributes every per-group metric carries.
type GroupAttributes struct {
	Signature, Wait, Function, File string
	Line                            int64
	Entry                           string
	// Creator is set from a dump only; an empty one is left out.
	Creator string
	// LabelKeys are the full attribute names (goroutine.label.<key>),
	// LabelValues their values.
	LabelKeys, LabelValues []string
}

// RecordGoGoroutineGroupCountDataPointWithLabels records go.goroutine.group.count.
func (mb *MetricsBuilder) RecordGoGoroutineGroupCountDataPointWithLabels(ts pcommon.Timestamp, val int64, a GroupAttributes) {
	m := &mb.metricGoGoroutineGroupCount
	recordGroup(m.config.Enabled, m.config.EnabledAttributes, m.data, &m.aggDataPoints, mb.startTime, ts, a,
		func(dp pmetric.NumberDataPoint) { dp.SetIntValue(val) },
		func() {
			m.recordDataPoint(mb.startTime, ts, val, a.Signature, a.Wait, a.Function, a.File, a.Line, a.Entry, a.Creator)
		})
}

// RecordGoGoroutineGroupGrowthDataPointWithLabels records go.goroutine.group.growth.
func (mb *MetricsBuilder) RecordGoGoroutineGroupGrowthDataPointWithLabels(ts pcommon.Timestamp, val float64, a GroupAttributes) {
	m := &mb.metricGoGoroutineGroupGrowth
	recordGroup(m.config.Enabled, m.config.EnabledAttributes, m.data, &m.aggDataPoints, mb.startTime, ts, a,
		func(dp pmetric.NumberDataPoint) { dp.SetDoubleValue(val) },
		func() {
			m.recordDataPoint(mb.startTime, ts, val, a.Signature, a.Wait, a.Function, a.File, a.Line, a.Entry, a.Creator)
		})
}

// RecordGoGoroutineGroupSuspectedDataPointWithLabels records go.goroutine.group.suspected.
func (mb *MetricsBuilder) RecordGoGoroutineGroupSuspectedDataPointWithLabels(ts pcommon.Timestamp, val int64, a GroupAttributes) {
	m := &mb.metricGoGoroutineGroupSuspected
	recordGroup(m.config.Enabled, m.config.EnabledAttributes, m.data, &m.aggDataPoints, mb.startTime, ts, a,
		func(dp pmetric.NumberDataPoint) { dp.SetIntValue(val) },
		func() {
			m.recordDataPoint(mb.startTime, ts, val, a.Signature, a.Wait, a.Function, a.File, a.Line, a.Entry, a.Creator)
		})
}

// RecordGoGoroutineGroupWaitMaxDataPointWithLabels records go.goroutine.group.wait.max.
func (mb *MetricsBuilder) RecordGoGoroutineGroupWaitMaxDataPointWithLabels(ts pcommon.Timestamp, val int64, a GroupAttributes) {
	m := &mb.metricGoGoroutineGroupWaitMax
	recordGroup(m.config.Enabled, m.config.EnabledAttributes, m.data, &m.aggDataPoints, mb.startTime, ts, a,
		func(dp pmetric.NumberDataPoint) { dp.SetIntValue(val) },
		func() {
			m.recordDataPoint(mb.startTime, ts, val, a.Signature, a.Wait, a.Function, a.File, a.Line, a.Entry, a.Creator)
		})
}

// RecordGoGoroutineGroupLeakedDataPointWithLabels records go.goroutine.group.leaked.
func (mb *MetricsBuilder) RecordGoGoroutineGroupLeakedDataPointWithLabels(ts pcommon.Timestamp, val int64, a GroupAttributes) {
	m := &mb.metricGoGoroutineGroupLeaked
	recordGroup(m.config.Enabled, m.config.EnabledAttributes, m.data, &m.aggDataPoints, mb.startTime, ts, a,
		func(dp pmetric.NumberDataPoint) { dp.SetIntValue(val) },
		func() {
			m.recordDataPoint(mb.startTime, ts, val, a.Signature, a.Wait, a.Function, a.File, a.Line, a.Entry)
		})
}

// recordGroup records one group's point of a gauge: appended with set when
// goroutine.signature keeps every group's point apart, else through the
// generated record, which merges points that the enabled attributes no
// longer tell apart.
func recordGroup[K ~string, N int64 | float64](enabled bool, keys []K, data pmetric.Metric, agg *[]N, start, ts pcommon.Timestamp, a GroupAttributes, set func(pmetric.NumberDataPoint), record func()) {
	if !enabled {
		// A disabled metric's data is never initialized as a gauge.
		return
	}
	dps := data.Gauge().DataPoints()
	if slices.Contains(keys, "goroutine.signature") {
		set(appendGroupPoint(dps, start, ts, keys, a))
		*agg = append(*agg, 1)
		return
	}
	withLabels(dps, a, record)
}

// appendGroupPoint appends a point with the enabled attributes of a. The
// generated recordDataPoint first compares the new point's attributes with
// every point already recorded, to merge points that the attributes a user
// disabled no longer tell apart: quadratic in a target's groups, and most
// of a scrape's cost at a few hundred groups. With goroutine.signature
// enabled no two groups' points can be merged (a group is its signature and
// label values, and both are attributes), so nothing need be compared.
func appendGroupPoint[K ~string](dps pmetric.NumberDataPointSlice, start, ts pcommon.Timestamp, enabled []K, a GroupAttributes) pmetric.NumberDataPoint {
	dp := dps.AppendEmpty()
	dp.SetStartTimestamp(start)
	dp.SetTimestamp(ts)
	attrs := dp.Attributes()
	attrs.EnsureCapacity(len(enabled) + len(a.LabelKeys))
	// In the generated methods' order, so that output does not depend on
	// the order of the configuration's list.
	if slices.Contains(enabled, "goroutine.signature") {
		attrs.PutStr("goroutine.signature", a.Signature)
	}
	if slices.Contains(enabled, "goroutine.wait") {
		attrs.PutStr("goroutine.wait", a.Wait)
	}
	if slices.Contains(enabled, "code.function.name") {
		attrs.PutStr("code.function.name", a.Function)
	}
	if slices.Contains(enabled, "code.file.path") {
		attrs.PutStr("code.file.path", a.File)
	}
	if slices.Contains(enabled, "code.line.number") {
		attrs.PutInt("code.line.number", a.Line)
	}
	if slices.Contains(enabled, "goroutine.entry") {
		attrs.PutStr("goroutine.entry", a.Entry)
	}
	if a.Creator != "" && slices.Contains(enabled, "goroutine.creator") {
		attrs.PutStr("goroutine.creator", a.Creator)
	}
	for i, k := range a.LabelKeys {
		attrs.PutStr(k, a.LabelValues[i])
	}
	return dp
}

// withLabels runs record and adds the label attributes to the point it
// appended, if it appended one.
func withLabels(dps pmetric.NumberDataPointSlice, a GroupAttributes, record func()) {
	before := dps.Len()
	record()
	if len(a.LabelKeys) == 0 || dps.Len() == before {
		return
	}
	attrs := dps.At(dps.Len() - 1).Attributes()
	for i, k := range a.LabelKeys {
		attrs.PutStr(k, a.LabelValues[i])
	}
}
