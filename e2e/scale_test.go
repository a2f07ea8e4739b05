//go:build e2e

package e2e

import (
	"bufio"
	"cmp"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

// BenchmarkCollectorScale runs the ocb-built collector against N loopback
// targets, each serving a recorded goroutine profile of 1,000 distinct
// stacks (10,000 goroutines, from cmd/stackfarm), and measures the collector
// process from outside: CPU seconds per scrape of all N targets, peak RSS,
// and live heap after a GC (read from its own pprof endpoint). One op is one
// scrape of every target; the metrics are exported over OTLP to this test,
// which counts that each scrape held every target, up. Beside it, in the
// same run and against the same targets, e2e/naivescraper (fetch,
// profile.Parse, a map by function names) is measured the same way: the
// collector's CPU per target-scrape against the naive scraper's is the
// ratio the performance goals are stated in.
//
// The sizes, the distinct stacks per target and the interval come from the
// environment, so that CI runs a small case and BENCHMARKS.md the full
// tables:
//
//	SCALE_TARGETS=100,500,1000 SCALE_INTERVAL=15s SCALE_WINDOWS=300s,310s,320s \
//	  OTELCOL_BIN=$PWD/_build/otelcol-goroutine \
//	  go test -tags e2e -run '^$' -bench CollectorScale -benchtime 4x -timeout 2h ./e2e
//	SCALE_HEAP_PROFILE=heap.pb.gz ... (also writes the live heap's profile)
//	SCALE_CPU_PROFILE=cpu.pb.gz ... (and a CPU profile of the measured scrapes, 30 s at most)
//	SCALE_TARGETS=500 SCALE_STACKS=100,1000,10000 ... (the same)
//	SCALE_EXPORT_BATCH=1 ... (the exporter batches: sending_queue::batch)
//	SCALE_EXPORT_COMPRESSION=gzip ... (the exporter compresses, as otlp_http
//	  does by default; none otherwise)
//	SCALE_FEATURE_GATES=+pdata.useProtoPooling ... (the collector's --feature-gates)
//	SCALE_LEAN=1 ... (the growth and suspected series carry the signature
//	  and the horizon alone: docs/performance.md's lean layout)
//
// SCALE_WINDOWS sets leak.windows (each at least 20 intervals) and has the
// run measured once every horizon is ready, each reported group writing its
// seven points. Without it the default horizons (30m, 5h, 48h) are not
// ready within a run: each reported group has its count point alone, where
// a collector that has run a day (half the 48h horizon) writes seven.
func BenchmarkCollectorScale(b *testing.B) {
	sizes := envInts(b, "SCALE_TARGETS", 200)
	stacks := envInts(b, "SCALE_STACKS", 1000)
	interval := 5 * time.Second
	if d, err := time.ParseDuration(os.Getenv("SCALE_INTERVAL")); err == nil {
		interval = d
	}
	var windows []string
	if env := os.Getenv("SCALE_WINDOWS"); env != "" {
		windows = strings.Split(env, ",")
	}
	exportBatch, gates, lean := os.Getenv("SCALE_EXPORT_BATCH") == "1", os.Getenv("SCALE_FEATURE_GATES"), os.Getenv("SCALE_LEAN") == "1"
	compression := cmp.Or(os.Getenv("SCALE_EXPORT_COMPRESSION"), "none")
	if lean && len(windows) == 0 {
		b.Fatal("SCALE_LEAN needs SCALE_WINDOWS: without a ready horizon there is no growth or flag to make lean")
	}
	naive := buildNaive(b)
	for _, s := range stacks {
		profile := recordFarm(b, s, max(s, 10000))
		for _, n := range sizes {
			b.Run(fmt.Sprintf("targets=%d/stacks=%d", n, s), func(b *testing.B) {
				scaleRun(b, scaleCase{
					n: n, interval: interval, windows: windows,
					exportBatch: exportBatch, compression: compression, gates: gates, lean: lean,
				}, profile, naive)
			})
		}
	}
}

// envInts reads a comma-separated list of integers from the environment.
func envInts(tb testing.TB, name string, def int) []int {
	env := os.Getenv(name)
	if env == "" {
		return []int{def}
	}
	var out []int
	for _, f := range strings.Split(env, ",") {
		n, err := strconv.Atoi(f)
		require.NoError(tb, err, name)
		out = append(out, n)
	}
	return out
}

// recordFarm runs cmd/stackfarm once and returns its goroutine profile.
func recordFarm(tb testing.TB, stacks, goroutines int) []byte {
	tb.Helper()
	out := filepath.Join(tb.TempDir(), "farm.pb.gz")
	cmd := exec.Command("go", "run", "./cmd/stackfarm", "-stacks", strconv.Itoa(stacks), "-depth", "10",
		"-goroutines", strconv.Itoa(goroutines), "-out", out)
	cmd.Dir = repoRoot(tb)
	b, err := cmd.CombinedOutput()
	require.NoError(tb, err, "%s", b)
	body, err := os.ReadFile(out)
	require.NoError(tb, err)
	return body
}

// scaleCase is one run's collector: n targets scraped every interval, the
// leak windows (the defaults when none), whether the exporter batches and
// how it compresses, the feature gates it is started with, whether the leak
// series are lean.
type scaleCase struct {
	n           int
	interval    time.Duration
	windows     []string
	exportBatch bool
	compression string
	gates       string
	lean        bool
}

func scaleRun(b *testing.B, sc scaleCase, profile []byte, naiveBin string) {
	n, interval := sc.n, sc.interval
	var (
		targets strings.Builder
		urls    strings.Builder
		fetches spread
	)
	serve := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.UserAgent() != naiveAgent {
			fetches.add(time.Now())
		}
		_, _ = w.Write(profile)
	})
	for i := range n {
		srv := httptest.NewServer(serve)
		b.Cleanup(srv.Close)
		fmt.Fprintf(&targets, "      - endpoint: %s\n        service_name: t%d\n", srv.URL, i)
		fmt.Fprintf(&urls, "%s/debug/pprof/goroutine\n", srv.URL)
	}

	// Each target has its own slot: a scrape of all n is complete when every
	// target has delivered one more batch than at the last. A target is
	// steady when its last batch held a growth point of every horizon,
	// looked for until every target is.
	watching := len(sc.windows) > 0
	var (
		mu      sync.Mutex
		steady  = map[string]bool{}
		batches = map[string]int{}
		atLeast = map[int]int{} // batches delivered -> targets that delivered as many
		downs   int
		rounds  = make(chan struct{}, 1024)
	)
	s := sink{each: func(m pmetric.Metrics) {
		mu.Lock()
		defer mu.Unlock()
		for i := range m.ResourceMetrics().Len() {
			rm := m.ResourceMetrics().At(i)
			name, _ := rm.Resource().Attributes().Get("service.name")
			ms := rm.ScopeMetrics().At(0).Metrics()
			if watching {
				steady[name.Str()] = horizonsIn(ms) == len(sc.windows)
			}
			for j := range ms.Len() {
				if ms.At(j).Name() != "go.goroutine.scrape.up" {
					continue
				}
				if ms.At(j).Gauge().DataPoints().At(0).IntValue() != 1 {
					downs++
				}
				batches[name.Str()]++
				k := batches[name.Str()]
				if atLeast[k]++; atLeast[k] == n {
					rounds <- struct{}{}
				}
			}
		}
	}}
	otlp := serveSink(b, &s)

	pprofAddr := freeAddr(b)
	var leak string
	exporter := fmt.Sprintf("    compression: %s\n", sc.compression)
	if len(sc.windows) > 0 {
		leak = fmt.Sprintf("    leak:\n      windows: [%s]\n", strings.Join(sc.windows, ", "))
	}
	if sc.lean {
		leak += leanMetrics
	}
	if sc.exportBatch {
		exporter += "    sending_queue:\n      batch:\n        flush_timeout: 200ms\n"
	}
	config := collectorConfig(b, otlp, fmt.Sprintf(`
extensions:
  pprof:
    endpoint: %s
receivers:
  goroutine:
    targets:
%s
    collection_interval: %s
    initial_delay: 0s
    timeout: %s
%sexporters:
  otlp_http:
    timeout: 60s
%s`, pprofAddr, targets.String(), interval, interval*4/5, leak, exporter))
	var args []string
	if sc.gates != "" {
		args = append(args, "--feature-gates="+sc.gates)
	}
	cmd := runCollectorArgs(b, collectorBinary(b), args, config)
	pid := cmd.Process.Pid
	naive := startNaive(b, naiveBin, urls.String(), interval)

	wait := func() {
		select {
		case <-rounds:
		case <-time.After(3 * interval):
			b.Fatalf("no complete scrape of %d targets within %s", n, 3*interval)
		}
	}
	// Two scrapes of warm-up: the first builds every target's buffers, groups
	// and windows; with SCALE_WINDOWS, until every target is steady too.
	wait()
	wait()
	if len(sc.windows) > 0 {
		// The longest horizon is ready once its window spans half of it.
		longest, err := time.ParseDuration(sc.windows[len(sc.windows)-1])
		require.NoError(b, err)
		deadline := time.Now().Add(longest/2 + 4*interval)
		for ready := 0; ready < n; {
			if time.Now().After(deadline) {
				b.Fatalf("%d of %d targets had every horizon ready by %s", ready, n, longest/2+4*interval)
			}
			wait()
			mu.Lock()
			ready = 0
			for _, s := range steady {
				if s {
					ready++
				}
			}
			mu.Unlock()
		}
		mu.Lock()
		watching = false
		mu.Unlock()
	}
	cpu0, naiveCPU0, naiveRounds0 := cpuSeconds(b, pid), cpuSeconds(b, naive.pid), naive.rounds.Load()
	fetches.reset()
	var profiling func()
	if out := os.Getenv("SCALE_CPU_PROFILE"); out != "" {
		profiling = saveCPUProfile(b, pprofAddr, out, min(30*time.Second, 4*interval))
	}
	for b.Loop() {
		wait()
	}
	cpu := (cpuSeconds(b, pid) - cpu0) / float64(b.N)
	naiveCPU, naiveRounds := cpuSeconds(b, naive.pid)-naiveCPU0, naive.rounds.Load()-naiveRounds0
	if profiling != nil {
		profiling()
	}
	heap := heapAlloc(b, pprofAddr)
	if out := os.Getenv("SCALE_HEAP_PROFILE"); out != "" {
		saveHeapProfile(b, pprofAddr, out)
	}
	peak := statusKB(b, pid, "VmHWM:") << 10

	mu.Lock()
	require.Zero(b, downs, "targets down during the run")
	mu.Unlock()
	bins, busiest := fetches.over(interval, 10)
	b.Logf("fetches of %d targets at %v, by tenth of the interval: %v; the busiest 100 ms held %d", n, interval, bins, busiest)
	b.ReportMetric(float64(slices.Max(bins))/float64(max(slices.Min(bins), 1)), "fetch-spread-max/min")
	b.ReportMetric(float64(busiest), "fetches-busiest-100ms")
	b.ReportMetric(cpu, "cpu-s/scrape")
	b.ReportMetric(cpu/float64(n)*1000, "cpu-ms/target-scrape")
	if naiveRounds > 0 {
		naivePer := naiveCPU / float64(naiveRounds) / float64(n)
		b.Logf("the naive scraper: %d rounds, %.2f ms of CPU a target-scrape; the collector %.2f ms", naiveRounds, naivePer*1000, cpu/float64(n)*1000)
		b.ReportMetric(naivePer*1000, "naive-cpu-ms/target-scrape")
		b.ReportMetric(cpu/float64(n)/naivePer, "cpu-vs-naive")
	}
	b.ReportMetric(cpu/interval.Seconds()*100, "%core")
	b.ReportMetric(float64(peak)/(1<<20), "peak-rss-MiB")
	b.ReportMetric(float64(heap)/(1<<20), "heap-MiB")
	b.ReportMetric(float64(heap)/float64(n)/1024, "heap-KiB/target")
}

