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
	"slices"
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
	runCollector(t, collectorConfig(t, "", shopReceivers(target)+fmt.Sprintf(`
exporters:
  prometheus:
    endpoint: %s
service:
  pipelines:
    metrics:
      exporters: [prometheus]
`, exporter)))

	// The example rules with short `for`s, and the example Prometheus config
	// pointed at this collector, scraping and evaluating every second.
	dir := t.TempDir()
	shortRules(t, filepath.Join(dir, "goroutine-rules.yaml"))
	prom, err := os.ReadFile(filepath.Join(root, "examples", "prometheus", "prometheus.yml"))
	require.NoError(t, err)
	promConfig := strings.NewReplacer("15s", "1s", "localhost:9464", exporter).Replace(string(prom))
	require.Contains(t, promConfig, exporter)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(promConfig), 0o600))
	api := startPrometheus(t, dir)

	checkAlerts(t, api, target)
	checkDashboard(t, api, target)
	checkNames(t, api)
}

// healthyStuckIn returns the functions the healthy patterns of the shop
// target (pool, burst, growpool) wait in: none may ever be flagged.
func healthyStuckIn() []string {
	return []string{stuckIn["pool"], stuckIn["burst"], stuckIn["growpool"]}
}

// shopReceivers is the receivers section of the collector config of the
// tests that follow the user's chain to a rule engine and a dashboard:
// target, served as service shop, scraped every second with the leak
// profile and evidence on suspicion and a 30 s window; 127.0.0.1:1 as
// service gone (error.type=connect); and, in a second receiver, target
// again as service limited with a body limit it cannot meet
// (error.type=limit).
func shopReceivers(target string) string {
	return fmt.Sprintf(`
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
  goroutine/limited:
    collection_interval: 1s
    initial_delay: 0s
    timeout: 900ms
    targets:
      - endpoint: %[1]s
        service_name: limited
    max_body_bytes: 64
`, target)
}

// shortRules writes the example alerting rules to path with every `for`
// cut to 5 s, so that a test sees them fire within a minute and a half;
// promtool's unit tests cover the real durations.
func shortRules(t *testing.T, path string) {
	t.Helper()
	rules, err := os.ReadFile(filepath.Join(repoRoot(t), "examples", "prometheus", "goroutine-rules.yaml"))
	require.NoError(t, err)
	rules = regexp.MustCompile(`(?m)^(\s+for:) \S+$`).ReplaceAll(rules, []byte("$1 5s"))
	require.NoError(t, os.WriteFile(path, rules, 0o600))
}

