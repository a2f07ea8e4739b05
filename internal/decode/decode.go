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

// Decode reads one profile from r with a Decoder of its own.
func Decode(r io.Reader, lim Limits) (*Profile, error) {
	var d Decoder
	return d.Decode(r, lim)
}

// A Decoder decodes profiles one after another, keeping its buffers, its
// gzip state and the strings it has seen, so that decoding the next profile
// of the same target allocates little or nothing. The zero Decoder is ready;
// one Decoder must not be used by two goroutines at once.
type Decoder struct {
	src      *bufio.Reader // the response body, peeked for gzip's magic
	gz       gzip.Reader
	gzInit   bool
	messages *bufio.Reader // the decompressed stream
	msg      []byte

	raw     rawProfile
	profile Profile
	strings interner

	// Positions in profile.Location and profile.Function by id: a slice
	// when ids are dense, as the runtime writes them, a map otherwise.
	locations, functions idIndex
}

// Decode reads one profile from r, gzip-compressed (as the runtime writes
// it) or not (as `go tool pprof -proto` may save it). Top-level fields are
// read one at a time, each message into a reused buffer, so memory follows
// the decoded profile, not the size of the stream. The Profile returned is
// valid until the next call.
func (d *Decoder) Decode(r io.Reader, lim Limits) (*Profile, error) {
	br, err := d.open(r, lim.MaxBytes)
	if err != nil {
		return nil, err
	}
	d.raw.reset(lim)
	for {
		tag, err := readUvarint(br)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, streamErr(err)
		}
		num, typ := protowire.DecodeTag(tag)
		if num < 1 {
			return nil, fmt.Errorf("%w: field number %d", ErrMalformed, num)
		}
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
			if int(n) <= br.Buffered() {
				// Read in place: the message is used before the next read.
				msg, _ := br.Peek(int(n))
				if err := d.raw.field(num, typ, 0, msg, &d.strings); err != nil {
					return nil, err
				}
				_, _ = br.Discard(int(n))
				continue
			}
			d.msg = slices.Grow(d.msg[:0], int(n))[:n]
			_, err = io.ReadFull(br, d.msg)
		default:
			// Groups are not part of profile.proto; a start-group tag here
			// means the bytes are something else (an HTML page starts with
			// '<', which reads as field 7 of type end-group).
			return nil, fmt.Errorf("%w: unexpected wire type %d for field %d", ErrMalformed, typ, num)
		}
		if err != nil {
			return nil, streamErr(err)
		}
		if err := d.raw.field(num, typ, v, d.msg, &d.strings); err != nil {
			return nil, err
		}
	}
	if err := d.resolve(); err != nil {
		return nil, err
	}
	d.strings.forget()
	return &d.profile, nil
}

// open returns the stream of profile bytes in r: through gzip if r starts
// with gzip's magic, and limited to limit bytes, reading past which fails
// with a *LimitError.
func (d *Decoder) open(r io.Reader, limit int64) (*bufio.Reader, error) {
	if d.src == nil {
		d.src = bufio.NewReaderSize(r, 32<<10)
	} else {
		d.src.Reset(r)
	}
	magic, err := d.src.Peek(2)
	switch {
	case len(magic) == 0 && errors.Is(err, io.EOF):
		return nil, fmt.Errorf("%w: empty body", ErrMalformed)
	case err != nil && !errors.Is(err, io.EOF):
		return nil, err
	}
	var stream io.Reader = &limitedReader{r: d.src, left: limit, limit: limit}
	if len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		compressed := &CountingReader{R: d.src}
		if d.gzInit {
			err = d.gz.Reset(compressed)
		} else {
			err = d.gz.Reset(compressed)
			d.gzInit = err == nil
		}
		if err != nil {
			return nil, fmt.Errorf("%w: gzip: %w", ErrMalformed, err)
		}
		stream = &limitedReader{r: &d.gz, left: limit, limit: limit, compressed: compressed}
	}
	if d.messages == nil {
		d.messages = bufio.NewReaderSize(stream, 32<<10)
	} else {
		d.messages.Reset(stream)
	}
	return d.messages, nil
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

// rawProfile holds the fields as read: ids and string-table indexes, which
// only resolve once the whole message is read, since the runtime writes its
// strings last. Its slices are arenas, kept from one profile to the next.
type rawProfile struct {
	lim         Limits
	sampleTypes [][2]int64
	samples     []rawSample
	locationIDs []uint64   // every sample's, in order
	values      []int64    // every sample's, in order
	labels      [][3]int64 // every sample's key, str, num, in order
	locations   []rawLocation
	lines       [][2]uint64 // every location's function id, line, in order
	functions   []rawFunction
	mappings    []rawMapping
	strings     []string
	timeNanos   int64
	truncated   int // strings cut to lim.MaxStringBytes
	entries     int // table entries so far, against lim.MaxLocations
}

