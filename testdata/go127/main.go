// Command go127labels is a module whose go.mod says Go 1.27: its debug=2
// dump puts pprof labels in the goroutine header line by default, as Go
// 1.27 does for such modules. scripts/capture-dumps.sh runs it with the
// go1.27.3 toolchain and keeps its dump as testdata/dumps/go1.27-labels.txt.
package main

import (
	"context"
	"os"
	"runtime/pprof"
	"sync"
)

func main() {
	var started sync.WaitGroup
	block := make(chan int)
	for range 3 {
		started.Add(1)
		go pprof.Do(context.Background(), pprof.Labels("pattern", "fanout"), func(context.Context) {
			started.Done()
			block <- 1 // never received
		})
	}
	started.Wait()
	for range 1000 { // until the three are parked on the send
		if len(pendingSends()) >= 3 {
			break
		}
	}
	if err := pprof.Lookup("goroutine").WriteTo(os.Stdout, 2); err != nil {
		panic(err)
	}
}

// pendingSends returns the dump's goroutine headers that wait on a send.
func pendingSends() []string {
	var b []byte
	w := &sink{b: &b}
	_ = pprof.Lookup("goroutine").WriteTo(w, 2)
	var out []string
	for _, line := range splitLines(string(b)) {
		if len(line) > 10 && line[:10] == "goroutine " && contains(line, "[chan send") {
			out = append(out, line)
		}
	}
	return out
}

type sink struct{ b *[]byte }

func (s *sink) Write(p []byte) (int, error) { *s.b = append(*s.b, p...); return len(p), nil }

func splitLines(s string) []string {
	var out []string
	for len(s) > 0 {
		i := 0
		for i < len(s) && s[i] != '\n' {
			i++
		}
		out = append(out, s[:i])
		if i < len(s) {
			i++
		}
		s = s[i:]
	}
	return out
}

func contains(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}
