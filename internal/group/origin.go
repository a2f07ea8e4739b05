package group

import (
	"cmp"
	"slices"

	"github.com/goroutinewatch/goroutinereceiver/internal/dump"
	"github.com/goroutinewatch/goroutinereceiver/internal/signature"
)

// MaxOrigins bounds the origins a dump's group keeps. A group's goroutines
// mostly share one origin, or a few where one library is used from several
// places (a connection pool's readers, dialed by every handler).
const MaxOrigins = 4

// Source says where a goroutine's origin was found.
type Source uint8

const (
	// SourceNone: nowhere; Origin.Missing says why.
	SourceNone Source = iota
	// SourceStack: in the goroutine's own stack.
	SourceStack
	// SourceCreator: the go statement that started it ("created by").
	SourceCreator
	// SourceAncestry: in the stack or the go statement of a goroutine that
	// started its creator, or its creator's stack at the go statement, as
	// a target run with GODEBUG=tracebackancestors prints them.
	SourceAncestry
)

// Missing says why no frame of the user's code was found, and so what
// would find one.
type Missing uint8

const (
	// Found: an origin was found.
	Found Missing = iota
	// NoDump: only a profile was read, which names no creator.
	NoDump
	// NoAncestry: the stack and its creator are a library's, and the dump
	// prints no ancestry: the target does not run with
	// GODEBUG=tracebackancestors.
	NoAncestry
	// AncestryTooShort: the ancestry the dump prints holds no user code
	// and goes on beyond its last generation: tracebackancestors is set
	// lower than the library's chain of goroutines is long.
	AncestryTooShort
	// StartedByLibrary: the ancestry goes back to a goroutine nobody's go
	// statement started (the main goroutine, or one the runtime starts)
	// through library code only: the library started it on its own, at
	// init or from a goroutine of its own, not from a call of the user's.
	StartedByLibrary
)

// Origin is where the user's code started a group's goroutines.
type Origin struct {
	// Frame is the innermost frame of the user's code found: empty when
	// Missing says why there is none.
	signature.Frame
	Source Source
	// Generation is how many goroutines up it was found: 0 in the
	// goroutine's own stack, 1 in its creator (the go statement, or the
	// creator's stack at it), 2 in its creator's creator.
	Generation int
	Missing    Missing
	// AfterCall reports a Line that may be the one after the call's: the
	// runtime prints an ancestor's frames at their return addresses (its
	// printAncestorTracebackFuncInfo does not step back into the call, as
	// a traceback does), which fall on the call's line, or, where the call
	// ends its line, on the next. A go statement's line ("created by") is
	// exact.
	AfterCall bool
	// Count is the goroutines of the group with this origin.
	Count int64
}

// same reports o and p are one origin, whatever their counts.
func (o *Origin) same(p *Origin) bool {
	return o.Frame == p.Frame && o.Source == p.Source && o.Generation == p.Generation && o.Missing == p.Missing && o.AfterCall == p.AfterCall
}

// originOf finds the origin of the dump's goroutine gr: the innermost frame
// of the user's code in its stack, else its creator's go statement, else,
// one generation at a time, an ancestor's stack at its go statement and
// the go statement that started the ancestor.
func originOf(gr *dump.Goroutine, code *signature.Code) Origin {
	if f, ok := code.Innermost(gr.Frames); ok {
		return Origin{Frame: f, Source: SourceStack, Count: 1}
	}
	if gr.CreatedBy.Function == "" {
		return Origin{Missing: StartedByLibrary, Count: 1}
	}
	if code.Users(gr.CreatedBy) {
		return Origin{Frame: gr.CreatedBy, Source: SourceCreator, Generation: 1, Count: 1}
	}
	if len(gr.Ancestors) == 0 {
		return Origin{Missing: NoAncestry, Count: 1}
	}
	for i := range gr.Ancestors {
		a := &gr.Ancestors[i]
		// A frame of the user's code here is a call the ancestor made,
		// printed at its return address; the ancestor's go statement, the
		// frame the line before names exactly, was a library's, or the
		// search would have stopped at it.
		if f, ok := code.Innermost(a.Frames); ok {
			return Origin{Frame: f, Source: SourceAncestry, Generation: i + 1, AfterCall: true, Count: 1}
		}
		if a.CreatedBy.Function == "" {
			// The runtime prints no go statement for the main goroutine
			// and hides its own.
			return Origin{Missing: StartedByLibrary, Count: 1}
		}
		if code.Users(a.CreatedBy) {
			return Origin{Frame: a.CreatedBy, Source: SourceAncestry, Generation: i + 2, Count: 1}
		}
	}
	return Origin{Missing: AncestryTooShort, Count: 1}
}

// origins counts a group's origins in at most MaxOrigins slots, by the
// space-saving rule: an origin that finds no slot takes the least counted
// one's, with that count plus one. Any origin of more than a
// 1/MaxOrigins share of the goroutines keeps a slot, a count is over by at
// most the least count when the slot changed hands, and the counts add up
// to the goroutines counted.
type origins struct {
	slot [MaxOrigins]Origin
	n    int
}

func (os *origins) add(o Origin) {
	for i := range os.slot[:os.n] {
		if os.slot[i].same(&o) {
			os.slot[i].Count++
			return
		}
	}
	if os.n < MaxOrigins {
		os.slot[os.n] = o
		os.n++
		return
	}
	least := 0
	for i := range os.slot {
		if os.slot[i].Count < os.slot[least].Count {
			least = i
		}
	}
	o.Count = os.slot[least].Count + 1
	os.slot[least] = o
}

// sorted returns the origins, the most common first (and in a stable order
// among equals).
func (os *origins) sorted() []Origin {
	out := os.slot[:os.n]
	sortOrigins(out)
	return out
}

func sortOrigins(out []Origin) {
	slices.SortFunc(out, func(a, b Origin) int {
		return cmp.Or(cmp.Compare(b.Count, a.Count), cmp.Compare(a.Generation, b.Generation),
			cmp.Compare(a.Function, b.Function), cmp.Compare(a.Line, b.Line), cmp.Compare(a.Missing, b.Missing))
	})
}

// MergeOrigins returns the origins of a and b together, in a new slice
// (b may be a Grouper's, reused by its next dump): the counts of one
// origin added, the most common first, at most MaxOrigins. It merges the
// origins of groups that share a signature but not their labels.
func MergeOrigins(a, b []Origin) []Origin {
	out := slices.Clone(a)
	for _, o := range b {
		i := slices.IndexFunc(out, func(p Origin) bool { return p.same(&o) })
		if i < 0 {
			out = append(out, o)
			continue
		}
		out[i].Count += o.Count
	}
	sortOrigins(out)
	if len(out) > MaxOrigins {
		out = out[:MaxOrigins:MaxOrigins]
	}
	return out
}
