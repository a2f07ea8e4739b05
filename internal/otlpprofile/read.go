package otlpprofile // import "github.com/goroutinewatch/goroutinereceiver/internal/otlpprofile"

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/google/pprof/profile"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pprofile"

	"github.com/goroutinewatch/goroutinereceiver/internal/limit"
)

// ErrIndex is an index of a profile that points outside its dictionary's
// table.
var ErrIndex = errors.New("index out of range")

// ToPprof returns every profile of ps as a google/pprof profile, the form
// `go tool pprof` reads: its sample and period type, each sample's stack as
// its locations, innermost first, its values, and its attributes as string
// labels. Resource and scope attributes are left out. An index outside its
// table is an error naming the profile and the table. It reads what a Batch
// writes; a sender whose samples point at a table's entry 0 (the zero
// location or function, valid OTLP) is refused, since google/pprof
// reserves id 0.
func ToPprof(ps pprofile.Profiles) ([]*profile.Profile, error) {
	d := reader{dict: ps.Dictionary()}
	var out []*profile.Profile
	rps := ps.ResourceProfiles()
	for i := range rps.Len() {
		sps := rps.At(i).ScopeProfiles()
		for j := range sps.Len() {
			profs := sps.At(j).Profiles()
			for k := range profs.Len() {
				p, err := d.profile(profs.At(k))
				if err != nil {
					return nil, fmt.Errorf("profile %d of scope %d of resource %d: %w", k, j, i, err)
				}
				out = append(out, p)
			}
		}
	}
	return out, nil
}

// Limits bound what reading one profile may build. A sender's stacks are
// shared, in a table: S samples of one stack of N locations are S×N frames
// once read, from a request of a few kilobytes. Zero is no bound.
type Limits struct {
	// MaxSamples bounds the profile's samples.
	MaxSamples int
	// MaxEntries bounds the distinct locations and functions its samples
	// reach (not the dictionary's, which a request shares among many
	// profiles).
	MaxEntries int
	// MaxFrames is the frames of a stack read: a deeper stack keeps its
	// innermost MaxFrames+1, so that the decoder that reads the profile
	// next sees it is deeper, cuts it to MaxFrames and reports it.
	MaxFrames int
	// MaxRead bounds what is read over all samples and locations: frames,
	// lines, values and attribute references one each, and the bytes of
	// each attribute string reached, once, by eights.
	MaxRead int
}

// Check returns the limit a profile breaks, before anything of it is
// built: limit.MaxSamples, limit.MaxLocations for the entries its samples
// reach, limit.MaxProfileBytes for what reading them would take. An index
// outside its table is left to ProfileToPprof to report.
func Check(dict pprofile.ProfilesDictionary, p pprofile.Profile, lim Limits) error {
	samples := p.Samples()
	if lim.MaxSamples > 0 && samples.Len() > lim.MaxSamples {
		return limit.Exceeded(limit.MaxSamples, int64(lim.MaxSamples))
	}
	stacks, locs, attrs := dict.StackTable(), dict.LocationTable(), dict.AttributeTable()
	reached := map[int32]bool{}
	attrsRead := map[int32]bool{}
	read := 0
	for i := range samples.Len() {
		s := samples.At(i)
		read += s.Values().Len() + s.AttributeIndices().Len()
		for j := range s.AttributeIndices().Len() {
			// A string read once, shared by every label that holds it:
			// its bytes count once, as pointers do.
			ai := s.AttributeIndices().At(j)
			if attrsRead[ai] || ai < 0 || int(ai) >= attrs.Len() {
				continue
			}
			attrsRead[ai] = true
			if v := attrs.At(int(ai)).Value(); v.Type() == pcommon.ValueTypeStr {
				read += len(v.Str()) / 8
			}
		}
		si := s.StackIndex()
		if si < 0 || int(si) >= stacks.Len() {
			continue
		}
		li := stacks.At(int(si)).LocationIndices()
		n := li.Len()
		if lim.MaxFrames > 0 {
			n = min(n, lim.MaxFrames+1)
		}
		read += n
		for j := range n {
			l := li.At(j)
			if reached[l] || l < 0 || int(l) >= locs.Len() {
				continue
			}
			reached[l] = true
			lines := locs.At(int(l)).Lines()
			read += lines.Len()
			for k := range lines.Len() {
				reached[-1-lines.At(k).FunctionIndex()] = true // functions, apart from locations
			}
			if lim.MaxEntries > 0 && len(reached) > lim.MaxEntries {
				return limit.Exceeded(limit.MaxLocations, int64(lim.MaxEntries))
			}
		}
		if lim.MaxRead > 0 && read > lim.MaxRead {
			return limit.Exceeded(limit.MaxProfileBytes, int64(lim.MaxRead))
		}
	}
	return nil
}

