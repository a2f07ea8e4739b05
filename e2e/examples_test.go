//go:build e2e

package e2e

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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
