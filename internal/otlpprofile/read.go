package otlpprofile // import "github.com/goroutinewatch/goroutinereceiver/internal/otlpprofile"

import (
	"cmp"
	"errors"
	"fmt"
	"slices"

	"github.com/google/pprof/profile"
	"go.opentelemetry.io/collector/pdata/pprofile"
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

// Sizes returns what a profile of a batch asks to be read: its
// samples, and its dictionary's locations, functions, mappings and strings
// together (the decoder's max_samples and max_locations count the same),
// so that a hostile sender's tables are refused before they are read.
func Sizes(dict pprofile.ProfilesDictionary, p pprofile.Profile) (samples, tables int) {
	return p.Samples().Len(), dict.LocationTable().Len() + dict.FunctionTable().Len() +
		dict.MappingTable().Len() + dict.StringTable().Len()
}

// ProfileToPprof returns one profile of a batch whose dictionary is dict as
// ToPprof does.
func ProfileToPprof(dict pprofile.ProfilesDictionary, p pprofile.Profile) (*profile.Profile, error) {
	d := reader{dict: dict}
	return d.profile(p)
}

// reader turns a batch's dictionary entries into google/pprof's, each
// once.
type reader struct {
	dict pprofile.ProfilesDictionary
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
	for i := range locs.Len() {
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
		key, err := d.str(kv.KeyStrindex())
		if err != nil {
			return nil, fmt.Errorf("attribute %d: %w", ai, err)
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
