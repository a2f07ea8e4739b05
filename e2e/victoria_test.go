//go:build e2e

package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestVictoriaMetricsAndLogs runs the user's chain with OTLP-native
// backends, each a real process built from its Go module by make backends:
// the collector exports the example target's metrics over otlp_http to
// VictoriaMetrics, started as examples/victoriametrics/relabel.yml says,
// and its log records to VictoriaLogs; vmalert evaluates the example
// alerting rules (their `for`s cut to 5 s) against VictoriaMetrics.
//
// It requires what the Prometheus test requires of the same target: the
// leak alerts fire for the fan-out leak naming its function and target and
// never for a healthy pattern, the scrape alert fires for the target that is
// down, every query of the dashboard returns series; and that the suspected
// group's log record, found through the dashboard's link from the
// suspected table (its LogsQL query, run through VictoriaLogs' query API),
// holds the group's stack and its creator.
func TestVictoriaMetricsAndLogs(t *testing.T) {
	t.Parallel()
	root := repoRoot(t)
	dir := t.TempDir()

	vm := startBackend(t, "victoria-metrics",
		"-storageDataPath="+filepath.Join(dir, "vm"),
		"-opentelemetry.usePrometheusNaming",
		"-relabelConfig="+filepath.Join(root, "examples", "victoriametrics", "relabel.yml"),
		// Samples are hidden from queries for 30 s by default, in case
		// they arrive late; here they arrive within the second.
		"-search.latencyOffset=1s")
	// The relabeling applies to every series: one that is not the
	// receiver's, with a job and instance of its own and no service_name,
	// must keep them (checked at the end).
	resp, err := http.Post(vm+"/api/v1/import/prometheus", "text/plain", strings.NewReader(`vmagent_up{job="node",instance="10.0.0.9:9100"} 1`+"\n"))
	require.NoError(t, err)
	_ = resp.Body.Close()
	require.Equal(t, http.StatusNoContent, resp.StatusCode)
	logs := startBackend(t, "victoria-logs", "-storageDataPath="+filepath.Join(dir, "vl"))
	rules := filepath.Join(dir, "goroutine-rules.yaml")
	shortRules(t, rules)
	alerts := startBackend(t, "vmalert",
		"-rule="+rules,
		"-datasource.url="+vm,
		"-evaluationInterval=1s",
		"-notifier.blackhole")

	bin := buildTargetWith(t, "GOEXPERIMENT=goroutineleakprofile")
	_, target := runTarget(t, bin, "127.0.0.1:0", "-patterns", "fanout,pool,burst,growpool", "-rate", "5")
	// The same patterns as service plain, built without the leak profile:
	// its fan-out group is reported when suspected, with the creator read
	// from the evidence dump, where shop's is reported when the runtime
	// proves it.
	plain := startTarget(t, "-patterns", "fanout,pool,burst,growpool", "-rate", "5")
	runCollector(t, collectorConfig(t, "", shopReceivers(target)+fmt.Sprintf(`
  goroutine/plain:
    collection_interval: 1s
    initial_delay: 0s
    timeout: 900ms
    targets:
      - endpoint: %[1]s
        service_name: plain
    evidence: on_suspect
    leak:
      window: 30s
exporters:
  otlp_http:
    metrics_endpoint: %[2]s/opentelemetry/v1/metrics
    logs_endpoint: %[3]s/insert/opentelemetry/v1/logs
service:
  pipelines:
    metrics:
      exporters: [otlp_http]
    logs:
      receivers: [goroutine, goroutine/plain]
      exporters: [otlp_http]
`, plain, vm, logs)))

	checkAlerts(t, alerts, target)
	suspected := checkDashboard(t, vm, target)
	checkNames(t, vm)

	// The series imported at the start, a minute ago: VictoriaMetrics makes
	// a new series searchable only when it flushes its index, ten seconds
	// or more after it arrives.
	require.Eventually(t, func() bool {
		res, err := queryErr(vm, `vmagent_up{job="node",instance="10.0.0.9:9100"}`)
		return err == nil && len(res) == 1
	}, 30*time.Second, 500*time.Millisecond, "another series lost its job or instance to the relabeling")

	// The suspected group's record, through the dashboard's link.
	var sig string
	for _, s := range suspected {
		if s.Metric["code_function_name"] == stuckIn["fanout"] {
			sig = s.Metric["goroutine_signature"]
		}
	}
	require.NotEmpty(t, sig, "the fan-out leak is not in the suspected table: %v", suspected)
	link := logLink(t, readDashboard(t, filepath.Join(root, "examples", "grafana", "goroutine-leaks.json")), logs, sig)
	resp, err = http.Get(link)
	require.NoError(t, err)
	_ = resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode, "%s", link)
	// Both services' records of the group: the same stack, so the same
	// signature. plain's, once it is searchable, names the creator.
	q := logsQLOf(t, link)
	var records []map[string]string
	require.Eventually(t, func() bool {
		records, err = logsQuery(logs, q)
		return err == nil && slices.ContainsFunc(records, func(r map[string]string) bool { return r["service.name"] == "plain" })
	}, 20*time.Second, 500*time.Millisecond, "no record of service plain matches %s", q)
	require.NoError(t, err)
	for _, r := range records {
		assert.Equal(t, sig, r["goroutine.signature"], "%v", r)
		assert.Equal(t, stuckIn["fanout"], r["code.function.name"], "%v", r)
		assert.Equal(t, stuckIn["fanout"], r["goroutine.user.function"], "%v", r)
		assert.Contains(t, r["_msg"], stuckIn["fanout"]+"\n", "the record's stack: %v", r)
		switch r["service.name"] {
		case "shop":
			// Proven first as a rule, but a late proof leaves the
			// suspicion to report the group.
			assert.Contains(t, []string{"goroutine.leak.proven", "goroutine.leak.suspected"}, r["event_name"], "%v", r)
		case "plain":
			assert.Equal(t, "goroutine.leak.suspected", r["event_name"], "%v", r)
			assert.Equal(t, "main.firstResult", r["goroutine.creator"], "%v", r)
		default:
			t.Errorf("a record of service %q: %v", r["service.name"], r)
		}
	}
}