// checkAlerts polls the alerts of the rule engine at api every second for
// at least a minute, up to two and a half: each healthy pattern of target
// must never show up, not even pending; GoroutineLeakSuspected and
// GoroutineLeakProven must fire for its fan-out leak (service shop; another
// service's may fire too) naming its function and target;
// GoroutineScrapeFailing for the target that is down (127.0.0.1:1, service
// gone), naming the error type.
func checkAlerts(t *testing.T, api, target string) {
	t.Helper()
	healthy := healthyStuckIn()
	shopLeak := func(a alert) bool {
		return a.Labels["code_function_name"] == stuckIn["fanout"] && a.Labels["job"] == "shop"
	}
	want := map[string]func(alert) bool{
		"GoroutineLeakSuspected": shopLeak,
		"GoroutineLeakProven":    shopLeak,
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
}

// checkNames requires that every series of the receiver in the Prometheus
// query API at api is named as docs/metrics.md says: its metric among the
// Prometheus names listed there, its goroutine_ and code_ labels among the
// attributes the page documents with dots turned into underscores; and that
// the metrics and group attributes every test configuration here produces
// are there.
func checkNames(t *testing.T, api string) {
	t.Helper()
	doc, err := os.ReadFile(filepath.Join(repoRoot(t), "docs", "metrics.md"))
	require.NoError(t, err)
	promised := map[string]bool{}
	for _, m := range regexp.MustCompile("`(go_goroutine_[a-z_]+)`").FindAllStringSubmatch(string(doc), -1) {
		promised[m[1]] = true
	}
	// An attribute documented as goroutine.label.<key> stands for a prefix.
	documented := map[string]bool{}
	var prefixes []string
	for _, m := range regexp.MustCompile("`((?:goroutine|code)\\.[a-z_.]+)(<key>)?`").FindAllStringSubmatch(string(doc), -1) {
		if name := strings.ReplaceAll(m[1], ".", "_"); m[2] != "" {
			prefixes = append(prefixes, name)
		} else {
			documented[name] = true
		}
	}
	arrived := map[string]bool{}
	for _, s := range query(t, api, `count by (__name__) ({__name__=~"go_goroutine_.+"})`) {
		name := s.Metric["__name__"]
		arrived[name] = true
		assert.True(t, promised[name], "%s arrived; docs/metrics.md does not name it", name)
	}
	for _, name := range []string{
		"go_goroutine_count", "go_goroutine_group_count", "go_goroutine_group_growth_per_min",
		"go_goroutine_group_suspected_ratio", "go_goroutine_growth_per_min", "go_goroutine_scrape_up_ratio",
		"go_goroutine_scrape_duration_seconds", "go_goroutine_scrape_size_bytes", "go_goroutine_scrape_errors_total",
		"go_goroutine_scrape_limit_breaches_total", "go_goroutine_group_leaked", "go_goroutine_group_wait_max_minutes",
		"go_goroutine_leak_profile_available_ratio",
	} {
		assert.True(t, arrived[name], "%s never arrived (%v)", name, arrived)
	}
	var labels struct {
		Data []string `json:"data"`
	}
	getJSON(t, api+"/api/v1/labels?match[]="+url.QueryEscape(`{__name__=~"go_goroutine_.+"}`), &labels)
	for _, l := range labels.Data {
		if strings.HasPrefix(l, "goroutine_") || strings.HasPrefix(l, "code_") {
			assert.True(t, documented[l] || slices.ContainsFunc(prefixes, func(p string) bool { return strings.HasPrefix(l, p) }),
				"label %s arrived; docs/metrics.md documents no attribute of that name", l)
		}
	}
	for _, l := range []string{
		"goroutine_signature", "goroutine_wait", "code_function_name", "code_file_path",
		"code_line_number", "goroutine_entry", "goroutine_horizon", "goroutine_label_pattern", "goroutine_creator",
	} {
		assert.Contains(t, labels.Data, l)
	}
}

// checkDashboard runs every query of the shipped dashboard, its variables'
// too, for all services and instances, against the Prometheus query API at
// api: each returns series, the suspected table lists no healthy group of
// target, and the variables offer its service and instance. It returns the
// series of the suspected table's queries.
func checkDashboard(t *testing.T, api, target string) []series {
	t.Helper()
	healthy := healthyStuckIn()
	dash := readDashboard(t, filepath.Join(repoRoot(t), "examples", "grafana", "goroutine-leaks.json"))
	vars := strings.NewReplacer(`"$service"`, `".*"`, `"$instance"`, `".*"`, "$__rate_interval", "30s")
	var suspected []series
	for _, q := range dash.queries() {
		expr := vars.Replace(q.expr)
		res := query(t, api, expr)
		assert.NotEmpty(t, res, "panel %q returns no series: %s", q.panel, expr)
		switch q.panel {
		case "Suspected leaks":
			suspected = append(suspected, res...)
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
	return suspected
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
	waitReady(t, api+"/-/ready", "prometheus")
	return api
}

// waitReady waits up to 30 s for a GET of u to answer 200.
func waitReady(t *testing.T, u, name string) {
	t.Helper()
	require.Eventually(t, func() bool {
		resp, err := http.Get(u)
		if err != nil {
			return false
		}
		_ = resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, 30*time.Second, 200*time.Millisecond, "%s not ready", name)
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
	res, err := queryErr(api, expr)
	require.NoError(t, err)
	return res
}

// queryErr is query returning its error, for a polled condition.
func queryErr(api, expr string) ([]series, error) {
	var body struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			Result []series `json:"result"`
		} `json:"data"`
	}
	resp, err := http.Get(api + "/api/v1/query?query=" + url.QueryEscape(expr))
	if err != nil {
		return nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return nil, fmt.Errorf("%s: %w", expr, err)
	}
	if body.Status != "success" {
		return nil, fmt.Errorf("%s: %s", expr, body.Error)
	}
	return body.Data.Result, nil
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
		FieldConfig struct {
			Overrides []struct {
				Properties []struct {
					ID    string          `json:"id"`
					Value json.RawMessage `json:"value"`
				} `json:"properties"`
			} `json:"overrides"`
		} `json:"fieldConfig"`
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
