// Package group sums goroutines into groups by stack signature (and by the
// pprof labels the user keeps), read from a debug=0 profile or a debug=2
// dump.
package group // import "github.com/goroutinewatch/goroutinereceiver/internal/group"

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"unsafe"

	"github.com/goroutinewatch/goroutinereceiver/internal/decode"
	"github.com/goroutinewatch/goroutinereceiver/internal/signature"
)

// ErrNotGoroutineProfile reports a well-formed profile of another kind (a
// heap profile served where the goroutine profile was expected).
var ErrNotGoroutineProfile = errors.New("not a goroutine profile")

// Options say how samples become groups.
type Options struct {
	Mode signature.Mode
	// Labels are the pprof label keys kept: samples that differ in them are
	// separate groups.
	Labels []string
	// Ignore lists functions whose goroutines are not grouped: a sample with
	// any of them anywhere in its stack counts toward Total only.
	Ignore []string
}

// Key identifies a group across scrapes: its signature and kept labels.
type Key struct {
	ID     signature.ID
	Labels string // the label values, length-prefixed
}

// Identity is who a group is: its key, and what its stack and labels say of
// it. A Grouper works it out once and shares it with every profile that
// shows the group: it must not be changed.
type Identity struct {
	signature.Info
	Key Key
	// LabelValues holds the value of each of Options.Labels, "" where the
	// goroutines do not carry it.
	LabelValues []string
	// Creator is the go statement that started the goroutines (its
	// function, file and line), as a dump tells it; empty from a profile,
	// which does not.
	Creator signature.Frame
}

// Group is the goroutines that share a signature and kept label values.
type Group struct {
	*Identity
	Count int64
	// Sample is the position in the profile's samples of the group's first
	// sample: Frames reads the group's stack from it. A group keeps no stack
	// of its own, since only the few reported in full need one.
	Sample int

	// From a dump only (OfDump):
	// WaitMinutes is the longest wait in the group, in whole minutes.
	WaitMinutes int64
	// Leaked counts the goroutines the runtime marked leaked.
	Leaked int64
	// Stack is the stack of the group's first goroutine.
	Stack []signature.Frame
}

// Frames returns the stack of g, a group of p, innermost frame first.
func Frames(p *decode.Profile, g *Group) []signature.Frame {
	return appendFrames(nil, p, &p.Sample[g.Sample])
}

// Result is a profile grouped.
type Result struct {
	// Total is every goroutine in the profile.
	Total int64
	// Ignored is the goroutines left out by Options.Ignore.
	Ignored int64
	// Frameless is the goroutines with no frame the signature keeps: the
	// runtime records a goroutine it catches being created with no stack
	// (runtime.goexit alone, in a dump). They are counted in Total and in
	// no group: a group without a function to name would be reported at
	// every scrape with nothing to say, and a leaked goroutine always waits
	// in a frame of its own.
	Frameless int64
	// Groups holds every group, in the order the profile first shows them;
	// Top picks the largest.
	Groups []Group
	// StacksCut counts samples (goroutines, in a dump) whose stacks
	// exceeded the frame limit; their signature is of the innermost frames
	// only.
	StacksCut int
	// DumpCut reports a dump that ended inside a goroutine (OfDump).
	DumpCut bool
}

// Of groups p with a Grouper of its own.
func Of(p *decode.Profile, opts Options) (Result, error) {
	var g Grouper
	return g.Of(p, opts)
}

// A Grouper groups the profiles of one target, one after another. It keeps
// its buffers and what it learned of each group (its
// frames, wait and stuck frame) from one profile to the next, forgetting
// groups the last profile did not show; so grouping a target's next
// profile allocates nothing for the groups it already had. The zero
// Grouper is ready; one Grouper must not be used by two goroutines at once.
// A Result is valid until the Grouper's next call.
type Grouper struct {
	// Per profile, by position in its tables.
	functions []signature.Chain
	locations []signature.Chain
	skip      []bool // locations holding an ignored function

	// known holds what is known of each group, by signature, with groups
	// of one signature and other label values chained behind the first.
	known  map[signature.ID]*entry
	gen    uint64 // the profile being grouped, counted from 1
	groups []Group
	frames []signature.Frame   // one sample's stack
	stacks [][]signature.Frame // a dump's groups' stacks
	values []string            // one sample's kept label values
	key    []byte              // one sample's label key
}

// entry is a known group.
type entry struct {
	Identity
	seen uint64 // the last profile that showed the group
	pos  int    // its position in that profile's groups
	next *entry
}

// Group decodes the profile in r with d and groups it: the receiver's path
// from response bytes to groups.
func (g *Grouper) Group(d *decode.Decoder, r io.Reader, lim decode.Limits, opts Options) (Result, *decode.Profile, error) {
	p, err := d.Decode(r, lim)
	if err != nil {
		return Result{}, nil, err
	}
	res, err := g.Of(p, opts)
	return res, p, err
}