// startBackend runs one of the binaries make backends builds, listening on
// a free loopback port, and returns its base URL once it answers /health.
func startBackend(t *testing.T, name string, args ...string) string {
	t.Helper()
	bin := builtBinary(t, "", "backends", "_build", "backends", name)
	addr := freeAddr(t)
	cmd := exec.Command(bin, append(args, "-httpListenAddr="+addr, "-loggerLevel=ERROR")...)
	startLogged(t, cmd, name)
	base := "http://" + addr
	waitReady(t, base+"/health", name)
	return base
}

// logLink returns the URL of the dashboard's link from a suspected group
// to its log record, for the group of signature sig and VictoriaLogs at
// logs: the data link of the suspected table's Signature column, with the
// dashboard's logs variable set to logs.
func logLink(t *testing.T, d dashboard, logs, sig string) string {
	t.Helper()
	var links []string
	for _, p := range d.Panels {
		if p.Title != "Suspected leaks" || p.Type != "table" {
			continue
		}
		for _, o := range p.FieldConfig.Overrides {
			for _, prop := range o.Properties {
				if prop.ID != "links" {
					continue
				}
				var ls []struct{ URL string }
				require.NoError(t, json.Unmarshal(prop.Value, &ls))
				for _, l := range ls {
					links = append(links, l.URL)
				}
			}
		}
	}
	require.Len(t, links, 1, "the suspected table links each group to its record")
	return strings.NewReplacer("${logs}", logs, "${__value.raw}", sig).Replace(links[0])
}

// logsQLOf returns the LogsQL query of a link to VictoriaLogs' web UI,
// which reads it from the fragment: /select/vmui/#/?query=...
func logsQLOf(t *testing.T, link string) string {
	t.Helper()
	u, err := url.Parse(link)
	require.NoError(t, err)
	require.Equal(t, "/select/vmui/", u.Path, link)
	_, params, ok := strings.Cut(u.Fragment, "?")
	require.True(t, ok, link)
	q, err := url.ParseQuery(params)
	require.NoError(t, err)
	require.NotEmpty(t, q.Get("query"), link)
	return q.Get("query")
}

// logsQuery runs a LogsQL query through VictoriaLogs' query API, which
// answers one JSON object a line, and returns the records. It is polled:
// an error is returned, not failed on.
func logsQuery(logs, q string) ([]map[string]string, error) {
	resp, err := http.Get(logs + "/select/logsql/query?query=" + url.QueryEscape(q))
	if err != nil {
		return nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: %s", q, resp.Status)
	}
	var records []map[string]string
	lines := bufio.NewScanner(resp.Body)
	lines.Buffer(nil, 1<<20)
	for lines.Scan() {
		var r map[string]string
		if err := json.Unmarshal(lines.Bytes(), &r); err != nil {
			return nil, fmt.Errorf("%s: %w", lines.Text(), err)
		}
		records = append(records, r)
	}
	return records, lines.Err()
}
