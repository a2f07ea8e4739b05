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
	// any of them anywhere in its stack counts toward Total only. Generic
	// functions are named as signature.Generic spells them.
	Ignore []string
	// Code tells the target's own code from its libraries', for
	// Identity.User and a dump's origins.
	Code signature.Code
}

// Key identifies a group across scrapes: its signature and kept labels.
// A Result's keys share the Grouper's memory until its next call: Clone
// one to keep it.
type Key struct {
	ID     signature.ID
	Labels string // the label values, length-prefixed
}

// Clone returns k with label values of its own.
func (k Key) Clone() Key {
	k.Labels = strings.Clone(k.Labels)
	return k
}

// Compare orders keys by signature, then by label values.
func (k Key) Compare(o Key) int {
	// Not cmp.Or, whose arguments are all evaluated: the labels are
	// compared only between the groups of one signature.
	if c := cmp.Compare(k.ID, o.ID); c != 0 {
		return c
	}
	return strings.Compare(k.Labels, o.Labels)
}

// Identity is who a group is: what its stack and labels say of it. A
// Result works it out for the groups asked of it (Result.Identity): a
// scrape reports a few hundred of a target's groups, and keeping an
// identity for each of its thousands of groups from one scrape to the next
// would cost more memory than their leak windows.
type Identity struct {
	signature.Info
	// LabelValues holds the value of each of Options.Labels, "" where the
	// goroutines do not carry it.
	LabelValues []string
	// Creator is the go statement that started the goroutines (its
	// function, file and line), as a dump tells it; empty from a profile,
	// which does not.
	Creator signature.Frame
	// User is the innermost frame of the target's own code in the stack
	// (Options.Code), empty when the stack is all libraries'. The stack
	// fixes its function, as it fixes the signature.
	User signature.Frame
	// Origins are where the user's code started the goroutines, as a dump
	// tells it (nil from a profile): the distinct origins of the group's
	// goroutines, the most common first, at most MaxOrigins.
	Origins []Origin
}

// Clone returns a copy of id that shares no memory with the Grouper that
// worked it out: a Result's identities, label values and origins are the
// Grouper's until its next call, while their strings are immutable.
func (id *Identity) Clone() Identity {
	c := *id
	c.LabelValues = slices.Clone(id.LabelValues)
	c.Origins = slices.Clone(id.Origins)
	return c
}

// Group is the goroutines that share a signature and kept label values.
type Group struct {
	Key
	// Identity is nil until Result.Identity works it out, except in a dump's
	// groups, which carry theirs.
	Identity *Identity
	Count    int64
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

// Frames returns the stack of group i, innermost frame first: a dump's
// group holds it, a profile's is read from the profile, so it is valid as
// long as the Result.
func (r *Result) Frames(i int) []signature.Frame {
	g := &r.Groups[i]
	if g.Stack != nil || r.of == nil {
		return g.Stack
	}
	return r.of.appendFrames(nil, &r.of.p.Sample[g.Sample])
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

	of *Grouper // that grouped the profile, for Identity
}

// Identity returns who group i is, worked out from the profile on the first
// ask. It is valid as long as the Result.
func (r *Result) Identity(i int) *Identity {
	g := &r.Groups[i]
	if g.Identity == nil && r.of != nil {
		g.Identity = r.of.identify(i)
	}
	return g.Identity
}

// Of groups p with a Grouper of its own.
func Of(p *decode.Profile, opts Options) (Result, error) {
	var g Grouper
	return g.Of(p, opts)
}

// A Grouper groups profiles, one after another, of any targets: it keeps
// nothing of a profile once it groups the next but its buffers, which grow
// to the largest profile it grouped (at most Limits.MaxSamples groups), so
// grouping a profile no larger allocates nothing but the label keys of its
// groups, when labels are kept. The zero
// Grouper is ready; one Grouper must not be used by two goroutines at once.
// A Result is valid until the Grouper's next call.
type Grouper struct {
	// Per profile, by position in its tables: each function's name as
	// signature.Generic spells it, and its chain.
	names     []string
	functions []signature.Chain
	locations []signature.Chain
	skip      []bool // locations holding an ignored function
	// verdicts says, by function, whether it is the user's code, decided
	// on the first identity that meets it: the reported groups of a profile
	// share most of their frames. Code.Users reads a frame's function and
	// file, never its line, so one verdict holds for every line of a
	// function.
	verdicts []verdict

	// first holds the position of each signature's first group; next
	// chains the groups of one signature and other label values behind it
	// (-1 ends a chain).
	first  idTable
	next   []int32
	groups []Group
	// ids holds the identities Result.Identity worked out, by group
	// position; values the label values they hold. Both are sized once per
	// profile, so that the pointers into them hold until the next.
	ids    []Identity
	values []string

	p    *decode.Profile // the profile grouped last, for identify
	opts Options

	frames []signature.Frame   // one sample's stack
	stacks [][]signature.Frame // a dump's groups' stacks
	// origins counts the origins of a dump's groups' goroutines, by
	// group position.
	origins []origins
	sample  []string // one sample's kept label values
	key     []byte   // one sample's label key
	// unlabelled is the label key of a sample that has no label, the
	// same for every such sample of every profile under one list of keys:
	// most goroutines carry none.
	unlabelled string
	// labels holds the label keys of the groups of the profile grouped
	// last, which their Keys share: one buffer a profile, not a string a
	// group, reused by the next.
	labels []byte
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
	g.reset(p, opts)

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
		pos, _ := g.at(c.ID(), g.labelKey(s.Label, opts.Labels), i)
		g.groups[pos].Count += n
	}
	return g.result(res), nil
}

