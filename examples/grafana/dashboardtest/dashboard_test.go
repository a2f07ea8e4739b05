// Package dashboardtest holds the shipped Grafana dashboard
// (../goroutine-leaks.json) to Grafana's own schema, as the
// grafana-foundation-sdk's generated types state it, and the dashboard and
// the example alerting rules to the metrics the receiver emits
// (../../../metadata.yaml) under the names the collector's prometheus
// exporter gives them. A module of its own, so that
// the receiver's module does not require the SDK.
//
// The e2e tests run every query against a real Prometheus and a real
// VictoriaMetrics; this test says, in a second, which query names what.
package dashboardtest

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/VictoriaMetrics/metricsql"
	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/cog/plugins"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/prometheus"
	"github.com/prometheus/otlptranslator"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"gopkg.in/yaml.v3"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const dashboardPath = "../goroutine-leaks.json"

// classic is the dashboard JSON model that Grafana's import and file
// provisioning take in Grafana 10, 11 and 12, the model of the shipped
// dashboard. The SDK marks it deprecated in favor of the v2 schema, which
// only Grafana 12 reads, behind a feature flag.
type classic = dashboard.Dashboard //nolint:staticcheck // the shipped model; see above

// query is one PromQL expression of the dashboard and where it is.
type query struct{ where, expr string }

// decode reads a dashboard strictly: a key Grafana's schema does not have,
// a value of the wrong type or a panel query of the wrong shape fails it.
//
// The strict decode says what is wrong but keeps nothing of what is right
// (SDK v0.0.22): each panel's and query's empty error list comes back as a
// non-nil error, PanelOrRowPanel and Panel return or skip on it before they
// keep the panel or the query, and the dashboard drops the list as empty.
// So the strict decode judges, and the SDK's plain decode, into the same
// types, reads.
func decode(t *testing.T, raw []byte) *classic {
	t.Helper()
	plugins.RegisterDefaultPlugins()
	var strict classic
	require.NoError(t, orNil(strict.UnmarshalJSONStrict(raw)))
	var d classic
	require.NoError(t, json.Unmarshal(raw, &d))
	require.NoError(t, orNil(d.Validate()))
	return &d
}

// orNil returns nil for an empty cog.BuildErrors: the SDK returns its
// error list typed, so that no error is a non-nil interface.
func orNil(err error) error {
	if errs, ok := err.(cog.BuildErrors); ok && len(errs) == 0 { //nolint:errorlint // the SDK's own type, unwrapped
		return nil
	}
	return err
}

// queries returns every PromQL expression of d: each panel's, in rows or
// not, and each query variable's. A query that is not Prometheus' fails.
func queries(t *testing.T, d *classic) []query {
	t.Helper()
	var qs []query
	panel := func(p *dashboard.Panel) {
		for _, target := range p.Targets {
			pq, ok := target.(*prometheus.Dataquery)
			require.True(t, ok, "panel %q: a %T, not a Prometheus query", deref(p.Title), target)
			qs = append(qs, query{"panel " + deref(p.Title), pq.Expr})
		}
	}
	for _, pr := range d.Panels {
		if pr.Panel != nil {
			panel(pr.Panel)
		}
		if pr.RowPanel != nil {
			for i := range pr.RowPanel.Panels {
				panel(&pr.RowPanel.Panels[i])
			}
		}
	}
	for _, v := range d.Templating.List {
		if v.Type != dashboard.VariableTypeQuery {
			continue
		}
		require.NotNil(t, v.Query, "variable %s", v.Name)
		q, _ := v.Query.Map["query"].(string)
		require.NotEmpty(t, q, "variable %s: no query", v.Name)
		// label_values(selector, label) is Grafana's, not PromQL: its
		// selector and label are checked as count by (label) (selector).
		if inner, ok := strings.CutPrefix(q, "label_values("); ok {
			inner = strings.TrimSuffix(inner, ")")
			comma := strings.LastIndex(inner, ", ")
			require.Positive(t, comma, "variable %s: %q", v.Name, q)
			q = fmt.Sprintf("count by (%s) (%s)", inner[comma+2:], inner[:comma])
		}
		qs = append(qs, query{"variable " + v.Name, q})
	}
	return qs
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// emitted is what the receiver emits, as the prometheus exporter names it:
// each metric's name and the labels its points can carry.
type emitted map[string]map[string]bool

// receiverMetrics reads metadata.yaml, the one statement of the receiver's
// metrics, and names each metric and attribute with the translator the
// collector's prometheus exporter uses. Every metric carries job and
// instance, from the target's service.name and service.instance.id.
func receiverMetrics(t *testing.T) emitted {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "..", "..", "metadata.yaml"))
	require.NoError(t, err)
	var md struct {
		Metrics map[string]struct {
			Unit       string    `yaml:"unit"`
			Attributes []string  `yaml:"attributes"`
			Gauge      *struct{} `yaml:"gauge"`
			Sum        *struct {
				Monotonic bool `yaml:"monotonic"`
			} `yaml:"sum"`
		} `yaml:"metrics"`
	}
	require.NoError(t, yaml.Unmarshal(raw, &md))
	require.NotEmpty(t, md.Metrics)
	names := otlptranslator.NewMetricNamer("", otlptranslator.UnderscoreEscapingWithSuffixes)
	labels := otlptranslator.LabelNamer{}
	out := emitted{}
	for name, m := range md.Metrics {
		var typ otlptranslator.MetricType = otlptranslator.MetricTypeGauge
		if m.Sum != nil {
			typ = otlptranslator.MetricTypeNonMonotonicCounter
			if m.Sum.Monotonic {
				typ = otlptranslator.MetricTypeMonotonicCounter
			}
		}
		prom, err := names.Build(otlptranslator.Metric{Name: name, Unit: m.Unit, Type: typ})
		require.NoError(t, err, name)
		ls := map[string]bool{"job": true, "instance": true}
		for _, a := range m.Attributes {
			l, err := labels.Build(a)
			require.NoError(t, err, a)
			ls[l] = true
		}
		out[prom] = ls
	}
	return out
}

