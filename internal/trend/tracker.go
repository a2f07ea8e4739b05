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
//
// Most groups of a process never change: a background loop, a worker of a
// fixed pool, a listener. Such a group is steady: every sample of its series
// so far has had one value. Its windows are then those of any other steady
// group that started at the same scrape, shifted by its value, since a
// window codes its means from a base: so steady groups that started
// together share one series, a template fed zero, and each keeps only its
// value (40 bytes a group, where a series of its own costs about 340). The
// first sample that differs gives the group a series of its own, the
// template's shifted to its value; a group whose windows have held one
// value throughout, as after two days of a long horizon, shares a template
// again. Every estimate and saved form is the one a series of its own would
// give (TestSteadyGroupsShareTemplates).
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
	// sorted slice costs less than a map's slots at its load factor, for a
	// lookup as fast at a thousand groups; its order changes only when
	// groups come or go.
	groups []tracked[K]
	// at holds, by the position of a key in the last scrape, where that
	// key was in groups (-1: not followed). A process lists its stacks in
	// much the same order from one scrape to the next, so a key's place is
	// checked there first: one probe of a target's memory, gone cold since
	// its last scrape, in place of a binary search's ten. A place that went
	// stale (groups came or went, the order moved) is found by the search
	// and corrected. 4 bytes for each of the last scrape's first
	// 2 × maxGroups keys: a process lists its largest groups first, and the
	// followed ones are the largest.
	at []int32
	// templates are the series the steady groups share, each fed zero at
	// every scrape; at most one a scrape at which steady groups started,
	// and never more than the steady groups.
	templates []*Series
	// unshared turns the sharing off: every group has a series of its
	// own (the reference the shared state is tested against).
	unshared bool
	gen      uint64 // the scrape being observed, counted from 1
	// lastAt is the time of the last scrape observed: when the longest
	// horizon opens a bucket, groups whose windows became steady again
	// share a template.
	lastAt time.Time
}

// tracked is a group's series under its key: its own, or, for a steady
// group (s.refs > 0), the template it shares, shifted by v.
type tracked[K comparable] struct {
	key  K
	s    *Series
	seen uint32 // the last scrape that showed the group, as gen
	v    float32
}

func (g *tracked[K]) steady() bool { return g.s.refs > 0 }

// last is the group's newest sample.
func (g *tracked[K]) last() float32 {
	if g.steady() {
		return g.v
	}
	return g.s.last
}

