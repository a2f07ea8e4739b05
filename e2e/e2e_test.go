//go:build e2e

// Package e2e runs the collector built by ocb against the example target,
// both as real processes, and checks the numbers the collector exports.
//
// Most of a test's time is spent waiting for leak windows to fill, which
// costs the machine little: those tests call t.Parallel and run together
// (six at a time under make e2e: -parallel 6, where the default is the
// cores, two on a CI machine),
// after the tests that measure time or memory (the slots of the hung-target
// test, the soak's heap), which run alone first.
//
//	make e2e    # builds the collector, then: go test -tags e2e ./e2e
package e2e

import (
	"bufio"
	"compress/gzip"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func repoRoot(tb testing.TB) string {
	tb.Helper()
	root, err := filepath.Abs("..")
	require.NoError(tb, err)
	return root
}

func collectorBinary(tb testing.TB) string {
	tb.Helper()
	return builtBinary(tb, "OTELCOL_BIN", "collector", "_build", "otelcol-goroutine")
}

// builtBinary returns the binary named by the environment variable env,
// where env is set, else the one make target builds at path under the root.
func builtBinary(tb testing.TB, env, target string, path ...string) string {
	tb.Helper()
	var bin string
	if env != "" {
		bin = os.Getenv(env)
	}
	if bin == "" {
		bin = filepath.Join(append([]string{repoRoot(tb)}, path...)...)
	}
	_, err := os.Stat(bin)
	require.NoError(tb, err, "build it first: make %s", target)
	return bin
}

// startTarget builds and starts the example target on a free port and
// returns its host:port.
func startTarget(t *testing.T, args ...string) string {
	t.Helper()
	_, addr := runTarget(t, buildTarget(t), "127.0.0.1:0", args...)
	return addr
}

func buildTarget(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "leaktarget")
	build := exec.Command("go", "build", "-o", bin, "./cmd/leaktarget")
	build.Dir = repoRoot(t)
	out, err := build.CombinedOutput()
	require.NoError(t, err, string(out))
	return bin
}

// runTarget starts the built target on addr and returns it with the address
// it serves on.
func runTarget(t *testing.T, bin, addr string, args ...string) (*exec.Cmd, string) {
	t.Helper()
	return runTargetEnv(t, bin, addr, nil, args...)
}

// runTargetEnv is runTarget with env added to the target's environment.
func runTargetEnv(t *testing.T, bin, addr string, env []string, args ...string) (*exec.Cmd, string) {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"-addr", addr}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	cmd.Stderr = os.Stderr
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { stop(t, cmd) })

	line, err := bufio.NewReader(stdout).ReadString('\n')
	require.NoError(t, err)
	m := regexp.MustCompile(`serving http://([^/]+)/`).FindStringSubmatch(line)
	require.NotNil(t, m, "unexpected first line %q", line)
	go func() { _, _ = io.Copy(io.Discard, stdout) }()
	return cmd, m[1]
}

// stop ends a process with SIGTERM and waits for it; it must exit cleanly.
func stop(tb testing.TB, cmd *exec.Cmd) {
	tb.Helper()
	if cmd.ProcessState != nil {
		return // stopped already, by the test itself
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		assert.NoError(tb, err, "%s did not exit cleanly", cmd.Path)
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		<-done //nolint:errcheck // killed: its exit status says only that
		tb.Errorf("%s did not stop within 10s of SIGTERM", cmd.Path)
	}
}

// sink is an OTLP/HTTP metrics endpoint that keeps what it receives, or,
// when each is set, hands every batch to each instead: a long run keeps only
// what it checks, so that the test process's heap does not grow with it.
type sink struct {
	mu      sync.Mutex
	batches []pmetric.Metrics
	each    func(pmetric.Metrics)
}

// otlpBody reads an OTLP/HTTP request's body, gzip-compressed or not; on
// failure it has answered 400 and returns false.
func otlpBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	var body io.Reader = r.Body
	switch r.Header.Get("Content-Encoding") {
	case "gzip":
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return nil, false
		}
		body = zr
	case "zstd":
		zr, err := zstd.NewReader(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return nil, false
		}
		defer zr.Close()
		body = zr
	}
	b, err := io.ReadAll(body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return nil, false
	}
	return b, true
}

