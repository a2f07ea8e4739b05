// Package group sums a goroutine profile's samples into groups by stack
// signature (and by the pprof labels the user keeps), largest first.
package group // import "github.com/goroutinewatch/goroutinereceiver/internal/group"

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"

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

// Group is the goroutines that share a signature and kept label values.
type Group struct {
	signature.Info
	Key   Key
	Count int64
	// LabelValues holds the value of each of Options.Labels, "" where the
	// goroutines do not carry it.
	LabelValues []string
	// Frames is the stack, innermost first.
	Frames []signature.Frame
}

// Result is a profile grouped.
type Result struct {
	// Total is every goroutine in the profile.
	Total int64
	// Ignored is the goroutines left out by Options.Ignore.
	Ignored int64
	// Groups holds every group, by count descending and then by signature,
	// so that output order is stable.
	Groups []Group
	// Truncated counts samples whose stacks exceeded the decoder's frame
	// limit; their signature is of the innermost frames only.
	Truncated int
}

// Of groups p, whose first sample type must be "goroutine" or
// "goroutineleak" counted in "count".
func Of(p *decode.Profile, opts Options) (Result, error) {
	if len(p.SampleType) == 0 || p.SampleType[0].Unit != "count" ||
		(p.SampleType[0].Type != "goroutine" && p.SampleType[0].Type != "goroutineleak") {
		var got string
		if len(p.SampleType) > 0 {
			got = p.SampleType[0].Type + "/" + p.SampleType[0].Unit
		}
		return Result{}, fmt.Errorf("%w: sample type %q", ErrNotGoroutineProfile, got)
	}

	var (
		res    Result
		index  = make(map[Key]int, len(p.Sample))
		groups []Group
	)
	for _, s := range p.Sample {
		n := s.Value[0]
		if n <= 0 {
			continue
		}
		res.Total += n
		if s.Truncated {
			res.Truncated++
		}
		frames := framesOf(s)
		if ignored(frames, opts.Ignore) {
			res.Ignored += n
			continue
		}
		info := signature.Classify(frames, opts.Mode)
		values := labelValues(s.Label, opts.Labels)
		k := Key{ID: info.ID, Labels: joinLengthPrefixed(values)}
		if i, ok := index[k]; ok {
			groups[i].Count += n
			continue
		}
		index[k] = len(groups)
		groups = append(groups, Group{Info: info, Key: k, Count: n, LabelValues: values, Frames: frames})
	}

	slices.SortFunc(groups, func(a, b Group) int {
		return cmp.Or(
			cmp.Compare(b.Count, a.Count),
			cmp.Compare(a.ID, b.ID),
			slices.Compare(a.LabelValues, b.LabelValues),
		)
	})
	res.Groups = groups
	return res, nil
}

// Cut returns the indexes of the groups to report: the first n (the
// largest), and beyond them those keep asks for. The rest are summed into
// other, so that the reported counts still add up.
func Cut(groups []Group, n int, keep func(i int) bool, dst []int) (kept []int, other int64) {
	kept = dst[:0]
	for i, g := range groups {
		if i < n || keep(i) {
			kept = append(kept, i)
			continue
		}
		other += g.Count
	}
	return kept, other
}

func framesOf(s *decode.Sample) []signature.Frame {
	n := 0
	for _, l := range s.Location {
		n += len(l.Line)
	}
	frames := make([]signature.Frame, 0, n)
	for _, l := range s.Location {
		for _, ln := range l.Line {
			frames = append(frames, signature.Frame{Function: ln.Function.Name, File: ln.Function.Filename, Line: ln.Line})
		}
	}
	return frames
}

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

func labelValues(labels []decode.Label, keys []string) []string {
	if len(keys) == 0 {
		return nil
	}
	values := make([]string, len(keys))
	for _, l := range labels {
		if i := slices.Index(keys, l.Key); i >= 0 {
			values[i] = l.Str
		}
	}
	return values
}

// joinLengthPrefixed spells a list of strings so that no two lists share a
// spelling, whatever bytes the strings hold.
func joinLengthPrefixed(values []string) string {
	if len(values) == 0 {
		return ""
	}
	var b strings.Builder
	for _, v := range values {
		fmt.Fprintf(&b, "%d:%s", len(v), v)
	}
	return b.String()
}
