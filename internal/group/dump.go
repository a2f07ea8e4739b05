package group

import (
	"errors"
	"io"
	"slices"
	"strings"
	"unsafe"

	"github.com/goroutinewatch/goroutinereceiver/internal/decode"
	"github.com/goroutinewatch/goroutinereceiver/internal/dump"
	"github.com/goroutinewatch/goroutinereceiver/internal/limit"
	"github.com/goroutinewatch/goroutinereceiver/internal/signature"
)

// OfDump groups a debug=2 dump as it streams: one goroutine at a time, so
// memory follows the number of groups, not the size of the dump. Its groups
// carry the ids the profile gives the same stacks (the dump hides the
// runtime frames the ids leave out), and what only the dump tells: the
// exact wait reason, the longest wait, who started the goroutines, how many
// the runtime marked leaked, and the stack of the first goroutine seen.
//
// A dump cut inside a goroutine (the runtime stops at 64 MiB, and
// lim.MaxBytes may stop it sooner) loses that goroutine only, and
// Result.DumpCut reports it. As with a profile, a stack keeps its
// innermost lim.MaxFrames frames, and more than lim.MaxSamples groups is
// refused with limit.MaxSamples: a dump's size bounds its goroutines,
// not its distinct stacks.
func (g *Grouper) OfDump(r io.Reader, lim decode.Limits, opts Options) (Result, error) {
	g.reset(nil, opts)
	g.ids, g.values, g.origins = g.ids[:0], g.values[:0], g.origins[:0]

	d := dump.NewReader(r, lim.MaxBytes)
	d.MaxFrames = lim.MaxFrames
	var res Result
	for {
		gr, err := d.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return Result{}, err
		}
		res.Total++
		if ignored(gr.Frames, opts.Ignore) {
			res.Ignored++
			continue
		}
		c := signature.Empty
		for _, f := range gr.Frames {
			c = c.Then(signature.FrameChain(f.Function, f.Line, opts.Mode))
		}
		if c == signature.Empty {
			res.Frameless++
			continue
		}
		if gr.StackCut {
			res.StacksCut++
		}
		pos, added := g.at(c.ID(), g.dumpLabelKey(gr, opts.Labels), len(g.stacks))
		if added {
			if lim.MaxSamples > 0 && len(g.groups) > lim.MaxSamples {
				return Result{}, limit.Exceeded(limit.MaxSamples, int64(lim.MaxSamples))
			}
			g.ids = append(g.ids, dumpIdentity(g.groups[pos].ID, gr, g.sample, opts))
			g.stacks = append(g.stacks, slices.Clone(gr.Frames))
			g.origins = append(g.origins, origins{})
		}
		g.origins[pos].add(originOf(gr, &opts.Code))
		grp := &g.groups[pos]
		grp.Count++
		grp.WaitMinutes = max(grp.WaitMinutes, gr.WaitMinutes)
		if gr.Leaked {
			grp.Leaked++
		}
	}
	res.DumpCut = d.Cut
	for i := range g.groups {
		g.groups[i].Stack = g.stacks[g.groups[i].Sample]
		g.groups[i].Identity = &g.ids[i]
		g.ids[i].Origins = g.origins[i].sorted()
	}
	res.Groups = g.groups
	return res, nil
}

// dumpLabelKey is labelKey for a dump's goroutine, whose labels the header
// spells.
func (g *Grouper) dumpLabelKey(gr *dump.Goroutine, keys []string) string {
	if len(keys) == 0 {
		return ""
	}
	g.sample = g.sample[:0]
	for _, k := range keys {
		v := ""
		for _, l := range gr.Labels {
			if l.Key == k {
				v = l.Value
				break
			}
		}
		g.sample = append(g.sample, v)
	}
	g.key = appendLengthPrefixed(g.key[:0], g.sample)
	return unsafe.String(unsafe.SliceData(g.key), len(g.key)) //nolint:gosec // G103: a lookup key over the scratch bytes, never kept (cloned when it is).
}

// dumpIdentity is the identity of a dump's group, from its first goroutine
// gr, whose kept label values are values: the wait is the header's, and the
// creator is known.
func dumpIdentity(id signature.ID, gr *dump.Goroutine, values []string, opts Options) Identity {
	e := Identity{Info: signature.Classify(gr.Frames, id)}
	// The header names the wait exactly; the frames of a dump lack the
	// runtime's, from which a profile's wait is read.
	e.Wait = strings.Clone(gr.Wait)
	e.Creator = gr.CreatedBy
	e.User, _ = opts.Code.Innermost(gr.Frames)
	if len(opts.Labels) > 0 {
		e.LabelValues = slices.Clone(values)
	}
	return e
}