// A rawSample's fields are ends of its runs in the arenas; each run starts
// where the previous sample's ends.
type rawSample struct {
	locations, values, labels int
	truncated                 bool
}

type rawLocation struct {
	id, address uint64
	lines       int // end of its run in rawProfile.lines
}

type rawMapping struct {
	id, start, limit, offset uint64
	file, buildID            int64
}

type rawFunction struct {
	id                 uint64
	name, system, file int64
	startLine          int64
}

func (raw *rawProfile) reset(lim Limits) {
	*raw = rawProfile{
		lim:         lim,
		sampleTypes: raw.sampleTypes[:0],
		samples:     raw.samples[:0],
		locationIDs: raw.locationIDs[:0],
		values:      raw.values[:0],
		labels:      raw.labels[:0],
		locations:   raw.locations[:0],
		lines:       raw.lines[:0],
		functions:   raw.functions[:0],
		mappings:    raw.mappings[:0],
		strings:     raw.strings[:0],
	}
}

// entry counts one table entry against lim.MaxLocations.
func (raw *rawProfile) entry() error {
	raw.entries++
	if raw.lim.MaxLocations > 0 && raw.entries > raw.lim.MaxLocations {
		return &LimitError{Limit: "max_locations", Max: int64(raw.lim.MaxLocations)}
	}
	return nil
}

// field takes one top-level field of the profile message.
func (raw *rawProfile) field(num protowire.Number, typ protowire.Type, v uint64, msg []byte, in *interner) error {
	if typ == protowire.VarintType {
		if num == profileTimeNanos {
			raw.timeNanos = int64(v)
		}
		return nil
	}
	if typ != protowire.BytesType {
		return nil
	}
	switch num {
	case profileSampleType:
		var vt [2]int64
		err := scalars(msg, func(num protowire.Number, v uint64) {
			if num == valueTypeType || num == valueTypeUnit {
				vt[num-valueTypeType] = int64(v)
			}
		})
		raw.sampleTypes = append(raw.sampleTypes, vt)
		return err
	case profileSample:
		if raw.lim.MaxSamples > 0 && len(raw.samples) >= raw.lim.MaxSamples {
			return &LimitError{Limit: "max_samples", Max: int64(raw.lim.MaxSamples)}
		}
		return raw.sample(msg)
	case profileLocation:
		if err := raw.entry(); err != nil {
			return err
		}
		return raw.location(msg)
	case profileFunction:
		if err := raw.entry(); err != nil {
			return err
		}
		var f rawFunction
		err := scalars(msg, func(num protowire.Number, v uint64) {
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
		})
		raw.functions = append(raw.functions, f)
		return err
	case profileMapping:
		if err := raw.entry(); err != nil {
			return err
		}
		var m rawMapping
		err := scalars(msg, func(num protowire.Number, v uint64) {
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
		})
		raw.mappings = append(raw.mappings, m)
		return err
	case profileStringTable:
		if err := raw.entry(); err != nil {
			return err
		}
		if raw.lim.MaxStringBytes > 0 && len(msg) > raw.lim.MaxStringBytes {
			msg = msg[:raw.lim.MaxStringBytes]
			raw.truncated++
		}
		raw.strings = append(raw.strings, in.intern(msg))
	}
	return nil
}

