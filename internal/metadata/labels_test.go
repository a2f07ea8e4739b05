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
	a := func(tenant string) GroupAttributes {
		return GroupAttributes{
			Signature: "abc", Wait: "chan send", Function: "main.f", File: "f.go", Line: 1, Entry: "main.f",
			LabelKeys: []string{"goroutine.label.tenant"}, LabelValues: []string{tenant},
		}
	}
	mb.RecordGoGoroutineGroupCountDataPointWithLabels(ts, 3, a("a"))
	mb.RecordGoGoroutineGroupCountDataPointWithLabels(ts, 4, a("b"))
	mb.RecordGoGoroutineGroupCountDataPointWithLabels(ts, 5, a(""))

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
	mb.RecordGoGoroutineGroupCountDataPointWithLabels(1, 3, GroupAttributes{
		Signature: "abc", LabelKeys: []string{"goroutine.label.tenant"}, LabelValues: []string{"a"},
	})
	assert.Equal(t, 0, mb.Emit().MetricCount())
}

// TestRecordWithoutSignatureMerges disables goroutine.signature: two groups
// that the remaining attributes no longer tell apart become one point, as
// the generated aggregation does, instead of two points with equal
// attributes.
func TestRecordWithoutSignatureMerges(t *testing.T) {
	cfg := DefaultMetricsBuilderConfig()
	cfg.Metrics.GoGoroutineGroupCount.EnabledAttributes = []GoGoroutineGroupCountMetricAttributeKey{
		GoGoroutineGroupCountMetricAttributeKeyGoroutineWait, GoGoroutineGroupCountMetricAttributeKeyCodeFunctionName,
	}
	mb := NewMetricsBuilder(cfg, receivertest.NewNopSettings(Type))
	ts := pcommon.Timestamp(1)
	for _, sig := range []string{"a", "b"} {
		mb.RecordGoGoroutineGroupCountDataPointWithLabels(ts, 3, GroupAttributes{Signature: sig, Wait: "chan send", Function: "main.f", Line: 1})
	}
	m := mb.Emit()
	dps := m.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics().At(0).Gauge().DataPoints()
	require.Equal(t, 1, dps.Len())
	assert.Equal(t, map[string]any{"goroutine.wait": "chan send", "code.function.name": "main.f"}, dps.At(0).Attributes().AsRaw())
}
