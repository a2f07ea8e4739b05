package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/google/pprof/profile"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestFarmStacks writes a profile and counts what the benchmarks rely on:
// exactly -stacks distinct stacks of the farm, each holding its share of the
// goroutines, each about -depth frames deep, labeled when asked.
func TestFarmStacks(t *testing.T) {
	out := filepath.Join(t.TempDir(), "p.pb.gz")
	require.NoError(t, run([]string{"-stacks", "25", "-depth", "12", "-goroutines", "75", "-labels", "-out", out}))
	b, err := os.ReadFile(out)
	require.NoError(t, err)
	p, err := profile.ParseData(b)
	require.NoError(t, err)

	stacks := 0
	for _, s := range p.Sample {
		// Under go test, package main's functions are named by import path.
		var user int
		farm := false
		for _, l := range s.Location {
			for _, ln := range l.Line {
				name := ln.Function.Name
				farm = farm || strings.HasSuffix(name, "stackfarm.recurse") || name == "main.recurse"
				if strings.Contains(name, "stackfarm.") || strings.HasPrefix(name, "main.") {
					user++
				}
			}
		}
		if !farm {
			continue
		}
		stacks++
		assert.Equal(t, int64(3), s.Value[0], "75 goroutines over 25 stacks")
		assert.InDelta(t, 12, user, 3, "frames of the farm")
		assert.Len(t, s.Label["route"], 1)
	}
	assert.Equal(t, 25, stacks)
}

func TestFarmFlags(t *testing.T) {
	tests := []struct {
		give []string
		want string
	}{
		{[]string{"-stacks", "0", "-out", "x"}, "-stacks must be positive"},
		{[]string{"-stacks", "10", "-goroutines", "5", "-out", "x"}, "fewer than -stacks"},
		{[]string{"-stacks", "1000", "-depth", "4", "-out", "x"}, "need at least 6"},
		{[]string{"-stacks", "10"}, "give one of -out, -addr and -crash"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			assert.ErrorContains(t, run(tt.give), tt.want)
		})
	}
}

// TestServePauses forces a collection, a stop-the-world pause, and reads
// it back from the histograms the cost table uses.
func TestServePauses(t *testing.T) {
	read := func() map[string]uint64 {
		rec := httptest.NewRecorder()
		servePauses(rec, httptest.NewRequest(http.MethodGet, "/debug/pauses", nil))
		var got struct {
			Buckets []float64           `json:"buckets"`
			Counts  map[string][]uint64 `json:"counts"`
		}
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &got))
		sums := map[string]uint64{}
		for _, name := range pauseMetrics {
			require.Len(t, got.Counts[name], len(got.Buckets)-1, name)
			for _, c := range got.Counts[name] {
				sums[name] += c
			}
		}
		return sums
	}
	before := read()
	runtime.GC()
	after := read()
	assert.Greater(t, after["/sched/pauses/total/gc:seconds"], before["/sched/pauses/total/gc:seconds"])
}

// TestFarmWaitsOnMutex parks the farm on one mutex it holds: every stack of
// the farm waits in the lock.
func TestFarmWaitsOnMutex(t *testing.T) {
	out := filepath.Join(t.TempDir(), "p.pb.gz")
	require.NoError(t, run([]string{"-stacks", "5", "-depth", "6", "-goroutines", "20", "-wait", "mutex", "-out", out}))
	b, err := os.ReadFile(out)
	require.NoError(t, err)
	p, err := profile.ParseData(b)
	require.NoError(t, err)
	var farm, locked int64
	for _, s := range p.Sample {
		var names []string
		for _, l := range s.Location {
			for _, ln := range l.Line {
				names = append(names, ln.Function.Name)
			}
		}
		joined := strings.Join(names, " ")
		if strings.Contains(joined, "recurse") {
			farm += s.Value[0]
			if strings.Contains(joined, "sync.(*Mutex).Lock") {
				locked += s.Value[0]
			}
		}
	}
	assert.Equal(t, int64(20), farm)
	assert.Equal(t, farm, locked, "every goroutine of the farm waits on the lock")
	assert.ErrorContains(t, run([]string{"-wait", "sleep", "-out", out}), `-wait "sleep"`)
}
