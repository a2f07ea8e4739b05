package main

import (
	"context"
	"os"
	"sync"
	"time"
)

// A pattern runs until ctx ends; p says how often a leaking pattern's
// "request" happens and how many happen.
type pattern func(ctx context.Context, p pace)

// patterns holds the leaks (each leaves goroutines behind at every request)
// and the healthy shapes (each settles at a bounded count).
var patterns = map[string]pattern{
	// Leaks.
	"fanout":  runFanout,
	"timeout": runTimeout,
	"probe":   runProbe,
	"janitor": runJanitor,
	"mutex":   runMutex,
	// Healthy.
	"pool":     runPool,
	"burst":    runBurst,
	"growpool": runGrowPool,
	// One goroutine parked in each way the runtime knows, for the receiver's
	// wait-kind tests.
	"waits": runWaits,
}

// --- Leaks -----------------------------------------------------------------

// runFanout asks three replicas and keeps the first answer: the two slower
// workers block forever sending on the unbuffered channel nobody reads again.
func runFanout(ctx context.Context, p pace) {
	tick(ctx, p, func() { _ = firstResult(3) })
}

func firstResult(replicas int) int {
	results := make(chan int)
	for i := range replicas {
		go fanoutWorker(results, i)
	}
	return <-results
}

func fanoutWorker(results chan<- int, replica int) {
	time.Sleep(time.Duration(replica) * time.Millisecond)
	results <- replica
}

// runTimeout gives a computation a deadline shorter than the computation;
// the abandoned goroutine then blocks on its send to an unbuffered channel.
func runTimeout(ctx context.Context, p pace) {
	tick(ctx, p, func() { _, _ = computeWithTimeout(5 * time.Millisecond) })
}

func computeWithTimeout(limit time.Duration) (int, bool) {
	done := make(chan int)
	go slowCompute(done)
	select {
	case v := <-done:
		return v, true
	case <-time.After(limit):
		return 0, false
	}
}

func slowCompute(done chan<- int) {
	time.Sleep(20 * time.Millisecond)
	done <- 42
}

// runProbe is the readiness check whose verification outlives the probe's
// deadline: the verifier's result is sent on an unbuffered channel after
// waitReady has already returned.
func runProbe(ctx context.Context, p pace) {
	tick(ctx, p, func() { _ = waitReady(5 * time.Millisecond) })
}

func waitReady(deadline time.Duration) bool {
	ready := make(chan bool)
	go verifyReady(ready)
	timer := time.NewTimer(deadline)
	defer timer.Stop()
	select {
	case ok := <-ready:
		return ok
	case <-timer.C:
		return false
	}
}

func verifyReady(ready chan<- bool) {
	time.Sleep(20 * time.Millisecond)
	ready <- true
}

// runJanitor builds a cache per request, as a library did in the first seed
// article; each cache starts a janitor goroutine that nothing ever stops.
func runJanitor(ctx context.Context, p pace) {
	tick(ctx, p, func() { newTTLCache(time.Minute).put("k", "v") })
}

type ttlCache struct {
	mu    sync.Mutex
	items map[string]string
	stop  chan struct{}
}

func newTTLCache(ttl time.Duration) *ttlCache {
	c := &ttlCache{items: map[string]string{}, stop: make(chan struct{})}
	go c.cacheJanitor(ttl)
	return c
}

func (c *ttlCache) put(k, v string) {
	c.mu.Lock()
	c.items[k] = v
	c.mu.Unlock()
}

func (c *ttlCache) cacheJanitor(ttl time.Duration) {
	t := time.NewTicker(ttl)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			c.mu.Lock()
			clear(c.items)
			c.mu.Unlock()
		case <-c.stop:
			return
		}
	}
}

// runMutex forgets to unlock a ledger's mutex on an error path: every later
// writer queues behind it forever.
func runMutex(ctx context.Context, p pace) {
	var l ledger
	l.mu.Lock() // the error path that returned without Unlock
	tick(ctx, p, func() { go appendLedger(&l, "entry") })
}

type ledger struct {
	mu      sync.Mutex
	entries []string
}

func appendLedger(l *ledger, entry string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.entries = append(l.entries, entry)
}

