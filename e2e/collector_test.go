//go:build e2e

package e2e

import (
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
)

// collectorConfig writes a collector's config for a test and returns its
// path: the YAML the test gives, merged over what every test's collector
// shares, so that each test states only what differs. Maps merge key by
// key; anything else the test gives replaces what is shared. Shared: no
// telemetry of the collector's own; when otlpURL is set, an otlp_http
// exporter to it, uncompressed and without retries, that the metrics
// pipeline exports to; and, unless the test lists them, every receiver the
// test declares in the metrics pipeline (unless it gives pipelines of
// other signals alone) and every extension it declares in
// service.extensions.
func collectorConfig(tb testing.TB, otlpURL, config string) string {
	tb.Helper()
	var given map[string]any
	require.NoError(tb, yaml.Unmarshal([]byte(config), &given), config)
	service := map[string]any{"telemetry": map[string]any{"metrics": map[string]any{"level": "none"}}}
	metrics := map[string]any{}
	if receivers, ok := given["receivers"].(map[string]any); ok {
		metrics["receivers"] = slices.Sorted(maps.Keys(receivers))
	}
	if extensions, ok := given["extensions"].(map[string]any); ok {
		service["extensions"] = slices.Sorted(maps.Keys(extensions))
	}
	shared := map[string]any{"service": service}
	if otlpURL != "" {
		shared["exporters"] = map[string]any{"otlp_http": map[string]any{
			"endpoint":         otlpURL,
			"compression":      "none",
			"retry_on_failure": map[string]any{"enabled": false},
		}}
		metrics["exporters"] = []string{"otlp_http"}
	}
	// A test that gives its pipelines and no metrics pipeline, nor an
	// OTLP endpoint for one, runs without.
	givenService, _ := given["service"].(map[string]any)
	givenPipelines, _ := givenService["pipelines"].(map[string]any)
	if _, ok := givenPipelines["metrics"]; !ok && givenPipelines != nil && otlpURL == "" {
		metrics = nil
	}
	if len(metrics) > 0 {
		service["pipelines"] = map[string]any{"metrics": metrics}
	}
	b, err := yaml.Marshal(merge(shared, given))
	require.NoError(tb, err)
	path := filepath.Join(tb.TempDir(), "config.yaml")
	require.NoError(tb, os.WriteFile(path, b, 0o600))
	return path
}

// merge returns base with over merged into it.
func merge(base, over map[string]any) map[string]any {
	for k, v := range over {
		bm, ok1 := base[k].(map[string]any)
		om, ok2 := v.(map[string]any)
		if ok1 && ok2 {
			base[k] = merge(bm, om)
			continue
		}
		base[k] = v
	}
	return base
}

// runCollector starts the collector with a config file.
func runCollector(tb testing.TB, config string) *exec.Cmd {
	tb.Helper()
	return runCollectorBin(tb, collectorBinary(tb), config)
}

// runCollectorBin starts the collector bin with config files, merged in
// order as the collector merges them.
func runCollectorBin(tb testing.TB, bin string, configs ...string) *exec.Cmd {
	tb.Helper()
	return runCollectorArgs(tb, bin, nil, configs...)
}

// runCollectorArgs is runCollectorBin with more arguments (feature gates).
func runCollectorArgs(tb testing.TB, bin string, args []string, configs ...string) *exec.Cmd {
	tb.Helper()
	for _, c := range configs {
		args = append(args, "--config", c)
	}
	cmd := exec.Command(bin, args...)
	startLogged(tb, cmd, "collector")
	return cmd
}

// startLogged starts cmd with its output in a file, which is shown when the
// test fails, and stops it when the test ends.
func startLogged(tb testing.TB, cmd *exec.Cmd, name string) {
	tb.Helper()
	logs, err := os.Create(filepath.Join(tb.TempDir(), name+".log"))
	require.NoError(tb, err)
	cmd.Stdout, cmd.Stderr = logs, logs
	require.NoError(tb, cmd.Start())
	tb.Cleanup(func() {
		stop(tb, cmd)
		if tb.Failed() {
			b, _ := os.ReadFile(logs.Name())
			tb.Logf("%s log, its last lines but stack traces:\n%s", name, logTail(b, 4096))
		}
		_ = logs.Close()
	})
}

// logTail returns the last lines of a collector's log, up to limit bytes,
// without the frames of the stack traces zap adds to errors: a tail of
// frames says nothing of what happened.
func logTail(b []byte, limit int) string {
	var kept []string
	size := 0
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	for i := len(lines) - 1; i >= 0 && size < limit; i-- {
		// A frame is a function line with no space and a tab-led file line.
		if l := lines[i]; strings.Contains(l, " ") && l[0] != '\t' {
			kept = append(kept, l)
			size += len(l) + 1
		}
	}
	slices.Reverse(kept)
	return strings.Join(kept, "\n")
}

// exposition is a Prometheus text exposition, line by line.
type exposition []string

// scrapeText reads the Prometheus text exposition at url.
func scrapeText(t *testing.T, url string) exposition {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, "%s", b)
	return strings.Split(string(b), "\n")
}

// sum adds the values of the samples of name whose labels hold every one
// of labels.
func (e exposition) sum(name string, labels ...string) float64 {
	var total float64
	for _, l := range e {
		if !strings.HasPrefix(l, name+"{") && !strings.HasPrefix(l, name+" ") {
			continue
		}
		held := true
		for _, want := range labels {
			held = held && strings.Contains(l, want)
		}
		if !held {
			continue
		}
		var v float64
		if _, err := fmt.Sscan(l[strings.LastIndexByte(l, ' ')+1:], &v); err == nil {
			total += v
		}
	}
	return total
}

// value is sum, requiring a sample.
func (e exposition) value(t *testing.T, name string, labels ...string) float64 {
	t.Helper()
	for _, l := range e {
		if strings.HasPrefix(l, name) {
			return e.sum(name, labels...)
		}
	}
	t.Fatalf("no %s in the collector's telemetry", name)
	return 0
}