// OfLeak groups p, which must be a goroutineleak profile: a proxy or a mux
// that answers the leak profile's path with the goroutine profile would
// otherwise prove every goroutine leaked.
func (g *Grouper) OfLeak(p *decode.Profile, opts Options) (Result, error) {
	if len(p.SampleType) == 0 || p.SampleType[0].Type != "goroutineleak" {
		var got string
		if len(p.SampleType) > 0 {
			got = p.SampleType[0].Type + "/" + p.SampleType[0].Unit
		}
		return Result{}, fmt.Errorf("%w: sample type %q where a goroutineleak profile belongs", ErrNotGoroutineProfile, got)
	}
	return g.Of(p, opts)
}

// Of groups p, whose first sample type must be "goroutine" or
// "goroutineleak" counted in "count".
func (g *Grouper) Of(p *decode.Profile, opts Options) (Result, error) {
	if len(p.SampleType) == 0 || p.SampleType[0].Unit != "count" ||
		(p.SampleType[0].Type != "goroutine" && p.SampleType[0].Type != "goroutineleak") {
		var got string
		if len(p.SampleType) > 0 {
			got = p.SampleType[0].Type + "/" + p.SampleType[0].Unit
		}
		return Result{}, fmt.Errorf("%w: sample type %q", ErrNotGoroutineProfile, got)
	}
	g.hashTables(p, opts)
	if g.known == nil {
		g.known = make(map[signature.ID]*entry)
	}
	g.gen++
	g.groups = g.groups[:0]

	var res Result
	for i := range p.Sample {
		s := &p.Sample[i]
		n := s.Value[0]
		if n <= 0 {
			continue
		}
		res.Total += n
		if s.StackCut {
			res.StacksCut++
		}
		c := signature.Empty
		skip := false
		for _, l := range s.Location {
			c = c.Then(g.locations[l])
			skip = skip || g.skip[l]
		}
		if skip {
			res.Ignored += n
			continue
		}
		if c == signature.Empty {
			res.Frameless += n
			continue
		}
		e := g.entry(c.ID(), p, s, opts)
		if e.seen == g.gen {
			g.groups[e.pos].Count += n
			continue
		}
		e.seen, e.pos = g.gen, len(g.groups)
		g.groups = append(g.groups, Group{Identity: &e.Identity, Count: n, Sample: i})
	}
	res.Groups = g.groups
	g.forget()
	return res, nil
}

// entry returns the known group of sample s, whose signature is id, adding
// it if the last profile did not show it.
func (g *Grouper) entry(id signature.ID, p *decode.Profile, s *decode.Sample, opts Options) *entry {
	labels := g.labelKey(s.Label, opts.Labels)
	first := g.known[id]
	for e := first; e != nil; e = e.next {
		if e.Key.Labels == labels {
			return e
		}
	}
	e := &entry{next: first}
	g.frames = appendFrames(g.frames[:0], p, s)
	e.Info = signature.Classify(g.frames, id)
	// The strings Classify kept are the decoder's interned ones, not the
	// scratch slice's.
	if len(opts.Labels) > 0 {
		e.LabelValues = slices.Clone(g.values)
	}
	// id, joined from the locations' chains, equals signature.Of of the
	// frames (TestGroupMatchesPprof).
	e.Key = Key{ID: id, Labels: strings.Clone(labels)}
	g.known[id] = e
	return e
}

// forget drops the groups the profile just grouped did not show, once they
// are as many as those it did: a target whose stacks change every time
// costs at most twice its profile, and a steady one no sweep at all.
func (g *Grouper) forget() {
	if len(g.known) <= 2*len(g.groups)+64 {
		return
	}
	for id, first := range g.known {
		var kept *entry
		for e := first; e != nil; {
			next := e.next
			if e.seen == g.gen {
				e.next, kept = kept, e
			}
			e = next
		}
		if kept == nil {
			delete(g.known, id)
		} else {
			g.known[id] = kept
		}
	}
}

// hashTables computes each location's chain, and which locations hold an
// ignored function, once per profile.
func (g *Grouper) hashTables(p *decode.Profile, opts Options) {
	g.functions = g.functions[:0]
	for _, f := range p.Function {
		g.functions = append(g.functions, signature.FrameChain(f.Name, 0, opts.Mode))
	}
	g.locations = g.locations[:0]
	g.skip = g.skip[:0]
	for _, l := range p.Location {
		c := signature.Empty
		skip := false
		for _, ln := range l.Line {
			if opts.Mode == signature.ByLine {
				c = c.Then(signature.FrameChain(p.Function[ln.Function].Name, ln.Line, opts.Mode))
			} else {
				c = c.Then(g.functions[ln.Function])
			}
			skip = skip || (len(opts.Ignore) > 0 && slices.Contains(opts.Ignore, p.Function[ln.Function].Name))
		}
		g.locations = append(g.locations, c)
		g.skip = append(g.skip, skip)
	}
}

