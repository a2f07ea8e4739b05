package goroutinereceiver // import "github.com/goroutinewatch/goroutinereceiver"

import (
	"context"

	"github.com/goroutinewatch/goroutinereceiver/internal/decode"
	"github.com/goroutinewatch/goroutinereceiver/internal/group"
	"github.com/goroutinewatch/goroutinereceiver/internal/trend"
)

// worker is the memory one body is read in, and one result written with: a
// decoder's buffers and strings, the groupers', the scratch of a target's
// observation, an emitter and the buffer a state is encoded in. There are
// max_concurrency workers, shared by every target's loop, which takes one
// only while it reads a body or writes a result: waiting for a target to
// answer takes none, so a target that never answers holds no worker and
// delays no other target.
type worker struct {
	decoder decode.Decoder
	// The groupers of the scrape's profile or dump, of the evidence dump
	// and of the leak profile.
	grouper, evidenceGrouper, leakGrouper group.Grouper
	scratch                               scratch
	// emitter writes the results, each into a resource of its own.
	emitter *emitter
	// state is the buffer a target's saved state is encoded in.
	state []byte
}

// scratch is the memory an observation is worked out in: it holds nothing
// of a target once observe returns.
type scratch struct {
	keys      []group.Key
	counts    []float64
	estimates []trend.Estimate
	kept      []int
	trend     trend.Scratch
}

// forget drops what a panic may have left half-written: the decoder's, the
// groupers' and the scratch's memory.
func (w *worker) forget() {
	w.decoder = decode.Decoder{}
	w.grouper, w.evidenceGrouper, w.leakGrouper = group.Grouper{}, group.Grouper{}, group.Grouper{}
	w.scratch = scratch{}
}

// workers hands out the receiver's workers, one loop at a time each.
type workers chan *worker

func newWorkers(n int, newWorker func() *worker) workers {
	ws := make(workers, n)
	for range n {
		ws <- newWorker()
	}
	return ws
}

// lease is one loop's hold on a worker: taken when first needed and given
// back once, so that a stage that may never need one (a fetch whose target
// never answers) does not wait for one.
type lease struct {
	ws workers
	w  *worker
}

// get returns the leased worker, waiting for one to be free on the first
// call, or ctx's error when ctx ends first.
func (l *lease) get(ctx context.Context) (*worker, error) {
	if l.w != nil {
		return l.w, nil
	}
	select {
	case l.w = <-l.ws:
		return l.w, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// release gives the worker back, if one was taken; after a panic the
// worker's memory is dropped first (spoilt).
func (l *lease) release(spoilt bool) {
	if l.w == nil {
		return
	}
	if spoilt {
		l.w.forget()
	}
	l.ws <- l.w
	l.w = nil
}
