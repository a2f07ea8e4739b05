package goroutinereceiver // import "github.com/goroutinewatch/goroutinereceiver"

import (
	"context"

	"github.com/goroutinewatch/goroutinereceiver/internal/evidence"
	"github.com/goroutinewatch/goroutinereceiver/internal/fetch"
)

// gather performs the evidence fetches the policy asked for, in the
// scrape's deadline: the index, the dump, grouped with the worker's evidence
// grouper, and the leak profile, decoded with the worker's decoder and
// grouped with its leak grouper. It decides nothing; the target's report keeps
// what it brings.
func (r *reader) gather(ctx context.Context, w *worker, t *target, asked evidence.Fetch) found {
	var f found
	if asked.Index {
		f.index, f.indexErr = r.index(ctx, t.endpoints.Index)
	}
	if asked.Dump {
		f.dump, _, f.dumpErr = r.dump(ctx, t.endpoints.Dump, &w.evidenceGrouper)
	}
	if asked.Leak {
		p, _, err := r.profile(ctx, t.endpoints.Leak, &w.decoder)
		switch {
		case fetch.NotFound(err):
			f.leakAbsent = true
		case err != nil:
			f.leakErr = err
		default:
			f.leak, f.leakErr = w.leakGrouper.OfLeak(p, r.opts)
		}
	}
	return f
}
