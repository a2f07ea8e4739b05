package group

import (
	"errors"
	"io"
	"slices"
	"strings"

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
	if g.known == nil {
		g.known = make(map[signature.ID]*entry)
	}
	g.gen++
	g.groups = g.groups[:0]
	g.stacks = g.stacks[:0]

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
		e := g.dumpEntry(c.ID(), gr, opts)
		if e.seen != g.gen {
			if lim.MaxSamples > 0 && len(g.groups) >= lim.MaxSamples {
				g.forget()
				return Result{}, limit.Exceeded(limit.MaxSamples, int64(lim.MaxSamples))
			}
			e.seen, e.pos = g.gen, len(g.groups)
			g.groups = append(g.groups, Group{Identity: &e.Identity, Sample: len(g.stacks)})
			g.stacks = append(g.stacks, slices.Clone(gr.Frames))
		}
		grp := &g.groups[e.pos]
		grp.Count++
		grp.WaitMinutes = max(grp.WaitMinutes, gr.WaitMinutes)
		if gr.Leaked {
			grp.Leaked++
		}
	}
	res.DumpCut = d.Cut
	for i := range g.groups {
		g.groups[i].Stack = g.stacks[g.groups[i].Sample]
	}
	res.Groups = g.groups
	g.forget()
	return res, nil
}

// dumpEntry is entry for a dump's goroutine: the wait is the header's, and
// the creator is known.
func (g *Grouper) dumpEntry(id signature.ID, gr *dump.Goroutine, opts Options) *entry {
	labels := ""
	if len(opts.Labels) > 0 {
		g.values = g.values[:0]
		for _, k := range opts.Labels {
			v := ""
			for _, l := range gr.Labels {
				if l.Key == k {
					v = l.Value
					break
				}
			}
			g.values = append(g.values, v)
		}
		g.key = appendLengthPrefixed(g.key[:0], g.values)
		labels = string(g.key)
	}
	first := g.known[id]
	for e := first; e != nil; e = e.next {
		if e.Key.Labels == labels {
			return e
		}
	}
	e := &entry{next: first}
	e.Info = signature.Classify(gr.Frames, id)
	// The header names the wait exactly; the frames of a dump lack the
	// runtime's, from which a profile's wait is read.
	e.Wait = strings.Clone(gr.Wait)
	e.Creator = gr.CreatedBy
	if len(opts.Labels) > 0 {
		e.LabelValues = slices.Clone(g.values)
	}
	e.Key = Key{ID: id, Labels: strings.Clone(labels)}
	g.known[id] = e
	return e
}
