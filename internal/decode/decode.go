package decode

import (
	"bufio"
	"compress/flate"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"slices"

	"google.golang.org/protobuf/encoding/protowire"
)

// ErrMalformed reports bytes that are not a well-formed profile.proto
// message, compressed or not.
var ErrMalformed = errors.New("malformed profile")

// ErrLimit is matched by every *LimitError.
var ErrLimit = errors.New("limit exceeded")

// LimitError reports a profile that breaks one of Limits. Limit is the
// name of the configuration key that sets it.
type LimitError struct {
	Limit string
	Max   int64
}

func (e *LimitError) Error() string {
	return fmt.Sprintf("profile exceeds %s (%d)", e.Limit, e.Max)
}

// Is makes errors.Is(err, ErrLimit) true.
func (e *LimitError) Is(target error) bool { return target == ErrLimit }

// MaxRatio bounds how many times its compressed size a body may expand to,
// past the first RatioSlack bytes. Goroutine profiles compress about 6 to 1
// (measured on 20,000 goroutines); deflate cannot pass about 1032 to 1, and
// a gzip bomb sits there. Refusing beyond 250 to 1 leaves real profiles, even
// of deep identical recursion, a wide margin and stops a bomb after about
// 1 MiB instead of at max_profile_bytes.
const (
	MaxRatio   = 250
	RatioSlack = 1 << 20
)

// MaxMessageBytes bounds one top-level message of the profile (a sample, a
// location, a string). A real one is a few kilobytes; the decoder refuses a
// larger one from its length prefix, before reading it, so a crafted sample
// claiming millions of locations costs nothing.
const MaxMessageBytes = 1 << 20

// Limits bound what one Decode may cost. Every limit is checked while the
// profile streams in; none is checked after reading everything.
type Limits struct {
	// MaxBytes is the most decompressed bytes read (max_profile_bytes).
	// A gzip trailer states a size too, but a hostile target writes what it
	// likes there, so only bytes actually produced count.
	MaxBytes int64
	// MaxFrames is the most locations kept per sample; deeper stacks keep
	// their innermost MaxFrames and are marked Truncated. 0 keeps all.
	MaxFrames int
	// MaxStringBytes truncates longer strings (function and file names,
	// labels) and counts them in Profile.TruncatedStrings. 0: no limit.
	MaxStringBytes int
	// MaxSamples is the most samples (distinct stacks and label sets).
	// 0: no limit.
	MaxSamples int
	// MaxLocations is the most entries of the profile's tables: locations,
	// functions, mappings and strings together. 0: no limit.
	MaxLocations int
}

// Decode reads one profile from r, gzip-compressed (as the runtime writes
// it) or not (as `go tool pprof -proto` may save it). Top-level fields are
// read one at a time, each message into a reused buffer, so memory follows
// the decoded profile, not the size of the stream.
func Decode(r io.Reader, lim Limits) (*Profile, error) {
	src, closeFn, err := decompress(r, lim.MaxBytes)
	if err != nil {
		return nil, err
	}
	defer closeFn()
	br := bufio.NewReaderSize(src, 32<<10)

	raw := rawProfile{lim: lim}
	var msg []byte
	for {
		tag, err := readUvarint(br)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, streamErr(err)
		}
		num, typ := protowire.DecodeTag(tag)
		var v uint64
		switch typ {
		case protowire.VarintType:
			v, err = readUvarint(br)
		case protowire.Fixed64Type:
			_, err = br.Discard(8)
		case protowire.Fixed32Type:
			_, err = br.Discard(4)
		case protowire.BytesType:
			var n uint64
			if n, err = readUvarint(br); err != nil {
				break
			}
			if n > MaxMessageBytes {
				return nil, &LimitError{Limit: "max_message_bytes", Max: MaxMessageBytes}
			}
			msg = slices.Grow(msg[:0], int(n))[:n]
			_, err = io.ReadFull(br, msg)
		default:
			// Groups are not part of profile.proto; a start-group tag here
			// means the bytes are something else (an HTML page starts with
			// '<', which reads as field 7 of type end-group).
			return nil, fmt.Errorf("%w: unexpected wire type %d for field %d", ErrMalformed, typ, num)
		}
		if err != nil {
			return nil, streamErr(err)
		}
		if num < 1 {
			return nil, fmt.Errorf("%w: field number %d", ErrMalformed, num)
		}
		if err := raw.field(num, typ, v, msg); err != nil {
			return nil, err
		}
	}
	return raw.resolve()
}

// decompress returns r, through gzip if it starts with gzip's magic, limited
// to limit bytes: reading past them fails with a *LimitError.
func decompress(r io.Reader, limit int64) (io.Reader, func(), error) {
	br := bufio.NewReader(r)
	magic, err := br.Peek(2)
	switch {
	case len(magic) == 0 && errors.Is(err, io.EOF):
		return nil, nil, fmt.Errorf("%w: empty body", ErrMalformed)
	case err != nil && !errors.Is(err, io.EOF):
		return nil, nil, err
	}
	if len(magic) < 2 || magic[0] != 0x1f || magic[1] != 0x8b {
		return &limitedReader{r: br, left: limit, limit: limit}, func() {}, nil
	}
	compressed := &CountingReader{R: br}
	zr, err := gzip.NewReader(compressed)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: gzip: %w", ErrMalformed, err)
	}
	return &limitedReader{r: zr, left: limit, limit: limit, compressed: compressed}, func() { _ = zr.Close() }, nil
}