// leanMetrics is the lean layout of docs/performance.md: the growth and
// suspected series carry the signature and the horizon alone.
const leanMetrics = `    metrics:
      go.goroutine.group.growth:
        attributes: [goroutine.signature, goroutine.horizon]
      go.goroutine.group.suspected:
        attributes: [goroutine.signature, goroutine.horizon]
`

// horizonsIn returns how many horizons the growth points in ms are of.
func horizonsIn(ms pmetric.MetricSlice) int {
	seen := map[string]bool{}
	for i := range ms.Len() {
		if ms.At(i).Name() != "go.goroutine.group.growth" {
			continue
		}
		dps := ms.At(i).Gauge().DataPoints()
		for j := range dps.Len() {
			h, _ := dps.At(j).Attributes().Get("goroutine.horizon")
			seen[h.Str()] = true
		}
	}
	return len(seen)
}

// cpuSeconds reads a process's user and system CPU time from /proc.
func cpuSeconds(tb testing.TB, pid int) float64 {
	tb.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	require.NoError(tb, err)
	// Fields after the command, which is in parentheses and may hold spaces.
	fields := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	utime, err := strconv.ParseFloat(fields[11], 64)
	require.NoError(tb, err)
	stime, err := strconv.ParseFloat(fields[12], 64)
	require.NoError(tb, err)
	const clockTicks = 100 // USER_HZ on Linux
	return (utime + stime) / clockTicks
}

