//go:build e2e

package e2e

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/goroutinewatch/goroutinereceiver/internal/decode/hostile"
)

// misbehaviors are what a bad soak target does, one after another, a new
// one at each request. The target that never answers waits for the
// client to go away or for done: net/http cancels a request's context when
// its connection's background read sees the client close, which a run
// here showed not to happen for every connection of a collector stopped
// mid-request, leaving httptest's Close waiting for the handler.
func misbehaviors(valid, huge []byte, done <-chan struct{}) []http.HandlerFunc {
	return []http.HandlerFunc{
		func(_ http.ResponseWriter, r *http.Request) { // never answers
			select {
			case <-r.Context().Done():
			case <-done:
			}
		},
		func(w http.ResponseWriter, _ *http.Request) { _, _ = io.Copy(w, hostile.GzipBomb(10<<30)) },
		hostile.EndlessBody,
		hostile.Trickle(200*time.Millisecond, valid),
		func(w http.ResponseWriter, _ *http.Request) {
			http.Error(w, "<html>oops</html>", http.StatusInternalServerError)
		},
		func(w http.ResponseWriter, _ *http.Request) {
			_, _ = w.Write([]byte("<!DOCTYPE html><html>login</html>"))
		},
		func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(huge) },
		func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(valid[:len(valid)/2]) },
		func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(valid); _, _ = w.Write(valid) },
		func(w http.ResponseWriter, _ *http.Request) { _, _ = io.Copy(w, hostile.EmptyMembers(50_000)) },
	}
}