// Options are how ProfileToPprof reads a profile.
type Options struct {
	// MaxFrames, when set, is the deepest stack read, as Limits.MaxFrames.
	MaxFrames int
	// LabelPrefix is cut from the attribute keys that start with it: the
	// receiver writes a pprof label as goroutine.label.<key>.
	LabelPrefix string
}

// ProfileToPprof returns one profile of a batch whose dictionary is dict as
// ToPprof does, read as opts says.
func ProfileToPprof(dict pprofile.ProfilesDictionary, p pprofile.Profile, opts Options) (*profile.Profile, error) {
	d := reader{dict: dict, opts: opts}
	return d.profile(p)
}

// reader turns a batch's dictionary entries into google/pprof's, each
// once.
type reader struct {
	dict pprofile.ProfilesDictionary
	opts Options
	fns  map[int32]*profile.Function
	locs map[int32]*profile.Location
}

func (d *reader) str(i int32) (string, error) {
	t := d.dict.StringTable()
	if i < 0 || int(i) >= t.Len() {
		return "", fmt.Errorf("string %d: %w (%d strings)", i, ErrIndex, t.Len())
	}
	return t.At(int(i)), nil
}

func (d *reader) profile(src pprofile.Profile) (*profile.Profile, error) {
	d.fns, d.locs = map[int32]*profile.Function{}, map[int32]*profile.Location{}
	st, err := d.valueType(src.SampleType())
	if err != nil {
		return nil, fmt.Errorf("sample type: %w", err)
	}
	pt, err := d.valueType(src.PeriodType())
	if err != nil {
		return nil, fmt.Errorf("period type: %w", err)
	}
	p := &profile.Profile{
		SampleType: []*profile.ValueType{st},
		PeriodType: pt,
		Period:     src.Period(),
		TimeNanos:  int64(src.Time()),
	}
	for i := range src.Samples().Len() {
		s, err := d.sample(src.Samples().At(i))
		if err != nil {
			return nil, fmt.Errorf("sample %d: %w", i, err)
		}
		p.Sample = append(p.Sample, s)
	}
	for _, f := range d.fns {
		p.Function = append(p.Function, f)
	}
	for _, l := range d.locs {
		p.Location = append(p.Location, l)
	}
	// google/pprof numbers functions and locations from 1, in table order.
	sortByID(p)
	return p, p.CheckValid()
}

func (d *reader) valueType(v pprofile.ValueType) (*profile.ValueType, error) {
	typ, err := d.str(v.TypeStrindex())
	if err != nil {
		return nil, err
	}
	unit, err := d.str(v.UnitStrindex())
	if err != nil {
		return nil, err
	}
	return &profile.ValueType{Type: typ, Unit: unit}, nil
}

