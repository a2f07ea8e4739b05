package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// comparison is benchstat -format csv of two runs, as it prints them.
const comparison = `goos: linux
goarch: amd64
pkg: github.com/goroutinewatch/goroutinereceiver/internal/trend
,old.txt,,new.txt,,,
,sec/op,CI,sec/op,CI,vs base,P
TrackerObserve/varying=0-2,0.000238,2%,0.000112,1%,-52.69%,p=0.002 n=6
TrackerObserve/varying=100-2,0.000259,1%,0.000252,14%,-2.70%,p=0.002 n=6
TrackerObserve/varying=1000-2,0.000296,33%,0.000345,2%,~,p=0.065 n=6
geomean,0.000263,,0.000172,,-34.48%,

,old.txt,,new.txt,,,
,heapB/group,CI,heapB/group,CI,vs base,P
TrackerMemory/varying=0-2,54,0%,33,0%,-38.89%,p=0.002 n=6
geomean,54,,33,,-38.89%,
`

func TestMoved(t *testing.T) {
	tests := []struct {
		name  string
		give  string
		limit float64
		want  []move
	}{
		{"beyond a tenth, significant", comparison, 10, []move{
			{"TrackerObserve/varying=0-2", "sec/op", "-52.69%"},
			{"TrackerMemory/varying=0-2", "heapB/group", "-38.89%"},
		}},
		{"a lower limit takes the small significant move", comparison, 2, []move{
			{"TrackerObserve/varying=0-2", "sec/op", "-52.69%"},
			{"TrackerObserve/varying=100-2", "sec/op", "-2.70%"},
			{"TrackerMemory/varying=0-2", "heapB/group", "-38.89%"},
		}},
		{"a rise", strings.ReplaceAll(comparison, "-52.69%", "+12.00%"), 10, []move{
			{"TrackerObserve/varying=0-2", "sec/op", "+12.00%"},
			{"TrackerMemory/varying=0-2", "heapB/group", "-38.89%"},
		}},
		{"from zero", ",old.txt,,new.txt,,,\n,allocs/op,CI,allocs/op,CI,vs base,P\n" +
			"TrackerObserve/varying=0-2,0,0%,3,0%,?,p=0.002 n=6\nTrackerObserve/varying=100-2,0,0%,0,0%,~,p=1.000 n=6\n", 10, []move{
			{"TrackerObserve/varying=0-2", "allocs/op", "from 0"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := moved(strings.NewReader(tt.give), tt.limit)
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestMovedRefuses(t *testing.T) {
	tests := []struct {
		name, give, want string
	}{
		{"one file, no comparison", "goos: linux\n,new.txt,,\n,sec/op,CI\nScrape-2,0.1,2%\n", "no comparison"},
		{"a change that is no number", ",a,,b,,,\n,sec/op,CI,sec/op,CI,vs base,P\nScrape-2,1,1%,2,1%,+x%,p=0.002 n=6\n", `change "+x%"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := moved(strings.NewReader(tt.give), 10)
			assert.ErrorContains(t, err, tt.want)
		})
	}
}

func TestRun(t *testing.T) {
	tests := []struct {
		name, changelog string
		limit           float64
		wantErr         string // the error's end
	}{
		{"each named", "# Changelog\n\n## v0.2.0\n\n- BenchmarkTrackerObserve halves; BenchmarkTrackerMemory too.\n\n## v0.1.0\n", 10, ""},
		{"one unnamed", "# Changelog\n\n## v0.2.0\n\n- BenchmarkTrackerObserve halves.\n\n## v0.1.0\n\n- BenchmarkTrackerMemory\n", 10, "their benchmarks: BenchmarkTrackerMemory"},
		{"no section, each benchmark named once", "# Changelog\n", 2, "their benchmarks: BenchmarkTrackerObserve, BenchmarkTrackerMemory"},
		{"a longer name is not the name", "# Changelog\n\n## v0.2.0\n\n- BenchmarkTrackerObserveAll, BenchmarkTrackerMemory.\n", 10, "their benchmarks: BenchmarkTrackerObserve"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "CHANGELOG.md")
			require.NoError(t, os.WriteFile(path, []byte(tt.changelog), 0o600))
			var out strings.Builder
			err := run(strings.NewReader(comparison), &out, path, tt.limit)
			if tt.wantErr == "" {
				require.NoError(t, err)
				assert.Contains(t, out.String(), "2 figures moved")
				return
			}
			require.Error(t, err)
			assert.True(t, strings.HasSuffix(err.Error(), tt.wantErr), err.Error())
		})
	}
}

func TestBenchmarkName(t *testing.T) {
	for give, want := range map[string]string{
		"Scrape/profile=farm=1000/targets=32-2": "BenchmarkScrape",
		"TrackerMemory/varying=0-2":             "BenchmarkTrackerMemory",
		"Observe-16":                            "BenchmarkObserve",
		"Group-by-x":                            "BenchmarkGroup-by-x",
	} {
		assert.Equal(t, want, move{name: give}.benchmark(), give)
	}
}
