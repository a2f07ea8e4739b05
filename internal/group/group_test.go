package group

import (
	"bytes"
	"cmp"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/goroutinewatch/goroutinereceiver/internal/decode"
	"github.com/goroutinewatch/goroutinereceiver/internal/signature"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func load(t *testing.T, name string) *decode.Profile {
	t.Helper()
	b, err := os.ReadFile("../../testdata/profiles/" + name)
	require.NoError(t, err, "run scripts/capture-profiles.sh")
	p, err := decode.Decode(bytes.NewReader(b), decode.Limits{MaxBytes: 64 << 20})
	require.NoError(t, err)
	return p
}

// TestLeakTargetGroups reads the profile captured from the example target
// running every pattern, and checks what each pattern's main group says.
func TestLeakTargetGroups(t *testing.T) {
	res, err := Of(load(t, "leaktarget.pb.gz"), Options{Labels: []string{"pattern"}})
	require.NoError(t, err)

	tests := []struct {
		pattern   string
		stuck     string
		wantWait  string
		wantEntry string
		wantFile  string
	}{
		{"fanout", "main.fanoutWorker", signature.WaitChanSend, "main.fanoutWorker", "patterns.go"},
		{"timeout", "main.slowCompute", signature.WaitChanSend, "main.slowCompute", "patterns.go"},
		{"probe", "main.verifyReady", signature.WaitChanSend, "main.verifyReady", "patterns.go"},
		{"janitor", "main.(*ttlCache).cacheJanitor", signature.WaitSelect, "main.(*ttlCache).cacheJanitor", "patterns.go"},
		{"mutex", "main.appendLedger", signature.WaitMutexLock, "main.appendLedger", "patterns.go"},
		{"pool", "main.poolWorker", signature.WaitSelect, "main.poolWorker", "patterns.go"},
		{"growpool", "main.growWorker", signature.WaitSelect, "main.growWorker", "patterns.go"},
		{"burst", "main.burstTask", signature.WaitSleep, "main.burstTask", "patterns.go"},
		{"burst", "main.runBurst.func1", signature.WaitWaitGroupWait, "runtime/pprof.Do", "patterns.go"},
		{"waits", "main.waitRLock", signature.WaitRWMutexRLock, "main.waitRLock", "patterns.go"},
		{"waits", "main.waitLock", signature.WaitRWMutexLock, "main.waitLock", "patterns.go"},
		{"waits", "main.waitCond", signature.WaitCondWait, "main.waitCond", "patterns.go"},
		{"waits", "main.waitGroup", signature.WaitWaitGroupWait, "main.waitGroup", "patterns.go"},
		{"waits", "main.waitNoCases", signature.WaitSelectNoCases, "main.waitNoCases", "patterns.go"},
		// Stuck is the innermost frame outside the wait machinery, here in
		// package os; the entry names the user's function.
		{"waits", "os.(*File).read", signature.WaitIO, "main.waitRead", "file_posix.go"},
		{"", "os/signal.signal_recv", signature.WaitSyscall, "os/signal.loop", "sigqueue.go"},
		{"", "net.(*netFD).accept", signature.WaitIO, "main.main", "fd_unix.go"},
		{"", "runtime/pprof.writeRuntimeProfile", signature.WaitRunning, "net/http.(*conn).serve", "pprof.go"},
	}
	for _, tt := range tests {
		t.Run(tt.pattern+"/"+tt.stuck, func(t *testing.T) {
			g := find(&res, tt.pattern, tt.stuck)
			require.NotNil(t, g, "no group stuck in %s", tt.stuck)
			assert.Equal(t, tt.wantWait, g.Identity.Wait)
			assert.Equal(t, tt.wantEntry, g.Identity.Entry)
			assert.Contains(t, g.Identity.Stuck.File, tt.wantFile)
			assert.Positive(t, g.Identity.Stuck.Line)
			assert.Positive(t, g.Count)
		})
	}

	// The leaks ran 3.5s at 10 requests a second: two goroutines left per
	// fan-out, one per timeout and probe.
	assert.Greater(t, find(&res, "fanout", "main.fanoutWorker").Count, int64(40))
	assert.Equal(t, int64(16), find(&res, "pool", "main.poolWorker").Count)

	var sum int64
	for _, g := range res.Groups {
		sum += g.Count
	}
	assert.Equal(t, res.Total, sum+res.Ignored)
}

// find returns the group of res stuck in the function stuck with the
// pattern label value pattern (any, where labels are not kept), its
// identity worked out.
func find(res *Result, pattern, stuck string) *Group {
	for i := range res.Groups {
		id := res.Identity(i)
		if id.Stuck.Function == stuck && (len(id.LabelValues) == 0 || id.LabelValues[0] == pattern) {
			return &res.Groups[i]
		}
	}
	return nil
}

// sorted returns the groups largest first, as a full sort orders them.
func sorted(groups []Group) []Group {
	out := slices.Clone(groups)
	slices.SortFunc(out, func(a, b Group) int {
		return cmp.Or(cmp.Compare(b.Count, a.Count), cmp.Compare(a.ID, b.ID), strings.Compare(a.Labels, b.Labels))
	})
	return out
}

// withoutSample forgets where in the profile each group was found.
func withoutSample(groups []Group) []Group {
	for i := range groups {
		groups[i].Sample = 0
	}
	return groups
}

func TestTop(t *testing.T) {
	res, err := Of(load(t, "leaktarget.pb.gz"), Options{Labels: []string{"pattern"}})
	require.NoError(t, err)
	require.Greater(t, len(res.Groups), 5)
	want := sorted(res.Groups)
	last := want[len(want)-1].Key

	for n := range len(res.Groups) + 2 {
		kept, other := Top(res.Groups, n, func(i int) bool { return res.Groups[i].Key == last }, nil)
		var got []Group
		for _, i := range kept {
			got = append(got, res.Groups[i])
		}
		wantKept := want[:min(n, len(want))]
		var wantOther int64
		if n < len(want) {
			wantKept = append(slices.Clone(wantKept), want[len(want)-1])
			for _, g := range want[n : len(want)-1] {
				wantOther += g.Count
			}
		}
		assert.Equal(t, wantKept, got, "n=%d: the n largest, in order, and the one asked for", n)
		assert.Equal(t, wantOther, other, "n=%d", n)
	}
}

// TestSelectFirst holds the quickselect to a full sort on inputs with many
// ties, where partition schemes go wrong.
func TestSelectFirst(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for range 500 {
		x := make([]int, r.IntN(40)+1)
		for i := range x {
			x[i] = r.IntN(5)
		}
		n := r.IntN(len(x) + 1)
		want := slices.Sorted(slices.Values(x))[:n]
		selectFirst(x, n, cmp.Compare[int])
		got := slices.Sorted(slices.Values(x[:n]))
		require.True(t, slices.Equal(want, got), "n=%d: want %v, got %v", n, want, got)
	}
}

func TestIgnoreKeepsTotal(t *testing.T) {
	p := load(t, "leaktarget.pb.gz")
	all, err := Of(p, Options{})
	require.NoError(t, err)
	fanout := find(&all, "", "main.fanoutWorker")
	require.NotNil(t, fanout)

	res, err := Of(p, Options{Ignore: []string{"main.fanoutWorker"}})
	require.NoError(t, err)
	assert.Nil(t, find(&res, "", "main.fanoutWorker"))
	assert.Equal(t, all.Total, res.Total)
	assert.Equal(t, fanout.Count, res.Ignored)
}

func TestLabelsSplitGroups(t *testing.T) {
	p := load(t, "fanout-1.pb.gz")
	var fanout decode.Sample
	for _, smp := range p.Sample {
		if len(smp.Location) > 0 && smp.Value[0] > 1 {
			fanout = smp
		}
	}
	require.NotNil(t, fanout.Location)
	// The same stack seen under another label value, as two tenants'
	// requests leaking through one code path would be.
	twin := fanout
	twin.Label = []decode.Label{{Key: "pattern", Str: "tenant-b"}}
	p.Sample = append(p.Sample, twin)

	without, err := Of(p, Options{})
	require.NoError(t, err)
	with, err := Of(p, Options{Labels: []string{"pattern", "absent"}})
	require.NoError(t, err)

	a := find(&without, "", "main.fanoutWorker")
	require.NotNil(t, a)
	assert.Equal(t, 2*fanout.Value[0], a.Count)
	b1 := find(&with, "fanout", "main.fanoutWorker")
	b2 := find(&with, "tenant-b", "main.fanoutWorker")
	require.NotNil(t, b1)
	require.NotNil(t, b2)
	assert.Equal(t, fanout.Value[0], b1.Count)
	assert.Equal(t, fanout.Value[0], b2.Count)
	assert.Equal(t, b1.ID, b2.ID, "labels split groups, not signatures")
	assert.Equal(t, []string{"tenant-b", ""}, b2.Identity.LabelValues)
	assert.Equal(t, without.Total, with.Total)
}

// TestSampleOrderDoesNotMatter shuffles the samples: the same groups, with
// the same ids, must come out.
func TestSampleOrderDoesNotMatter(t *testing.T) {
	p := load(t, "leaktarget.pb.gz")
	want, err := Of(p, Options{Labels: []string{"pattern"}})
	require.NoError(t, err)
	want.Groups = slices.Clone(want.Groups)
	r := rand.New(rand.NewPCG(1, 2))
	for range 5 {
		r.Shuffle(len(p.Sample), func(i, j int) { p.Sample[i], p.Sample[j] = p.Sample[j], p.Sample[i] })
		got, err := Of(p, Options{Labels: []string{"pattern"}})
		require.NoError(t, err)
		assert.Equal(t, withoutSample(sorted(want.Groups)), withoutSample(sorted(got.Groups)))
		assert.Equal(t, want.Total, got.Total)
	}
}

func TestSignaturesStableAcrossCaptures(t *testing.T) {
	// Two scrapes of one process and one of another process built from the
	// same code: the fan-out leak has one id in all three.
	var ids []signature.ID
	for _, name := range []string{"fanout-1.pb.gz", "fanout-2.pb.gz", "leaktarget.pb.gz"} {
		res, err := Of(load(t, name), Options{})
		require.NoError(t, err)
		g := find(&res, "", "main.fanoutWorker")
		require.NotNil(t, g, name)
		ids = append(ids, g.ID)
	}
	assert.Equal(t, ids[0], ids[1])
	assert.Equal(t, ids[0], ids[2])
}

func TestNotGoroutineProfile(t *testing.T) {
	tests := []struct {
		name string
		give []decode.ValueType
	}{
		{"heap", []decode.ValueType{{Type: "alloc_objects", Unit: "count"}}},
		{"no sample type", nil},
		{"goroutine in bytes", []decode.ValueType{{Type: "goroutine", Unit: "bytes"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Of(&decode.Profile{SampleType: tt.give}, Options{})
			require.ErrorIs(t, err, ErrNotGoroutineProfile)
		})
	}
}

// TestFramelessKeepsTotal adds to a captured profile a sample with no
// location, as the runtime records a goroutine it catches being created
// (seen in about one profile in three of the example target at -rate 5):
// it counts in the total and in no group, and the groups are unchanged.
func TestFramelessKeepsTotal(t *testing.T) {
	p := load(t, "leaktarget.pb.gz")
	before, err := Of(p, Options{})
	require.NoError(t, err)
	groups := len(before.Groups)

	p.Sample = append(p.Sample, decode.Sample{Value: []int64{1}})
	res, err := Of(p, Options{})
	require.NoError(t, err)
	assert.Equal(t, before.Total+1, res.Total)
	assert.Equal(t, int64(1), res.Frameless)
	assert.Len(t, res.Groups, groups)
	for i := range res.Groups {
		assert.NotEmpty(t, res.Identity(i).Stuck.Function, "a nameless group")
	}
}

// TestOfLeakWantsTheLeakProfile: the goroutine profile served where the
// leak profile belongs proves nothing.
func TestOfLeakWantsTheLeakProfile(t *testing.T) {
	var g Grouper
	_, err := g.OfLeak(load(t, "leaktarget.pb.gz"), Options{})
	require.ErrorIs(t, err, ErrNotGoroutineProfile)
	assert.Contains(t, err.Error(), `"goroutine/count" where a goroutineleak profile belongs`)
}