func statusKB(tb testing.TB, pid int, field string) int64 {
	tb.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	require.NoError(tb, err)
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, field); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			require.NoError(tb, err)
			return kb
		}
	}
	tb.Fatalf("no %s in /proc/%d/status", field, pid)
	return 0
}

// saveHeapProfile writes the collector's heap profile, after a GC, to path:
// where the live heap goes, for `go tool pprof -sample_index=inuse_space`.
func saveHeapProfile(tb testing.TB, addr, path string) {
	tb.Helper()
	resp, err := http.Get("http://" + addr + "/debug/pprof/heap?gc=1")
	require.NoError(tb, err)
	defer func() { _ = resp.Body.Close() }()
	f, err := os.Create(path)
	require.NoError(tb, err)
	_, err = io.Copy(f, resp.Body)
	require.NoError(tb, errors.Join(err, f.Close()))
}

// heapAlloc asks the collector's pprof endpoint for a heap profile after a
// GC and reads the live heap from its MemStats trailer.
func heapAlloc(tb testing.TB, addr string) int64 {
	tb.Helper()
	resp, err := http.Get("http://" + addr + "/debug/pprof/heap?debug=1&gc=1")
	require.NoError(tb, err)
	defer func() { _ = resp.Body.Close() }()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "# HeapAlloc = "); ok {
			v, err := strconv.ParseInt(rest, 10, 64)
			require.NoError(tb, err)
			return v
		}
	}
	tb.Fatal("no HeapAlloc in the heap profile")
	return 0
}

