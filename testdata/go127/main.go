// Command go127labels is a module whose go.mod says Go 1.27: its debug=2
// dump puts pprof labels in the goroutine header line by default, as Go
// 1.27 does for such modules. scripts/capture-dumps.sh runs it with the
// go1.27.3 toolchain and keeps its dump as testdata/dumps/go1.27-labels.txt.
package main

import (
	"bytes"
	"context"
	"os"
	"runtime/pprof"
	"time"
)

func main() {
	block := make(chan int)
	for range 3 {
		go pprof.Do(context.Background(), pprof.Labels("pattern", "fanout"), func(context.Context) {
			block <- 1 // never received
		})
	}
	// Until the three are parked on the send, or a second has passed.
	for deadline := time.Now().Add(time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		var dump bytes.Buffer
		_ = pprof.Lookup("goroutine").WriteTo(&dump, 2)
		if bytes.Count(dump.Bytes(), []byte("[chan send]")) >= 3 {
			break
		}
	}
	if err := pprof.Lookup("goroutine").WriteTo(os.Stdout, 2); err != nil {
		panic(err)
	}
}