func (s *sink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, ok := otlpBody(w, r)
	if !ok {
		return
	}
	req := pmetricotlp.NewExportRequest()
	if err := req.UnmarshalProto(b); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	if s.each != nil {
		s.each(req.Metrics())
	} else {
		s.batches = append(s.batches, req.Metrics())
	}
	s.mu.Unlock()
	resp, _ := pmetricotlp.NewExportResponse().MarshalProto()
	w.Header().Set("Content-Type", "application/x-protobuf")
	_, _ = w.Write(resp)
}

// serveSink serves an OTLP/HTTP endpoint, a sink of one signal or another,
// for the rest of the test and returns its URL.
func serveSink(tb testing.TB, s http.Handler) string {
	srv := httptest.NewServer(s)
	tb.Cleanup(srv.Close)
	return srv.URL
}

// reset forgets what the sink kept.
func (s *sink) reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.batches = nil
}

func (s *sink) snapshot() []pmetric.Metrics {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]pmetric.Metrics(nil), s.batches...)
}

// startCollector runs the collector with a goroutine receiver scraping every
// second, configured further by receiver (YAML indented under the receiver),
// and an otlp_http exporter to otlpURL.
func startCollector(t *testing.T, otlpURL, receiver string) {
	t.Helper()
	runCollector(t, collectorConfig(t, otlpURL, `
receivers:
  goroutine:
    collection_interval: 1s
    initial_delay: 0s
    timeout: 800ms`+receiver))
}

// point is one go.goroutine.group.count data point as exported.
type point struct {
	port  int64
	count int64
	attrs map[string]any
}

func groupPoints(batches []pmetric.Metrics) [][]point {
	var scrapes [][]point
	for _, m := range batches {
		for i := range m.ResourceMetrics().Len() {
			if pts := resourcePoints(m.ResourceMetrics().At(i)); len(pts) > 0 {
				scrapes = append(scrapes, pts)
			}
		}
	}
	return scrapes
}

// resourcePoints returns one target's group counts of one scrape.
func resourcePoints(rm pmetric.ResourceMetrics) []point {
	port, _ := rm.Resource().Attributes().Get("server.port")
	var pts []point
	ms := rm.ScopeMetrics().At(0).Metrics()
	for j := range ms.Len() {
		if ms.At(j).Name() != "go.goroutine.group.count" {
			continue
		}
		dps := ms.At(j).Gauge().DataPoints()
		for k := range dps.Len() {
			pts = append(pts, point{port: port.Int(), count: dps.At(k).IntValue(), attrs: dps.At(k).Attributes().AsRaw()})
		}
	}
	return pts
}

func find(pts []point, fn string) *point {
	for i := range pts {
		if pts[i].attrs["code.function.name"] == fn {
			return &pts[i]
		}
	}
	return nil
}

// lineOf returns the line number of the first line of file holding text.
func lineOf(t *testing.T, file, text string) int64 {
	t.Helper()
	b, err := os.ReadFile(file)
	require.NoError(t, err)
	for i, l := range strings.Split(string(b), "\n") {
		if strings.Contains(l, text) {
			return int64(i + 1)
		}
	}
	t.Fatalf("%q not in %s", text, file)
	return 0
}

