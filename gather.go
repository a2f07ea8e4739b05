package goroutinereceiver // import "github.com/goroutinewatch/goroutinereceiver"

import (
	"context"
	"errors"

	"github.com/goroutinewatch/goroutinereceiver/internal/decode"
	"github.com/goroutinewatch/goroutinereceiver/internal/evidence"
	"github.com/goroutinewatch/goroutinereceiver/internal/fetch"
	"github.com/goroutinewatch/goroutinereceiver/internal/group"
	"github.com/goroutinewatch/goroutinereceiver/internal/index"
	"github.com/goroutinewatch/goroutinereceiver/internal/signature"
)

// found is what the evidence fetches of one scrape brought back, copied out
// of the workers that read them and bounded by what the scrape reports: no
// more than max_groups groups of a leak profile, and a dump's facts of the
// groups reported only, however many groups the target served. It holds
// nothing a worker reuses. A fetch not asked for leaves its fields zero.
type found struct {
	index    index.Index
	indexErr error
	// dump is what the evidence dump told of the groups wanted, by
	// signature.
	dump    map[signature.ID]dumpFacts
	dumpCut bool
	dumpErr error
	// leak is the leak profile's largest groups, at most max_groups,
	// largest first, each with its stack; beyond counts the goroutines and
	// the groups of the others.
	leak             []provenGroup
	leakBeyond       int64
	leakBeyondGroups int
	leakAbsent       bool // the target answered 404
	leakErr          error
	// stopped is set when the receiver's shutdown cut a fetch short.
	stopped bool
}

// gather performs the evidence fetches asked, in the scrape's deadline, each
// body read in a worker of ws taken as it arrives: the index, the leak
// profile, then the dump, whose facts it keeps of the groups wanted says
// the scrape reports and of those the leak profile proved. It decides
// nothing; the target's apply keeps what it brings.
func (r *reader) gather(ctx context.Context, ws workers, e fetch.Endpoints, asked evidence.Fetch, wanted func(signature.ID) bool) found {
	var f found
	if asked.Index {
		f.index, f.indexErr = r.index(ctx, e.Index)
		f.stopped = stopped(ctx, f.indexErr)
	}
	if asked.Leak && !f.stopped {
		err := withWorker(ws, "reading the goroutineleak profile", func(l *lease) error { return r.leakProfile(ctx, l, e, &f) })
		switch {
		case stopped(ctx, err):
			f.stopped = true
		case fetch.NotFound(err):
			f.leakAbsent = true
		default:
			f.leakErr = err
		}
	}
	if asked.Dump && !f.stopped {
		proven := make(map[signature.ID]bool, len(f.leak))
		for _, p := range f.leak {
			proven[p.key.ID] = true
		}
		want := func(id signature.ID) bool { return wanted(id) || proven[id] }
		f.dumpErr = withWorker(ws, "reading the evidence dump", func(l *lease) error { return r.evidenceDump(ctx, l, e, want, &f) })
		f.stopped = stopped(ctx, f.dumpErr)
	}
	return f
}

// leakProfile reads the goroutineleak profile into f, its largest groups
// copied out of the worker.
func (r *reader) leakProfile(ctx context.Context, l *lease, e fetch.Endpoints, f *found) error {
	p, w, _, err := r.profile(ctx, l, e.Leak)
	if err != nil {
		return err
	}
	return r.leakGroups(w, p, f)
}

// leakGroups groups a leak profile decoded in w's decoder into f, its
// largest groups copied out of the worker.
func (r *reader) leakGroups(w *worker, p *decode.Profile, f *found) error {
	res, err := w.leakGrouper.OfLeak(p, r.opts)
	if err != nil {
		return err
	}
	kept, beyond := group.Top(res.Groups, r.maxGroups, func(int) bool { return false }, w.scratch.kept)
	w.scratch.kept = kept
	f.leak = make([]provenGroup, 0, len(kept))
	for _, i := range kept {
		g := &res.Groups[i]
		f.leak = append(f.leak, provenGroup{key: g.Clone(), id: res.Identity(i).Clone(), count: g.Count, stack: res.Frames(i)})
	}
	f.leakBeyond, f.leakBeyondGroups = beyond, len(res.Groups)-len(kept)
	return nil
}

// evidenceDump reads the debug=2 dump into f: what it tells of each group
// want asks for, of all the dump's groups of that signature.
func (r *reader) evidenceDump(ctx context.Context, l *lease, e fetch.Endpoints, want func(signature.ID) bool, f *found) error {
	res, _, err := r.dump(ctx, l, e.Dump, func(w *worker) *group.Grouper { return &w.evidenceGrouper })
	if err != nil {
		return err
	}
	f.dumpCut = res.DumpCut
	f.dump = map[signature.ID]dumpFacts{}
	for _, g := range res.Groups {
		if !want(g.ID) {
			continue
		}
		facts := f.dump[g.ID]
		if facts.stack == nil {
			// A dump's stacks are its own, made afresh by each dump.
			facts.stack, facts.creator = g.Stack, g.Identity.Creator
		}
		facts.waitMinutes = max(facts.waitMinutes, g.WaitMinutes)
		// MergeOrigins copies: the grouper's origins are its own.
		facts.origins = group.MergeOrigins(facts.origins, g.Identity.Origins)
		f.dump[g.ID] = facts
	}
	return nil
}

// withWorker runs read with a lease of its own on ws, given back when read
// returns; a panic in read is its error, naming what was under way, and
// drops the worker's memory.
func withWorker(ws workers, what string, read func(*lease) error) error {
	l := &lease{ws: ws}
	err, panicked := contained(&what, func() error { return read(l) })
	l.release(panicked != nil)
	if panicked != nil {
		return panicked
	}
	return err
}

// stopped reports err the end of a fetch that the receiver's shutdown cut
// short: ctx was cancelled rather than past its deadline.
func stopped(ctx context.Context, err error) bool {
	return err != nil && errors.Is(ctx.Err(), context.Canceled)
}
