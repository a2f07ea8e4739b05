package decode

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"

	"google.golang.org/protobuf/encoding/protowire"
)

var (
	// ErrTooLarge reports a profile whose decompressed size exceeds
	// Limits.MaxBytes. A gzip trailer states a size too, but a hostile target
	// writes what it likes there, so only bytes actually produced count.
	ErrTooLarge = errors.New("decompressed profile exceeds the size limit")
	// ErrMalformed reports bytes that are not a well-formed profile.proto
	// message, compressed or not.
	ErrMalformed = errors.New("malformed profile")
)

// Limits bound what one Decode may cost.
type Limits struct {
	// MaxBytes is the most decompressed bytes read; more is ErrTooLarge.
	MaxBytes int64
	// MaxFrames is the most locations kept per sample; deeper stacks keep
	// their innermost MaxFrames and are marked Truncated. 0 keeps all.
	MaxFrames int
}

// Decode reads one profile from r, gzip-compressed (as the runtime writes
// it) or not (as `go tool pprof -proto` may save it).
func Decode(r io.Reader, lim Limits) (*Profile, error) {
	raw, err := readAll(r, lim.MaxBytes)
	if err != nil {
		return nil, err
	}
	return Parse(raw, lim.MaxFrames)
}

func readAll(r io.Reader, limit int64) ([]byte, error) {
	var magic [2]byte
	n, err := io.ReadFull(r, magic[:])
	switch {
	case errors.Is(err, io.EOF):
		return nil, fmt.Errorf("%w: empty body", ErrMalformed)
	case errors.Is(err, io.ErrUnexpectedEOF):
		// One byte: too short for gzip, left for the parser to reject.
	case err != nil:
		return nil, err
	}
	r = io.MultiReader(bytes.NewReader(magic[:n]), r)
	if n == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(r)
		if err != nil {
			return nil, fmt.Errorf("%w: gzip: %w", ErrMalformed, err)
		}
		defer zr.Close()
		r = zr
	}
	var buf bytes.Buffer
	got, err := buf.ReadFrom(io.LimitReader(r, limit+1))
	if err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, gzip.ErrChecksum) || errors.Is(err, gzip.ErrHeader) {
			return nil, fmt.Errorf("%w: gzip: %w", ErrMalformed, err)
		}
		return nil, err
	}
	if got > limit {
		return nil, fmt.Errorf("%w of %d bytes", ErrTooLarge, limit)
	}
	return buf.Bytes(), nil
}

// profile.proto field numbers.
const (
	profileSampleType  = 1
	profileSample      = 2
	profileMapping     = 3
	profileLocation    = 4
	profileFunction    = 5
	profileStringTable = 6
	profileTimeNanos   = 9

	valueTypeType = 1
	valueTypeUnit = 2

	sampleLocationID = 1
	sampleValue      = 2
	sampleLabel      = 3

	labelKey = 1
	labelStr = 2
	labelNum = 3

	locationID      = 1
	locationAddress = 3
	locationLine    = 4

	lineFunctionID = 1
	lineLine       = 2

	mappingID          = 1
	mappingMemoryStart = 2
	mappingMemoryLimit = 3
	mappingFileOffset  = 4
	mappingFilename    = 5
	mappingBuildID     = 6

	functionID         = 1
	functionName       = 2
	functionSystemName = 3
	functionFilename   = 4
	functionStartLine  = 5
)

// The raw records hold string-table indexes and ids; strings come last in the
// runtime's encoding, so nothing can be resolved before the whole message is
// read.
type (
	rawProfile struct {
		sampleTypes [][2]int64
		samples     []rawSample
		locations   []rawLocation
		functions   []rawFunction
		mappings    []rawMapping
		strings     []string
		timeNanos   int64
	}
	rawSample struct {
		locationIDs []uint64
		values      []int64
		labels      [][3]int64 // key, str, num
		truncated   bool
	}
	rawLocation struct {
		id, address uint64
		lines       [][2]uint64 // function id, line
	}
	rawMapping struct {
		id, start, limit, offset uint64
		file, buildID            int64
	}
	rawFunction struct {
		id                 uint64
		name, system, file int64
		startLine          int64
	}
)

