package metadata

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/receiver/receivertest"
)

// TestRecordWithLabelsKeepsLabelledGroupsApart records one stack under two
// label values: two points, each with its label, not one summed point.
func TestRecordWithLabelsKeepsLabelledGroupsApart(t *testing.T) {
	mb := NewMetricsBuilder(DefaultMetricsBuilderConfig(), receivertest.NewNopSettings(Type))
	ts := pcommon.Timestamp(1)
	attrs := []string{"goroutine.label.tenant"}
	mb.RecordGoGoroutineGroupCountDataPointWithLabels(ts, 3, "abc", "chan send", "main.f", "f.go", 1, "main.f", attrs, []string{"a"})
	mb.RecordGoGoroutineGroupCountDataPointWithLabels(ts, 4, "abc", "chan send", "main.f", "f.go", 1, "main.f", attrs, []string{"b"})
	mb.RecordGoGoroutineGroupCountDataPointWithLabels(ts, 5, "abc", "chan send", "main.f", "f.go", 1, "main.f", attrs, []string{""})

	m := mb.Emit()
	dps := m.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics().At(0).Gauge().DataPoints()
	require.Equal(t, 3, dps.Len())
	for i, want := range []struct {
		tenant string
		count  int64
	}{{"a", 3}, {"b", 4}, {"", 5}} {
		v, ok := dps.At(i).Attributes().Get("goroutine.label.tenant")
		require.True(t, ok)
		assert.Equal(t, want.tenant, v.Str())
		assert.Equal(t, want.count, dps.At(i).IntValue())
	}
}

func TestRecordWithLabelsDisabled(t *testing.T) {
	cfg := DefaultMetricsBuilderConfig()
	cfg.Metrics.GoGoroutineGroupCount.Enabled = false
	cfg.Metrics.GoGoroutineCount.Enabled = true
	mb := NewMetricsBuilder(cfg, receivertest.NewNopSettings(Type))
	mb.RecordGoGoroutineGroupCountDataPointWithLabels(1, 3, "abc", "chan send", "main.f", "f.go", 1, "main.f",
		[]string{"goroutine.label.tenant"}, []string{"a"})
	assert.Equal(t, 0, mb.Emit().MetricCount())
}
