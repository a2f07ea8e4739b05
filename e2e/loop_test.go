//go:build e2e

package e2e

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// arrivals serves target through a proxy that records when each request
// for the goroutine profile (debug=0) arrived, and returns its address.
func arrivals(t *testing.T, target string) (string, func() []time.Time) {
	t.Helper()
	backend, err := url.Parse("http://" + target)
	require.NoError(t, err)
	proxy := httputil.NewSingleHostReverseProxy(backend)
	var (
		mu sync.Mutex
		at []time.Time
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/debug/pprof/goroutine" && r.URL.Query().Get("debug") == "" {
			mu.Lock()
			at = append(at, time.Now())
			mu.Unlock()
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://"), func() []time.Time {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(at)
	}
}

// hangs accepts connections and never answers them, until the test ends.
func hangs(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var (
		mu    sync.Mutex
		conns []net.Conn
		done  = make(chan struct{})
	)
	go func() {
		defer close(done)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		_ = l.Close()
		<-done
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			_ = c.Close()
		}
	})
	return l.Addr().String()
}

// TestHungTargetsCostTheirSlots runs the collector, defaults but for a 1 s
// interval, against the example target beside 64, then 500, targets that
// accept the connection and never answer: the example target is scraped at
// 29 or more of 30 slots, each within 100 ms of its slot. Before, the
// targets were scraped in rounds that waited for the slowest: beside 64
// hung targets the healthy one was reported in 16 of 30 seconds.
func TestHungTargetsCostTheirSlots(t *testing.T) {
	healthy := startTarget(t, "-patterns", "pool")
	for _, hung := range []int{64, 500} {
		t.Run(fmt.Sprintf("hung=%d", hung), func(t *testing.T) {
			addr, arrived := arrivals(t, healthy)
			never := hangs(t)
			var targets strings.Builder
			fmt.Fprintf(&targets, "      - endpoint: %s\n        service_name: healthy\n", addr)
			for i := range hung {
				fmt.Fprintf(&targets, "      - endpoint: http://%s/hung/%d/debug/pprof/goroutine\n", never, i)
			}
			var s sink
			otlp := serveSink(t, &s)
			runCollector(t, collectorConfig(t, otlp, `
receivers:
  goroutine:
    collection_interval: 1s
    targets:
`+targets.String()))

			require.Eventually(t, func() bool { return len(arrived()) > 0 }, 30*time.Second, 10*time.Millisecond)
			start := arrived()[0]
			require.Eventually(t, func() bool { return time.Since(start) > 31*time.Second }, 40*time.Second, 100*time.Millisecond)
			var in []time.Time
			for _, at := range arrived() {
				if at.Sub(start) < 30*time.Second-500*time.Millisecond {
					in = append(in, at)
				}
			}
			// The slot's phase: the median of the arrivals' offsets from
			// the first's, each taken within half an interval of it.
			offsets := make([]time.Duration, len(in))
			for i, at := range in {
				d := (at.Sub(start)+500*time.Millisecond)%time.Second - 500*time.Millisecond
				offsets[i] = d
			}
			sorted := slices.Clone(offsets)
			slices.Sort(sorted)
			slot := sorted[len(sorted)/2]
			late := 0
			var worst time.Duration
			for _, d := range offsets {
				off := max(d-slot, slot-d)
				worst = max(worst, off)
				if off > 100*time.Millisecond {
					late++
				}
			}
			t.Logf("beside %d hung targets: scraped at %d of 30 slots, %d more than 100 ms off its slot, the worst %v off",
				hung, len(in), late, worst.Round(time.Millisecond))
			assert.GreaterOrEqual(t, len(in)-late, 29, "scraped within 100 ms of its slot at fewer than 29 of 30 slots")
		})
	}
}
