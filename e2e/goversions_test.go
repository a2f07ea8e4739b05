//go:build e2e

package e2e

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/google/pprof/profile"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

// go127 is the Go 1.27 toolchain the go command fetches from the module
// proxy to build targets with.
const go127 = "GOTOOLCHAIN=go1.27.3"

// countingProxy serves target through a proxy that counts the requests
// for each path, and returns its address.
func countingProxy(t *testing.T, target string) (string, func(path string) int) {
	t.Helper()
	backend, err := url.Parse("http://" + target)
	require.NoError(t, err)
	proxy := httputil.NewSingleHostReverseProxy(backend)
	var (
		mu    sync.Mutex
		paths = map[string]int{}
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		paths[r.URL.Path]++
		mu.Unlock()
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	u, err := url.Parse(srv.URL)
	require.NoError(t, err)
	return u.Host, func(path string) int {
		mu.Lock()
		defer mu.Unlock()
		return paths[path]
	}
}

// TestDefaultsOnGoVersions runs the example target's fan-out leak built
// with Go 1.27, with Go 1.26 (no experiment), each behind a proxy that
// counts its requests, and with Go 1.26 and GOEXPERIMENT=goroutineleakprofile,
// and scrapes them with the receiver's defaults but for a short interval
// and window. The Go 1.27 target's leak is flagged by growth and proven by
// the runtime under the same signature, with nothing configured, and so is
// the experiment's; the plain Go 1.26 target is never asked for the leak
// profile, its index saying it serves none, and is flagged by growth all
// the same. All give the leak the same signature.
func TestDefaultsOnGoVersions(t *testing.T) {
	t.Parallel()
	args := []string{"-patterns", "fanout,pool", "-rate", "5"}
	_, go127Target := runTarget(t, buildTargetWith(t, go127), "127.0.0.1:0", args...)
	_, go126Target := runTarget(t, buildTargetWith(t), "127.0.0.1:0", args...)
	_, experimentTarget := runTarget(t, buildTargetWith(t, "GOEXPERIMENT=goroutineleakprofile"), "127.0.0.1:0", args...)
	newAddr, newHits := countingProxy(t, go127Target)
	oldAddr, oldHits := countingProxy(t, go126Target)

	var s sink
	otlp := serveSink(t, &s)
	startCollector(t, otlp, fmt.Sprintf(`
    targets:
      - endpoint: %s
        service_name: go1.27
      - endpoint: %s
        service_name: go1.26
      - endpoint: %s
        service_name: go1.26-experiment
    leak:
      window: 30s`, newAddr, oldAddr, experimentTarget))

	type seen struct {
		signature string
		suspected bool
		leaked    int64
		available int64
	}
	var got map[string]*seen
	require.Eventually(t, func() bool {
		got = map[string]*seen{"go1.27": {available: -1}, "go1.26": {available: -1}, "go1.26-experiment": {available: -1}}
		for _, m := range s.snapshot() {
			for i := range m.ResourceMetrics().Len() {
				rm := m.ResourceMetrics().At(i)
				svc, _ := rm.Resource().Attributes().Get("service.name")
				g := got[svc.Str()]
				ms := rm.ScopeMetrics().At(0).Metrics()
				for j := range ms.Len() {
					fanoutPoints(ms.At(j), func(sig string, dp pmetric.NumberDataPoint) {
						switch ms.At(j).Name() {
						case "go.goroutine.group.count":
							g.signature = sig
						case "go.goroutine.group.suspected":
							g.suspected = g.suspected || dp.IntValue() == 1
						case "go.goroutine.group.leaked":
							g.leaked = max(g.leaked, dp.IntValue())
							assert.Equal(t, g.signature, sig, "the proof under the growth's signature")
						}
					})
					if ms.At(j).Name() == "go.goroutine.leak_profile.available" {
						g.available = ms.At(j).Gauge().DataPoints().At(0).IntValue()
					}
				}
			}
		}
		return got["go1.27"].suspected && got["go1.27"].leaked > 0 && got["go1.26"].suspected &&
			got["go1.26-experiment"].suspected && got["go1.26-experiment"].leaked > 0
	}, 60*time.Second, time.Second, "the leak flagged and proven on Go 1.27 and on Go 1.26 with the experiment, flagged on Go 1.26")

	assert.Equal(t, got["go1.27"].signature, got["go1.26"].signature, "one signature on both Go versions")
	assert.Equal(t, got["go1.27"].signature, got["go1.26-experiment"].signature)
	assert.Equal(t, int64(1), got["go1.27"].available)
	assert.Equal(t, int64(0), got["go1.26"].available, "its index lists no leak profile")
	assert.Zero(t, oldHits("/debug/pprof/goroutineleak"), "the Go 1.26 target asked for the leak profile")
	assert.Positive(t, newHits("/debug/pprof/goroutineleak"))
	for _, hits := range []func(string) int{newHits, oldHits} {
		assert.Equal(t, 1, hits("/debug/pprof/"), "the index read once an hour")
	}
	t.Logf("fan-out leak: signature %s; Go 1.27 proof %d goroutines", got["go1.27"].signature, got["go1.27"].leaked)
}

// fanoutPoints calls f with each point of m of the fan-out group, by its
// signature: the workers blocked on their send, not those the profile
// catches in the millisecond they sleep before it (a group of their own,
// never proven leaked).
func fanoutPoints(m pmetric.Metric, f func(signature string, dp pmetric.NumberDataPoint)) {
	if m.Type() != pmetric.MetricTypeGauge {
		return
	}
	dps := m.Gauge().DataPoints()
	for k := range dps.Len() {
		dp := dps.At(k)
		fn, _ := dp.Attributes().Get("code.function.name")
		wait, _ := dp.Attributes().Get("goroutine.wait")
		if fn.Str() != "main.fanoutWorker" || wait.Str() != "chan send" {
			continue
		}
		sig, _ := dp.Attributes().Get("goroutine.signature")
		f(sig.Str(), dp)
	}
}

// TestProofHoldsAcrossFetches reads a Go 1.27 target's leak profile every
// two seconds while its fan-out leak grows to 100 goroutines and stays:
// once the runtime proved the group, go.goroutine.group.leaked is there at
// every later scrape and never falls, though the runtime's detection
// varies from one fetch to the next (golang/go#79452), as the test's own
// fetches of the profile show in its log.
func TestProofHoldsAcrossFetches(t *testing.T) {
	t.Parallel()
	_, target := runTarget(t, buildTargetWith(t, go127), "127.0.0.1:0", "-patterns", "fanout", "-rate", "10", "-requests", "50")
	addr, hits := countingProxy(t, target)
	var s sink
	otlp := serveSink(t, &s)
	startCollector(t, otlp, fmt.Sprintf(`
    targets:
      - endpoint: %s
    leak_profile: true
    leak_profile_interval: 2s
    leak:
      window: 30s`, addr))
	require.Eventually(t, func() bool { return hits("/debug/pprof/goroutineleak") >= 12 }, 90*time.Second, 200*time.Millisecond)

	var (
		leaked []int64 // at each scrape, from the first that proved the group
		counts []int64
	)
	for _, m := range s.snapshot() {
		var n, c int64 = -1, 0
		for i := range m.ResourceMetrics().Len() {
			ms := m.ResourceMetrics().At(i).ScopeMetrics().At(0).Metrics()
			for j := range ms.Len() {
				fanoutPoints(ms.At(j), func(_ string, dp pmetric.NumberDataPoint) {
					switch ms.At(j).Name() {
					case "go.goroutine.group.leaked":
						n = dp.IntValue()
					case "go.goroutine.group.count":
						c = dp.IntValue()
					}
				})
			}
		}
		if n < 0 && len(leaked) == 0 {
			continue
		}
		leaked, counts = append(leaked, n), append(counts, c)
	}
	require.NotEmpty(t, leaked, "the fan-out leak never proven")
	t.Logf("leaked at each scrape from the first proof: %v", leaked)
	for i := 1; i < len(leaked); i++ {
		assert.GreaterOrEqual(t, leaked[i], leaked[i-1], "scrape %d after the first proof: the proof fell or vanished (%v)", i, leaked)
		assert.LessOrEqual(t, leaked[i], counts[i], "scrape %d: more proven than the group holds", i)
	}
	assert.Equal(t, int64(100), leaked[len(leaked)-1], "every goroutine of the settled leak proven")

	// What the runtime itself answered, fetch by fetch.
	var answers []int64
	for range 5 {
		answers = append(answers, fanoutLeaked(t, "http://"+target+"/debug/pprof/goroutineleak"))
	}
	t.Logf("the runtime's own proofs of the fan-out group, five fetches in a row: %v", answers)
}

// fanoutLeaked returns the goroutines of the fan-out workers' send that
// the goroutineleak profile at u proves.
func fanoutLeaked(t *testing.T, u string) int64 {
	t.Helper()
	resp, err := http.Get(u) //nolint:noctx // a loopback target, within the test's deadline
	require.NoError(t, err)
	defer func() { _ = resp.Body.Close() }()
	p, err := profile.Parse(resp.Body)
	require.NoError(t, err)
	var n int64
	for _, s := range p.Sample {
		for _, l := range s.Location {
			for _, ln := range l.Line {
				if ln.Function.Name == "main.fanoutWorker" {
					n += s.Value[0]
				}
			}
		}
	}
	return n
}
