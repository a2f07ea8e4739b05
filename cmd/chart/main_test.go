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

// Two snapshots as the prometheus exporter serves them: the fan-out
// pattern in two groups (the larger one is kept), the pool in one, and the
// `other` group, which has no pattern.
const recorded = `# at 100
# HELP go_goroutine_group_count Goroutines per signature.
# TYPE go_goroutine_group_count gauge
go_goroutine_group_count{code_function_name="main.fanoutWorker",goroutine_label_pattern="fanout",goroutine_signature="aa",goroutine_wait="chan send",job="shop"} 10
go_goroutine_group_count{code_function_name="main.fanout",goroutine_label_pattern="fanout",goroutine_signature="ab",goroutine_wait="select",job="shop"} 1
go_goroutine_group_count{code_function_name="main.poolWorker",goroutine_label_pattern="pool",goroutine_signature="bb",goroutine_wait="chan receive",job="shop"} 16
go_goroutine_group_count{goroutine_signature="other",job="shop"} 3
# at 102.5
go_goroutine_group_count{code_function_name="main.fanoutWorker",goroutine_label_pattern="fanout",goroutine_signature="aa",goroutine_wait="chan send",job="shop"} 20
go_goroutine_group_growth_per_min{code_function_name="main.fanoutWorker",goroutine_label_pattern="fanout",goroutine_signature="aa",goroutine_wait="chan send",job="shop"} 240
go_goroutine_group_suspected_ratio{code_function_name="main.fanoutWorker",goroutine_label_pattern="fanout",goroutine_signature="aa",goroutine_wait="chan send",job="shop"} 1
go_goroutine_group_count{code_function_name="main.poolWorker",goroutine_label_pattern="pool",goroutine_signature="bb",goroutine_wait="chan receive",job="shop"} 16
go_goroutine_group_growth_per_min{code_function_name="main.poolWorker",goroutine_label_pattern="pool",goroutine_signature="bb",goroutine_wait="chan receive",job="shop"} -0.5
go_goroutine_group_suspected_ratio{code_function_name="main.poolWorker",goroutine_label_pattern="pool",goroutine_signature="bb",goroutine_wait="chan receive",job="shop"} 0
# at 104
go_goroutine_group_count{code_function_name="main.fanoutWorker",goroutine_label_pattern="fanout",goroutine_signature="aa",goroutine_wait="chan send",job="shop"} 30
`

func TestParse(t *testing.T) {
	rec, err := parse(strings.NewReader(recorded))
	require.NoError(t, err)
	assert.Equal(t, map[string][]point{
		"fanout": {{at: 0, count: 10}, {at: 2.5, count: 20, growth: 240, hasGrowth: true, suspected: true}, {at: 4, count: 30}},
		// Gone from the last snapshot: no goroutines then.
		"pool": {{at: 0, count: 16}, {at: 2.5, count: 16, growth: -0.5, hasGrowth: true}, {at: 4}},
	}, rec.series)
	assert.Equal(t, map[string]string{"fanout": "main.fanoutWorker", "pool": "main.poolWorker"}, rec.stuck)
	assert.InDelta(t, 4, rec.span, 1e-9)
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		give, want string
	}{
		{give: `go_goroutine_group_count{goroutine_label_pattern="x"} 1`, want: `line 1: sample before the first "# at" line`},
		{give: "# at 5\n# at 4\n", want: "line 2: time goes back"},
		{give: "# at 5\ngo_goroutine_group_count{goroutine_label_pattern=\"x\"} many\n", want: `line 2: value "many"`},
		{give: "# at 5\ngo_goroutine_count 3\n", want: "no goroutine group with a pattern label"},
		{give: "", want: "no goroutine group with a pattern label"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			_, err := parse(strings.NewReader(tt.give))
			assert.ErrorContains(t, err, tt.want)
		})
	}
}

func TestRun(t *testing.T) {
	dir := t.TempDir()
	in, out := filepath.Join(dir, "samples.txt"), filepath.Join(dir, "chart.svg")
	require.NoError(t, os.WriteFile(in, []byte(recorded), 0o600))
	require.NoError(t, run([]string{"-in", in, "-out", out, "-leaks", "fanout"}))
	b, err := os.ReadFile(out)
	require.NoError(t, err)
	svg := string(b)
	assert.True(t, strings.HasPrefix(svg, "<svg "))
	assert.True(t, strings.HasSuffix(svg, "</svg>\n"))
	assert.Contains(t, svg, "fanout (leak) · main.fanoutWorker")
	assert.Contains(t, svg, "pool (healthy) · main.poolWorker")
	// Counts of both patterns, growth of both, and the fan-out's suspected
	// stretch drawn thick.
	assert.Equal(t, 5, strings.Count(svg, "<polyline"))
	assert.Equal(t, 1, strings.Count(svg, `stroke-width="4"`))
	assert.Less(t, strings.Index(svg, "fanout (leak)"), strings.Index(svg, "pool (healthy)"), "leaks are listed first")

	assert.ErrorContains(t, run([]string{"-in", in}), "-in and -out are required")
	assert.ErrorContains(t, run([]string{"-in", filepath.Join(dir, "missing"), "-out", out}), "no such file")
}

func TestNiceCeilAndTicks(t *testing.T) {
	for give, want := range map[float64]float64{0: 0, 0.3: 0.5, 1: 1, 7: 10, 120: 200, 1500: 2000} {
		assert.InDelta(t, want, niceCeil(give), 1e-9, "niceCeil(%v)", give)
	}
	assert.Equal(t, []float64{0, 20, 40, 60, 80, 100}, ticks(0, 100))
	assert.Equal(t, []float64{-10, 0, 10, 20, 30, 40}, ticks(-10, 40))
	assert.Equal(t, []float64{3}, ticks(3, 3))
	assert.Equal(t, []float64{0, 30, 60, 90, 120, 150, 180, 210, 240}, clockTicks(240))
	assert.Equal(t, []float64{0, 10, 20, 30, 40}, clockTicks(45))
	assert.Equal(t, []float64{0, 1800, 3600, 5400, 7200, 9000, 10800, 12600, 14400}, clockTicks(14400))
}
