// Command ancestry writes its own goroutine profile and dump, to be run
// under GODEBUG=tracebackancestors=3 by scripts/capture-dumps.sh, which
// keeps them as testdata/dumps/ancestry.pb.gz and ancestry.txt. Its
// goroutines are what the receiver's reading of ancestry and of generic
// names is tested on:
//
//   - generic functions and methods of two shapes, started with go, and a
//     closure inside a generic function;
//   - a goroutine started from 60 frames deep, whose ancestor's stack the
//     runtime cuts at 50 frames ("...additional frames elided...");
//   - a chain of five goroutines, longer than the three generations asked.
//
// Usage: go run . PROFILE > DUMP
package main

import (
	"bytes"
	"os"
	"runtime/pprof"
	"strings"
	"time"
)

// Queue is a generic type whose method runs as a goroutine.
type Queue[T any] struct{ in chan T }

func (q *Queue[T]) drain() {
	for range q.in {
	}
}

// Map runs f in a goroutine of its own per element: a closure of a
// generic function.
func Map[T, U any](xs []T, f func(T) U, out chan<- U) {
	for _, x := range xs {
		go func() { out <- f(x) }()
	}
}

func deep(n int, block chan struct{}) {
	if n > 0 {
		deep(n-1, block)
		return
	}
	go func() { <-block }()
}

// chain starts a goroutine that starts the next, n goroutines deep; the
// last waits.
func chain(n int, block chan struct{}) {
	if n == 0 {
		<-block
		return
	}
	go chain(n-1, block)
	<-block
}

func main() {
	block := make(chan struct{})
	ints, strs := &Queue[int]{in: make(chan int)}, &Queue[string]{in: make(chan string)}
	go ints.drain()
	go strs.drain()
	Map([]int{1, 2}, func(i int) string { return strings.Repeat("x", i) }, make(chan string))
	deep(60, block)
	go chain(5, block)

	// Until every goroutine above is parked, or a second has passed.
	want := 2 + 2 + 1 + 6
	for deadline := time.Now().Add(time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		var dump bytes.Buffer
		_ = pprof.Lookup("goroutine").WriteTo(&dump, 2)
		if bytes.Count(dump.Bytes(), []byte("[chan receive]"))+bytes.Count(dump.Bytes(), []byte("[chan send]")) >= want {
			break
		}
	}
	f, err := os.Create(os.Args[1]) //nolint:gosec // G703: the path scripts/capture-dumps.sh gives.
	if err != nil {
		panic(err)
	}
	if err := pprof.Lookup("goroutine").WriteTo(f, 0); err != nil {
		panic(err)
	}
	if err := f.Close(); err != nil {
		panic(err)
	}
	if err := pprof.Lookup("goroutine").WriteTo(os.Stdout, 2); err != nil {
		panic(err)
	}
}