// Parse decodes an uncompressed profile.proto message.
func Parse(b []byte, maxFrames int) (*Profile, error) {
	var raw rawProfile
	err := eachField(b, func(num protowire.Number, typ protowire.Type, v uint64, msg []byte) error {
		switch {
		case num == profileSampleType && typ == protowire.BytesType:
			var vt [2]int64
			err := eachField(msg, func(num protowire.Number, typ protowire.Type, v uint64, _ []byte) error {
				if typ == protowire.VarintType && (num == valueTypeType || num == valueTypeUnit) {
					vt[num-valueTypeType] = int64(v)
				}
				return nil
			})
			raw.sampleTypes = append(raw.sampleTypes, vt)
			return err
		case num == profileSample && typ == protowire.BytesType:
			s, err := parseSample(msg, maxFrames)
			raw.samples = append(raw.samples, s)
			return err
		case num == profileLocation && typ == protowire.BytesType:
			l, err := parseLocation(msg)
			raw.locations = append(raw.locations, l)
			return err
		case num == profileFunction && typ == protowire.BytesType:
			var f rawFunction
			err := eachField(msg, func(num protowire.Number, typ protowire.Type, v uint64, _ []byte) error {
				if typ != protowire.VarintType {
					return nil
				}
				switch num {
				case functionID:
					f.id = v
				case functionName:
					f.name = int64(v)
				case functionSystemName:
					f.system = int64(v)
				case functionFilename:
					f.file = int64(v)
				case functionStartLine:
					f.startLine = int64(v)
				}
				return nil
			})
			raw.functions = append(raw.functions, f)
			return err
		case num == profileMapping && typ == protowire.BytesType:
			var m rawMapping
			err := eachField(msg, func(num protowire.Number, typ protowire.Type, v uint64, _ []byte) error {
				if typ != protowire.VarintType {
					return nil
				}
				switch num {
				case mappingID:
					m.id = v
				case mappingMemoryStart:
					m.start = v
				case mappingMemoryLimit:
					m.limit = v
				case mappingFileOffset:
					m.offset = v
				case mappingFilename:
					m.file = int64(v)
				case mappingBuildID:
					m.buildID = int64(v)
				}
				return nil
			})
			raw.mappings = append(raw.mappings, m)
			return err
		case num == profileStringTable && typ == protowire.BytesType:
			raw.strings = append(raw.strings, string(msg))
		case num == profileTimeNanos && typ == protowire.VarintType:
			raw.timeNanos = int64(v)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return raw.resolve()
}

func parseSample(b []byte, maxFrames int) (rawSample, error) {
	var s rawSample
	addLocation := func(id uint64) {
		if maxFrames > 0 && len(s.locationIDs) >= maxFrames {
			s.truncated = true
			return
		}
		s.locationIDs = append(s.locationIDs, id)
	}
	err := eachField(b, func(num protowire.Number, typ protowire.Type, v uint64, msg []byte) error {
		switch {
		case num == sampleLocationID && typ == protowire.VarintType:
			addLocation(v)
		case num == sampleLocationID && typ == protowire.BytesType:
			return eachPacked(msg, addLocation)
		case num == sampleValue && typ == protowire.VarintType:
			s.values = append(s.values, int64(v))
		case num == sampleValue && typ == protowire.BytesType:
			return eachPacked(msg, func(v uint64) { s.values = append(s.values, int64(v)) })
		case num == sampleLabel && typ == protowire.BytesType:
			var l [3]int64
			err := eachField(msg, func(num protowire.Number, typ protowire.Type, v uint64, _ []byte) error {
				if typ == protowire.VarintType && num >= labelKey && num <= labelNum {
					l[num-labelKey] = int64(v)
				}
				return nil
			})
			s.labels = append(s.labels, l)
			return err
		}
		return nil
	})
	return s, err
}

func parseLocation(b []byte) (rawLocation, error) {
	var l rawLocation
	err := eachField(b, func(num protowire.Number, typ protowire.Type, v uint64, msg []byte) error {
		switch {
		case num == locationID && typ == protowire.VarintType:
			l.id = v
		case num == locationAddress && typ == protowire.VarintType:
			l.address = v
		case num == locationLine && typ == protowire.BytesType:
			var ln [2]uint64
			err := eachField(msg, func(num protowire.Number, typ protowire.Type, v uint64, _ []byte) error {
				if typ == protowire.VarintType && (num == lineFunctionID || num == lineLine) {
					ln[num-lineFunctionID] = v
				}
				return nil
			})
			l.lines = append(l.lines, ln)
			return err
		}
		return nil
	})
	return l, err
}

// eachField calls fn for every field of the message in b: v holds a varint
// or fixed value, msg the bytes of a length-delimited one.
func eachField(b []byte, fn func(num protowire.Number, typ protowire.Type, v uint64, msg []byte) error) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return fmt.Errorf("%w: %w", ErrMalformed, protowire.ParseError(n))
		}
		b = b[n:]
		var (
			v   uint64
			msg []byte
		)
		switch typ {
		case protowire.VarintType:
			v, n = protowire.ConsumeVarint(b)
		case protowire.Fixed64Type:
			v, n = protowire.ConsumeFixed64(b)
		case protowire.Fixed32Type:
			var v32 uint32
			v32, n = protowire.ConsumeFixed32(b)
			v = uint64(v32)
		case protowire.BytesType:
			msg, n = protowire.ConsumeBytes(b)
		default:
			// Groups are not part of profile.proto; a start-group tag here
			// means the bytes are something else (an HTML page starts with
			// '<', which reads as field 7 of type end-group).
			return fmt.Errorf("%w: unexpected wire type %d for field %d", ErrMalformed, typ, num)
		}
		if n < 0 {
			return fmt.Errorf("%w: field %d: %w", ErrMalformed, num, protowire.ParseError(n))
		}
		b = b[n:]
		if err := fn(num, typ, v, msg); err != nil {
			return err
		}
	}
	return nil
}

