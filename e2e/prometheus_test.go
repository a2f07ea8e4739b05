//go:build e2e

package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestPrometheusAlertsAndDashboard runs the user's whole chain on loopback:
// the example target (built with the leak-profile experiment) running a
// fan-out leak next to three healthy patterns, the ocb-built collector
// scraping it and two broken targets and serving its prometheus exporter,
// and Debian's Prometheus, installed where missing, scraping the exporter
// with examples/prometheus/prometheus.yml and evaluating the example
// alerting rules. The rules' `for` durations are cut to 5 s so that the run
// takes a minute and a half; promtool's unit tests cover the real ones.
//
// It requires that GoroutineLeakSuspected and GoroutineLeakProven fire for
// the fan-out leak naming its function and target, that no alert ever
// fires or is pending for a healthy pattern, that GoroutineScrapeFailing
// fires for the broken targets, and that every query of the Grafana
// dashboard, its variables' too, returns series.
func TestPrometheusAlertsAndDashboard(t *testing.T) {
	t.Parallel()
	installPrometheus(t)
	root := repoRoot(t)

	bin := buildTargetWith(t, "GOEXPERIMENT=goroutineleakprofile")
	_, target := runTarget(t, bin, "127.0.0.1:0", "-patterns", "fanout,pool,burst,growpool", "-rate", "5")

	exporter := freeAddr(t)
	runCollector(t, collectorConfig(t, "", fmt.Sprintf(`
receivers:
  goroutine:
    collection_interval: 1s
    initial_delay: 0s
    timeout: 900ms
    targets:
      - endpoint: %[1]s
        service_name: shop
      - endpoint: 127.0.0.1:1
        service_name: gone
    labels: [pattern]
    leak_profile: true
    leak_profile_interval: 5s
    evidence: on_suspect
    evidence_interval: 10s
    leak:
      window: 30s
  # The same target read with a body limit it cannot meet: error.type=limit.
  goroutine/limited:
    collection_interval: 1s
    initial_delay: 0s
    timeout: 900ms
    targets:
      - endpoint: %[1]s
        service_name: limited
    max_body_bytes: 64
exporters:
  prometheus:
    endpoint: %[2]s
service:
  pipelines:
    metrics:
      exporters: [prometheus]
`, target, exporter)))
	dir := t.TempDir()

	// The example rules with short `for`s, and the example Prometheus config
	// pointed at this collector, scraping and evaluating every second.
	rules, err := os.ReadFile(filepath.Join(root, "examples", "prometheus", "goroutine-rules.yaml"))
	require.NoError(t, err)
	rules = regexp.MustCompile(`(?m)^(\s+for:) \S+$`).ReplaceAll(rules, []byte("$1 5s"))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "goroutine-rules.yaml"), rules, 0o600))
	prom, err := os.ReadFile(filepath.Join(root, "examples", "prometheus", "prometheus.yml"))
	require.NoError(t, err)
	promConfig := strings.NewReplacer("15s", "1s", "localhost:9464", exporter).Replace(string(prom))
	require.Contains(t, promConfig, exporter)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(promConfig), 0o600))
	api := startPrometheus(t, dir)

	// Alerts, polled every second: each healthy pattern must never show up,
	// not even pending.
	healthy := []string{stuckIn["pool"], stuckIn["burst"], stuckIn["growpool"]}
	want := map[string]func(alert) bool{
		"GoroutineLeakSuspected": func(a alert) bool { return a.Labels["code_function_name"] == stuckIn["fanout"] },
		"GoroutineLeakProven":    func(a alert) bool { return a.Labels["code_function_name"] == stuckIn["fanout"] },
		"GoroutineScrapeFailing": func(a alert) bool { return a.Labels["instance"] == "127.0.0.1:1" },
	}
	fired := map[string]alert{}
	start := time.Now()
	for time.Since(start) < 150*time.Second && (len(fired) < len(want) || time.Since(start) < 60*time.Second) {
		time.Sleep(time.Second)
		for _, a := range alertsOf(t, api) {
			fn := a.Labels["code_function_name"]
			require.False(t, contains(healthy, fn), "alert %s %s for healthy %s after %v", a.Labels["alertname"], a.State, fn, time.Since(start).Round(time.Second))
			name := a.Labels["alertname"]
			if _, ok := fired[name]; !ok && a.State == "firing" && want[name] != nil && want[name](a) {
				fired[name] = a
				t.Logf("%s firing after %v: %s", name, time.Since(start).Round(time.Second), a.Annotations["summary"])
			}
		}
	}
	for name := range want {
		require.Contains(t, fired, name, "%s never fired", name)
	}
	for _, name := range []string{"GoroutineLeakSuspected", "GoroutineLeakProven"} {
		summary := fired[name].Annotations["summary"]
		assert.Contains(t, summary, stuckIn["fanout"], "%s names the stuck function", name)
		assert.Contains(t, summary, "shop "+target, "%s names the target", name)
	}
	assert.Contains(t, fired["GoroutineScrapeFailing"].Annotations["summary"], "gone 127.0.0.1:1")
	assert.Contains(t, fired["GoroutineScrapeFailing"].Annotations["description"], "Last error type: connect.")

	// Every dashboard query, for all services and instances.
	dash := readDashboard(t, filepath.Join(root, "examples", "grafana", "goroutine-leaks.json"))
	vars := strings.NewReplacer(`"$service"`, `".*"`, `"$instance"`, `".*"`, "$__rate_interval", "30s")
	for _, q := range dash.queries() {
		expr := vars.Replace(q.expr)
		res := query(t, api, expr)
		assert.NotEmpty(t, res, "panel %q returns no series: %s", q.panel, expr)
		switch q.panel {
		case "Suspected leaks":
			for _, s := range res {
				assert.NotContains(t, healthy, s.Metric["code_function_name"], "%s: a healthy group is listed", expr)
			}
			if strings.Contains(expr, "goroutine_creator") {
				assert.True(t, hasLabel(res, "goroutine_creator"), "no creator in the suspected table: %v", res)
			}
		case "Top groups by count":
			assert.True(t, hasValue(res, "code_function_name", stuckIn["fanout"]), "the fan-out leak is not among the top groups: %v", res)
		case "Scrape errors by type":
			assert.True(t, hasValue(res, "error_type", "connect") || hasValue(res, "limit", "max_body_bytes"), "%v", res)
		}
	}
	for _, v := range dash.Templating.List {
		if v.Type != "query" {
			continue
		}
		var q struct{ Query string }
		require.NoError(t, json.Unmarshal(v.Query, &q), "variable %s", v.Name)
		m := regexp.MustCompile(`^label_values\((.+), (\w+)\)$`).FindStringSubmatch(q.Query)
		require.NotNil(t, m, "variable %s: %q is not label_values(selector, label)", v.Name, q.Query)
		res := query(t, api, fmt.Sprintf("count by (%s) (%s)", m[2], vars.Replace(m[1])))
		assert.True(t, hasValue(res, m[2], map[string]string{"job": "shop", "instance": target}[m[2]]), "variable %s offers %v", v.Name, res)
	}
}

