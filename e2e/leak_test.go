//go:build e2e

package e2e

import (
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

// sample is one scrape's leak gauges for one group.
type sample struct {
	at        time.Time
	count     int64
	growth    float64
	ready     bool
	suspected bool
}

// groupSeries collects, per group (pattern and stuck function), its samples
// in scrape order, and the target's total growth.
func groupSeries(batches []pmetric.Metrics) (map[string][]sample, []sample) {
	type key struct {
		group string
		ts    int64
	}
	points := map[key]*sample{}
	var order []key
	var totals []sample
	get := func(k key, at time.Time) *sample {
		if p, ok := points[k]; ok {
			return p
		}
		p := &sample{at: at}
		points[k] = p
		order = append(order, k)
		return p
	}
	for _, m := range batches {
		for i := range m.ResourceMetrics().Len() {
			ms := m.ResourceMetrics().At(i).ScopeMetrics().At(0).Metrics()
			for j := range ms.Len() {
				mt := ms.At(j)
				if mt.Name() == "go.goroutine.growth" {
					dp := mt.Gauge().DataPoints().At(0)
					totals = append(totals, sample{at: dp.Timestamp().AsTime(), growth: dp.DoubleValue(), ready: true})
					continue
				}
				if !strings.HasPrefix(mt.Name(), "go.goroutine.group.") {
					continue
				}
				dps := mt.Gauge().DataPoints()
				for k := range dps.Len() {
					dp := dps.At(k)
					attrs := dp.Attributes().AsRaw()
					name := fmt.Sprintf("%v/%v/%v", attrs["goroutine.label.pattern"], attrs["code.function.name"], attrs["goroutine.wait"])
					p := get(key{name, int64(dp.Timestamp())}, dp.Timestamp().AsTime())
					switch mt.Name() {
					case "go.goroutine.group.count":
						p.count = dp.IntValue()
					case "go.goroutine.group.growth":
						p.growth, p.ready = dp.DoubleValue(), true
					case "go.goroutine.group.suspected":
						p.suspected = dp.IntValue() == 1
					}
				}
			}
		}
	}
	series := map[string][]sample{}
	for _, k := range order {
		series[k.group] = append(series[k.group], *points[k])
	}
	for _, s := range series {
		sort.Slice(s, func(i, j int) bool { return s[i].at.Before(s[j].at) })
	}
	return series, totals
}

// TestCollectorFlagsLeaksNotLoad runs every pattern of the example target at
// once, scraped every second with a 30s window, kills the target halfway and
// starts it again on the same port. Every leak is flagged within one window
// of its start, in both lives of the target; no healthy pattern ever is; and
// the restart shows no negative growth, no spike and no flag carried over.
func TestCollectorFlagsLeaksNotLoad(t *testing.T) {
	t.Parallel()
	const (
		window = 30 * time.Second
		life   = 35 * time.Second
	)
	bin := buildTarget(t)
	args := []string{"-patterns", "all", "-rate", "5"}
	first, target := runTarget(t, bin, "127.0.0.1:0", args...)

	var s sink
	otlp := serveSink(t, &s)
	start := time.Now()
	startCollector(t, otlp, fmt.Sprintf(`
    endpoint: %s
    labels: [pattern]
    leak:
      window: %s`, target, window))

	time.Sleep(life)
	stop(t, first)
	restart := time.Now()
	runTarget(t, bin, target, args...)
	time.Sleep(life)

	series, totals := groupSeries(s.snapshot())
	leaks := map[string]string{
		"fanout":  "fanout/main.fanoutWorker/chan send",
		"timeout": "timeout/main.slowCompute/chan send",
		"probe":   "probe/main.verifyReady/chan send",
		"janitor": "janitor/main.(*ttlCache).cacheJanitor/select",
		"mutex":   "mutex/main.appendLedger/sync.Mutex.Lock",
	}
	isLeak := map[string]bool{}
	for _, g := range leaks {
		isLeak[g] = true
	}

	var table []string
	for _, pattern := range []string{"fanout", "timeout", "probe", "janitor", "mutex"} {
		ss := series[leaks[pattern]]
		require.NotEmpty(t, ss, "no series for %s", leaks[pattern])
		before, after := firstFlag(ss, start, restart), firstFlag(ss, restart, restart.Add(life))
		assert.Positive(t, before, "%s not flagged before the restart", pattern)
		assert.Positive(t, after, "%s not flagged after the restart", pattern)
		assert.LessOrEqual(t, before, window, "%s flagged late", pattern)
		assert.LessOrEqual(t, after, window, "%s flagged late after the restart", pattern)
		assert.GreaterOrEqual(t, after, window/2, "%s flagged before its new window held half its span", pattern)
		table = append(table, fmt.Sprintf("| %s | %s | %v | %v | %.0f |", pattern, leaks[pattern], before.Round(time.Second), after.Round(time.Second), maxGrowth(ss)))

		// No spike: after the restart, growth never exceeds what the same
		// leak showed before it by more than half, and is never negative.
		var pre, post float64
		for _, p := range ss {
			if !p.ready {
				continue
			}
			if p.at.Before(restart) {
				pre = max(pre, p.growth)
			} else {
				post = max(post, p.growth)
				assert.GreaterOrEqual(t, p.growth, 0.0, "%s negative growth at %v", pattern, p.at.Sub(restart))
			}
		}
		assert.LessOrEqual(t, post, 1.5*pre, "%s spike after the restart", pattern)
	}
	for name, ss := range series {
		if isLeak[name] {
			continue
		}
		for _, p := range ss {
			assert.False(t, p.suspected, "healthy group %s flagged at %v", name, p.at.Sub(start).Round(time.Second))
		}
	}
	for _, p := range totals {
		if p.at.After(restart) {
			assert.GreaterOrEqual(t, p.growth, 0.0, "negative total growth %v after the restart", p.at.Sub(restart))
		}
	}
	var healthy []string
	for name := range series {
		if !isLeak[name] {
			healthy = append(healthy, name)
		}
	}
	sort.Strings(healthy)
	t.Logf("flag raised, measured from the target's start:\n| pattern | group | first life | after restart | max growth /min |\n|---|---|---|---|---|\n%s", strings.Join(table, "\n"))
	t.Logf("never flagged: %s", strings.Join(healthy, ", "))
}

// firstFlag returns how long after from the series first showed suspected,
// before until; 0 when it did not.
func firstFlag(ss []sample, from, until time.Time) time.Duration {
	for _, p := range ss {
		if p.suspected && p.at.After(from) && p.at.Before(until) {
			return p.at.Sub(from)
		}
	}
	return 0
}

func maxGrowth(ss []sample) float64 {
	var g float64
	for _, p := range ss {
		g = max(g, p.growth)
	}
	return g
}
