package decode

import (
	"fmt"
	"slices"
)

// resolver turns a rawProfile into a Profile, checking every reference. It
// keeps the first bad reference in err and goes on with zero values, so that
// a table is resolved in one pass and checked once, as pprof's own decoder
// threads its error through every lookup.
type resolver struct {
	strings []string
	err     error

	// Positions in Profile.Location and Profile.Function by id: a slice
	// when ids are dense, as the runtime writes them, a map otherwise.
	locations, functions idIndex
}

// str returns string-table entry i.
func (r *resolver) str(i int64) string {
	if i < 0 || i >= int64(len(r.strings)) {
		r.fail("%w: string index %d outside a table of %d", ErrMalformed, i, len(r.strings))
		return ""
	}
	return r.strings[i]
}

func (r *resolver) fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf(format, args...)
	}
}

// resolve fills p from raw: ids become positions, indexes strings.
func (r *resolver) resolve(raw *rawProfile, p *Profile) error {
	if len(raw.strings) == 0 || raw.strings[0] != "" {
		// profile.proto requires string_table[0] == "", and every real
		// profile has it; its absence is the cheapest sign of foreign bytes.
		return fmt.Errorf("%w: string table does not start with the empty string", ErrMalformed)
	}
	if i := slices.Index(raw.strings[1:], ""); i >= 0 {
		// The table is deduplicated: a second empty string is a second
		// profile concatenated to the first, whose indexes would resolve
		// into the wrong strings.
		return fmt.Errorf("%w: a second string table starts at index %d: concatenated profiles", ErrMalformed, i+1)
	}
	r.strings, r.err = raw.strings, nil

	*p = Profile{
		SampleType: p.SampleType[:0],
		Sample:     p.Sample[:0],
		Location:   p.Location[:0],
		Function:   p.Function[:0],
		Mapping:    p.Mapping[:0],
		TimeNanos:  raw.timeNanos,
		StringsCut: raw.stringsCut,
		// Grown to size up front, so that the runs sliced from them below
		// stay in one array.
		lines:           slices.Grow(p.lines[:0], len(raw.lines)),
		sampleLocations: slices.Grow(p.sampleLocations[:0], len(raw.locationIDs)),
		labels:          slices.Grow(p.labels[:0], len(raw.labels)),
	}
	for _, vt := range raw.sampleTypes {
		p.SampleType = append(p.SampleType, ValueType{Type: r.str(vt.typ), Unit: r.str(vt.unit)})
	}
	for _, m := range raw.mappings {
		p.Mapping = append(p.Mapping, Mapping{
			ID: m.id, MemoryStart: m.start, MemoryLimit: m.limit, FileOffset: m.offset,
			Filename: r.str(m.file), BuildID: r.str(m.buildID),
		})
	}
	if r.err != nil {
		return r.err
	}
	if err := r.resolveFunctions(raw, p); err != nil {
		return err
	}
	if err := r.resolveLocations(raw, p); err != nil {
		return err
	}
	return r.resolveSamples(raw, p)
}

func (r *resolver) resolveFunctions(raw *rawProfile, p *Profile) error {
	r.functions.reset(len(raw.functions))
	for _, f := range raw.functions {
		p.Function = append(p.Function, Function{
			ID: f.id, Name: r.str(f.name), SystemName: r.str(f.system), Filename: r.str(f.file), StartLine: f.startLine,
		})
		if r.err != nil {
			return r.err
		}
		if f.id == 0 {
			return fmt.Errorf("%w: function with id 0", ErrMalformed)
		}
		r.functions.set(f.id, int32(len(p.Function)-1))
	}
	return nil
}

func (r *resolver) resolveLocations(raw *rawProfile, p *Profile) error {
	r.locations.reset(len(raw.locations))
	start := 0
	for _, l := range raw.locations {
		if l.id == 0 {
			return fmt.Errorf("%w: location with id 0", ErrMalformed)
		}
		first := len(p.lines)
		for _, ln := range raw.lines[start:l.lines] {
			f, ok := r.functions.get(ln.functionID)
			if !ok {
				return fmt.Errorf("%w: location %d references unknown function %d", ErrMalformed, l.id, ln.functionID)
			}
			p.lines = append(p.lines, Line{Function: f, Line: ln.line})
		}
		start = l.lines
		r.locations.set(l.id, int32(len(p.Location)))
		p.Location = append(p.Location, Location{ID: l.id, Address: l.address, Line: p.lines[first:len(p.lines):len(p.lines)]})
	}
	return nil
}

func (r *resolver) resolveSamples(raw *rawProfile, p *Profile) error {
	var loc, val, lab int
	for _, s := range raw.samples {
		if s.values-val != len(p.SampleType) {
			return fmt.Errorf("%w: sample has %d values for %d sample types", ErrMalformed, s.values-val, len(p.SampleType))
		}
		for _, id := range raw.locationIDs[loc:s.locations] {
			i, ok := r.locations.get(id)
			if !ok {
				return fmt.Errorf("%w: sample references unknown location %d", ErrMalformed, id)
			}
			p.sampleLocations = append(p.sampleLocations, i)
		}
		for _, l := range raw.labels[lab:s.labels] {
			p.labels = append(p.labels, Label{Key: r.str(l.key), Str: r.str(l.str), Num: l.num})
		}
		if r.err != nil {
			return r.err
		}
		p.Sample = append(p.Sample, Sample{
			Location: p.sampleLocations[loc:s.locations:s.locations],
			Value:    raw.values[val:s.values:s.values],
			Label:    p.labels[lab:s.labels:s.labels],
			StackCut: s.stackCut,
		})
		loc, val, lab = s.locations, s.values, s.labels
	}
	return nil
}

// idIndex maps ids to positions in a table.
type idIndex struct {
	dense  []int32 // position+1 by id; 0: absent
	sparse map[uint64]int32
}

// reset prepares for a table of n entries. The runtime numbers them 1 to n;
// ids beyond 4n+64 go to a map, so that a crafted id costs no memory.
func (x *idIndex) reset(n int) {
	x.dense = slices.Grow(x.dense[:0], 4*n+64)[:4*n+64]
	clear(x.dense)
	clear(x.sparse)
}

func (x *idIndex) set(id uint64, pos int32) {
	if id < uint64(len(x.dense)) {
		x.dense[id] = pos + 1
		return
	}
	if x.sparse == nil {
		x.sparse = make(map[uint64]int32)
	}
	x.sparse[id] = pos
}

func (x *idIndex) get(id uint64) (int32, bool) {
	if id < uint64(len(x.dense)) {
		pos := x.dense[id]
		return pos - 1, pos > 0
	}
	pos, ok := x.sparse[id]
	return pos, ok
}
