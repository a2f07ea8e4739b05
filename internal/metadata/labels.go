package metadata

import "go.opentelemetry.io/collector/pdata/pcommon"

// RecordGoGoroutineGroupCountDataPointWithLabels records like
// RecordGoGoroutineGroupCountDataPoint and then adds one attribute per kept
// pprof label. metadata.yaml cannot declare those attributes: their keys come
// from the user's `labels`. They are added to the point just recorded, before
// the next record compares attributes, so that groups differing only in label
// values stay separate points instead of being summed.
func (mb *MetricsBuilder) RecordGoGoroutineGroupCountDataPointWithLabels(
	ts pcommon.Timestamp, val int64,
	signature, wait, function, file string, line int64, entry string,
	labelAttrs, labelValues []string,
) {
	m := &mb.metricGoGoroutineGroupCount
	if !m.config.Enabled {
		// A disabled metric's data is never initialized as a gauge.
		return
	}
	before := m.data.Gauge().DataPoints().Len()
	m.recordDataPoint(mb.startTime, ts, val, signature, wait, function, file, line, entry)
	dps := m.data.Gauge().DataPoints()
	if len(labelAttrs) == 0 || dps.Len() == before {
		return
	}
	attrs := dps.At(dps.Len() - 1).Attributes()
	for i, k := range labelAttrs {
		attrs.PutStr(k, labelValues[i])
	}
}
