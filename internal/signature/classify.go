package signature

import "strings"

// Wait kinds, in the runtime's own words (its waitReason strings, as the
// debug=2 dump prints them in `goroutine 7 [chan send]:`), plus running and
// unknown.
const (
	WaitChanSend      = "chan send"
	WaitChanReceive   = "chan receive"
	WaitSelect        = "select"
	WaitSelectNoCases = "select (no cases)"
	WaitMutexLock     = "sync.Mutex.Lock"
	WaitRWMutexLock   = "sync.RWMutex.Lock"
	WaitRWMutexRLock  = "sync.RWMutex.RLock"
	WaitWaitGroupWait = "sync.WaitGroup.Wait" //nolint:gosec // G101: a wait reason, not a credential.
	WaitCondWait      = "sync.Cond.Wait"
	WaitIO            = "IO wait"
	WaitSleep         = "sleep"
	WaitSyscall       = "syscall"
	WaitRunning       = "running"
	WaitUnknown       = "unknown"
)

// waitFrames maps the function through which a goroutine parks to what it
// waits on. The debug=0 profile has no wait reason; these frames, at the top
// of its stacks, are where the runtime sets one. Function names are those of
// Go 1.21 to 1.26; the sync entries appear under both package names because
// Go 1.24 moved Mutex into internal/sync.
var waitFrames = map[string]string{
	"runtime.chansend":                        WaitChanSend,
	"runtime.chansend1":                       WaitChanSend,
	"runtime.chanrecv":                        WaitChanReceive,
	"runtime.chanrecv1":                       WaitChanReceive,
	"runtime.chanrecv2":                       WaitChanReceive,
	"runtime.selectgo":                        WaitSelect,
	"runtime.block":                           WaitSelectNoCases,
	"internal/sync.runtime_SemacquireMutex":   WaitMutexLock,
	"sync.runtime_SemacquireMutex":            WaitMutexLock,
	"sync.runtime_SemacquireRWMutex":          WaitRWMutexLock,
	"sync.runtime_SemacquireRWMutexR":         WaitRWMutexRLock,
	"sync.runtime_SemacquireWaitGroup":        WaitWaitGroupWait,
	"sync.runtime_notifyListWait":             WaitCondWait,
	"runtime.netpollblock":                    WaitIO,
	"internal/poll.runtime_pollWait":          WaitIO,
	"time.Sleep":                              WaitSleep,
	"runtime.timeSleep":                       WaitSleep,
	"runtime.notetsleepg":                     WaitSyscall,
	"runtime.cgocall":                         WaitSyscall,
	"runtime.exitsyscall":                     WaitSyscall,
	"syscall.Syscall":                         WaitSyscall,
	"syscall.Syscall6":                        WaitSyscall,
	"syscall.RawSyscall":                      WaitSyscall,
	"syscall.RawSyscall6":                     WaitSyscall,
	"internal/runtime/syscall.Syscall6":       WaitSyscall,
	"internal/runtime/syscall/linux.Syscall6": WaitSyscall,
}

// parkFrames are where a blocked goroutine's stack ends: one on top with no
// waitFrames entry below it is blocked on something this table does not know.
var parkFrames = map[string]bool{
	"runtime.gopark":       true,
	"runtime.goparkunlock": true,
}

// Info is what a stack says about its goroutines.
type Info struct {
	ID   ID
	Wait string
	// Stuck is the innermost frame outside the runtime's wait machinery:
	// where the goroutine's own code waits.
	Stuck Frame
	// Entry is the outermost function: what the goroutine was started with.
	Entry string
}

// Classify reads a stack, innermost frame first, whose id is id (Of(frames),
// which a caller that hashed the stack already passes on).
func Classify(frames []Frame, id ID) Info {
	info := Info{ID: id, Wait: waitOf(frames)}
	for _, f := range frames {
		if !waitMachinery(f.Function) {
			info.Stuck = f
			break
		}
	}
	for i := len(frames) - 1; i >= 0; i-- {
		if !hiddenRuntimeFrame(frames[i].Function) || i == 0 {
			info.Entry = frames[i].Function
			break
		}
	}
	return info
}

func waitOf(frames []Frame) string {
	if len(frames) == 0 {
		return WaitUnknown
	}
	for _, f := range frames {
		if w, ok := waitFrames[f.Function]; ok {
			return w
		}
		if !waitMachinery(f.Function) {
			break
		}
	}
	if parkFrames[frames[0].Function] {
		return WaitUnknown
	}
	return WaitRunning
}

// waitMachinery reports the frames a goroutine passes through to wait:
// the runtime, the standard library's internal packages, package sync and
// time.Sleep. Their callers are where user code waits.
func waitMachinery(fn string) bool {
	pkg := packageOf(fn)
	switch {
	case pkg == "runtime", pkg == "sync", pkg == "syscall":
		return true
	case strings.HasPrefix(pkg, "internal/"), strings.HasPrefix(pkg, "runtime/internal/"):
		return true
	}
	return fn == "time.Sleep"
}

// packageOf returns the import path of a qualified function name:
//
//	net/http.(*conn).serve             -> net/http
//	main.(*ttlCache).cacheJanitor      -> main
//	example.com/a.b/c.F[...]           -> example.com/a.b/c
func packageOf(fn string) string {
	slash := strings.LastIndexByte(fn, '/')
	if dot := strings.IndexByte(fn[slash+1:], '.'); dot >= 0 {
		return fn[:slash+1+dot]
	}
	return fn
}