// reset readies g for the profile p (nil for a dump).
func (g *Grouper) reset(p *decode.Profile, opts Options) {
	n := len(g.groups) // a dump's: as many as the last one's
	if p != nil {
		n = len(p.Sample) // at most one group a sample
	}
	g.first.reset(n)
	g.next, g.groups, g.stacks, g.labels = g.next[:0], g.groups[:0], g.stacks[:0], g.labels[:0]
	g.p, g.opts = p, opts
}

// at returns the position of the group of signature id and label key
// labels, adding it, with its first sample at position sample, when the
// profile showed none yet.
func (g *Grouper) at(id signature.ID, labels string, sample int) (pos int, added bool) {
	first, ok := g.first.get(id)
	if ok {
		for i := first; i >= 0; i = g.next[i] {
			if g.groups[i].Labels == labels {
				return int(i), false
			}
		}
	} else {
		first = -1
	}
	key := Key{ID: id}
	if labels != "" {
		// labels shares the scratch key's bytes, which the next sample
		// reuses; the group's key shares g.labels', which the next profile
		// does. A buffer that grows leaves the keys before in the old one,
		// which nothing writes again.
		start := len(g.labels)
		g.labels = append(g.labels, labels...)
		key.Labels = unsafe.String(&g.labels[start], len(labels)) //nolint:gosec // G103: valid until the Grouper's next call, as the Result says; kept keys are cloned.
	}
	pos = len(g.groups)
	g.first.set(id, int32(pos))
	g.next = append(g.next, first)
	g.groups = append(g.groups, Group{Key: key, Sample: sample})
	return pos, true
}

// result finishes res with the groups grouped, and sizes the identities'
// memory for them.
func (g *Grouper) result(res Result) Result {
	n := len(g.groups)
	g.ids = slices.Grow(g.ids[:0], n)[:n]
	g.values = slices.Grow(g.values[:0], n*len(g.opts.Labels))
	res.Groups, res.of = g.groups, g
	return res
}

// identify works out the identity of the profile's group i: a reported
// group's, once per scrape.
func (g *Grouper) identify(i int) *Identity {
	grp := &g.groups[i]
	s := &g.p.Sample[grp.Sample]
	g.frames = g.appendFrames(g.frames[:0], s)
	// id, joined from the locations' chains, equals signature.Of of the
	// frames (TestGroupMatchesPprof). The strings Classify keeps are the
	// decoder's interned ones, not the scratch slice's.
	id := &g.ids[i]
	*id = Identity{Info: signature.Classify(g.frames, grp.ID)}
	id.User = g.innermostUser(s)
	if len(g.opts.Labels) > 0 {
		start := len(g.values)
		g.values = labelValues(g.values, s.Label, g.opts.Labels)
		id.LabelValues = g.values[start:len(g.values):len(g.values)]
	}
	return id
}

// verdict is whether a function is the user's code: not yet decided, or
// decided.
type verdict uint8

const (
	undecided verdict = iota
	libraryCode
	userCode
)

// innermostUser returns the innermost frame of s, as g.frames holds them,
// that is the user's code, as Code.Innermost would, deciding each function
// of the profile once.
func (g *Grouper) innermostUser(s *decode.Sample) signature.Frame {
	i := 0
	for _, l := range s.Location {
		for _, ln := range g.p.Location[l].Line {
			v := &g.verdicts[ln.Function]
			if *v == undecided {
				*v = libraryCode
				if g.opts.Code.Users(g.frames[i]) {
					*v = userCode
				}
			}
			if *v == userCode {
				return g.frames[i]
			}
			i++
		}
	}
	return signature.Frame{}
}

// hashTables computes each location's chain, and which locations hold an
// ignored function, once per profile.
func (g *Grouper) hashTables(p *decode.Profile, opts Options) {
	g.verdicts = slices.Grow(g.verdicts[:0], len(p.Function))[:len(p.Function)]
	clear(g.verdicts)
	g.names, g.functions = g.names[:0], g.functions[:0]
	for _, f := range p.Function {
		name := signature.Generic(f.Name)
		g.names = append(g.names, name)
		g.functions = append(g.functions, signature.FrameChain(name, 0, opts.Mode))
	}
	g.locations = g.locations[:0]
	g.skip = g.skip[:0]
	for _, l := range p.Location {
		c := signature.Empty
		skip := false
		for _, ln := range l.Line {
			if opts.Mode == signature.ByLine {
				c = c.Then(signature.FrameChain(g.names[ln.Function], ln.Line, opts.Mode))
			} else {
				c = c.Then(g.functions[ln.Function])
			}
			skip = skip || (len(opts.Ignore) > 0 && slices.Contains(opts.Ignore, g.names[ln.Function]))
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
	if len(labels) == 0 {
		if len(g.unlabelled) != 2*len(keys) {
			g.unlabelled = string(appendLengthPrefixed(nil, make([]string, len(keys))))
		}
		return g.unlabelled
	}
	g.sample = labelValues(g.sample[:0], labels, keys)
	g.key = appendLengthPrefixed(g.key[:0], g.sample)
	// A string over g.key's bytes, not a copy: Go elides the copy for
	// m[string(b)], but not for a string inside a struct key, and this
	// lookup runs once per sample. Keys stored in maps are cloned.
	return unsafe.String(unsafe.SliceData(g.key), len(g.key)) //nolint:gosec // G103: a lookup key over the scratch bytes, never kept (cloned when it is).
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
			strings.Compare(ga.Labels, gb.Labels),
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

// appendFrames appends the stack of s, a sample of the profile grouped
// last.
func (g *Grouper) appendFrames(frames []signature.Frame, s *decode.Sample) []signature.Frame {
	for _, l := range s.Location {
		for _, ln := range g.p.Location[l].Line {
			frames = append(frames, signature.Frame{Function: g.names[ln.Function], File: g.p.Function[ln.Function].Filename, Line: ln.Line})
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