// waiting is a steady group of the scrape under way, at position i of its
// keys, whose estimate is its template's once the template is observed.
type waiting struct {
	i int
	s *Series
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

// place returns the position of k, the key at position i of the scrape,
// in the index, and whether it is there, trying the place it had at the
// last scrape first.
func (t *Tracker[K]) place(i int, k K) (int, bool) {
	if i < len(t.at) {
		if j := int(t.at[i]); j >= 0 && j < len(t.groups) && t.groups[j].key == k {
			return j, true
		}
	}
	return t.search(k)
}

// OwnedAt returns the tracker's own copy of k, the key at position i of
// the last scrape observed, when it follows k, else a copy made by own: a
// key its caller may keep.
func (t *Tracker[K]) OwnedAt(i int, k K) K {
	if j, ok := t.place(i, k); ok {
		return t.groups[j].key
	}
	return t.own(k)
}

// search returns the position of k in the index, and whether it is there.
func (t *Tracker[K]) search(k K) (int, bool) {
	return slices.BinarySearchFunc(t.groups, k, func(e tracked[K], k K) int { return t.compare(e.key, k) })
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
// estimate per key (not Ready for a key that is not followed). sc is the
// memory it works in, the caller's to reuse (nil: one for this call only).
//
// A restart is a new instance, or, without one, a total that collapses below
// half of the previous: every window starts afresh, so that the fall of a
// restart never shows as a negative rate and the regrowth after it never as a
// leak.
func (t *Tracker[K]) Observe(at time.Time, instance uint64, total float64, keys []K, counts []float64, out []Estimate, sc *Scratch) (Estimate, []Estimate) {
	if sc == nil {
		sc = new(Scratch)
	}
	if t.restarted(instance, total) {
		t.Reset()
	}
	t.instance, t.lastTotal = instance, total
	t.gen++
	gen := uint32(t.gen)

	out = out[:0]
	sc.fresh, sc.waiting = sc.fresh[:0], sc.waiting[:0]
	n := min(len(keys), 2*t.maxGroups)
	if n > len(t.at) {
		t.at = slices.Grow(t.at, n-len(t.at)) // keeps the places held
	}
	t.at = t.at[:n]
	for i, k := range keys {
		j, ok := t.place(i, k)
		if i < n {
			t.at[i] = int32(j)
			if !ok {
				t.at[i] = -1
			}
		}
		if !ok {
			sc.fresh = append(sc.fresh, i)
			out = append(out, Estimate{})
			continue
		}
		g := &t.groups[j]
		g.seen = gen
		if g.steady() {
			if float64(g.v) == counts[i] {
				sc.waiting = append(sc.waiting, waiting{i, g.s})
				out = append(out, Estimate{})
				continue
			}
			// The first change: a series of its own, as the template stood
			// before this scrape, the template being observed after.
			g.s.refs--
			g.s = g.s.shifted(g.v)
		}
		out = append(out, g.s.Observe(t.cfg, at, counts[i], sc))
	}
	t.groups = slices.DeleteFunc(t.groups, func(g tracked[K]) bool {
		if g.seen == gen {
			return false
		}
		if g.steady() {
			g.s.refs--
		}
		return true
	})
	t.followFresh(at, keys, counts, out, sc)
	t.observeTemplates(at, sc)
	for _, w := range sc.waiting {
		out[w.i] = sc.est[w.s.idx]
	}
	// The longest horizon has opened a bucket: groups whose windows have
	// held one value throughout may share a template again.
	if last := t.cfg.Horizons[len(t.cfg.Horizons)-1].width(); !t.lastAt.IsZero() && at.UnixNano()/int64(last) > t.lastAt.UnixNano()/int64(last) {
		t.share()
	}
	t.lastAt = at
	return t.total.Observe(t.cfg, at, total, sc), out
}

// followFresh follows the keys of the scrape at positions sc.fresh, as room
// allows: new keys get the room left, largest first, since a leak grows,
// and a group that missed the room takes it once it outgrows the others.
// The steady ones start a template of their own, which the others that
// start at this scrape share.
func (t *Tracker[K]) followFresh(at time.Time, keys []K, counts []float64, out []Estimate, sc *Scratch) {
	if room := t.maxGroups - len(t.groups); len(sc.fresh) > room {
		slices.SortStableFunc(sc.fresh, func(a, b int) int { return cmp.Compare(counts[b], counts[a]) })
		sc.fresh = sc.fresh[:max(room, 0)]
	}
	if len(sc.fresh) == 0 {
		return
	}
	added := make([]tracked[K], 0, len(sc.fresh))
	var tmpl *Series
	gen := uint32(t.gen)
	for _, i := range sc.fresh {
		g := tracked[K]{key: t.own(keys[i]), seen: gen}
		if v := counts[i]; !t.unshared && exact(v) {
			if tmpl == nil {
				tmpl = t.cfg.NewSeries()
				t.templates = append(t.templates, tmpl)
			}
			tmpl.refs++
			g.s, g.v = tmpl, float32(v)
			sc.waiting = append(sc.waiting, waiting{i, tmpl})
		} else {
			g.s = t.cfg.NewSeries()
			out[i] = g.s.Observe(t.cfg, at, counts[i], sc)
		}
		added = append(added, g)
	}
	t.follow(added)
}

// observeTemplates drops the templates no group shares any more and feeds
// the others the scrape's sample, zero, their estimates in sc.est by idx.
func (t *Tracker[K]) observeTemplates(at time.Time, sc *Scratch) {
	t.templates = slices.DeleteFunc(t.templates, func(s *Series) bool { return s.refs == 0 })
	clear(t.templates[len(t.templates):cap(t.templates)])
	sc.est = sc.est[:0]
	for i, s := range t.templates {
		s.idx = int32(i)
		sc.est = append(sc.est, s.Observe(t.cfg, at, 0, sc))
	}
}

// share makes the groups whose windows have held one value throughout
// share a template, and merges templates whose windows have come to be
// one: both happen as the long horizon's old buckets leave its window. It
// runs once a bucket of the longest horizon, over every group. A window
// whose means are all one value is first coded from that value (rebase),
// with or without sharing, so that the two judge alike.
func (t *Tracker[K]) share() {
	byShape := make(map[shape]*Series, len(t.templates))
	var merged map[*Series]*Series // a template one with another: into it
	for _, s := range t.templates {
		sh, _ := s.shape(0)
		if into, ok := byShape[sh]; ok {
			into.refs += s.refs
			s.refs = 0
			if merged == nil {
				merged = map[*Series]*Series{}
			}
			merged[s] = into
			continue
		}
		byShape[sh] = s
	}
	for i := range t.groups {
		g := &t.groups[i]
		if into, ok := merged[g.s]; ok {
			g.s = into
			continue
		}
		if g.steady() || !g.s.rebase() || t.unshared {
			continue
		}
		sh, ok := g.s.shape(g.s.last)
		if !ok {
			continue
		}
		tmpl, ok := byShape[sh]
		if !ok {
			tmpl = g.s.unshifted()
			byShape[sh] = tmpl
			t.templates = append(t.templates, tmpl)
		}
		tmpl.refs++
		g.s, g.v = tmpl, g.s.last
	}
	t.templates = slices.DeleteFunc(t.templates, func(s *Series) bool { return s.refs == 0 })
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
	t.groups, t.templates = nil, nil
	t.lastAt = time.Time{}
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

// exact reports a count a steady group can hold: a float32 holds it
// exactly, so that its windows' means are the template's shifted by it.
func exact(v float64) bool {
	return v >= 0 && float64(float32(v)) == v
}

// shape is a steady series' state less its value: what steady series that
// started at the same scrape share.
type shape [MaxHorizons]horizonState

// shape returns s's state less its value v, and whether s is steady at v:
// every sample so far, in every window, v. A window that has closed a
// bucket holds its means from base v in codes of zero, at the finest step;
// its newest bucket's mean is v; no horizon sees growth or suspects it.
func (s *Series) shape(v float32) (sh shape, steady bool) {
	if s.last != v || !exact(float64(v)) {
		return sh, false
	}
	for i := range s.h {
		hs := s.h[i]
		w := &hs.w
		if w.head == 0 || w.open.v != v || hs.growth != 0 || hs.suspected || hs.hyst != 0 {
			return sh, false
		}
		switch w.step {
		case 0:
			if w.base != 0 {
				return sh, false
			}
		case minStep:
			if w.base != v {
				return sh, false
			}
			w.base = 0
		default:
			return sh, false
		}
		for _, c := range w.codes {
			if c != empty && c != 0 {
				return sh, false
			}
		}
		w.open.v = 0
		sh[i] = hs
	}
	return sh, true
}

// rebase codes every window of s from its newest sample v when every mean
// in it is v, no horizon sees growth or suspects it, and v is a count a
// steady group can hold; it reports whether s is so. The means stay what
// they were; the window is coded as one that only ever saw v, as the next
// bucket to close would code it anyway (a finer step fits).
func (s *Series) rebase() bool {
	v := s.last
	if !exact(float64(v)) {
		return false
	}
	for i := range s.h {
		hs := &s.h[i]
		w := &hs.w
		if w.head == 0 || w.open.v != v || hs.growth != 0 || hs.suspected || hs.hyst != 0 {
			return false
		}
		if w.step == 0 {
			if w.base != 0 {
				return false
			}
			continue
		}
		for j, c := range w.codes {
			if c != empty && int64(j) != w.head%Buckets && w.mean(c) != float64(v) {
				return false
			}
		}
	}
	for i := range s.h {
		w := &s.h[i].w
		if w.step == 0 {
			continue
		}
		for j, c := range w.codes {
			if c != empty && int64(j) != w.head%Buckets {
				w.codes[j] = 0
			}
		}
		w.base, w.step = v, minStep
	}
	return true
}

// shifted returns a series of its own with a template's windows shifted to
// the value v: what a series fed v at every sample of the template holds.
func (s *Series) shifted(v float32) *Series {
	out := &Series{h: slices.Clone(s.h), last: v}
	for i := range out.h {
		w := &out.h[i].w
		if w.step != 0 {
			w.base = v
		}
		w.open.v = v
	}
	return out
}

// unshifted returns a template of s, a steady series: its windows shifted
// to zero.
func (s *Series) unshifted() *Series {
	out := s.shifted(0)
	for i := range out.h {
		out.h[i].w.base = 0
	}
	return out
}