// labelKey spells the values of the kept label keys so that no two lists
// of values share a spelling, whatever bytes they hold. The string it
// returns is only good for a map lookup: it shares g.key's bytes.
func (g *Grouper) labelKey(labels []decode.Label, keys []string) string {
	if len(keys) == 0 {
		return ""
	}
	g.values = labelValues(g.values[:0], labels, keys)
	g.key = appendLengthPrefixed(g.key[:0], g.values)
	// A string over g.key's bytes, not a copy: Go elides the copy for
	// m[string(b)], but not for a string inside a struct key, and this
	// lookup runs once per sample. Keys stored in maps are cloned.
	return unsafe.String(unsafe.SliceData(g.key), len(g.key))
}

// Top returns the indexes of the groups to report, largest first (and by
// signature among equals, so that output order is stable): the n largest,
// and beyond them those keep asks for. The rest are summed into other, so
// that the reported counts still add up. It sorts only what it keeps.
func Top(groups []Group, n int, keep func(i int) bool, dst []int) (kept []int, other int64) {
	kept = dst[:0]
	for i := range groups {
		kept = append(kept, i)
	}
	byCount := func(a, b int) int {
		ga, gb := &groups[a], &groups[b]
		return cmp.Or(
			cmp.Compare(gb.Count, ga.Count),
			cmp.Compare(ga.ID, gb.ID),
			slices.Compare(ga.LabelValues, gb.LabelValues),
		)
	}
	if len(kept) <= n {
		slices.SortFunc(kept, byCount)
		return kept, 0
	}
	selectFirst(kept, n, byCount)
	slices.SortFunc(kept[:n], byCount)
	rest := kept[n:]
	kept = kept[:n]
	extra := len(kept)
	for _, i := range rest {
		if keep(i) {
			kept = append(kept, i)
			continue
		}
		other += groups[i].Count
	}
	slices.SortFunc(kept[extra:], byCount)
	return kept, other
}

// selectFirst reorders x so that its first n elements are the n smallest by
// cmp (quickselect, with the median of three as pivot).
func selectFirst(x []int, n int, cmp func(a, b int) int) {
	lo, hi := 0, len(x)-1
	for lo < hi {
		mid := lo + (hi-lo)/2
		if cmp(x[mid], x[lo]) < 0 {
			x[mid], x[lo] = x[lo], x[mid]
		}
		if cmp(x[hi], x[lo]) < 0 {
			x[hi], x[lo] = x[lo], x[hi]
		}
		if cmp(x[hi], x[mid]) < 0 {
			x[hi], x[mid] = x[mid], x[hi]
		}
		pivot := x[mid]
		i, j := lo, hi
		for i <= j {
			for cmp(x[i], pivot) < 0 {
				i++
			}
			for cmp(pivot, x[j]) < 0 {
				j--
			}
			if i <= j {
				x[i], x[j] = x[j], x[i]
				i++
				j--
			}
		}
		switch {
		case n-1 <= j:
			hi = j
		case n-1 >= i:
			lo = i
		default:
			return
		}
	}
}

func appendFrames(frames []signature.Frame, p *decode.Profile, s *decode.Sample) []signature.Frame {
	for _, l := range s.Location {
		for _, ln := range p.Location[l].Line {
			f := &p.Function[ln.Function]
			frames = append(frames, signature.Frame{Function: f.Name, File: f.Filename, Line: ln.Line})
		}
	}
	return frames
}

// ignored reports a stack holding any of the functions of Options.Ignore.
func ignored(frames []signature.Frame, ignore []string) bool {
	if len(ignore) == 0 {
		return false
	}
	for _, f := range frames {
		if slices.Contains(ignore, f.Function) {
			return true
		}
	}
	return false
}

// labelValues appends to dst the value of each of keys in labels, "" for a
// key the labels lack. A numeric label has no string value: it is skipped.
func labelValues(dst []string, labels []decode.Label, keys []string) []string {
	for _, k := range keys {
		v := ""
		for _, l := range labels {
			if l.Key == k && l.Str != "" {
				v = l.Str
				break
			}
		}
		dst = append(dst, v)
	}
	return dst
}

// appendLengthPrefixed spells a list of strings so that no two lists share
// a spelling, whatever bytes the strings hold.
func appendLengthPrefixed(dst []byte, values []string) []byte {
	for _, v := range values {
		dst = strconv.AppendInt(dst, int64(len(v)), 10)
		dst = append(dst, ':')
		dst = append(dst, v...)
	}
	return dst
}
