// Command stackfarm is a Go process whose goroutines sit in a chosen number of
// distinct stacks, of a chosen depth, with or without pprof labels. It makes
// the benchmark profiles (-out writes its own goroutine profile and exits) and
// is the target whose cost the cost table measures (-addr serves
// net/http/pprof, and its pause histograms at /debug/pauses, until
// interrupted).
//
//	stackfarm -stacks 1000 -depth 10 -goroutines 10000 -labels -out 1k-d10-labels.pb.gz
//	stackfarm -stacks 1000 -goroutines 100000 -addr 127.0.0.1:0
//
// Stack i runs through the digits of i, one frame pair (a digit function and
// the dispatcher) per digit, then recursion up to the depth, then blocks on a
// channel: every stack is distinct by function names alone, as a program's
// distinct call paths are.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	_ "net/http/pprof" //nolint:gosec // serving pprof is this program's purpose.
	"os"
	"os/signal"
	"runtime"
	"runtime/metrics"
	"runtime/pprof"
	"strconv"
	"sync"
	"syscall"
	"time"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "stackfarm:", err)
		os.Exit(2)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("stackfarm", flag.ContinueOnError)
	stacks := fs.Int("stacks", 1000, "distinct stacks")
	depth := fs.Int("depth", 10, "frames per stack above the runtime's, at least 2 per digit of -stacks")
	goroutines := fs.Int("goroutines", 0, "goroutines, spread evenly over the stacks (default: -stacks)")
	labels := fs.Bool("labels", false, "run each goroutine under pprof labels (two keys, values by stack)")
	out := fs.String("out", "", "write the goroutine profile (debug=0) to this file and exit")
	addr := fs.String("addr", "", "serve /debug/pprof on this address until interrupted")
	wait := fs.String("wait", "chan", "what the goroutines wait on: chan (a receive) or mutex (the lock of one mutex the farm holds), both reachable")
	crash := fs.Bool("crash", false, "panic once the goroutines are parked: with GOTRACEBACK=system, the runtime prints every goroutine in its crash form (gp= headers, runtime frames)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *goroutines == 0 {
		*goroutines = *stacks
	}
	digits := len(strconv.Itoa(max(*stacks-1, 0)))
	switch {
	case *stacks < 1:
		return fmt.Errorf("-stacks must be positive, got %d", *stacks)
	case *goroutines < *stacks:
		return fmt.Errorf("-goroutines %d: fewer than -stacks %d", *goroutines, *stacks)
	case *depth < 2*digits:
		return fmt.Errorf("-depth %d: %d stacks need at least %d", *depth, *stacks, 2*digits)
	case !*crash && (*out == "") == (*addr == ""):
		return errors.New("give one of -out, -addr and -crash")
	}

	f := farm{park: park{stop: make(chan struct{})}}
	switch *wait {
	case "chan":
	case "mutex":
		f.mu = new(sync.Mutex)
		f.mu.Lock()
	default:
		return fmt.Errorf("-wait %q: chan or mutex", *wait)
	}
	f.start(*stacks, digits, *depth, *goroutines, *labels)
	if *crash {
		panic("stackfarm: -crash")
	}
	defer f.release()

	if *out != "" {
		w, err := os.Create(*out)
		if err != nil {
			return err
		}
		if err := pprof.Lookup("goroutine").WriteTo(w, 0); err != nil {
			_ = w.Close()
			return err
		}
		return w.Close()
	}

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	http.HandleFunc("/debug/pauses", servePauses)
	srv := &http.Server{Handler: http.DefaultServeMux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	fmt.Printf("stackfarm serving http://%s/debug/pprof/ stacks=%d goroutines=%d pid=%d\n", ln.Addr(), *stacks, *goroutines, os.Getpid())
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// pauseMetrics are the runtime's histograms of stop-the-world pauses: those
// of the garbage collector, and all others (a goroutine profile's, a
// debug=2 dump's).
var pauseMetrics = []string{"/sched/pauses/total/gc:seconds", "/sched/pauses/total/other:seconds"}

// servePauses writes the pause histograms, cumulative since start, as JSON:
// {"buckets": [...], "counts": {"/sched/...": [...]}}. Infinite bucket
// bounds, which JSON cannot spell, are written as ±1e300. The cost table
// reads them before and after a fetch.
func servePauses(w http.ResponseWriter, _ *http.Request) {
	samples := make([]metrics.Sample, len(pauseMetrics))
	for i, name := range pauseMetrics {
		samples[i].Name = name
	}
	metrics.Read(samples)
	out := struct {
		Buckets []float64           `json:"buckets"`
		Counts  map[string][]uint64 `json:"counts"`
	}{Counts: map[string][]uint64{}}
	for _, s := range samples {
		h := s.Value.Float64Histogram()
		out.Buckets = out.Buckets[:0]
		for _, b := range h.Buckets {
			out.Buckets = append(out.Buckets, max(min(b, 1e300), -1e300))
		}
		out.Counts[s.Name] = h.Counts
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(out)
}

type farm struct {
	park
	wg sync.WaitGroup
}

// park is where the farm's goroutines wait: a receive from stop, or, with
// mu set, the lock of mu, which the farm holds until it releases them. Both
// stay reachable: no goroutine of the farm is leaked, and a leak profile of
// it walks them all.
type park struct {
	stop chan struct{}
	mu   *sync.Mutex
}

// start returns once every goroutine is parked in its stack, so that a
// profile taken next holds all of them.
func (f *farm) start(stacks, digits, depth, goroutines int, labels bool) {
	waitingNow := []metrics.Sample{{Name: "/sched/goroutines/waiting:goroutines"}}
	metrics.Read(waitingNow)
	var before uint64
	if waitingNow[0].Value.Kind() == metrics.KindUint64 {
		before = waitingNow[0].Value.Uint64()
	}
	var parked sync.WaitGroup
	parked.Add(goroutines)
	for g := range goroutines {
		i := g % stacks
		path := make([]byte, digits)
		for d, n := digits-1, i; d >= 0; d, n = d-1, n/10 {
			path[d] = byte(n % 10)
		}
		run := func(context.Context) { step(path, depth-2*digits, &parked, &f.park) }
		f.wg.Add(1)
		go func() {
			defer f.wg.Done()
			if labels {
				pprof.Do(context.Background(), pprof.Labels("route", "/api/v"+strconv.Itoa(i%7), "tenant", "t"+strconv.Itoa(i%13)), run)
				return
			}
			run(context.Background())
		}()
	}
	parked.Wait()
	// Done comes just before the receive that parks each goroutine: wait
	// until the runtime counts them all waiting, or a goroutine caught
	// between the two would show a stack of its own. The count alone can
	// mislead (another goroutine of the process may have started waiting
	// meanwhile), so the farm's own stacks confirm it.
	waiting := []metrics.Sample{{Name: "/sched/goroutines/waiting:goroutines"}}
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		metrics.Read(waiting)
		if waiting[0].Value.Kind() == metrics.KindUint64 && waiting[0].Value.Uint64() < before+uint64(goroutines) {
			continue
		}
		if parkedInFarm(f.waitState()) >= goroutines {
			return
		}
	}
}

// waitState is how the runtime's dump names the wait of the farm's
// goroutines.
func (p *park) waitState() string {
	if p.mu != nil {
		return "[sync.Mutex.Lock"
	}
	return "[chan receive"
}

// parkedInFarm counts the goroutines parked in the farm's wait, state,
// read from the runtime's own dump of every goroutine:
//
//	goroutine 42 [chan receive]:
//	main.recurse(0x0, 0xc000012345, 0xc000056789)
func parkedInFarm(state string) int {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	count := 0
	for _, g := range bytes.Split(buf, []byte("\n\n")) {
		if bytes.Contains(g, []byte(state)) && bytes.Contains(g, []byte("recurse(")) {
			count++
		}
	}
	return count
}

func (f *farm) release() {
	close(f.stop)
	if f.mu != nil {
		f.mu.Unlock()
	}
	f.wg.Wait()
}

// step dispatches on the next digit of the path; each digit function calls
// back here, so a path of k digits is 2k frames.
//
//go:noinline
func step(path []byte, pad int, parked *sync.WaitGroup, p *park) {
	if len(path) == 0 {
		recurse(pad, parked, p)
		return
	}
	switch path[0] {
	case 0:
		d0(path[1:], pad, parked, p)
	case 1:
		d1(path[1:], pad, parked, p)
	case 2:
		d2(path[1:], pad, parked, p)
	case 3:
		d3(path[1:], pad, parked, p)
	case 4:
		d4(path[1:], pad, parked, p)
	case 5:
		d5(path[1:], pad, parked, p)
	case 6:
		d6(path[1:], pad, parked, p)
	case 7:
		d7(path[1:], pad, parked, p)
	case 8:
		d8(path[1:], pad, parked, p)
	default:
		d9(path[1:], pad, parked, p)
	}
}

//go:noinline
func d0(path []byte, pad int, parked *sync.WaitGroup, p *park) {
	step(path, pad, parked, p)
}

//go:noinline
func d1(path []byte, pad int, parked *sync.WaitGroup, p *park) {
	step(path, pad, parked, p)
}

//go:noinline
func d2(path []byte, pad int, parked *sync.WaitGroup, p *park) {
	step(path, pad, parked, p)
}

//go:noinline
func d3(path []byte, pad int, parked *sync.WaitGroup, p *park) {
	step(path, pad, parked, p)
}

//go:noinline
func d4(path []byte, pad int, parked *sync.WaitGroup, p *park) {
	step(path, pad, parked, p)
}

//go:noinline
func d5(path []byte, pad int, parked *sync.WaitGroup, p *park) {
	step(path, pad, parked, p)
}

//go:noinline
func d6(path []byte, pad int, parked *sync.WaitGroup, p *park) {
	step(path, pad, parked, p)
}

//go:noinline
func d7(path []byte, pad int, parked *sync.WaitGroup, p *park) {
	step(path, pad, parked, p)
}

//go:noinline
func d8(path []byte, pad int, parked *sync.WaitGroup, p *park) {
	step(path, pad, parked, p)
}

//go:noinline
func d9(path []byte, pad int, parked *sync.WaitGroup, p *park) {
	step(path, pad, parked, p)
}

// recurse adds the frames that bring a stack to its depth, then parks.
//
//go:noinline
func recurse(n int, parked *sync.WaitGroup, p *park) {
	if n > 1 {
		recurse(n-1, parked, p)
		return
	}
	parked.Done()
	if p.mu != nil {
		p.mu.Lock()
		p.mu.Unlock() //nolint:staticcheck // the goroutine only waits on the lock
		return
	}
	<-p.stop
}