// TestCollectorReportsLeakGroups runs the fan-out leak, the never-unlocked
// mutex and a fixed pool for a known number of requests, scrapes them every
// second with the ocb-built collector next to a target that is down, and
// checks what reaches an OTLP endpoint: the leak's group grows scrape after
// scrape and settles at exactly two goroutines per request, with the wait
// kind, stuck function, file, line, entry and label read from its stack.
func TestCollectorReportsLeakGroups(t *testing.T) {
	const (
		rate     = 10
		requests = 50
	)
	target := startTarget(t, "-patterns", "fanout,mutex,pool", "-rate", fmt.Sprint(rate), "-requests", fmt.Sprint(requests))
	_, portStr, err := net.SplitHostPort(target)
	require.NoError(t, err)
	var targetPort int64
	_, err = fmt.Sscan(portStr, &targetPort)
	require.NoError(t, err)

	// Port 1 is outside the ephemeral range and nothing listens on it: a
	// closed listener's port could be handed to the next test server.
	down := "127.0.0.1:1"

	var s sink
	otlp := serveSink(t, &s)

	startCollector(t, otlp, fmt.Sprintf(`
    endpoint: %s
    targets:
      - endpoint: http://%s/debug/pprof/goroutine
        service_name: down
    labels: [pattern]`, target, down))

	const plateau = 2 * requests // two of three replicas block per request
	var fanout []int64
	require.Eventually(t, func() bool {
		fanout = fanout[:0]
		for _, pts := range groupPoints(s.snapshot()) {
			if p := find(pts, "main.fanoutWorker"); p != nil && p.attrs["goroutine.wait"] == "chan send" {
				fanout = append(fanout, p.count)
			}
		}
		n := len(fanout)
		return n >= 2 && fanout[n-1] == plateau && fanout[n-2] == plateau
	}, 40*time.Second, 250*time.Millisecond, "fan-out group never settled at %d: %v", plateau, fanout)

	t.Logf("fan-out group count by scrape: %v", fanout)

	// It grew: counts never fall, and scrapes saw it on the way up.
	var rising int
	for i := 1; i < len(fanout); i++ {
		assert.GreaterOrEqual(t, fanout[i], fanout[i-1], "fan-out counts %v", fanout)
		if fanout[i] > fanout[i-1] {
			rising++
		}
	}
	assert.GreaterOrEqual(t, rising, 2, "fan-out counts %v", fanout)

	scrapes := groupPoints(s.snapshot())
	last := scrapes[len(scrapes)-1]
	patterns := filepath.Join(repoRoot(t), "cmd", "leaktarget", "patterns.go")

	f := find(last, "main.fanoutWorker")
	require.NotNil(t, f)
	assert.Equal(t, targetPort, f.port)
	assert.Regexp(t, `^[0-9a-f]{16}$`, f.attrs["goroutine.signature"])
	assert.Equal(t, "main.fanoutWorker", f.attrs["goroutine.entry"])
	assert.Equal(t, "fanout", f.attrs["goroutine.label.pattern"])
	assert.True(t, strings.HasSuffix(f.attrs["code.file.path"].(string), "cmd/leaktarget/patterns.go"), f.attrs["code.file.path"])
	assert.Equal(t, lineOf(t, patterns, "results <- replica"), f.attrs["code.line.number"])

	m := find(last, "main.appendLedger")
	require.NotNil(t, m)
	assert.Equal(t, int64(requests), m.count)
	assert.Equal(t, "sync.Mutex.Lock", m.attrs["goroutine.wait"])
	// appendLedger blocks on the l.mu.Lock() just above its deferred Unlock.
	assert.Equal(t, lineOf(t, patterns, "defer l.mu.Unlock()")-1, m.attrs["code.line.number"])

	p := find(last, "main.poolWorker")
	require.NotNil(t, p)
	assert.Equal(t, int64(16), p.count)
	assert.Equal(t, "select", p.attrs["goroutine.wait"])

	// The down target never delayed or dropped the healthy one: it reports
	// up=0 with a connect error every scrape, the target up=1.
	assertUp(t, s.snapshot(), "down", 0)
	assertUp(t, s.snapshot(), "", 1)
}

func assertUp(t *testing.T, batches []pmetric.Metrics, service string, want int64) {
	t.Helper()
	seen := 0
	for _, m := range batches {
		for i := range m.ResourceMetrics().Len() {
			rm := m.ResourceMetrics().At(i)
			name, _ := rm.Resource().Attributes().Get("service.name")
			if name.Str() != service {
				continue
			}
			ms := rm.ScopeMetrics().At(0).Metrics()
			for j := range ms.Len() {
				if ms.At(j).Name() == "go.goroutine.scrape.up" {
					seen++
					assert.Equal(t, want, ms.At(j).Gauge().DataPoints().At(0).IntValue(), "service %q", service)
				}
			}
		}
	}
	assert.Positive(t, seen, "no scrape.up for service %q", service)
}