// TestSoak runs one collector against 200 loopback targets, a third of which
// misbehave in rotating ways, and the collector's own pprof endpoint, for
// SOAK (default 60s; the run docs/limits.md quotes used 10m). It checks that the
// collector's RSS stays flat after warm-up, that its own goroutines, read by
// this very receiver, do not grow, and that no scrape of a healthy target is
// lost.
func TestSoak(t *testing.T) {
	// The run's figures, logged by the cleanup registered first so that they
	// end the output, after the collector's log: a failure's cause is then
	// in the last lines, whatever the log holds.
	var figures []string
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("soak figures:\n  %s", strings.Join(figures, "\n  "))
		}
	})
	duration := 60 * time.Second
	if d, err := time.ParseDuration(os.Getenv("SOAK")); err == nil {
		duration = d
	}
	const (
		targets  = 200
		interval = 2 * time.Second
	)
	valid, err := os.ReadFile(filepath.Join(repoRoot(t), "testdata", "profiles", "leaktarget.pb.gz"))
	require.NoError(t, err)
	done := make(chan struct{})
	bad := misbehaviors(valid, hostile.HugeSample(64<<20), done)

	var yaml strings.Builder
	for i := range targets {
		var handler http.HandlerFunc
		if i%3 == 0 {
			var n atomic.Int64
			offset := int64(i)
			handler = func(w http.ResponseWriter, r *http.Request) {
				bad[(n.Add(1)+offset)%int64(len(bad))](w, r)
			}
		} else {
			handler = func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(valid) }
		}
		srv := httptest.NewServer(handler)
		t.Cleanup(srv.Close)
		kind := "healthy"
		if i%3 == 0 {
			kind = "bad"
		}
		fmt.Fprintf(&yaml, "      - endpoint: %s\n        service_name: %s-%d\n", srv.URL, kind, i)
	}
	// Before the servers close (cleanups run last first).
	t.Cleanup(func() { close(done) })
	pprofAddr := freeAddr(t)
	fmt.Fprintf(&yaml, "      - endpoint: %s\n        service_name: collector\n", pprofAddr)

	// What the checks need, summarized as batches arrive.
	var (
		scrapes = map[string][]scrape{} // healthy target -> its scrapes

		causes    = map[string]string{} // healthy target -> its error counters
		own       []int64               // the collector's goroutines, scrape by scrape
		suspected int                   // suspected groups of the collector
	)
	s := sink{each: func(m pmetric.Metrics) {
		for i := range m.ResourceMetrics().Len() {
			rm := m.ResourceMetrics().At(i)
			name, _ := rm.Resource().Attributes().Get("service.name")
			ms := rm.ScopeMetrics().At(0).Metrics()
			for j := range ms.Len() {
				mt := ms.At(j)
				switch mt.Name() {
				case "go.goroutine.scrape.up":
					if dp := mt.Gauge().DataPoints().At(0); strings.HasPrefix(name.Str(), "healthy-") {
						scrapes[name.Str()] = append(scrapes[name.Str()], scrape{at: dp.Timestamp().AsTime(), up: dp.IntValue()})
					}
				case "go.goroutine.scrape.errors":
					if strings.HasPrefix(name.Str(), "healthy-") {
						var c []string
						for k := range mt.Sum().DataPoints().Len() {
							dp := mt.Sum().DataPoints().At(k)
							typ, _ := dp.Attributes().Get("error.type")
							c = append(c, fmt.Sprintf("%s=%d", typ.Str(), dp.IntValue()))
						}
						causes[name.Str()] = strings.Join(c, ",")
					}
				case "go.goroutine.count":
					if name.Str() == "collector" {
						own = append(own, mt.Gauge().DataPoints().At(0).IntValue())
					}
				case "go.goroutine.group.suspected":
					if name.Str() == "collector" {
						for k := range mt.Gauge().DataPoints().Len() {
							if mt.Gauge().DataPoints().At(k).IntValue() == 1 {
								suspected++
							}
						}
					}
				}
			}
		}
	}}
	otlp := serveSink(t, &s)
	cmd := runCollector(t, collectorConfig(t, otlp, fmt.Sprintf(`
extensions:
  pprof:
    endpoint: %s
receivers:
  goroutine:
    targets:
%s
    collection_interval: %s
    initial_delay: 0s
    timeout: 1s
    max_body_bytes: 2097152
    leak:
      window: 40s
`, pprofAddr, yaml.String(), interval)))
	var rss, live []int64
	deadline := time.Now().Add(duration)
	for time.Now().Before(deadline) {
		time.Sleep(time.Second)
		rss = append(rss, rssOf(t, cmd.Process.Pid))
		live = append(live, liveHeap(t, pprofAddr))
	}

	// Memory: flat after warm-up (the first third). The live heap, read
	// after a collection the test asks for, is what a leak raises, and it
	// has no sawtooth; but a collection that lands while hostile responses
	// are being read counts them too (up to 14 MiB a round here), so it is
	// read after every second's pause and the least of each third's ten or
	// more readings is compared: within 10%. A third read every five
	// seconds held four readings, and all four caught a response in flight
	// often enough to fail a run whose heap was flat. The RSS also follows
	// the heap goal and the runtime's returning of pages, so its floors get
	// a coarser bound.
	middleLive, lastLive := floors(live)
	middle, last := floors(rss)
	var trail []string
	for i := 0; i < len(rss); i += max(1, len(rss)/20) {
		trail = append(trail, strconv.FormatInt(rss[i]>>20, 10))
	}
	var liveTrail []string
	for i := 0; i < len(live); i += max(1, len(live)/20) {
		liveTrail = append(liveTrail, strconv.FormatFloat(float64(live[i])/(1<<20), 'f', 1, 64))
	}
	figures = append(figures,
		"collector RSS over the run, MiB: "+strings.Join(trail, " "),
		"collector live heap over the run, MiB: "+strings.Join(liveTrail, " "),
		fmt.Sprintf("collector RSS floor: %d MiB in the middle third, %d MiB in the last", middle>>20, last>>20),
		fmt.Sprintf("collector live heap floor: %.1f MiB in the middle third, %.1f MiB in the last", float64(middleLive)/(1<<20), float64(lastLive)/(1<<20)))
	t.Log(strings.Join(figures[len(figures)-3:], "; "))
	assert.LessOrEqual(t, float64(lastLive), 1.10*float64(middleLive), "collector live heap grew after warm-up")
	assert.LessOrEqual(t, float64(last), 1.25*float64(middle), "collector RSS grew after warm-up")

	s.mu.Lock()
	defer s.mu.Unlock()
	// No lost tick: every healthy target is scraped at each of its slots,
	// up, whatever the other targets do; none waits a slot longer for
	// them. Its first slot may come an interval after the start, and its
	// last be under way when the run ends.
	wantScrapes := int(duration/interval) - 2
	var down, lost []string
	for name, ss := range scrapes {
		if len(ss) < wantScrapes {
			lost = append(lost, fmt.Sprintf("%s: %d scrapes of %d", name, len(ss), wantScrapes))
		}
		for i, sc := range ss {
			if sc.up != 1 {
				down = append(down, fmt.Sprintf("%s at %v: %s", name, sc.at, causes[name]))
			}
			if gap := sc.at.Sub(ss[max(i-1, 0)].at); gap > interval+interval/2 {
				lost = append(lost, fmt.Sprintf("%s: %v between scrapes at %v", name, gap, sc.at))
			}
		}
	}
	slices.Sort(down)
	slices.Sort(lost)
	figures = append(figures,
		fmt.Sprintf("healthy targets down: %d %v", len(down), down[:min(len(down), 5)]),
		fmt.Sprintf("healthy targets' slots lost: %d %v", len(lost), lost[:min(len(lost), 5)]))
	assert.Len(t, scrapes, targets-(targets+2)/3, "every healthy target scraped")
	assert.Empty(t, down, "healthy targets down")
	assert.Empty(t, lost, "healthy targets' slots lost")

	// The collector's own goroutines: no group suspected, and no more at the
	// end than after warm-up, but for connections that come and go.
	require.NotEmpty(t, own)
	ownMiddle, ownLast := means(own)
	figures = append(figures, fmt.Sprintf("collector goroutines: %.0f on average in the middle third, %.0f in the last; %d groups of the collector suspected",
		ownMiddle, ownLast, suspected))
	t.Log(figures[len(figures)-1])
	assert.Zero(t, suspected, "a goroutine group of the collector itself was suspected of leaking")
	assert.LessOrEqual(t, ownLast, 1.10*ownMiddle, "the collector's goroutines grew")
}

