//go:build e2e

package e2e

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

// logSink is an OTLP/HTTP logs endpoint that keeps what it receives.
type logSink struct {
	mu      sync.Mutex
	records []plog.LogRecord
	service []string
}

func (s *logSink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, ok := otlpBody(w, r)
	if !ok {
		return
	}
	req := plogotlp.NewExportRequest()
	if err := req.UnmarshalProto(b); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	rls := req.Logs().ResourceLogs()
	for i := range rls.Len() {
		svc, _ := rls.At(i).Resource().Attributes().Get("service.name")
		sls := rls.At(i).ScopeLogs()
		for j := range sls.Len() {
			lrs := sls.At(j).LogRecords()
			for k := range lrs.Len() {
				s.records = append(s.records, lrs.At(k))
				s.service = append(s.service, svc.Str())
			}
		}
	}
	s.mu.Unlock()
	resp, _ := plogotlp.NewExportResponse().MarshalProto()
	w.Header().Set("Content-Type", "application/x-protobuf")
	_, _ = w.Write(resp)
}

// buildTargetWith builds the example target with extra environment.
func buildTargetWith(t *testing.T, env ...string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "leaktarget")
	build := exec.Command("go", "build", "-o", bin, "./cmd/leaktarget")
	build.Dir = repoRoot(t)
	build.Env = append(os.Environ(), env...)
	out, err := build.CombinedOutput()
	require.NoError(t, err, string(out))
	return bin
}

// leakPatterns are the example target's leaks; healthyPatterns its
// patterns that only look like growth; stuckIn the function each pattern's
// goroutines wait in. (A dump carries pprof labels only under
// GODEBUG=tracebacklabels=1, so groups are told apart by function here.)
var (
	leakPatterns    = []string{"fanout", "timeout", "probe", "janitor", "mutex"}
	healthyPatterns = []string{"pool", "burst", "growpool"}
	stuckIn         = map[string]string{
		"fanout": "main.fanoutWorker", "timeout": "main.slowCompute", "probe": "main.verifyReady",
		"janitor": "main.(*ttlCache).cacheJanitor", "mutex": "main.appendLedger",
		"pool": "main.poolWorker", "burst": "main.burstTask", "growpool": "main.growWorker",
	}
)

