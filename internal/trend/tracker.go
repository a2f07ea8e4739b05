package trend

import (
	"cmp"
	"slices"
	"time"
)

// collapseFraction: without a process identity, a total that falls below
// this fraction of the previous one is taken for a restart.
const collapseFraction = 0.5

// Tracker holds one target's series: its total and one per group key. A key
// not seen in a scrape is forgotten, so the state never holds more than the
// groups of the last scrape, and at most maxGroups of those.
type Tracker[K comparable] struct {
	cfg       *Config
	maxGroups int
	compare   func(a, b K) int
	// own returns a copy of a key that the tracker may keep: the keys
	// Observe is given may share memory their caller reuses (a Grouper's
	// label keys), and only the few it starts following are worth a copy.
	own       func(K) K
	instance  uint64
	lastTotal float64
	total     *Series
	// groups is the index of the series, by key in compare's order: a
	// sorted slice costs a key and a pointer a group, a third of what a
	// map's slots cost at its load factor, for a lookup as fast at a
	// thousand groups; its order changes only when groups come or go.
	groups  []tracked[K]
	gen     uint64 // the scrape being observed, counted from 1
	fresh   []int  // positions of the keys not yet followed
	scratch Scratch
}

// tracked is a group's series under its key.
type tracked[K comparable] struct {
	key K
	s   *Series
}

// NewTracker returns an empty tracker that follows at most maxGroups keys,
// ordered by compare. own copies a key the tracker starts following out of
// memory its caller reuses; nil for keys that share none.
func NewTracker[K comparable](cfg *Config, maxGroups int, compare func(a, b K) int, own func(K) K) *Tracker[K] {
	if own == nil {
		own = func(k K) K { return k }
	}
	return &Tracker[K]{
		cfg:       cfg,
		maxGroups: maxGroups,
		compare:   compare,
		own:       own,
		total:     cfg.NewSeries(),
	}
}

// Owned returns the tracker's own copy of k when it follows k, else a copy
// made by own: a key its caller may keep.
func (t *Tracker[K]) Owned(k K) K {
	i, ok := slices.BinarySearchFunc(t.groups, k, func(e tracked[K], k K) int { return t.compare(e.key, k) })
	if ok {
		return t.groups[i].key
	}
	return t.own(k)
}

// find returns the series of k, nil when k is not followed.
func (t *Tracker[K]) find(k K) *Series {
	i, ok := slices.BinarySearchFunc(t.groups, k, func(e tracked[K], k K) int { return t.compare(e.key, k) })
	if !ok {
		return nil
	}
	return t.groups[i].s
}

// follow adds the keys of added, which the tracker does not follow, and
// puts the index back in order.
func (t *Tracker[K]) follow(added []tracked[K]) {
	t.groups = append(t.groups, added...)
	slices.SortFunc(t.groups, func(a, b tracked[K]) int { return t.compare(a.key, b.key) })
}

// Observe records one successful scrape at time at. instance identifies the
// target's process (0 when the profile does not tell); keys and counts are the
// scrape's groups, in any order; when more keys are new than there is room
// for, the largest are followed. It returns the total's estimate and one
// estimate per key (not Ready for a key that is not followed).
//
// A restart is a new instance, or, without one, a total that collapses below
// half of the previous: every window starts afresh, so that the fall of a
// restart never shows as a negative rate and the regrowth after it never as a
// leak.
func (t *Tracker[K]) Observe(at time.Time, instance uint64, total float64, keys []K, counts []float64, out []Estimate) (Estimate, []Estimate) {
	if t.restarted(instance, total) {
		t.Reset()
	}
	t.instance, t.lastTotal = instance, total
	t.gen++

	out = out[:0]
	t.fresh = t.fresh[:0]
	for i, k := range keys {
		s := t.find(k)
		if s == nil {
			t.fresh = append(t.fresh, i)
			out = append(out, Estimate{})
			continue
		}
		s.seen = t.gen
		out = append(out, s.Observe(t.cfg, at, counts[i], &t.scratch))
	}
	t.groups = slices.DeleteFunc(t.groups, func(e tracked[K]) bool { return e.s.seen != t.gen })
	// New keys get the room left, largest first: a leak grows, so a group
	// that missed the room now takes it once it outgrows the others.
	if room := t.maxGroups - len(t.groups); len(t.fresh) > room {
		slices.SortStableFunc(t.fresh, func(a, b int) int { return cmp.Compare(counts[b], counts[a]) })
		t.fresh = t.fresh[:max(room, 0)]
	}
	if len(t.fresh) > 0 {
		added := make([]tracked[K], 0, len(t.fresh))
		for _, i := range t.fresh {
			s := t.cfg.NewSeries()
			s.seen = t.gen
			added = append(added, tracked[K]{t.own(keys[i]), s})
			out[i] = s.Observe(t.cfg, at, counts[i], &t.scratch)
		}
		t.follow(added)
	}
	// The positions of a first scrape's thousand keys are not worth
	// keeping for the few that come later.
	if cap(t.fresh) > 64 {
		t.fresh = nil
	}
	return t.total.Observe(t.cfg, at, total, &t.scratch), out
}

func (t *Tracker[K]) restarted(instance uint64, total float64) bool {
	if _, ok := t.total.Last(); !ok {
		return false
	}
	if instance != 0 && t.instance != 0 {
		return instance != t.instance
	}
	return total < collapseFraction*t.lastTotal
}

// Reset forgets every series.
func (t *Tracker[K]) Reset() {
	t.total = t.cfg.NewSeries()
	t.groups = nil
}

// Keys yields the keys followed, in compare's order.
func (t *Tracker[K]) Keys(yield func(K) bool) {
	for _, g := range t.groups {
		if !yield(g.key) {
			return
		}
	}
}

// Len returns how many group series are followed.
func (t *Tracker[K]) Len() int { return len(t.groups) }
