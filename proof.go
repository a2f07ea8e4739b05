package goroutinereceiver // import "github.com/goroutinewatch/goroutinereceiver"

import (
	"cmp"
	"slices"

	"github.com/goroutinewatch/goroutinereceiver/internal/group"
	"github.com/goroutinewatch/goroutinereceiver/internal/signature"
)

// provenGroup is a group the runtime proved leaked: its goroutines wait on
// a primitive no running goroutine can reach.
type provenGroup struct {
	key group.Key
	// id is the group's identity, its own copy.
	id    group.Identity
	count int64
	// stack is the group's, read from the leak profile that proved it; a
	// target keeps none (only a new proof's record needs it).
	stack []signature.Frame
}

// The proof rule. A leaked goroutine stays blocked for as long as its
// process lives, but the runtime's detection varies from one fetch of the
// leak profile to the next (golang/go#79452: a fresh process's first fetch
// can prove nothing, a later one fewer goroutines of a group than an
// earlier one did). So a group once proven stays proven, at the most
// goroutines any proof of the process found, for as long as the scrapes
// still show that many of its stack; what a scrape shows caps it, and a
// scrape that shows none of the stack, or another process, drops it. A leak profile the
// target no longer serves (a 404) drops every proof. At most max_groups
// proofs are kept, the largest.

// proofsAfter returns the proofs to keep once a leak profile served fresh
// (largest first, at most max of them) beside the proofs kept, kept: each
// group's count the larger of the two, the largest max groups.
func proofsAfter(kept, fresh []provenGroup, maxGroups int) []provenGroup {
	out := make([]provenGroup, 0, len(kept)+len(fresh))
	at := make(map[group.Key]int, len(fresh))
	for _, p := range fresh {
		p.stack = nil
		at[p.key] = len(out)
		out = append(out, p)
	}
	for _, k := range kept {
		if i, ok := at[k.key]; ok {
			out[i].count = max(out[i].count, k.count)
			continue
		}
		out = append(out, k)
	}
	sortProofs(out)
	if len(out) > maxGroups {
		clear(out[maxGroups:])
		out = out[:maxGroups]
	}
	return out
}

// proofsCapped returns kept with each proof capped at what the scrape shows
// of its stack (counts, by signature; one absent shows none), and those it
// shows none of dropped.
func proofsCapped(kept []provenGroup, counts map[signature.ID]int64) []provenGroup {
	out := kept[:0]
	for _, p := range kept {
		n := counts[p.key.ID]
		if n <= 0 {
			continue
		}
		p.count = min(p.count, n)
		out = append(out, p)
	}
	clear(kept[len(out):])
	sortProofs(out)
	return out
}

// sortProofs orders proofs largest first, and by key among equals.
func sortProofs(proofs []provenGroup) {
	slices.SortFunc(proofs, func(a, b provenGroup) int {
		return cmp.Or(cmp.Compare(b.count, a.count), a.key.Compare(b.key))
	})
}
