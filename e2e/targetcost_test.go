//go:build e2e

package e2e

import (
	"bufio"
	"cmp"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// BenchmarkTargetCost measures what one fetch of each endpoint costs the
// scraped process: a cmd/stackfarm target holding N goroutines in up to
// 1,000 distinct stacks, all parked on a channel the program can still
// reach (TARGET_WAIT=mutex: on the lock of one mutex it holds). Built with
// Go 1.26 and GOEXPERIMENT=goroutineleakprofile, or, with TARGET_GO set, by
// that toolchain (TARGET_GO=go1.27.3, which serves the leak profile by
// default). Per fetch it reports the target's CPU time (from /proc), the
// stop-the-world time it spent paused and its longest single pause (from
// the runtime's pause histograms, which the target serves), and the
// response size.
//
//	TARGET_GOROUTINES=1000,10000,100000 go test -tags e2e -run '^$' \
//	  -bench TargetCost -benchtime 3x -timeout 1h ./e2e
//	TARGET_GO=go1.27.3 TARGET_WAIT=mutex TARGET_GOROUTINES=... (the same)
func BenchmarkTargetCost(b *testing.B) {
	sizes := envInts(b, "TARGET_GOROUTINES", 1000)
	wait := cmp.Or(os.Getenv("TARGET_WAIT"), "chan")
	bin := filepath.Join(b.TempDir(), "stackfarm")
	build := exec.Command("go", "build", "-o", bin, "./cmd/stackfarm")
	build.Dir = repoRoot(b)
	build.Env = append(os.Environ(), "GOEXPERIMENT=goroutineleakprofile")
	if toolchain := os.Getenv("TARGET_GO"); toolchain != "" {
		build.Env = append(os.Environ(), "GOTOOLCHAIN="+toolchain)
	}
	out, err := build.CombinedOutput()
	require.NoError(b, err, "%s", out)

	modes := []struct{ name, path string }{
		{"debug=0", "/debug/pprof/goroutine"},
		{"debug=2", "/debug/pprof/goroutine?debug=2"},
		{"goroutineleak", "/debug/pprof/goroutineleak"},
	}
	for _, n := range sizes {
		addr, pid := startFarm(b, bin, min(n, 1000), n, wait)
		for _, m := range modes {
			b.Run(fmt.Sprintf("goroutines=%d/wait=%s/mode=%s", n, wait, m.name), func(b *testing.B) {
				var cpu, stw, longest float64
				var size int64
				for b.Loop() {
					cpu0, p0 := cpuSeconds(b, pid), pausesOf(b, addr)
					size = fetchAll(b, "http://"+addr+m.path)
					cpu1, p1 := cpuSeconds(b, pid), pausesOf(b, addr)
					total, top := p1.since(p0)
					cpu += cpu1 - cpu0
					stw += total
					longest = max(longest, top)
				}
				n := float64(b.N)
				b.ReportMetric(cpu/n*1000, "target-cpu-ms/op")
				b.ReportMetric(stw/n*1000, "target-stw-ms/op")
				b.ReportMetric(longest*1000, "target-max-pause-ms")
				b.ReportMetric(float64(size)/1024, "resp-KiB")
			})
		}
	}
}

// startFarm runs stackfarm with goroutines parked in stacks distinct stacks
// and returns its address and pid.
func startFarm(tb testing.TB, bin string, stacks, goroutines int, wait string) (string, int) {
	tb.Helper()
	cmd := exec.Command(bin, "-stacks", strconv.Itoa(stacks), "-depth", "10",
		"-goroutines", strconv.Itoa(goroutines), "-wait", wait, "-addr", "127.0.0.1:0")
	stdout, err := cmd.StdoutPipe()
	require.NoError(tb, err)
	cmd.Stderr = os.Stderr
	require.NoError(tb, cmd.Start())
	tb.Cleanup(func() { stop(tb, cmd) })
	line, err := bufio.NewReader(stdout).ReadString('\n')
	require.NoError(tb, err)
	go func() { _, _ = io.Copy(io.Discard, stdout) }()
	// "stackfarm serving http://127.0.0.1:PORT/debug/pprof/ stacks=..."
	addr, _, _ := strings.Cut(strings.TrimPrefix(line, "stackfarm serving http://"), "/")
	return addr, cmd.Process.Pid
}

func fetchAll(tb testing.TB, url string) int64 {
	tb.Helper()
	client := http.Client{Timeout: 10 * time.Minute}
	resp, err := client.Get(url)
	require.NoError(tb, err)
	defer func() { _ = resp.Body.Close() }()
	require.Equal(tb, http.StatusOK, resp.StatusCode, url)
	n, err := io.Copy(io.Discard, resp.Body)
	require.NoError(tb, err)
	return n
}

// pauses is the target's cumulative pause histograms.
type pauses struct {
	Buckets []float64           `json:"buckets"`
	Counts  map[string][]uint64 `json:"counts"`
}

func pausesOf(tb testing.TB, addr string) pauses {
	tb.Helper()
	var p pauses
	getJSON(tb, "http://"+addr+"/debug/pauses", &p)
	return p
}

// since returns the pause time between before and p, each pause counted at
// its bucket's midpoint, and the upper bound of the longest pause's bucket.
func (p pauses) since(before pauses) (total, longest float64) {
	for name, counts := range p.Counts {
		for i, c := range counts {
			d := c - before.Counts[name][i]
			if d == 0 {
				continue
			}
			lo, hi := max(p.Buckets[i], 0), p.Buckets[i+1]
			if hi > 1e299 {
				hi = lo
			}
			total += float64(d) * (lo + hi) / 2
			longest = max(longest, hi)
		}
	}
	return total, longest
}
