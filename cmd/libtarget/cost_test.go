package main

import (
	"fmt"
	"sync"
	"testing"
)

// The cost to a target of GODEBUG=tracebackancestors=N, which makes its
// runtime copy, at every go statement, the creator's stack (up to 50
// program counters) and the creator's own ancestry, N generations in all,
// into the new goroutine, where it stays while the goroutine lives.
// Compared with benchstat:
//
//	cd cmd/libtarget
//	for n in 0 1 5 10; do
//	  GODEBUG=tracebackancestors=$n go test -run '^$' -bench . -count 10 > ancestors-$n.txt
//	done
//	go tool -modfile=../../internal/tools/go.mod benchstat ancestors-0.txt ancestors-1.txt ancestors-5.txt ancestors-10.txt
//
// docs/user-code.md quotes the results.

// spawnDepth is how deep in its own stack a goroutine makes another: a
// handler under net/http's server, a few calls into a library.
const spawnDepth = 20

// BenchmarkGo runs one go statement from spawnDepth frames deep and waits
// for the goroutine to end: the time of a goroutine's creation (and end),
// and the bytes allocated for it, which, for the ancestry, the goroutine
// holds while it lives. It runs in a goroutine that is the last of a chain
// of creators (each started by the one before, from spawnDepth frames
// deep), since the runtime copies as many generations as there are, up to
// N: a handler's goroutine has two or three (net/http's server and its
// accept loop), a library's reader a few more.
func BenchmarkGo(b *testing.B) {
	for _, creators := range []int{2, 10} {
		b.Run(fmt.Sprintf("creators=%d", creators), func(b *testing.B) {
			b.ReportAllocs()
			inChain(creators, func() {
				var wg sync.WaitGroup
				for b.Loop() {
					spawnFrom(spawnDepth, &wg)
					wg.Wait()
				}
			})
		})
	}
}

// inChain runs f in the last of n goroutines, each started by the one
// before from spawnDepth frames deep, and waits for it.
func inChain(n int, f func()) {
	if n == 0 {
		f()
		return
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		deepCall(spawnDepth, func() { inChain(n-1, f) })
	}()
	<-done
}

func deepCall(depth int, f func()) {
	if depth > 0 {
		deepCall(depth-1, f)
		return
	}
	f()
}

func spawnFrom(depth int, wg *sync.WaitGroup) {
	if depth > 0 {
		spawnFrom(depth-1, wg)
		return
	}
	wg.Add(1)
	go wg.Done()
}
