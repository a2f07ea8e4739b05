package goroutinereceiver // import "github.com/goroutinewatch/goroutinereceiver"

import (
	"time"

	"github.com/goroutinewatch/goroutinereceiver/internal/evidence"
	"github.com/goroutinewatch/goroutinereceiver/internal/group"
	"github.com/goroutinewatch/goroutinereceiver/internal/signature"
	"github.com/goroutinewatch/goroutinereceiver/internal/trend"
)

// result is what one scrape of a target gives the emitter: everything it
// writes, copied out of the worker that read the target and of the target's
// own state, so that the emitter reads nothing else and the result stays
// valid after the worker moves on to another target. Its slices are the
// scraper's to reuse once the result is delivered (reset).
type result struct {
	// resource is the target's, worked out once and never written.
	resource *resource
	err      error
	duration time.Duration
	bytes    int64 // of the scrape's body, as sent

	total         int64
	totalEstimate trend.Estimate
	// groups are the groups reported, largest first: the max_groups
	// largest, then every suspected one beyond them.
	groups []reportedGroup
	// other is the goroutines of the groups not reported.
	other int64
	// leaked are the groups the runtime proved leaked, largest first, at
	// most max_groups; leakedOther the goroutines of those beyond them.
	leaked      []provenGroup
	leakedOther int64
	// leakProfile is what the target said of its leak profile.
	leakProfile evidence.Availability
	// profile is set when the scrape sends the target's goroutine profile:
	// each group then holds its stack. leakRead are the groups of the leak
	// profile the scrape read, each with its stack, and leakReadBeyond the
	// goroutines beyond them: the goroutineleak profile to send.
	profile        bool
	leakRead       []provenGroup
	leakReadBeyond int64
	records        []record
	// health is the target's, as of the end of the scrape.
	health health
}

// reportedGroup is one group a scrape reports, with what its leak windows
// and the dumps said of it.
type reportedGroup struct {
	key group.Key
	// id is the group's identity, its own copy (group.Identity.Clone).
	id       group.Identity
	count    int64
	estimate trend.Estimate
	// facts are what a dump told of the group: the scrape's own in dump
	// mode, else the last evidence dump's, when it reported the group.
	facts maybe[dumpFacts]
	// stack is the group's, innermost first, when the scrape sends the
	// goroutine profile (result.profile).
	stack []signature.Frame
}

// dumpFacts is what a dump says of one signature: what a profile cannot.
type dumpFacts struct {
	creator     signature.Frame
	waitMinutes int64
	stack       []signature.Frame
	// origins are the user's code behind the signature's goroutines, of
	// all its groups in the dump.
	origins []group.Origin
}

// reset empties r for the next scrape, keeping its slices' memory.
func (r *result) reset() {
	clear(r.groups)
	clear(r.leaked)
	clear(r.records)
	clear(r.leakRead)
	*r = result{groups: r.groups[:0], leaked: r.leaked[:0], records: r.records[:0], leakRead: r.leakRead[:0]}
}