// carries says whether metric's points can carry label l: goroutine_label_*
// stands for the pprof labels the user keeps (the labels setting), which
// metadata.yaml cannot list.
func (e emitted) carries(metric, l string) bool {
	return e[metric][l] || strings.HasPrefix(l, "goroutine_label_") && e[metric]["goroutine_signature"]
}

// check returns what is wrong with a PromQL expression, parsed by
// metricsql, whose MetricsQL is a superset of PromQL (the e2e tests run
// every query on a real Prometheus too): a metric the
// receiver does not emit, a label filter on a label that metric does not
// carry, or a grouping by a label none of the expression's metrics carry.
func (e emitted) check(expr string) []string {
	// Grafana's variables, as a user's selection fills them in.
	expr = strings.NewReplacer("$__rate_interval", "5m", "$service", ".*", "$instance", ".*").Replace(expr)
	parsed, err := metricsql.Parse(expr)
	if err != nil {
		return []string{err.Error()}
	}
	var problems, metrics []string
	var grouped []string
	metricsql.VisitAll(parsed, func(x metricsql.Expr) {
		switch x := x.(type) {
		case *metricsql.MetricExpr:
			for _, filters := range x.LabelFilterss {
				name := ""
				for _, f := range filters {
					if f.Label == "__name__" {
						name = f.Value
					}
				}
				if _, ok := e[name]; !ok {
					problems = append(problems, fmt.Sprintf("metric %q is not one the receiver emits", name))
					continue
				}
				metrics = append(metrics, name)
				for _, f := range filters {
					if f.Label != "__name__" && !e.carries(name, f.Label) {
						problems = append(problems, fmt.Sprintf("%s carries no label %q", name, f.Label))
					}
				}
			}
		case *metricsql.AggrFuncExpr:
			grouped = append(grouped, x.Modifier.Args...)
		case *metricsql.BinaryOpExpr:
			grouped = append(grouped, x.GroupModifier.Args...)
			grouped = append(grouped, x.JoinModifier.Args...)
		}
	})
	for _, l := range grouped {
		if !slices.ContainsFunc(metrics, func(m string) bool { return e.carries(m, l) }) {
			problems = append(problems, fmt.Sprintf("no metric of the expression carries label %q", l))
		}
	}
	return problems
}

// TestDashboardFollowsGrafanaSchema decodes the shipped dashboard strictly
// into Grafana's dashboard types and requires that every query names only
// metrics the receiver emits and labels they carry.
func TestDashboardFollowsGrafanaSchema(t *testing.T) {
	raw, err := os.ReadFile(dashboardPath)
	require.NoError(t, err)
	d := decode(t, raw)
	assert.Equal(t, "goroutine-leaks", deref(d.Uid))

	e := receiverMetrics(t)
	qs := queries(t, d)
	require.GreaterOrEqual(t, len(qs), 15, "the dashboard's queries")
	for _, q := range qs {
		assert.Empty(t, e.check(q.expr), "%s: %s", q.where, q.expr)
	}
}