// sample reads a Sample message. It is the decoder's inner loop: one call
// per distinct stack, so it walks the bytes itself, without callbacks.
func (raw *rawProfile) sample(b []byte) error {
	s := rawSample{}
	kept := 0
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return fmt.Errorf("%w: sample: %w", ErrMalformed, protowire.ParseError(n))
		}
		b = b[n:]
		switch {
		case num == sampleLocationID && typ == protowire.BytesType:
			packed, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return fmt.Errorf("%w: sample: %w", ErrMalformed, protowire.ParseError(n))
			}
			b = b[n:]
			for len(packed) > 0 {
				var id uint64
				if packed[0] < 0x80 {
					id, packed = uint64(packed[0]), packed[1:]
				} else {
					var n int
					if id, n = protowire.ConsumeVarint(packed); n < 0 {
						return fmt.Errorf("%w: sample location: %w", ErrMalformed, protowire.ParseError(n))
					}
					packed = packed[n:]
				}
				if raw.lim.MaxFrames > 0 && kept >= raw.lim.MaxFrames {
					s.truncated = true
					continue
				}
				raw.locationIDs = append(raw.locationIDs, id)
				kept++
			}
			continue
		case num == sampleValue && typ == protowire.BytesType:
			packed, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return fmt.Errorf("%w: sample: %w", ErrMalformed, protowire.ParseError(n))
			}
			b = b[n:]
			for len(packed) > 0 {
				v, n := protowire.ConsumeVarint(packed)
				if n < 0 {
					return fmt.Errorf("%w: sample value: %w", ErrMalformed, protowire.ParseError(n))
				}
				packed = packed[n:]
				raw.values = append(raw.values, int64(v))
			}
			continue
		case num == sampleLabel && typ == protowire.BytesType:
			msg, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return fmt.Errorf("%w: sample: %w", ErrMalformed, protowire.ParseError(n))
			}
			b = b[n:]
			var l [3]int64
			if err := scalars(msg, func(num protowire.Number, v uint64) {
				if num >= labelKey && num <= labelNum {
					l[num-labelKey] = int64(v)
				}
			}); err != nil {
				return err
			}
			raw.labels = append(raw.labels, l)
			continue
		}
		// An unpacked location id or value, or a field this reader skips.
		if typ != protowire.VarintType {
			n, err := skip(num, typ, b)
			if err != nil {
				return err
			}
			b = b[n:]
			continue
		}
		v, n := protowire.ConsumeVarint(b)
		if n < 0 {
			return fmt.Errorf("%w: sample field %d: %w", ErrMalformed, num, protowire.ParseError(n))
		}
		b = b[n:]
		switch {
		case num == sampleLocationID && raw.lim.MaxFrames > 0 && kept >= raw.lim.MaxFrames:
			s.truncated = true
		case num == sampleLocationID:
			raw.locationIDs = append(raw.locationIDs, v)
			kept++
		case num == sampleValue:
			raw.values = append(raw.values, int64(v))
		}
	}
	s.locations, s.values, s.labels = len(raw.locationIDs), len(raw.values), len(raw.labels)
	raw.samples = append(raw.samples, s)
	return nil
}

// location reads a Location message.
func (raw *rawProfile) location(b []byte) error {
	var l rawLocation
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return fmt.Errorf("%w: location: %w", ErrMalformed, protowire.ParseError(n))
		}
		b = b[n:]
		var v uint64
		switch typ {
		case protowire.VarintType:
			v, n = protowire.ConsumeVarint(b)
		case protowire.BytesType:
			var msg []byte
			if msg, n = protowire.ConsumeBytes(b); n >= 0 && num == locationLine {
				var ln [2]uint64
				if err := scalars(msg, func(num protowire.Number, v uint64) {
					if num == lineFunctionID || num == lineLine {
						ln[num-lineFunctionID] = v
					}
				}); err != nil {
					return err
				}
				raw.lines = append(raw.lines, ln)
			}
		default:
			var err error
			if n, err = skip(num, typ, b); err != nil {
				return err
			}
		}
		if n < 0 {
			return fmt.Errorf("%w: location field %d: %w", ErrMalformed, num, protowire.ParseError(n))
		}
		b = b[n:]
		if typ == protowire.VarintType {
			switch num {
			case locationID:
				l.id = v
			case locationAddress:
				l.address = v
			}
		}
	}
	l.lines = len(raw.lines)
	raw.locations = append(raw.locations, l)
	return nil
}

// scalars calls fn for every varint field of the message in b and skips
// the others.
func scalars(b []byte, fn func(num protowire.Number, v uint64)) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return fmt.Errorf("%w: %w", ErrMalformed, protowire.ParseError(n))
		}
		b = b[n:]
		if typ != protowire.VarintType {
			n, err := skip(num, typ, b)
			if err != nil {
				return err
			}
			b = b[n:]
			continue
		}
		v, n := protowire.ConsumeVarint(b)
		if n < 0 {
			return fmt.Errorf("%w: field %d: %w", ErrMalformed, num, protowire.ParseError(n))
		}
		b = b[n:]
		fn(num, v)
	}
	return nil
}

// skip steps over a field that is not a varint.
func skip(num protowire.Number, typ protowire.Type, b []byte) (int, error) {
	switch typ {
	case protowire.Fixed64Type, protowire.Fixed32Type, protowire.BytesType:
		n := protowire.ConsumeFieldValue(num, typ, b)
		if n < 0 {
			return 0, fmt.Errorf("%w: field %d: %w", ErrMalformed, num, protowire.ParseError(n))
		}
		return n, nil
	}
	// Groups are not part of profile.proto; a group tag here means the
	// bytes are something else.
	return 0, fmt.Errorf("%w: unexpected wire type %d for field %d", ErrMalformed, typ, num)
}

