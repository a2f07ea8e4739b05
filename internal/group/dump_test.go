package group

import (
	"bytes"
	"fmt"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/goroutinewatch/goroutinereceiver/internal/decode"
	"github.com/goroutinewatch/goroutinereceiver/internal/dump"
	"github.com/goroutinewatch/goroutinereceiver/internal/limit"
)

// TestDumpMatchesProfile groups a debug=2 dump and the debug=0 profile
// taken of the same process a moment before it (the leaks had stopped at
// -requests 20): every group of the example target's patterns has the same
// id, count and wait in both, and the dump adds the creator and the leaked
// marks.
func TestDumpMatchesProfile(t *testing.T) {
	pb, err := os.ReadFile("../../testdata/dumps/leaktarget.pb.gz")
	require.NoError(t, err, "run scripts/capture-dumps.sh")
	txt, err := os.ReadFile("../../testdata/dumps/leaktarget.txt")
	require.NoError(t, err)
	p, err := decode.Decode(bytes.NewReader(pb), decode.Limits{MaxBytes: 64 << 20})
	require.NoError(t, err)
	fromProfile, err := Of(p, Options{})
	require.NoError(t, err)
	var g Grouper
	fromDump, err := g.OfDump(bytes.NewReader(txt), decode.Limits{MaxBytes: dump.MaxBytes}, Options{})
	require.NoError(t, err)

	for _, stuck := range []string{"main.fanoutWorker", "main.slowCompute", "main.verifyReady", "main.(*ttlCache).cacheJanitor", "main.appendLedger", "main.poolWorker", "main.growWorker", "main.waitCond"} {
		t.Run(stuck, func(t *testing.T) {
			want := find(&fromProfile, "", stuck)
			got := find(&fromDump, "", stuck)
			require.NotNil(t, want)
			require.NotNil(t, got)
			assert.Equal(t, want.ID, got.ID, "one id for one stack in either format")
			assert.Equal(t, want.Count, got.Count)
			assert.Equal(t, want.Identity.Wait, got.Identity.Wait, "the profile's frames and the dump's header agree")
			assert.Equal(t, want.Identity.Stuck, got.Identity.Stuck)
			assert.NotEmpty(t, got.Identity.Creator.Function)
			assert.NotEmpty(t, got.Stack)
		})
	}
	fanout := find(&fromDump, "", "main.fanoutWorker")
	assert.Equal(t, fanout.Count, fanout.Leaked, "every fan-out worker is proven leaked")
	assert.Equal(t, "main.firstResult", fanout.Identity.Creator.Function)
	assert.Zero(t, find(&fromDump, "", "main.poolWorker").Leaked)
	assert.Zero(t, fromDump.StacksCut)
	assert.False(t, fromDump.DumpCut)
	var sum int64
	for _, gr := range fromDump.Groups {
		sum += gr.Count
	}
	assert.Equal(t, fromDump.Total, sum)
}

// TestDumpLabels keeps a label that the runtime printed in the headers
// (GODEBUG=tracebacklabels=1).
func TestDumpLabels(t *testing.T) {
	txt, err := os.ReadFile("../../testdata/dumps/labels.txt")
	require.NoError(t, err, "run scripts/capture-dumps.sh")
	var g Grouper
	res, err := g.OfDump(bytes.NewReader(txt), decode.Limits{MaxBytes: dump.MaxBytes}, Options{Labels: []string{"pattern"}})
	require.NoError(t, err)
	fanout := find(&res, "fanout", "main.fanoutWorker")
	require.NotNil(t, fanout)
	assert.Equal(t, []string{"fanout"}, fanout.Identity.LabelValues)
	pool := find(&res, "pool", "main.poolWorker")
	require.NotNil(t, pool)
	assert.Equal(t, []string{"pool"}, pool.Identity.LabelValues)
}

// TestDumpLimits holds a dump to the profile's limits: stacks keep their
// innermost max_frames frames, and more distinct stacks than max_samples
// are refused, since a dump's size bounds its goroutines, not its groups.
func TestDumpLimits(t *testing.T) {
	txt, err := os.ReadFile("../../testdata/dumps/deep.txt")
	require.NoError(t, err, "run scripts/capture-dumps.sh")
	var g Grouper
	res, err := g.OfDump(bytes.NewReader(txt), decode.Limits{MaxBytes: dump.MaxBytes, MaxFrames: 5}, Options{})
	require.NoError(t, err)
	assert.Positive(t, res.StacksCut)
	for _, gr := range res.Groups {
		assert.LessOrEqual(t, len(gr.Stack), 5)
	}

	var many bytes.Buffer
	for i := range 100 {
		fmt.Fprintf(&many, "goroutine %d [select]:\nmain.f%d()\n\t/a.go:1 +0x1\n\n", i+1, i)
	}
	_, err = g.OfDump(&many, decode.Limits{MaxBytes: dump.MaxBytes, MaxSamples: 10}, Options{})
	var le *limit.Error
	require.ErrorAs(t, err, &le)
	assert.Equal(t, limit.MaxSamples, le.Limit)
}