// TestRulesQueryWhatTheReceiverEmits holds the example alerting rules'
// expressions to the same check: their `for`s and templates are promtool's
// to test (make rules), their names and labels this test's.
func TestRulesQueryWhatTheReceiverEmits(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "..", "prometheus", "goroutine-rules.yaml"))
	require.NoError(t, err)
	var rules struct {
		Groups []struct {
			Rules []struct {
				Alert string `yaml:"alert"`
				Expr  string `yaml:"expr"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	require.NoError(t, yaml.Unmarshal(raw, &rules))
	e := receiverMetrics(t)
	n := 0
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			n++
			assert.Empty(t, e.check(r.Expr), "%s: %s", r.Alert, r.Expr)
		}
	}
	assert.Equal(t, 3, n, "the rules")
}

// TestCheckFindsWhatIsWrong feeds the checks the mistakes they are there to
// catch: each must be found, and a query with none must pass.
func TestCheckFindsWhatIsWrong(t *testing.T) {
	e := emitted{
		"go_goroutine_group_suspected_ratio": {"job": true, "instance": true, "goroutine_signature": true},
		"go_goroutine_scrape_errors_total":   {"job": true, "instance": true, "error_type": true},
	}
	tests := []struct {
		give string
		want []string
	}{
		{give: `go_goroutine_group_suspected_ratio{job=~"$service"} == 1`},
		{give: `sum by (error_type) (rate(go_goroutine_scrape_errors_total[$__rate_interval]))`},
		{give: `go_goroutine_group_suspected_ratio{goroutine_label_pattern="fanout"}`},
		// The OTLP name, or an unsuffixed one: not what the exporter names it.
		{give: `go_goroutine_group_suspected == 1`, want: []string{`metric "go_goroutine_group_suspected" is not one the receiver emits`}},
		{give: `go_goroutine_scrape_errors`, want: []string{`metric "go_goroutine_scrape_errors" is not one the receiver emits`}},
		{give: `go_goroutine_scrape_errors_total{code_function_name="x"}`, want: []string{`go_goroutine_scrape_errors_total carries no label "code_function_name"`}},
		{give: `max by (goroutine_creator) (go_goroutine_group_suspected_ratio)`, want: []string{`no metric of the expression carries label "goroutine_creator"`}},
		{give: `sum(`, want: []string{"unparsable"}},
	}
	for _, tt := range tests {
		t.Run(tt.give, func(t *testing.T) {
			got := e.check(tt.give)
			if len(tt.want) == 1 && tt.want[0] == "unparsable" {
				assert.Len(t, got, 1)
				return
			}
			assert.Equal(t, tt.want, got)
		})
	}
}

// TestDecodeRefusesWhatGrafanaWouldNot feeds the strict decode the shipped
// dashboard with one mistake each, of the kinds Grafana's schema refuses:
// each must be refused for that mistake, the dashboard itself not.
func TestDecodeRefusesWhatGrafanaWouldNot(t *testing.T) {
	plugins.RegisterDefaultPlugins()
	raw, err := os.ReadFile(dashboardPath)
	require.NoError(t, err)
	tests := []struct {
		name   string
		mangle func(d map[string]any)
		want   string
	}{
		{"none", func(map[string]any) {}, ""},
		{"unknown key", func(d map[string]any) { d["shade"] = "red" }, "unexpected field 'shade'"},
		{"wrong type", func(d map[string]any) { d["title"] = 7 }, "title"},
		{"unknown panel key", func(d map[string]any) { panelOf(d)["querys"] = []any{} }, "unexpected field 'querys'"},
		{"unknown prometheus query key", func(d map[string]any) {
			panelOf(d)["targets"].([]any)[0].(map[string]any)["exp"] = "up"
		}, "unexpected field 'exp'"},
		{"missing required option", func(d map[string]any) {
			delete(panelOf(d)["options"].(map[string]any), "justifyMode")
		}, "justifyMode: required field is missing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var d map[string]any
			require.NoError(t, json.Unmarshal(raw, &d))
			tt.mangle(d)
			b, err := json.Marshal(d)
			require.NoError(t, err)
			var dash classic
			err = orNil(dash.UnmarshalJSONStrict(b))
			if tt.want == "" {
				assert.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}

// panelOf returns the dashboard's first panel that is not a row: a stat.
func panelOf(d map[string]any) map[string]any {
	for _, p := range d["panels"].([]any) {
		if p := p.(map[string]any); p["type"] != "row" {
			return p
		}
	}
	panic("no panel")
}

// TestMetricsDocNamesEveryMetric holds docs/metrics.md's list of Prometheus
// names to metadata.yaml's metrics as the translator names them: the page
// the e2e tests hold the series to must name every metric, and no other.
func TestMetricsDocNamesEveryMetric(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "..", "docs", "metrics.md"))
	require.NoError(t, err)
	_, list, ok := strings.Cut(string(doc), "Through the collector's Prometheus exporter the metrics are named")
	require.True(t, ok, "the list of Prometheus names is gone from docs/metrics.md")
	list, _, _ = strings.Cut(list, ";")
	var listed []string
	for _, m := range regexp.MustCompile("`(go_goroutine_[a-z_]+)`").FindAllStringSubmatch(list, -1) {
		listed = append(listed, m[1])
	}
	want := slices.Sorted(maps.Keys(receiverMetrics(t)))
	slices.Sort(listed)
	assert.Equal(t, want, listed)
}