// CountingReader counts the bytes read through it.
type CountingReader struct {
	R io.Reader
	N int64
}

func (c *CountingReader) Read(p []byte) (int, error) {
	n, err := c.R.Read(p)
	c.N += int64(n)
	return n, err
}

// limitedReader fails once more than limit bytes are read, where
// io.LimitReader would end quietly and leave a truncated profile, and, when
// compressed counts the bytes under a gzip stream, once the stream expands
// more than MaxRatio times.
type limitedReader struct {
	r           io.Reader
	left, limit int64
	compressed  *CountingReader
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.left < 0 {
		return 0, &LimitError{Limit: "max_profile_bytes", Max: l.limit}
	}
	if int64(len(p)) > l.left+1 {
		p = p[:l.left+1]
	}
	n, err := l.r.Read(p)
	l.left -= int64(n)
	if l.left < 0 {
		return 0, &LimitError{Limit: "max_profile_bytes", Max: l.limit}
	}
	if l.compressed != nil {
		if out := l.limit - l.left; out > RatioSlack && out > MaxRatio*l.compressed.N {
			return 0, &LimitError{Limit: "compression_ratio", Max: MaxRatio}
		}
	}
	return n, err
}

// streamErr names what went wrong reading the stream: a limit, a gzip
// stream cut short or corrupt, or a message cut short.
func streamErr(err error) error {
	switch {
	case errors.Is(err, ErrLimit):
		return err
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return fmt.Errorf("%w: truncated: %w", ErrMalformed, io.ErrUnexpectedEOF)
	case errors.Is(err, gzip.ErrChecksum), errors.Is(err, gzip.ErrHeader):
		return fmt.Errorf("%w: gzip: %w", ErrMalformed, err)
	}
	var flate flateError
	if errors.As(err, &flate) {
		return fmt.Errorf("%w: gzip: %w", ErrMalformed, err)
	}
	return err
}

// readUvarint reads a base-128 varint; one longer than 64 bits is malformed.
func readUvarint(r io.ByteReader) (uint64, error) {
	var v uint64
	for shift := uint(0); shift < 64; shift += 7 {
		b, err := r.ReadByte()
		if err != nil {
			if shift > 0 && errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return 0, err
		}
		if shift == 63 && b > 1 {
			break
		}
		v |= uint64(b&0x7f) << shift
		if b < 0x80 {
			return v, nil
		}
	}
	return 0, fmt.Errorf("%w: varint longer than 64 bits", ErrMalformed)
}

// flateError is what compress/flate returns for corrupt input.
type flateError = flate.CorruptInputError

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
		lim         Limits
		sampleTypes [][2]int64
		samples     []rawSample
		locations   []rawLocation
		functions   []rawFunction
		mappings    []rawMapping
		strings     []string
		timeNanos   int64
		truncated   int // strings cut to lim.MaxStringBytes
		entries     int // table entries so far, against lim.MaxLocations
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

// entry counts one table entry against lim.MaxLocations.
func (raw *rawProfile) entry() error {
	raw.entries++
	if raw.lim.MaxLocations > 0 && raw.entries > raw.lim.MaxLocations {
		return &LimitError{Limit: "max_locations", Max: int64(raw.lim.MaxLocations)}
	}
	return nil
}

// field takes one top-level field of the profile message.
func (raw *rawProfile) field(num protowire.Number, typ protowire.Type, v uint64, msg []byte) error {
	lim := raw.lim
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
		if lim.MaxSamples > 0 && len(raw.samples) >= lim.MaxSamples {
			return &LimitError{Limit: "max_samples", Max: int64(lim.MaxSamples)}
		}
		s, err := parseSample(msg, lim.MaxFrames)
		raw.samples = append(raw.samples, s)
		return err
	case num == profileLocation && typ == protowire.BytesType:
		if err := raw.entry(); err != nil {
			return err
		}
		l, err := parseLocation(msg)
		raw.locations = append(raw.locations, l)
		return err
	case num == profileFunction && typ == protowire.BytesType:
		if err := raw.entry(); err != nil {
			return err
		}
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
		if err := raw.entry(); err != nil {
			return err
		}
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
		if err := raw.entry(); err != nil {
			return err
		}
		if lim.MaxStringBytes > 0 && len(msg) > lim.MaxStringBytes {
			msg = msg[:lim.MaxStringBytes]
			raw.truncated++
		}
		raw.strings = append(raw.strings, string(msg))
	case num == profileTimeNanos && typ == protowire.VarintType:
		raw.timeNanos = int64(v)
	}
	return nil
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
	if i := slices.Index(raw.strings[1:], ""); i >= 0 {
		// The table is deduplicated: a second empty string is a second
		// profile concatenated to the first, whose indexes would resolve
		// into the wrong strings.
		return nil, fmt.Errorf("%w: a second string table starts at index %d: concatenated profiles", ErrMalformed, i+1)
	}

	p := &Profile{TimeNanos: raw.timeNanos, TruncatedStrings: raw.truncated}
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
