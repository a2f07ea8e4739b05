//go:build e2e

package e2e

import (
	"fmt"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

// flags returns, from batches, each group's go.goroutine.group.suspected
// and go.goroutine.group.leaked values by scrape time: "function
// signature horizon" → time → value.
func flags(batches []pmetric.Metrics) map[string]map[int64]int64 {
	out := map[string]map[int64]int64{}
	for _, m := range batches {
		for i := range m.ResourceMetrics().Len() {
			ms := m.ResourceMetrics().At(i).ScopeMetrics().At(0).Metrics()
			for j := range ms.Len() {
				mt := ms.At(j)
				if mt.Name() != "go.goroutine.group.suspected" && mt.Name() != "go.goroutine.group.leaked" {
					continue
				}
				dps := mt.Gauge().DataPoints()
				for k := range dps.Len() {
					a := dps.At(k).Attributes().AsRaw()
					key := fmt.Sprintf("%s %v %v %v", mt.Name(), a["code.function.name"], a["goroutine.signature"], a["goroutine.horizon"])
					if out[key] == nil {
						out[key] = map[int64]int64{}
					}
					out[key][int64(dps.At(k).Timestamp())] = dps.At(k).IntValue()
				}
			}
		}
	}
	return out
}

// TestConnectorJudgesWhatNodesSend runs the agent/gateway layout with two
// ocb-built collectors: a node collector scrapes the example target (built
// with the leak-profile experiment: a fan-out leak beside three healthy
// patterns) every second, exports its metrics to this test and its
// goroutine profiles, every scrape, over OTLP to a gateway collector whose
// otlp receiver feeds the goroutine connector, whose metrics come to this
// test too. The gateway must judge as the node's receiver judged: the same
// groups flagged and proven at the same scrapes, value for value; the
// fan-out leak flagged and proven; no healthy group ever flagged.
func TestConnectorJudgesWhatNodesSend(t *testing.T) {
	t.Parallel()
	bin := buildTargetWith(t, "GOEXPERIMENT=goroutineleakprofile")
	_, target := runTarget(t, bin, "127.0.0.1:0", "-patterns", "fanout,pool,burst,growpool", "-rate", "5")
	var node, gateway sink
	nodeURL, gatewayURL := serveSink(t, &node), serveSink(t, &gateway)
	otlp := freeAddr(t)

	gatewayConfig := collectorConfig(t, "", fmt.Sprintf(`
receivers:
  otlp:
    protocols:
      http:
        endpoint: %s
connectors:
  goroutine:
    interval: 1s
    leak:
      window: 30s
exporters:
  otlp_http:
    endpoint: %s
    compression: none
service:
  pipelines:
    profiles:
      receivers: [otlp]
      exporters: [goroutine]
    metrics:
      receivers: [goroutine]
      exporters: [otlp_http]
`, otlp, gatewayURL))
	gw := exec.Command(collectorBinary(t), "--config", gatewayConfig, "--feature-gates=+service.profilesSupport")
	startLogged(t, gw, "gateway")
	require.Eventually(t, func() bool {
		c, err := net.Dial("tcp", otlp)
		if err == nil {
			_ = c.Close()
		}
		return err == nil
	}, 30*time.Second, 100*time.Millisecond, "the gateway's otlp receiver never listened")

	nodeConfig := collectorConfig(t, "", fmt.Sprintf(`
receivers:
  goroutine:
    collection_interval: 1s
    initial_delay: 0s
    timeout: 900ms
    targets:
      - endpoint: %s
        service_name: shop
    leak_profile: true
    leak_profile_interval: 5s
    evidence: none
    leak:
      window: 30s
    profiles:
      every: 1
exporters:
  otlp_http/test:
    endpoint: %s
    compression: none
  otlp_http/gateway:
    endpoint: http://%s
service:
  pipelines:
    metrics:
      receivers: [goroutine]
      exporters: [otlp_http/test]
    profiles:
      receivers: [goroutine]
      exporters: [otlp_http/gateway]
`, target, nodeURL, otlp))
	nd := exec.Command(collectorBinary(t), "--config", nodeConfig, "--feature-gates=+service.profilesSupport")
	startLogged(t, nd, "node")

	fanout := func(fl map[string]map[int64]int64, metric string) bool {
		for k, byTime := range fl {
			if strings.HasPrefix(k, metric+" "+stuckIn["fanout"]+" ") {
				for _, v := range byTime {
					if v > 0 {
						return true
					}
				}
			}
		}
		return false
	}
	scrapes := func(fl map[string]map[int64]int64) int {
		times := map[int64]bool{}
		for _, byTime := range fl {
			for ts := range byTime {
				times[ts] = true
			}
		}
		return len(times)
	}
	require.Eventually(t, func() bool {
		fl := flags(gateway.snapshot())
		return fanout(fl, "go.goroutine.group.suspected") && fanout(fl, "go.goroutine.group.leaked") && scrapes(fl) >= 40
	}, 120*time.Second, 500*time.Millisecond, "the gateway never flagged and proved the fan-out leak over 40 scrapes")
	time.Sleep(3 * time.Second) // the node's last scrapes reach both

	want, got := flags(node.snapshot()), flags(gateway.snapshot())
	compared := 0
	for key, byTime := range got {
		for ts, v := range byTime {
			w, ok := want[key][ts]
			if !ok {
				continue // the node's metrics of that scrape not here yet
			}
			compared++
			assert.Equal(t, w, v, "%s at %v", key, time.Unix(0, ts))
		}
		for _, h := range healthyStuckIn() {
			if strings.Contains(key, "suspected "+h+" ") {
				for ts, v := range byTime {
					assert.Zero(t, v, "%s flagged at %v", key, time.Unix(0, ts))
				}
			}
		}
	}
	for key := range want {
		assert.Contains(t, got, key, "the node's group is not the gateway's")
	}
	// 40 scrapes of a dozen series; the node's last ones may not be in.
	assert.Greater(t, compared, 200, "points compared")
	t.Logf("%d points of %d series compared, equal", compared, len(got))
}