func eachPacked(b []byte, fn func(uint64)) error {
	for len(b) > 0 {
		v, n := protowire.ConsumeVarint(b)
		if n < 0 {
			return fmt.Errorf("%w: packed varint: %w", ErrMalformed, protowire.ParseError(n))
		}
		fn(v)
		b = b[n:]
	}
	return nil
}

func (raw *rawProfile) resolve() (*Profile, error) {
	str := func(i int64) (string, error) {
		if i < 0 || i >= int64(len(raw.strings)) {
			return "", fmt.Errorf("%w: string index %d outside a table of %d", ErrMalformed, i, len(raw.strings))
		}
		return raw.strings[i], nil
	}
	if len(raw.strings) == 0 || raw.strings[0] != "" {
		// profile.proto requires string_table[0] == "", and every real
		// profile has it; its absence is the cheapest sign of foreign bytes.
		return nil, fmt.Errorf("%w: string table does not start with the empty string", ErrMalformed)
	}

	p := &Profile{TimeNanos: raw.timeNanos}
	for _, vt := range raw.sampleTypes {
		t, err := str(vt[0])
		if err != nil {
			return nil, err
		}
		u, err := str(vt[1])
		if err != nil {
			return nil, err
		}
		p.SampleType = append(p.SampleType, ValueType{Type: t, Unit: u})
	}

	for _, rm := range raw.mappings {
		m := Mapping{ID: rm.id, MemoryStart: rm.start, MemoryLimit: rm.limit, FileOffset: rm.offset}
		var err error
		if m.Filename, err = str(rm.file); err != nil {
			return nil, err
		}
		if m.BuildID, err = str(rm.buildID); err != nil {
			return nil, err
		}
		p.Mapping = append(p.Mapping, m)
	}

	functions := make(map[uint64]*Function, len(raw.functions))
	for _, rf := range raw.functions {
		f := &Function{ID: rf.id, StartLine: rf.startLine}
		var err error
		if f.Name, err = str(rf.name); err != nil {
			return nil, err
		}
		if f.SystemName, err = str(rf.system); err != nil {
			return nil, err
		}
		if f.Filename, err = str(rf.file); err != nil {
			return nil, err
		}
		if rf.id == 0 {
			return nil, fmt.Errorf("%w: function with id 0", ErrMalformed)
		}
		functions[rf.id] = f
	}

	locations := make(map[uint64]*Location, len(raw.locations))
	for _, rl := range raw.locations {
		if rl.id == 0 {
			return nil, fmt.Errorf("%w: location with id 0", ErrMalformed)
		}
		l := &Location{ID: rl.id, Address: rl.address, Line: make([]Line, 0, len(rl.lines))}
		for _, ln := range rl.lines {
			f, ok := functions[ln[0]]
			if !ok {
				return nil, fmt.Errorf("%w: location %d references unknown function %d", ErrMalformed, rl.id, ln[0])
			}
			l.Line = append(l.Line, Line{Function: f, Line: int64(ln[1])})
		}
		locations[rl.id] = l
	}

	p.Sample = make([]*Sample, 0, len(raw.samples))
	for _, rs := range raw.samples {
		if len(rs.values) != len(p.SampleType) {
			return nil, fmt.Errorf("%w: sample has %d values for %d sample types", ErrMalformed, len(rs.values), len(p.SampleType))
		}
		s := &Sample{Value: rs.values, Truncated: rs.truncated, Location: make([]*Location, len(rs.locationIDs))}
		for i, id := range rs.locationIDs {
			l, ok := locations[id]
			if !ok {
				return nil, fmt.Errorf("%w: sample references unknown location %d", ErrMalformed, id)
			}
			s.Location[i] = l
		}
		for _, rl := range rs.labels {
			k, err := str(rl[0])
			if err != nil {
				return nil, err
			}
			v, err := str(rl[1])
			if err != nil {
				return nil, err
			}
			s.Label = append(s.Label, Label{Key: k, Str: v, Num: rl[2]})
		}
		p.Sample = append(p.Sample, s)
	}
	return p, nil
}