// scrape is one scrape of a target as its batch told it.
type scrape struct {
	at time.Time
	up int64
}

// means returns the means of the middle and last thirds of xs.
func means(xs []int64) (middle, last float64) {
	mean := func(ys []int64) float64 {
		var sum float64
		for _, y := range ys {
			sum += float64(y)
		}
		return sum / float64(len(ys))
	}
	n := len(xs) / 3
	return mean(xs[n : 2*n]), mean(xs[2*n:])
}

// floors returns the least values of the middle and last thirds of xs.
func floors(xs []int64) (middle, last int64) {
	n := len(xs) / 3
	return slices.Min(xs[n : 2*n]), slices.Min(xs[2*n:])
}

func freeAddr(tb testing.TB) string {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(tb, err)
	defer func() { _ = l.Close() }()
	return l.Addr().String()
}

// liveHeap returns the heap a process serving net/http/pprof at addr holds
// after a garbage collection: its heap profile's runtime.MemStats, the
// profile taken with gc=1.
//
//	# HeapAlloc = 41234432
func liveHeap(tb testing.TB, addr string) int64 {
	tb.Helper()
	resp, err := http.Get("http://" + addr + "/debug/pprof/heap?gc=1&debug=1")
	require.NoError(tb, err)
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	require.NoError(tb, err)
	_, rest, ok := strings.Cut(string(b), "\n# HeapAlloc = ")
	require.True(tb, ok, "no HeapAlloc in the heap profile")
	n, err := strconv.ParseInt(strings.TrimSpace(strings.SplitN(rest, "\n", 2)[0]), 10, 64)
	require.NoError(tb, err)
	return n
}

// rssOf reads a process's resident set size from /proc.
func rssOf(tb testing.TB, pid int) int64 {
	tb.Helper()
	return statusKB(tb, pid, "VmRSS:") << 10
}