// TestCollectorGathersEvidence runs the example target twice, built with
// Go 1.27 (which serves the leak profile) and with Go 1.26 (which does not
// without GOEXPERIMENT=goroutineleakprofile), every pattern at 10
// requests a second, and scrapes both with the ocb-built collector in dump
// mode with the leak profile every 10 s, for 150 s, metrics and logs to
// OTLP endpoints of this test. The target without the leak profile sits
// behind a proxy that counts its requests.
//
// For the fan-out leak it requires the creator, a wait age that grows to
// two minutes (on the target without the leak profile: the runtime prints
// no wait for the goroutines it marked leaked), a leaked count from the
// runtime and exactly one log record with the stack; for the target without the endpoint, one recorded
// absence and one request in all; for every leak pattern, growth or proof;
// for no healthy pattern, proof. It logs the table docs/evidence.md quotes.
func TestCollectorGathersEvidence(t *testing.T) {
	t.Parallel()
	args := []string{"-patterns", strings.Join(append(append([]string{}, leakPatterns...), healthyPatterns...), ","), "-rate", "10"}
	// The target with the leak profile is built with Go 1.27, which serves
	// it with no experiment: the table docs/evidence.md quotes is Go 1.27's.
	_, withAddr := runTarget(t, buildTargetWith(t, go127), "127.0.0.1:0", args...)
	_, plainAddr := runTarget(t, buildTargetWith(t), "127.0.0.1:0", args...)

	counted, hits := countingProxy(t, plainAddr)

	metrics := &sink{}
	logs := &logSink{}
	mux := http.NewServeMux()
	mux.Handle("/v1/metrics", metrics)
	mux.Handle("/v1/logs", logs)
	otlp := httptest.NewServer(mux)
	t.Cleanup(otlp.Close)

	runCollector(t, collectorConfig(t, otlp.URL, fmt.Sprintf(`
receivers:
  goroutine:
    targets:
      - endpoint: %s
        service_name: with-leak-profile
      - endpoint: %s
        service_name: without-leak-profile
    collection_interval: 1s
    initial_delay: 0s
    timeout: 900ms
    mode: dump
    leak_profile: true
    leak_profile_interval: 10s
    labels: [pattern]
    leak:
      window: 30s
service:
  pipelines:
    logs:
      receivers: [goroutine]
      exporters: [otlp_http]
`, "http://"+withAddr, "http://"+counted)))
	time.Sleep(150 * time.Second)

	// Per service and pattern, over the run: the largest leaked count, whether
	// ever suspected, the fan-out group's wait ages and creators.
	type seen struct {
		leaked    int64
		suspected bool
	}
	by := map[string]map[string]*seen{}
	var (
		waits     []int64
		creators  = map[string]bool{}
		available = map[string][]int64{}
	)
	for _, m := range metrics.snapshot() {
		for i := range m.ResourceMetrics().Len() {
			rm := m.ResourceMetrics().At(i)
			svc, _ := rm.Resource().Attributes().Get("service.name")
			if by[svc.Str()] == nil {
				by[svc.Str()] = map[string]*seen{}
			}
			ms := rm.ScopeMetrics().At(0).Metrics()
			for j := range ms.Len() {
				mt := ms.At(j)
				if mt.Type() != pmetric.MetricTypeGauge {
					continue
				}
				dps := mt.Gauge().DataPoints()
				for k := range dps.Len() {
					dp := dps.At(k)
					attrs := dp.Attributes().AsRaw()
					if mt.Name() == "go.goroutine.leak_profile.available" {
						available[svc.Str()] = append(available[svc.Str()], dp.IntValue())
						continue
					}
					fn, _ := attrs["code.function.name"].(string)
					pattern := ""
					for p, f := range stuckIn {
						if f == fn {
							pattern = p
						}
					}
					if pattern == "" {
						continue
					}
					s := by[svc.Str()][pattern]
					if s == nil {
						s = &seen{}
						by[svc.Str()][pattern] = s
					}
					switch mt.Name() {
					case "go.goroutine.group.leaked":
						s.leaked = max(s.leaked, dp.IntValue())
					case "go.goroutine.group.suspected":
						s.suspected = s.suspected || dp.IntValue() == 1
					case "go.goroutine.group.wait.max":
						// The runtime prints no wait for a goroutine it marked
						// leaked: the ages are those of the other target.
						// The workers sleep a moment before their send: that
						// short-lived group is stuck in fanoutWorker too.
						if svc.Str() == "without-leak-profile" && fn == "main.fanoutWorker" && attrs["goroutine.wait"] == "chan send" {
							waits = append(waits, dp.IntValue())
						}
					case "go.goroutine.group.count":
						if svc.Str() == "with-leak-profile" && fn == "main.fanoutWorker" {
							creators[fmt.Sprint(attrs["goroutine.creator"])] = true
						}
					}
				}
			}
		}
	}

	// The table docs/evidence.md quotes.
	var table strings.Builder
	fmt.Fprintf(&table, "\n| pattern | kind | growth flagged | proven leaked by the runtime |\n| --- | --- | --- | --- |\n")
	patterns := append(append([]string{}, leakPatterns...), healthyPatterns...)
	for _, p := range patterns {
		s := by["with-leak-profile"][p]
		require.NotNil(t, s, "no groups of pattern %s", p)
		kind := "leak"
		if !contains(leakPatterns, p) {
			kind = "healthy"
		}
		fmt.Fprintf(&table, "| `%s` | %s | %v | %d goroutines |\n", p, kind, yes(s.suspected), s.leaked)
		if kind == "leak" {
			assert.True(t, s.suspected || s.leaked > 0, "leak %s shows neither growth nor proof", p)
		} else {
			assert.False(t, s.suspected, "healthy %s flagged", p)
			assert.Zero(t, s.leaked, "healthy %s proven leaked", p)
		}
	}
	t.Log(table.String())

	// The fan-out leak: creator, growing wait age, proof.
	assert.Equal(t, map[string]bool{"main.firstResult": true}, creators)
	require.NotEmpty(t, waits)
	t.Logf("fan-out wait age in minutes, every 10th scrape: %v", every(waits, 10))
	assert.True(t, sort.SliceIsSorted(waits, func(i, j int) bool { return waits[i] < waits[j] }), "the wait age never falls: %v", waits)
	assert.GreaterOrEqual(t, waits[len(waits)-1], int64(2), "after 150 s the oldest fan-out goroutine waited 2 minutes")
	assert.Positive(t, by["with-leak-profile"]["fanout"].leaked)

	// The target without the endpoint: absent, asked once.
	require.NotEmpty(t, available["without-leak-profile"])
	for _, v := range available["without-leak-profile"] {
		assert.Zero(t, v)
	}
	for _, v := range available["with-leak-profile"] {
		assert.Equal(t, int64(1), v)
	}
	assert.Equal(t, 1, hits("/debug/pprof/goroutineleak"), "asked once in the run, next in an hour")
	assert.Greater(t, hits("/debug/pprof/goroutine"), 100, "the dump every second")

	// Exactly one log record for the fan-out group of the target with the
	// leak profile, with its stack, creator and proof.
	logs.mu.Lock()
	defer logs.mu.Unlock()
	var fanout []plog.LogRecord
	for i, r := range logs.records {
		fn, _ := r.Attributes().Get("code.function.name")
		if logs.service[i] == "with-leak-profile" && fn.Str() == "main.fanoutWorker" {
			fanout = append(fanout, r)
		}
	}
	require.Len(t, fanout, 1, "one record for the fan-out leak, not one per scrape")
	// Every leak pattern: one record, with its creator and its stack.
	for _, p := range leakPatterns {
		var n int
		for i, r := range logs.records {
			fn, _ := r.Attributes().Get("code.function.name")
			if logs.service[i] != "with-leak-profile" || fn.Str() != stuckIn[p] {
				continue
			}
			n++
			creator, _ := r.Attributes().Get("goroutine.creator")
			assert.NotEmpty(t, creator.Str(), "the record of %s names no creator", p)
			assert.Contains(t, r.Body().Str(), stuckIn[p]+"\n\t", "the record of %s holds no stack", p)
			assert.Contains(t, r.Body().Str(), "created by "+creator.Str(), "the record of %s", p)
		}
		assert.Equal(t, 1, n, "records of leak %s", p)
	}
	r := fanout[0]
	body := r.Body().Str()
	t.Logf("the fan-out leak's record, %s:\n%s\nattributes: %v", r.EventName(), body, r.Attributes().AsRaw())
	patternsFile := filepath.Join(repoRoot(t), "cmd", "leaktarget", "patterns.go")
	assert.Contains(t, body, fmt.Sprintf("main.fanoutWorker\n\t%s:%d", patternsFile, lineOf(t, patternsFile, "results <- replica")))
	assert.Contains(t, body, "created by main.firstResult")
	creator, _ := r.Attributes().Get("goroutine.creator")
	assert.Equal(t, "main.firstResult", creator.Str())
	wait, _ := r.Attributes().Get("goroutine.wait")
	assert.Equal(t, "chan send", wait.Str())
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

func yes(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func every(xs []int64, n int) []int64 {
	var out []int64
	for i := 0; i < len(xs); i += n {
		out = append(out, xs[i])
	}
	return out
}