// installPrometheus installs Debian's prometheus package where it is missing.
func installPrometheus(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("prometheus"); err == nil {
		return
	}
	out, err := exec.Command(filepath.Join(repoRoot(t), "scripts", "install-prometheus.sh")).CombinedOutput()
	require.NoError(t, err, string(out))
}

// startPrometheus runs Prometheus on a free loopback port with dir's
// prometheus.yml and returns its base URL once it is ready.
func startPrometheus(t *testing.T, dir string) string {
	t.Helper()
	addr := freeAddr(t)
	cmd := exec.Command("prometheus",
		"--config.file="+filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr,
		"--log.level=warn")
	startLogged(t, cmd, "prometheus")
	api := "http://" + addr
	require.Eventually(t, func() bool {
		resp, err := http.Get(api + "/-/ready")
		if err != nil {
			return false
		}
		_ = resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, 30*time.Second, 200*time.Millisecond, "prometheus not ready")
	return api
}

type alert struct {
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
	State       string            `json:"state"`
}

func alertsOf(t *testing.T, api string) []alert {
	t.Helper()
	var body struct {
		Data struct {
			Alerts []alert `json:"alerts"`
		} `json:"data"`
	}
	getJSON(t, api+"/api/v1/alerts", &body)
	return body.Data.Alerts
}

type series struct {
	Metric map[string]string `json:"metric"`
}

// query runs an instant query and returns its series.
func query(t *testing.T, api, expr string) []series {
	t.Helper()
	var body struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			Result []series `json:"result"`
		} `json:"data"`
	}
	getJSON(t, api+"/api/v1/query?query="+url.QueryEscape(expr), &body)
	require.Equal(t, "success", body.Status, "%s: %s", expr, body.Error)
	return body.Data.Result
}

// getJSON decodes the JSON answer to a GET of u into v.
func getJSON(tb testing.TB, u string, v any) {
	tb.Helper()
	resp, err := http.Get(u)
	require.NoError(tb, err)
	defer func() { _ = resp.Body.Close() }()
	require.NoError(tb, json.NewDecoder(resp.Body).Decode(v), u)
}

func hasValue(res []series, label, value string) bool {
	for _, s := range res {
		if s.Metric[label] == value {
			return true
		}
	}
	return false
}

func hasLabel(res []series, label string) bool {
	for _, s := range res {
		if s.Metric[label] != "" {
			return true
		}
	}
	return false
}

// dashboard is what the test reads of a Grafana dashboard JSON.
type dashboard struct {
	Panels []struct {
		Title   string `json:"title"`
		Type    string `json:"type"`
		Targets []struct {
			Expr string `json:"expr"`
		} `json:"targets"`
	} `json:"panels"`
	Templating struct {
		List []struct {
			Name  string          `json:"name"`
			Type  string          `json:"type"`
			Query json.RawMessage `json:"query"` // a string or, for type query, {query, refId}
		} `json:"list"`
	} `json:"templating"`
}

type panelQuery struct{ panel, expr string }

func readDashboard(t *testing.T, path string) dashboard {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	var d dashboard
	require.NoError(t, json.Unmarshal(b, &d))
	require.NotEmpty(t, d.queries())
	return d
}

func (d dashboard) queries() []panelQuery {
	var qs []panelQuery
	for _, p := range d.Panels {
		for _, q := range p.Targets {
			qs = append(qs, panelQuery{p.Title, q.Expr})
		}
	}
	return qs
}
