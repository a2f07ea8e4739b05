package metadata

import (
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
	// LabelKeys are the full attribute names (goroutine.label.<key>),
	// LabelValues their values.
	LabelKeys, LabelValues []string
}

// RecordGoGoroutineGroupCountDataPointWithLabels records go.goroutine.group.count.
func (mb *MetricsBuilder) RecordGoGoroutineGroupCountDataPointWithLabels(ts pcommon.Timestamp, val int64, a GroupAttributes) {
	m := &mb.metricGoGoroutineGroupCount
	if !m.config.Enabled {
		// A disabled metric's data is never initialized as a gauge.
		return
	}
	withLabels(m.data.Gauge().DataPoints(), a, func() {
		m.recordDataPoint(mb.startTime, ts, val, a.Signature, a.Wait, a.Function, a.File, a.Line, a.Entry)
	})
}

// RecordGoGoroutineGroupGrowthDataPointWithLabels records go.goroutine.group.growth.
func (mb *MetricsBuilder) RecordGoGoroutineGroupGrowthDataPointWithLabels(ts pcommon.Timestamp, val float64, a GroupAttributes) {
	m := &mb.metricGoGoroutineGroupGrowth
	if !m.config.Enabled {
		return
	}
	withLabels(m.data.Gauge().DataPoints(), a, func() {
		m.recordDataPoint(mb.startTime, ts, val, a.Signature, a.Wait, a.Function, a.File, a.Line, a.Entry)
	})
}

// RecordGoGoroutineGroupSuspectedDataPointWithLabels records go.goroutine.group.suspected.
func (mb *MetricsBuilder) RecordGoGoroutineGroupSuspectedDataPointWithLabels(ts pcommon.Timestamp, val int64, a GroupAttributes) {
	m := &mb.metricGoGoroutineGroupSuspected
	if !m.config.Enabled {
		return
	}
	withLabels(m.data.Gauge().DataPoints(), a, func() {
		m.recordDataPoint(mb.startTime, ts, val, a.Signature, a.Wait, a.Function, a.File, a.Line, a.Entry)
	})
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
