package goroutinereceiver // import "github.com/goroutinewatch/goroutinereceiver"

import (
	"context"
	"io"
	"net/url"

	"github.com/goroutinewatch/goroutinereceiver/internal/decode"
	"github.com/goroutinewatch/goroutinereceiver/internal/fetch"
	"github.com/goroutinewatch/goroutinereceiver/internal/group"
	"github.com/goroutinewatch/goroutinereceiver/internal/index"
)

// A source reads a target's goroutines from its endpoints, grouped by a
// worker's grouper: the profile or the dump, as `mode` chose once. It takes
// the worker from l when the body starts to arrive, and leaves it taken:
// the observation lives in its memory.
type source interface {
	read(ctx context.Context, l *lease, e fetch.Endpoints) observation
}

// observation is what a source read of a target at one scrape.
type observation struct {
	// groups are valid while the worker that read them stays leased: a
	// profile's groups read their stacks from its decoder's tables.
	groups group.Result
	// instance identifies the target's process (0 when unknown).
	instance   uint64
	stringsCut int
	bytes      int64 // of the body, as sent
	err        error
}

// reader fetches and reads a target's endpoints under the configured
// limits: the one way from a URL to a profile or a grouped dump.
type reader struct {
	client  fetch.Client
	maxBody int64
	limits  decode.Limits
	opts    group.Options
	// maxGroups is the most groups of a leak profile copied out of the
	// worker that read it (max_groups): the largest.
	maxGroups int
	// decode is (*decode.Decoder).Decode; a test swaps it to prove a panic
	// is contained.
	decode func(*decode.Decoder, io.Reader, decode.Limits) (*decode.Profile, error)
}

// profile reads the pprof profile at u with the decoder of the worker l
// holds, taking it when the body starts. The body is bounded twice: as
// sent, by max_body_bytes, and decompressed, by max_profile_bytes.
func (r *reader) profile(ctx context.Context, l *lease, u *url.URL) (*decode.Profile, *worker, int64, error) {
	var (
		p *decode.Profile
		w *worker
	)
	n, err := r.client.Get(ctx, u, r.maxBody, func(body io.Reader) (err error) {
		if w, err = l.get(ctx); err != nil {
			return err
		}
		p, err = r.decode(&w.decoder, body, r.limits)
		return err
	})
	if err != nil {
		return nil, nil, n, err
	}
	return p, w, n, nil
}

// dump reads the debug=2 dump at u and groups it, as it streams, with the
// grouper of the worker l holds that grouper picks. The dump is text, sent
// uncompressed: max_profile_bytes bounds it, as a cut (the runtime itself
// stops at 64 MiB), so no bound applies as sent.
func (r *reader) dump(ctx context.Context, l *lease, u *url.URL, grouper func(*worker) *group.Grouper) (group.Result, int64, error) {
	var res group.Result
	n, err := r.client.Get(ctx, u, fetch.Unbounded, func(body io.Reader) error {
		w, err := l.get(ctx)
		if err != nil {
			return err
		}
		res, err = grouper(w).OfDump(body, r.limits, r.opts)
		return err
	})
	if err != nil {
		return group.Result{}, n, err
	}
	return res, n, nil
}

// index reads the target's /debug/pprof/ page at u, under index.MaxBytes as
// sent: a page of at most 64 KiB, parsed as it streams, needs no worker.
func (r *reader) index(ctx context.Context, u *url.URL) (index.Index, error) {
	var x index.Index
	_, err := r.client.Get(ctx, u, index.MaxBytes, func(body io.Reader) (err error) {
		x, err = index.Parse(body)
		return err
	})
	return x, err
}

// profileSource reads the debug=0 profile: cheap for the target at any
// size.
type profileSource struct{ *reader }

func (s profileSource) read(ctx context.Context, l *lease, e fetch.Endpoints) observation {
	p, w, n, err := s.profile(ctx, l, e.Profile)
	o := observation{bytes: n, err: err}
	if err != nil {
		return o
	}
	if o.groups, o.err = w.grouper.Of(p, s.opts); o.err != nil {
		return o
	}
	o.instance, o.stringsCut = p.Instance(), p.StringsCut
	return o
}

// dumpSource reads the debug=2 dump: creators and wait ages every scrape.
type dumpSource struct{ *reader }

func (s dumpSource) read(ctx context.Context, l *lease, e fetch.Endpoints) observation {
	res, n, err := s.dump(ctx, l, e.Dump, func(w *worker) *group.Grouper { return &w.grouper })
	return observation{groups: res, bytes: n, err: err}
}