// spread records when targets were fetched, to show how their slots spread
// the fetches over the interval.
type spread struct {
	mu sync.Mutex
	at []time.Time
}

func (sp *spread) add(t time.Time) {
	sp.mu.Lock()
	sp.at = append(sp.at, t)
	sp.mu.Unlock()
}

func (sp *spread) reset() {
	sp.mu.Lock()
	sp.at = sp.at[:0]
	sp.mu.Unlock()
}

// over returns the fetches by nth of interval they fell in, and the most in
// any 100 ms.
func (sp *spread) over(interval time.Duration, n int) (bins []int, busiest int) {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	bins = make([]int, n)
	windows := map[int64]int{}
	for _, t := range sp.at {
		phase := time.Duration(t.UnixNano() % int64(interval))
		bins[int(phase*time.Duration(n)/interval)]++
		w := t.UnixNano() / int64(100*time.Millisecond)
		windows[w]++
		busiest = max(busiest, windows[w])
	}
	return bins, busiest
}

// naiveAgent is the User-Agent of e2e/naivescraper, whose fetches the
// spread of the collector's leaves out.
const naiveAgent = "naivescraper"

// buildNaive builds e2e/naivescraper.
func buildNaive(tb testing.TB) string {
	tb.Helper()
	bin := filepath.Join(tb.TempDir(), "naivescraper")
	build := exec.Command("go", "build", "-o", bin, "./e2e/naivescraper")
	build.Dir = repoRoot(tb)
	out, err := build.CombinedOutput()
	require.NoError(tb, err, "%s", out)
	return bin
}

// naiveRun is a running naive scraper: its pid, and the rounds of every
// target it has completed.
type naiveRun struct {
	pid    int
	rounds *atomic.Int64
}

// startNaive starts the naive scraper on the targets of urls (one a line)
// at interval, until the benchmark ends.
func startNaive(tb testing.TB, bin, urls string, interval time.Duration) naiveRun {
	tb.Helper()
	list := filepath.Join(tb.TempDir(), "targets.txt")
	require.NoError(tb, os.WriteFile(list, []byte(urls), 0o600))
	cmd := exec.Command(bin, "-targets", list, "-interval", interval.String())
	stdout, err := cmd.StdoutPipe()
	require.NoError(tb, err)
	cmd.Stderr = os.Stderr
	require.NoError(tb, cmd.Start())
	run := naiveRun{pid: cmd.Process.Pid, rounds: new(atomic.Int64)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		lines := bufio.NewScanner(stdout)
		for lines.Scan() {
			if strings.HasPrefix(lines.Text(), "round ") {
				run.rounds.Add(1)
			}
		}
	}()
	tb.Cleanup(func() {
		stop(tb, cmd)
		<-done
	})
	return run
}

// saveCPUProfile starts a CPU profile of the collector through its pprof
// extension at addr, of d at most, and returns a function that waits for it
// and writes it to path.
func saveCPUProfile(tb testing.TB, addr, path string, d time.Duration) func() {
	tb.Helper()
	type answer struct {
		body []byte
		err  error
	}
	got := make(chan answer, 1)
	go func() {
		resp, err := http.Get(fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", addr, int(d.Seconds()))) //nolint:noctx // loopback, bounded by seconds
		if err != nil {
			got <- answer{err: err}
			return
		}
		defer func() { _ = resp.Body.Close() }()
		b, err := io.ReadAll(resp.Body)
		got <- answer{b, err}
	}()
	return func() {
		a := <-got
		require.NoError(tb, a.err)
		require.NoError(tb, os.WriteFile(path, a.body, 0o600))
	}
}