// resolve turns the raw fields into d.profile, checking every reference.
func (d *Decoder) resolve() error {
	raw := &d.raw
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
	str := func(i int64) (string, error) {
		if i < 0 || i >= int64(len(raw.strings)) {
			return "", fmt.Errorf("%w: string index %d outside a table of %d", ErrMalformed, i, len(raw.strings))
		}
		return raw.strings[i], nil
	}

	p := &d.profile
	*p = Profile{
		SampleType:       p.SampleType[:0],
		Sample:           p.Sample[:0],
		Location:         p.Location[:0],
		Function:         p.Function[:0],
		Mapping:          p.Mapping[:0],
		TimeNanos:        raw.timeNanos,
		TruncatedStrings: raw.truncated,
		// Grown to size up front, so that the runs sliced from them below
		// stay in one array.
		lines:           slices.Grow(p.lines[:0], len(raw.lines)),
		sampleLocations: slices.Grow(p.sampleLocations[:0], len(raw.locationIDs)),
		labels:          slices.Grow(p.labels[:0], len(raw.labels)),
	}
	for _, vt := range raw.sampleTypes {
		t, err := str(vt[0])
		if err != nil {
			return err
		}
		u, err := str(vt[1])
		if err != nil {
			return err
		}
		p.SampleType = append(p.SampleType, ValueType{Type: t, Unit: u})
	}

	for _, rm := range raw.mappings {
		m := Mapping{ID: rm.id, MemoryStart: rm.start, MemoryLimit: rm.limit, FileOffset: rm.offset}
		var err error
		if m.Filename, err = str(rm.file); err != nil {
			return err
		}
		if m.BuildID, err = str(rm.buildID); err != nil {
			return err
		}
		p.Mapping = append(p.Mapping, m)
	}

	d.functions.reset(len(raw.functions))
	for _, rf := range raw.functions {
		f := Function{ID: rf.id, StartLine: rf.startLine}
		var err error
		if f.Name, err = str(rf.name); err != nil {
			return err
		}
		if f.SystemName, err = str(rf.system); err != nil {
			return err
		}
		if f.Filename, err = str(rf.file); err != nil {
			return err
		}
		if rf.id == 0 {
			return fmt.Errorf("%w: function with id 0", ErrMalformed)
		}
		d.functions.set(rf.id, int32(len(p.Function)))
		p.Function = append(p.Function, f)
	}

	d.locations.reset(len(raw.locations))
	start := 0
	for _, rl := range raw.locations {
		if rl.id == 0 {
			return fmt.Errorf("%w: location with id 0", ErrMalformed)
		}
		first := len(p.lines)
		for _, ln := range raw.lines[start:rl.lines] {
			f, ok := d.functions.get(ln[0])
			if !ok {
				return fmt.Errorf("%w: location %d references unknown function %d", ErrMalformed, rl.id, ln[0])
			}
			p.lines = append(p.lines, Line{Function: f, Line: int64(ln[1])})
		}
		start = rl.lines
		d.locations.set(rl.id, int32(len(p.Location)))
		p.Location = append(p.Location, Location{ID: rl.id, Address: rl.address, Line: p.lines[first:len(p.lines):len(p.lines)]})
	}
	var loc, val, lab int
	for _, rs := range raw.samples {
		if rs.values-val != len(p.SampleType) {
			return fmt.Errorf("%w: sample has %d values for %d sample types", ErrMalformed, rs.values-val, len(p.SampleType))
		}
		for _, id := range raw.locationIDs[loc:rs.locations] {
			i, ok := d.locations.get(id)
			if !ok {
				return fmt.Errorf("%w: sample references unknown location %d", ErrMalformed, id)
			}
			p.sampleLocations = append(p.sampleLocations, i)
		}
		for _, rl := range raw.labels[lab:rs.labels] {
			k, err := str(rl[0])
			if err != nil {
				return err
			}
			v, err := str(rl[1])
			if err != nil {
				return err
			}
			p.labels = append(p.labels, Label{Key: k, Str: v, Num: rl[2]})
		}
		p.Sample = append(p.Sample, Sample{
			Location:  p.sampleLocations[loc:rs.locations:rs.locations],
			Value:     raw.values[val:rs.values:rs.values],
			Label:     p.labels[lab:rs.labels:rs.labels],
			Truncated: rs.truncated,
		})
		loc, val, lab = rs.locations, rs.values, rs.labels
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

// interner turns string-table bytes into strings, allocating each string
// only the first time it is seen: a target's next profile repeats nearly
// all of its strings. It remembers the strings of the last two profiles
// only, so a target that sends new strings every time costs no more than
// two profiles' worth.
type interner struct {
	cur, prev map[string]string
}

func (in *interner) intern(b []byte) string {
	if s, ok := in.cur[string(b)]; ok {
		return s
	}
	s, ok := in.prev[string(b)]
	if !ok {
		s = string(b)
	}
	if in.cur == nil {
		in.cur = make(map[string]string)
	}
	in.cur[s] = s
	return s
}

// forget ends a profile: what it did not use is dropped.
func (in *interner) forget() {
	clear(in.prev)
	in.prev, in.cur = in.cur, in.prev
}
