//go:build e2e

package e2e

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

// discoveryBinary is the collector of builder-config-discovery.yaml:
// receiver_creator and the host and Kubernetes observers besides ours.
func discoveryBinary(tb testing.TB) string {
	tb.Helper()
	return builtBinary(tb, "OTELCOL_DISCOVERY_BIN", "collector-discovery", "_build", "discovery", "otelcol-goroutine-discovery")
}

// TestHostObserverDiscoversTarget runs the collector with no target address
// in its config: the host observer lists this machine's listening ports,
// receiver_creator's rule matches the example target's by process name and
// starts a goroutine receiver on it, and the endpoint's attributes reach the
// metrics. When the target exits, its receiver is stopped.
func TestHostObserverDiscoversTarget(t *testing.T) {
	var s sink
	otlp := serveSink(t, &s)

	target, addr := runTarget(t, buildTarget(t), "127.0.0.1:0", "-patterns", "fanout,pool", "-rate", "5")

	runCollectorBin(t, discoveryBinary(t), collectorConfig(t, otlp, `
extensions:
  host_observer:
    refresh_interval: 1s
receivers:
  receiver_creator:
    watch_observers: [host_observer]
    receivers:
      goroutine:
        rule: type == "hostport" && process_name == "leaktarget"
        config:
          collection_interval: 1s # and no timeout: it follows the interval
          initial_delay: 0s
          labels: [pattern]
        resource_attributes:
          process.executable.name: "`+"`process_name`"+`"
`))

	// The fan-out group of the discovered target, scraped more than once.
	var fanout []int64
	var resource map[string]any
	require.Eventually(t, func() bool {
		fanout, resource = fanoutOf(s.snapshot(), addr)
		return len(fanout) >= 3
	}, 30*time.Second, 250*time.Millisecond, "no fan-out group from the discovered target")

	assert.Equal(t, addr, resource["service.instance.id"])
	assert.Equal(t, "http://"+addr+"/debug/pprof/goroutine", resource["url.full"])
	assert.Equal(t, "leaktarget", resource["process.executable.name"], "receiver_creator's resource attribute")
	assert.Positive(t, fanout[len(fanout)-1])
	assert.GreaterOrEqual(t, fanout[len(fanout)-1], fanout[0], "a leak only grows: %v", fanout)

	// The target goes away: the observer drops its endpoint and
	// receiver_creator stops the receiver, so that no scrape of a
	// vanished port is reported any more.
	stop(t, target)
	var last int
	require.Eventually(t, func() bool {
		n := batchesOf(s.snapshot(), addr)
		quiet := n == last
		last = n
		return quiet
	}, 20*time.Second, 3*time.Second, "the receiver of a vanished target kept reporting")
}

// fanoutOf returns the fan-out group's counts, one per scrape of the target
// at addr, and the resource they came with.
func fanoutOf(batches []pmetric.Metrics, addr string) ([]int64, map[string]any) {
	var counts []int64
	var resource map[string]any
	for _, m := range batches {
		for i := range m.ResourceMetrics().Len() {
			rm := m.ResourceMetrics().At(i)
			if v, _ := rm.Resource().Attributes().Get("service.instance.id"); v.Str() != addr {
				continue
			}
			if p := find(resourcePoints(rm), "main.fanoutWorker"); p != nil {
				counts = append(counts, p.count)
				resource = rm.Resource().Attributes().AsRaw()
			}
		}
	}
	return counts, resource
}

// batchesOf counts the resources reported for the target at addr.
func batchesOf(batches []pmetric.Metrics, addr string) int {
	n := 0
	for _, m := range batches {
		for i := range m.ResourceMetrics().Len() {
			if v, _ := m.ResourceMetrics().At(i).Resource().Attributes().Get("service.instance.id"); v.Str() == addr {
				n++
			}
		}
	}
	return n
}
