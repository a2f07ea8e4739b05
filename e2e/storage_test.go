//go:build e2e

package e2e

import (
	"bytes"
	"fmt"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

// storedCollector is one collector of the storage test: its config, its
// sink, and the process running now.
type storedCollector struct {
	name   string
	config string
	sink   *sink
	cmd    *exec.Cmd
}

func newStoredCollector(t *testing.T, name, target, dir string) *storedCollector {
	t.Helper()
	c := &storedCollector{name: name, sink: &sink{}}
	otlp := httptest.NewServer(c.sink)
	t.Cleanup(otlp.Close)
	extensions, storage := "", ""
	if dir != "" {
		extensions = fmt.Sprintf(`
extensions:
  file_storage:
    directory: %s`, dir)
		storage = "\n    storage: file_storage"
	}
	c.config = collectorConfig(t, otlp.URL, fmt.Sprintf(`%s
receivers:
  goroutine:
    endpoint: %s
    collection_interval: 1s
    initial_delay: 0s
    timeout: 800ms
    labels: [pattern]
    leak:
      window: %s%s
`, extensions, target, storageWindow, storage))
	c.start(t)
	return c
}

func (c *storedCollector) start(t *testing.T) { c.cmd = runCollector(t, c.config) }

// kill ends the collector with SIGKILL: nothing is saved at its end.
func (c *storedCollector) kill(t *testing.T) {
	require.NoError(t, c.cmd.Process.Signal(syscall.SIGKILL))
	_ = c.cmd.Wait()
}

// log returns what the running collector has logged.
func (c *storedCollector) log(t *testing.T) string {
	b, err := os.ReadFile(c.cmd.Stdout.(*os.File).Name())
	require.NoError(t, err)
	return string(b)
}

// storageWindow is the storage test's one horizon: buckets of a second, a
// save a second.
const storageWindow = 30 * time.Second

// leakGroups are the example target's leaks, as groupSeries names them.
var leakGroups = map[string]string{
	"fanout":  "fanout/main.fanoutWorker/chan send",
	"timeout": "timeout/main.slowCompute/chan send",
	"probe":   "probe/main.verifyReady/chan send",
	"janitor": "janitor/main.(*ttlCache).cacheJanitor/select",
	"mutex":   "mutex/main.appendLedger/sync.Mutex.Lock",
}

// TestStateAcrossCollectorRestarts runs three collectors with file_storage
// on the example target's leaks and healthy patterns: one never stops, one
// is killed with SIGKILL in the middle of the window and started again, one
// is stopped with SIGTERM and started again. Both restarted collectors flag
// every leak within a bucket (a second) and a scrape of when the one that
// never stopped does, and never a healthy group. Then the target restarts
// while a collector is down: that collector's windows start afresh, with no
// flag, spike or negative growth. Then a collector's state file is
// corrupted while it is down: it starts, says so once, counts it, and starts
// afresh.
func TestStateAcrossCollectorRestarts(t *testing.T) {
	t.Parallel()
	bin := buildTarget(t)
	args := []string{"-patterns", "all", "-rate", "5"}
	targetCmd, target := runTarget(t, bin, "127.0.0.1:0", args...)
	killedDir, stoppedDir := t.TempDir(), t.TempDir()
	start := time.Now()
	always := newStoredCollector(t, "never stopped", target, "")
	killed := newStoredCollector(t, "killed", target, killedDir)
	stopped := newStoredCollector(t, "stopped", target, stoppedDir)

	// Act 1: restarts in the middle of the window, before any flag.
	time.Sleep(storageWindow / 3)
	killed.kill(t)
	killed.start(t)
	stop(t, stopped.cmd)
	stopped.start(t)
	restarted := time.Now()
	time.Sleep(storageWindow + 5*time.Second)

	const slack = 2 * time.Second // a bucket, and a scrape of phase between collectors
	var table []string
	want, _ := groupSeries(always.sink.snapshot())
	for _, c := range []*storedCollector{killed, stopped} {
		got, _ := groupSeries(c.sink.snapshot())
		for pattern, g := range leakGroups {
			w, f := firstFlag(want[g], start, time.Now()), firstFlag(got[g], start, time.Now())
			require.Positive(t, w, "%s not flagged by the collector that never stopped", pattern)
			assert.Positive(t, f, "%s not flagged by the %s collector", pattern, c.name)
			assert.LessOrEqual(t, f, w+slack, "%s flagged late by the %s collector", pattern, c.name)
			assert.GreaterOrEqual(t, f, w-slack, "%s flagged early by the %s collector", pattern, c.name)
			table = append(table, fmt.Sprintf("| %s | %s | %v | %v |", c.name, pattern, w.Round(100*time.Millisecond), f.Round(100*time.Millisecond)))
		}
		assertHealthyNeverFlagged(t, c.name, got, start)
		assert.NotContains(t, c.log(t), "discarding", "the %s collector discarded its state", c.name)
	}
	t.Logf("leak flagged, from the start (restarts at %v):\n| collector | pattern | never stopped | restarted |\n|---|---|---|---|\n%s",
		restarted.Sub(start).Round(100*time.Millisecond), strings.Join(table, "\n"))

	// Act 2: the target restarts while the stopped collector is down.
	stop(t, stopped.cmd)
	stop(t, targetCmd)
	_, addr := runTarget(t, bin, target, args...)
	require.Equal(t, target, addr)
	stopped.sink.reset()
	back := time.Now()
	stopped.start(t)
	time.Sleep(storageWindow/2 + 3*time.Second)
	assertFresh(t, "stopped", stopped.sink.snapshot(), back)

	// Act 3: the killed collector's state file is corrupted while it is
	// down.
	stop(t, killed.cmd)
	files, err := filepath.Glob(filepath.Join(killedDir, "receiver_goroutine*"))
	require.NoError(t, err)
	require.Len(t, files, 1, "one file for the one receiver")
	require.NoError(t, os.WriteFile(files[0], bytes.Repeat([]byte("corrupt "), 4096), 0o600))
	killed.sink.reset()
	corrupted := time.Now()
	killed.start(t)
	time.Sleep(storageWindow/2 + 3*time.Second)
	batches := killed.sink.snapshot()
	assertFresh(t, "corrupted", batches, corrupted)
	assert.Equal(t, 1, strings.Count(killed.log(t), "the storage failed"), "said once")
	assert.Equal(t, int64(1), stateErrors(batches, "read"), "counted once")
}

// assertHealthyNeverFlagged checks that no group but the leaks was ever
// suspected.
func assertHealthyNeverFlagged(t *testing.T, name string, series map[string][]sample, start time.Time) {
	t.Helper()
	leak := map[string]bool{}
	for _, g := range leakGroups {
		leak[g] = true
	}
	for g, ss := range series {
		if leak[g] {
			continue
		}
		for _, p := range ss {
			assert.False(t, p.suspected, "the %s collector flagged healthy group %s at %v", name, g, p.at.Sub(start).Round(time.Second))
		}
	}
}

// assertFresh checks that a collector started at from judged the target
// afresh: neither growth nor flag before its window held half its span
// again, and no negative growth.
func assertFresh(t *testing.T, name string, batches []pmetric.Metrics, from time.Time) {
	t.Helper()
	series, _ := groupSeries(batches)
	require.NotEmpty(t, series, "the %s collector exported nothing", name)
	for g, ss := range series {
		for _, p := range ss {
			if since := p.at.Sub(from); since < storageWindow/2-time.Second {
				assert.False(t, p.ready, "the %s collector judged %s %v after its start: a window carried over", name, g, since.Round(time.Second))
				assert.False(t, p.suspected, "the %s collector flagged %s %v after its start: a flag carried over", name, g, since.Round(time.Second))
			}
			assert.GreaterOrEqual(t, p.growth, 0.0, "the %s collector's %s growth", name, g)
		}
	}
}

// stateErrors returns the newest go.goroutine.state.errors of kind.
func stateErrors(batches []pmetric.Metrics, kind string) int64 {
	var n int64
	for _, m := range batches {
		for i := range m.ResourceMetrics().Len() {
			ms := m.ResourceMetrics().At(i).ScopeMetrics().At(0).Metrics()
			for j := range ms.Len() {
				if ms.At(j).Name() != "go.goroutine.state.errors" {
					continue
				}
				dps := ms.At(j).Sum().DataPoints()
				for k := range dps.Len() {
					if v, _ := dps.At(k).Attributes().Get("goroutine.state.error"); v.Str() == kind {
						n = dps.At(k).IntValue()
					}
				}
			}
		}
	}
	return n
}