// --- Healthy shapes ---------------------------------------------------------

// runPool keeps a fixed pool of workers that wait for jobs: many goroutines,
// never more.
func runPool(ctx context.Context, p pace) {
	jobs := make(chan int)
	for range 16 {
		go poolWorker(ctx, jobs)
	}
	tick(ctx, p, func() {
		select {
		case jobs <- 1:
		case <-ctx.Done():
		}
	})
}

func poolWorker(ctx context.Context, jobs <-chan int) {
	for {
		select {
		case <-ctx.Done():
			return
		case j := <-jobs:
			_ = j * 2
		}
	}
}

// runBurst starts a burst of short-lived goroutines every few seconds: the
// count jumps and falls back.
func runBurst(ctx context.Context, _ pace) {
	tick(ctx, pace{every: 3 * time.Second}, func() {
		// Each burst lives 2s of every 3s, so a capture usually sees one.
		var wg sync.WaitGroup
		for range 50 {
			wg.Add(1)
			go burstTask(&wg)
		}
		wg.Wait()
	})
}

func burstTask(wg *sync.WaitGroup) {
	defer wg.Done()
	time.Sleep(2 * time.Second)
}

// runGrowPool grows a pool one worker per tick up to a cap, then stops
// growing: a ramp and a plateau, not a leak.
func runGrowPool(ctx context.Context, p pace) {
	const limit = 20
	jobs := make(chan int)
	n := 0
	tick(ctx, p, func() {
		if n < limit {
			n++
			go growWorker(ctx, jobs)
		}
	})
}

func growWorker(ctx context.Context, jobs <-chan int) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-jobs:
		}
	}
}

// runWaits parks one goroutine in each wait the runtime names, and releases
// them when ctx ends, all but the one in `select {}`, which nothing can wake.
func runWaits(ctx context.Context, _ pace) {
	var (
		rw     sync.RWMutex // write-locked: a reader waits
		rwR    sync.RWMutex // read-locked: a writer waits for the reader
		wg     sync.WaitGroup
		g      = &gate{}
		parked sync.WaitGroup
	)
	g.cond = sync.NewCond(&g.mu)
	rw.Lock()
	rwR.RLock()
	wg.Add(1)
	parked.Add(4)
	go waitRLock(&rw, &parked)
	go waitLock(&rwR, &parked)
	go waitCond(g, &parked)
	go waitGroup(&wg, &parked)
	go waitNoCases()
	r, w, err := os.Pipe()
	if err == nil {
		parked.Add(1)
		go waitRead(r, &parked)
	}

	<-ctx.Done()
	rw.Unlock()
	rwR.RUnlock()
	g.open()
	wg.Done()
	if err == nil {
		_ = w.Close()
	}
	parked.Wait()
	if err == nil {
		_ = r.Close()
	}
}

func waitRLock(rw *sync.RWMutex, done *sync.WaitGroup) {
	defer done.Done()
	rw.RLock()
	rw.RUnlock() //nolint:staticcheck // SA2001: the goroutine exists to wait in RLock, the fixture's wait kind.
}

func waitLock(rw *sync.RWMutex, done *sync.WaitGroup) {
	defer done.Done()
	rw.Lock()
	rw.Unlock() //nolint:staticcheck // SA2001: the goroutine exists to wait in Lock, the fixture's wait kind.
}

// gate is a condition that opens once.
type gate struct {
	mu     sync.Mutex
	cond   *sync.Cond
	opened bool
}

func (g *gate) open() {
	g.mu.Lock()
	g.opened = true
	g.mu.Unlock()
	g.cond.Broadcast()
}

func waitCond(g *gate, done *sync.WaitGroup) {
	defer done.Done()
	g.mu.Lock()
	for !g.opened {
		g.cond.Wait()
	}
	g.mu.Unlock()
}

func waitGroup(wg, done *sync.WaitGroup) {
	defer done.Done()
	wg.Wait()
}

func waitNoCases() { select {} }

func waitRead(r *os.File, done *sync.WaitGroup) {
	defer done.Done()
	var b [1]byte
	_, _ = r.Read(b[:])
}