func (d *reader) sample(s pprofile.Sample) (*profile.Sample, error) {
	out := &profile.Sample{Value: s.Values().AsRaw()}
	stacks := d.dict.StackTable()
	if si := s.StackIndex(); si < 0 || int(si) >= stacks.Len() {
		return nil, fmt.Errorf("stack %d: %w (%d stacks)", si, ErrIndex, stacks.Len())
	}
	locs := stacks.At(int(s.StackIndex())).LocationIndices()
	n := locs.Len()
	if d.opts.MaxFrames > 0 {
		n = min(n, d.opts.MaxFrames+1)
	}
	for i := range n {
		l, err := d.location(locs.At(i))
		if err != nil {
			return nil, err
		}
		out.Location = append(out.Location, l)
	}
	attrs := d.dict.AttributeTable()
	for i := range s.AttributeIndices().Len() {
		ai := s.AttributeIndices().At(i)
		if ai < 0 || int(ai) >= attrs.Len() {
			return nil, fmt.Errorf("attribute %d: %w (%d attributes)", ai, ErrIndex, attrs.Len())
		}
		kv := attrs.At(int(ai))
		switch kv.Value().Type() {
		case pcommon.ValueTypeStr, pcommon.ValueTypeInt, pcommon.ValueTypeDouble, pcommon.ValueTypeBool:
		default:
			continue // a map, list or bytes is no label, and would be copied whole for each
		}
		key, err := d.str(kv.KeyStrindex())
		if err != nil {
			return nil, fmt.Errorf("attribute %d: %w", ai, err)
		}
		if after, ok := strings.CutPrefix(key, d.opts.LabelPrefix); ok && d.opts.LabelPrefix != "" {
			key = after
		}
		if out.Label == nil {
			out.Label = map[string][]string{}
		}
		out.Label[key] = append(out.Label[key], kv.Value().AsString())
	}
	return out, nil
}

func (d *reader) location(i int32) (*profile.Location, error) {
	if l, ok := d.locs[i]; ok {
		return l, nil
	}
	t := d.dict.LocationTable()
	if i < 0 || int(i) >= t.Len() {
		return nil, fmt.Errorf("location %d: %w (%d locations)", i, ErrIndex, t.Len())
	}
	src := t.At(int(i))
	l := &profile.Location{ID: uint64(i), Address: src.Address()}
	for j := range src.Lines().Len() {
		line := src.Lines().At(j)
		f, err := d.function(line.FunctionIndex())
		if err != nil {
			return nil, fmt.Errorf("location %d: %w", i, err)
		}
		l.Line = append(l.Line, profile.Line{Function: f, Line: line.Line(), Column: line.Column()})
	}
	d.locs[i] = l
	return l, nil
}

func (d *reader) function(i int32) (*profile.Function, error) {
	if f, ok := d.fns[i]; ok {
		return f, nil
	}
	t := d.dict.FunctionTable()
	if i < 0 || int(i) >= t.Len() {
		return nil, fmt.Errorf("function %d: %w (%d functions)", i, ErrIndex, t.Len())
	}
	src := t.At(int(i))
	name, err := d.str(src.NameStrindex())
	if err != nil {
		return nil, fmt.Errorf("function %d name: %w", i, err)
	}
	system, err := d.str(src.SystemNameStrindex())
	if err != nil {
		return nil, fmt.Errorf("function %d system name: %w", i, err)
	}
	file, err := d.str(src.FilenameStrindex())
	if err != nil {
		return nil, fmt.Errorf("function %d file: %w", i, err)
	}
	f := &profile.Function{ID: uint64(i), Name: name, SystemName: system, Filename: file, StartLine: src.StartLine()}
	d.fns[i] = f
	return f, nil
}

// sortByID orders p's functions and locations by id, the dictionary's
// order: their indexes in its tables.
func sortByID(p *profile.Profile) {
	slices.SortFunc(p.Function, func(a, b *profile.Function) int { return cmp.Compare(a.ID, b.ID) })
	slices.SortFunc(p.Location, func(a, b *profile.Location) int { return cmp.Compare(a.ID, b.ID) })
}
