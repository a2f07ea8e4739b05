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

// A source reads a target's goroutines from its endpoints, grouped by the
// worker's grouper: the profile or the dump, as `mode` chose once.
type source interface {
	read(ctx context.Context, w *worker, e fetch.Endpoints) observation
}

// observation is what a source read of a target at one scrape.
type observation struct {
	// groups are valid until the worker's decoder decodes again: a
	// profile's groups read their stacks from its tables.
	groups group.Result
	// instance identifies the target's process (0 when unknown).
	instance   uint64
	stringsCut int
	bytes      int64 // of the body, as sent
	err        error
}

// worker is what one of the max_concurrency workers keeps: what is needed
// only while a target is scraped and emitted (a decoder's buffers, the
// groupers', a report's) is per worker, not per target.
type worker struct {
	decoder decode.Decoder
	// The groupers of the scrape's profile or dump, of the evidence dump
	// and of the leak profile: a report reads all three at once.
	grouper, evidenceGrouper, leakGrouper group.Grouper
	scratch                               scratch
	// emitter writes the worker's results, each into a resource of its own.
	emitter *emitter
	// state is the buffer the worker's targets' saved state is encoded in.
	state []byte
}

// reader fetches and reads a target's endpoints under the configured
// limits: the one way from a URL to a profile or a grouped dump.
type reader struct {
	client  fetch.Client
	maxBody int64
	limits  decode.Limits
	opts    group.Options
	// decode is (*decode.Decoder).Decode; a test swaps it to prove a panic
	// is contained.
	decode func(*decode.Decoder, io.Reader, decode.Limits) (*decode.Profile, error)
}

// profile reads the pprof profile at u with d. The body is bounded twice:
// as sent, by max_body_bytes, and decompressed, by max_profile_bytes.
func (r *reader) profile(ctx context.Context, u *url.URL, d *decode.Decoder) (*decode.Profile, int64, error) {
	var p *decode.Profile
	n, err := r.client.Get(ctx, u, r.maxBody, func(body io.Reader) (err error) {
		p, err = r.decode(d, body, r.limits)
		return err
	})
	if err != nil {
		return nil, n, err
	}
	return p, n, nil
}

// dump reads the debug=2 dump at u and groups it with g as it streams. The
// dump is text, sent uncompressed: max_profile_bytes bounds it, as a cut
// (the runtime itself stops at 64 MiB), so no bound applies as sent.
func (r *reader) dump(ctx context.Context, u *url.URL, g *group.Grouper) (group.Result, int64, error) {
	var res group.Result
	n, err := r.client.Get(ctx, u, fetch.Unbounded, func(body io.Reader) (err error) {
		res, err = g.OfDump(body, r.limits, r.opts)
		return err
	})
	if err != nil {
		return group.Result{}, n, err
	}
	return res, n, nil
}

// index reads the target's /debug/pprof/ page at u, under index.MaxBytes as
// sent.
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

func (s profileSource) read(ctx context.Context, w *worker, e fetch.Endpoints) observation {
	p, n, err := s.profile(ctx, e.Profile, &w.decoder)
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

func (s dumpSource) read(ctx context.Context, w *worker, e fetch.Endpoints) observation {
	res, n, err := s.dump(ctx, e.Dump, &w.grouper)
	return observation{groups: res, bytes: n, err: err}
}
