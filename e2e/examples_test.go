//go:build e2e

package e2e

import (
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

// TestExampleConfigRuns starts the ocb-built collector with
// examples/collector.yaml, the config of `make run`, as it is: it starts,
// scrapes the example target, serves the receiver's health in the
// collector's own telemetry, and warns of no deprecated option.
func TestExampleConfigRuns(t *testing.T) {
	target := startTarget(t, "-patterns", "fanout")
	_, telemetryPort, err := net.SplitHostPort(freeAddr(t))
	require.NoError(t, err)
	cmd := exec.Command(collectorBinary(t), "--config", filepath.Join(repoRoot(t), "examples", "collector.yaml"))
	cmd.Env = append(os.Environ(), "TARGET_ENDPOINT="+target, "PROMETHEUS_ENDPOINT="+freeAddr(t),
		"TELEMETRY_PORT="+telemetryPort, "STATE_DIR="+t.TempDir())
	startLogged(t, cmd, "collector")
	logs := cmd.Stdout.(*os.File).Name()
	var log string
	require.Eventually(t, func() bool {
		b, err := os.ReadFile(logs)
		require.NoError(t, err)
		log = string(b)
		return strings.Contains(log, "go.goroutine.group.count")
	}, 30*time.Second, 200*time.Millisecond, "no groups printed by the debug exporter")
	assert.NotContains(t, strings.ToLower(log), "deprecated", "the example uses a deprecated option")

	own := scrapeText(t, "http://127.0.0.1:"+telemetryPort+"/metrics")
	assert.Positive(t, own.value(t, "otelcol_receiver_goroutine_scrapes", `outcome="success"`, `receiver="goroutine"`))
	assert.Positive(t, own.value(t, "otelcol_receiver_goroutine_groups_tracked", `receiver="goroutine"`))
}

// TestDeltaExampleConfig runs examples/delta.yaml, the config for a backend
// that asks for delta temporality, on the example target and a target that
// is down, scraped every second: the down target's
// go.goroutine.scrape.errors reaches the OTLP endpoint as a monotonic delta
// sum of one failure a scrape, with the vendor's header, and the gauges as
// gauges.
func TestDeltaExampleConfig(t *testing.T) {
	t.Parallel()
	target := startTarget(t, "-patterns", "fanout")
	var s sink
	var keys sync.Map
	otlp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		keys.Store(r.Header.Get("api-key"), true)
		s.ServeHTTP(w, r)
	}))
	t.Cleanup(otlp.Close)

	over := filepath.Join(t.TempDir(), "over.yaml")
	require.NoError(t, os.WriteFile(over, []byte(`
receivers:
  goroutine:
    collection_interval: 1s
    initial_delay: 0s
    timeout: 800ms
    targets:
      - endpoint: 127.0.0.1:1
        service_name: gone
`), 0o600))
	cmd := exec.Command(collectorBinary(t), "--config", filepath.Join(repoRoot(t), "examples", "delta.yaml"), "--config", over)
	cmd.Env = append(os.Environ(), "TARGET_ENDPOINT="+target, "OTLP_ENDPOINT="+otlp.URL, "VENDOR_API_KEY=k3y")
	startLogged(t, cmd, "collector")

	// The sums and gauges received, as received: checked once there are
	// enough, outside the polling.
	var errs []pmetric.Metric
	var groups []pmetric.Metric
	require.Eventually(t, func() bool {
		errs, groups = errs[:0], groups[:0]
		for _, m := range s.snapshot() {
			for i := range m.ResourceMetrics().Len() {
				ms := m.ResourceMetrics().At(i).ScopeMetrics().At(0).Metrics()
				for j := range ms.Len() {
					switch mt := ms.At(j); mt.Name() {
					case "go.goroutine.scrape.errors":
						errs = append(errs, mt)
					case "go.goroutine.group.count":
						groups = append(groups, mt)
					}
				}
			}
		}
		return len(errs) >= 3 && len(groups) > 0
	}, 30*time.Second, 200*time.Millisecond, "no three scrape.errors and a group count")
	for _, mt := range groups {
		assert.Equal(t, pmetric.MetricTypeGauge, mt.Type())
	}
	for _, mt := range errs {
		require.Equal(t, pmetric.MetricTypeSum, mt.Type())
		assert.Equal(t, pmetric.AggregationTemporalityDelta, mt.Sum().AggregationTemporality())
		assert.True(t, mt.Sum().IsMonotonic())
		require.Equal(t, 1, mt.Sum().DataPoints().Len())
		dp := mt.Sum().DataPoints().At(0)
		assert.Equal(t, int64(1), dp.IntValue(), "one failure a scrape")
		et, _ := dp.Attributes().Get("error.type")
		assert.Equal(t, "connect", et.Str())
	}
	_, ok := keys.Load("k3y")
	assert.True(t, ok, "the vendor's header")
}
