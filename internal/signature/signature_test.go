package signature

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func frames(fns ...string) []Frame {
	out := make([]Frame, len(fns))
	for i, fn := range fns {
		out[i] = Frame{Function: fn, File: "f.go", Line: int64(10 + i)}
	}
	return out
}

func TestIDString(t *testing.T) {
	assert.Equal(t, "0000000000000001", ID(1).String())
	assert.Equal(t, "ffffffffffffffff", ID(^uint64(0)).String())
	assert.Len(t, Of(frames("main.f"), ByFunction).String(), 16)
}

func TestOf(t *testing.T) {
	base := frames("runtime.gopark", "runtime.chansend", "main.worker", "runtime.goexit")
	moved := frames("runtime.gopark", "runtime.chansend", "main.worker", "runtime.goexit")
	moved[2].Line = 99

	tests := []struct {
		name     string
		a, b     []Frame
		mode     Mode
		wantSame bool
	}{
		{name: "same stack", a: base, b: frames("runtime.gopark", "runtime.chansend", "main.worker", "runtime.goexit"), wantSame: true},
		{name: "lines ignored by function", a: base, b: moved, mode: ByFunction, wantSame: true},
		{name: "lines count by line", a: base, b: moved, mode: ByLine, wantSame: false},
		{
			// debug=2 dumps hide unexported runtime frames; the id must not
			// depend on them, so that both formats agree.
			name: "hidden runtime frames ignored", a: base, b: frames("main.worker"), wantSame: true,
		},
		{name: "exported runtime frames count", a: frames("runtime.Gosched", "main.f"), b: frames("main.f"), wantSame: false},
		{name: "other function", a: base, b: frames("runtime.gopark", "runtime.chansend", "main.other"), wantSame: false},
		{name: "frame order counts", a: frames("main.a", "main.b"), b: frames("main.b", "main.a"), wantSame: false},
		{
			// Length prefixes keep differently split names apart.
			name: "no concatenation collision", a: frames("a.bc", "d"), b: frames("a.b", "cd"), wantSame: false,
		},
		{name: "empty stacks", a: nil, b: frames(), wantSame: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, b := Of(tt.a, tt.mode), Of(tt.b, tt.mode)
			if tt.wantSame {
				assert.Equal(t, a, b)
			} else {
				assert.NotEqual(t, a, b)
			}
		})
	}
}

// TestOfIsStable pins two ids: a change here changes every user's series.
// The wants were computed outside Go, in Python, from Chain's definition.
func TestOfIsStable(t *testing.T) {
	got := Of(frames("runtime.gopark", "runtime.chansend", "runtime.chansend1", "main.fanoutWorker"), ByFunction)
	assert.Equal(t, "2a1669c72df75be5", got.String())
	got = Of(frames("runtime.gopark", "main.fanoutWorker", "main.handle", "runtime.goexit"), ByFunction)
	assert.Equal(t, "fa51760a4734650a", got.String())
}

// TestChainJoins cuts stacks anywhere: joining the parts' chains must give
// the whole stack's id, which is what lets a profile's locations be hashed
// once and its samples be put together from them.
func TestChainJoins(t *testing.T) {
	stack := frames("runtime.gopark", "runtime.selectgo", "main.a", "main.b", "runtime.gopark", "net/http.(*conn).serve", "main.c", "runtime.goexit")
	for i := range stack {
		stack[i].Line = int64(10 * i)
	}
	for _, mode := range []Mode{ByFunction, ByLine} {
		want := Of(stack, mode)
		for cut := range len(stack) + 1 {
			head, tail := Empty, Empty
			for _, f := range stack[:cut] {
				head = head.Then(FrameChain(f.Function, f.Line, mode))
			}
			for _, f := range stack[cut:] {
				tail = tail.Then(FrameChain(f.Function, f.Line, mode))
			}
			assert.Equal(t, want, head.Then(tail).ID(), "mode %v, cut at %d", mode, cut)
		}
	}
}

func TestClassify(t *testing.T) {
	tests := []struct {
		name      string
		give      []Frame
		wantWait  string
		wantStuck string
		wantEntry string
	}{
		{
			name:      "chan send",
			give:      frames("runtime.gopark", "runtime.chansend", "runtime.chansend1", "main.fanoutWorker"),
			wantWait:  WaitChanSend,
			wantStuck: "main.fanoutWorker",
			wantEntry: "main.fanoutWorker",
		},
		{
			name: "mutex through internal/sync",
			give: frames("runtime.goparkunlock", "runtime.semacquire1", "internal/sync.runtime_SemacquireMutex",
				"internal/sync.(*Mutex).lockSlow", "internal/sync.(*Mutex).Lock", "sync.(*Mutex).Lock", "main.appendLedger"),
			wantWait:  WaitMutexLock,
			wantStuck: "main.appendLedger",
			wantEntry: "main.appendLedger",
		},
		{
			name:      "sleep",
			give:      frames("runtime.gopark", "time.Sleep", "main.burstTask"),
			wantWait:  WaitSleep,
			wantStuck: "main.burstTask",
			wantEntry: "main.burstTask",
		},
		{
			name: "IO wait stuck in the standard library",
			give: frames("runtime.gopark", "runtime.netpollblock", "internal/poll.runtime_pollWait", "internal/poll.(*pollDesc).wait",
				"net.(*netFD).accept", "net/http.(*Server).Serve", "main.main", "runtime.main"),
			wantWait:  WaitIO,
			wantStuck: "net.(*netFD).accept",
			wantEntry: "main.main",
		},
		{
			name:      "running user code",
			give:      frames("main.spin", "main.worker"),
			wantWait:  WaitRunning,
			wantStuck: "main.spin",
			wantEntry: "main.worker",
		},
		{
			name:      "parked in a way not in the table",
			give:      frames("runtime.gopark", "runtime.somethingNew", "main.worker"),
			wantWait:  WaitUnknown,
			wantStuck: "main.worker",
			wantEntry: "main.worker",
		},
		{
			name:      "only runtime frames",
			give:      frames("runtime.gopark", "runtime.bgsweep"),
			wantWait:  WaitUnknown,
			wantStuck: "",
			wantEntry: "runtime.gopark",
		},
		{name: "no frames", give: nil, wantWait: WaitUnknown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Classify(tt.give, 7)
			assert.Equal(t, tt.wantWait, got.Wait)
			assert.Equal(t, tt.wantStuck, got.Stuck.Function)
			assert.Equal(t, tt.wantEntry, got.Entry)
			assert.Equal(t, ID(7), got.ID)
		})
	}
}

func TestPackageOf(t *testing.T) {
	tests := []struct{ give, want string }{
		{"main.main", "main"},
		{"main.(*ttlCache).cacheJanitor", "main"},
		{"net/http.(*conn).serve", "net/http"},
		{"internal/sync.(*Mutex).Lock", "internal/sync"},
		{"example.com/a.b/c.F[...]", "example.com/a.b/c"},
		{"nodot", "nodot"},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, packageOf(tt.give), tt.give)
	}
}

func TestParseMode(t *testing.T) {
	for _, m := range []Mode{ByFunction, ByLine} {
		got, ok := ParseMode(m.String())
		assert.True(t, ok)
		assert.Equal(t, m, got)
	}
	_, ok := ParseMode("address")
	assert.False(t, ok)
}
