// Package evidence decides when a target's costly endpoints are fetched:
// the debug=2 dump, which tells who started a group and how long it waited,
// and the goroutineleak profile, the runtime's proof. Each stops or loads
// the target, so they are asked for on an interval or when a group turns
// suspected, never every scrape. The decisions are pure functions of the
// time, the policy, what the target's past answers left in its State and
// what just turned suspected: the receiver performs the fetches they ask
// for and reports the answers back.
package evidence // import "github.com/goroutinewatch/goroutinereceiver/internal/evidence"

import "time"

// Policy is when evidence is fetched, from the configuration.
type Policy struct {
	// LeakProfile fetches the goroutineleak profile every LeakInterval
	// (leak_profile, leak_profile_interval).
	LeakProfile  bool
	LeakInterval time.Duration
	// OnSuspect fetches the dump and the leak profile of a target when one
	// of its groups turns suspected, at most every Interval (evidence:
	// on_suspect, evidence_interval).
	OnSuspect bool
	Interval  time.Duration
	// ScrapeDumps is set when every scrape reads the dump (mode: dump): a
	// suspicion then asks for the leak profile only.
	ScrapeDumps bool
	// ReadIndex reads the target's /debug/pprof/ page every IndexInterval
	// and asks for the leak profile only while the page lists it (or
	// cannot tell): a Go 1.26 target without the experiment is never
	// asked, a Go 1.27 one is, with no 404 to learn from.
	ReadIndex bool
	// MaxDumpGoroutines and MaxLeakGoroutines are the ceilings of a
	// target's goroutines above which its dump and its leak profile are not
	// fetched (dump_max_goroutines, leak_profile_max_goroutines; 0: none).
	// A dump stops the target's world for about 0.07 ms a goroutine, and
	// the leak profile's collection grows with the goroutines parked on
	// reachable primitives: a target that large pays more for the
	// evidence than the evidence is worth to it.
	MaxDumpGoroutines, MaxLeakGoroutines int64
}

// LeakRetry is how long a target that answered 404 for its leak profile
// goes before it is asked again: it may have been rebuilt with it.
const LeakRetry = time.Hour

// IndexInterval is how often a target's index is read: it changes only
// when the target is rebuilt.
const IndexInterval = time.Hour

// Availability is what a target said of its leak profile at the last ask.
type Availability uint8

const (
	// Unasked: the leak profile was never asked for.
	Unasked Availability = iota
	// Absent: the target answered 404.
	Absent
	// Served: the target served it.
	Served
)

// State is what a target's past fetches leave for the next decision. The
// zero State is a target never asked anything.
type State struct {
	// LeakAt is the last ask for the leak profile, answered or not.
	LeakAt time.Time
	// LeakAbsentUntil holds back asks after a 404.
	LeakAbsentUntil time.Time
	// Leak is the answer to the last ask.
	Leak Availability
	// SuspectAt is the last suspicion that fetched evidence.
	SuspectAt time.Time
	// IndexAt is the last read of the index, answered or not; Listed what
	// it said of the leak profile: Served (listed), Absent (not listed) or
	// Unasked (never read, or a page that could not tell).
	IndexAt time.Time
	Listed  Availability
}

// Fetch is what to fetch now, and what a ceiling held back: a fetch the
// plan would have made, had the target not had more goroutines than its
// ceiling. A held-back fetch counts as made for its interval, so that it is
// held back once an interval, not at every scrape.
type Fetch struct {
	Index, Dump, Leak        bool
	DumpSkipped, LeakSkipped bool
}

// Any reports whether anything is to be fetched.
func (f Fetch) Any() bool { return f.Index || f.Dump || f.Leak }

// Plan returns what to fetch at time at, when newlySuspected groups of the
// target, which has goroutines goroutines, turned suspected in the scrape
// just made, and the state that the fetches planned leave. A suspicion
// fetches evidence at most every Interval; it also asks for the leak
// profile, as its interval does, but never while a 404 holds asks back,
// and neither is fetched from a target above its ceiling.
func (p Policy) Plan(at time.Time, s State, newlySuspected int, goroutines int64) (Fetch, State) {
	leak := p.LeakProfile && at.Sub(s.LeakAt) >= p.LeakInterval
	suspicion := p.OnSuspect && newlySuspected > 0 &&
		(s.SuspectAt.IsZero() || at.Sub(s.SuspectAt) >= p.Interval)
	if suspicion {
		s.SuspectAt = at
		leak = true
	}
	// With the index, nothing is asked before it was read once, nor while
	// it lists no leak profile.
	if at.Before(s.LeakAbsentUntil) || p.ReadIndex && (s.IndexAt.IsZero() || s.Listed == Absent) {
		leak = false
	}
	if leak {
		s.LeakAt = at
	}
	index := p.ReadIndex && (s.IndexAt.IsZero() || at.Sub(s.IndexAt) >= IndexInterval)
	if index {
		s.IndexAt = at
	}
	f := Fetch{Index: index, Dump: suspicion && !p.ScrapeDumps, Leak: leak}
	if f.Dump && above(goroutines, p.MaxDumpGoroutines) {
		f.Dump, f.DumpSkipped = false, true
	}
	if f.Leak && above(goroutines, p.MaxLeakGoroutines) {
		f.Leak, f.LeakSkipped = false, true
	}
	return f, s
}

func above(goroutines, ceiling int64) bool { return ceiling > 0 && goroutines > ceiling }

// IndexRead returns the state after the target's index was read: told
// whether it lists the leak profile (listed), or, when the page could not
// tell (a 404, another page, a failed read), nothing (told false). A page
// that lists none makes the leak profile unavailable, as a 404 would.
func (s State) IndexRead(told, listed bool) State {
	switch {
	case !told:
		s.Listed = Unasked
	case listed:
		s.Listed = Served
	default:
		s.Listed, s.Leak = Absent, Absent
	}
	return s
}

// LeakAnswered returns the state after the target answered an ask for its
// leak profile at time at: served it, or, when absent, said 404. An ask that
// failed otherwise (a timeout, a refused body) leaves the state as it was.
func (s State) LeakAnswered(at time.Time, served bool) State {
	if served {
		s.Leak = Served
		return s
	}
	s.Leak, s.LeakAbsentUntil = Absent, at.Add(LeakRetry)
	return s
}
