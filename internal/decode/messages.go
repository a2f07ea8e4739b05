package decode

import (
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/goroutinewatch/goroutinereceiver/internal/limit"
)

// The field numbers of profile.proto (github.com/google/pprof,
// proto/profile.proto) that a goroutine profile fills. Each handler below
// quotes the message it reads; fields not listed are skipped.
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
// strings last. Its slices are arenas, kept from one profile to the next;
// a sample's or a location's repeated fields are runs in them.
type rawProfile struct {
	lim         Limits
	sampleTypes []rawValueType
	samples     []rawSample
	locationIDs []uint64 // every sample's, in order
	values      []int64  // every sample's, in order
	labels      []rawLabel
	locations   []rawLocation
	lines       []rawLine // every location's, in order
	functions   []rawFunction
	mappings    []rawMapping
	strings     []string
	timeNanos   int64
	stringsCut  int // strings cut to lim.MaxStringBytes
	entries     int // table entries so far, against lim.MaxLocations
}

// rawValueType is a ValueType as read: string-table indexes.
type rawValueType struct{ typ, unit int64 }

// A rawSample's fields are the ends of its runs in the arenas; each run
// starts where the previous sample's ends.
type rawSample struct {
	locations, values, labels int
	stackCut                  bool
}

// rawLabel is a Label as read: key and str are string-table indexes.
type rawLabel struct{ key, str, num int64 }

type rawLocation struct {
	id, address uint64
	lines       int // end of its run in rawProfile.lines
}

type rawLine struct {
	functionID uint64
	line       int64
}

type rawFunction struct {
	id                 uint64
	name, system, file int64
	startLine          int64
}

type rawMapping struct {
	id, start, limit, offset uint64
	file, buildID            int64
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

// field takes one top-level field of
//
//	message Profile {
//	  repeated ValueType sample_type = 1;
//	  repeated Sample sample = 2;
//	  repeated Mapping mapping = 3;
//	  repeated Location location = 4;
//	  repeated Function function = 5;
//	  repeated string string_table = 6;
//	  int64 time_nanos = 9;
//	  ...
//	}
//
// Every table entry counts against lim.MaxLocations, every sample against
// lim.MaxSamples, before it is read.
func (raw *rawProfile) field(f *field, in *interner) error {
	if f.typ == protowire.VarintType {
		if f.num == profileTimeNanos {
			raw.timeNanos = int64(f.v)
		}
		return nil
	}
	if f.typ != protowire.BytesType {
		return nil
	}
	switch f.num {
	case profileSampleType:
		return raw.valueType(f.msg)
	case profileSample:
		if raw.lim.MaxSamples > 0 && len(raw.samples) >= raw.lim.MaxSamples {
			return limit.Exceeded(limit.MaxSamples, int64(raw.lim.MaxSamples))
		}
		return raw.sample(f.msg)
	case profileMapping:
		if err := raw.entry(); err != nil {
			return err
		}
		return raw.mapping(f.msg)
	case profileLocation:
		if err := raw.entry(); err != nil {
			return err
		}
		return raw.location(f.msg)
	case profileFunction:
		if err := raw.entry(); err != nil {
			return err
		}
		return raw.function(f.msg)
	case profileStringTable:
		if err := raw.entry(); err != nil {
			return err
		}
		raw.string(f.msg, in)
	}
	return nil
}

// entry counts one table entry against lim.MaxLocations.
func (raw *rawProfile) entry() error {
	raw.entries++
	if raw.lim.MaxLocations > 0 && raw.entries > raw.lim.MaxLocations {
		return limit.Exceeded(limit.MaxLocations, int64(raw.lim.MaxLocations))
	}
	return nil
}

// valueType reads
//
//	message ValueType {
//	  int64 type = 1; // Index into string table.
//	  int64 unit = 2; // Index into string table.
//	}
func (raw *rawProfile) valueType(b []byte) error {
	var vt rawValueType
	err := scalars(b, func(num protowire.Number, v uint64) {
		switch num {
		case valueTypeType:
			vt.typ = int64(v)
		case valueTypeUnit:
			vt.unit = int64(v)
		}
	})
	raw.sampleTypes = append(raw.sampleTypes, vt)
	return err
}

// sample reads
//
//	message Sample {
//	  repeated uint64 location_id = 1; // packed or not
//	  repeated int64 value = 2;        // packed or not
//	  repeated Label label = 3;
//	}
//
// keeping the first lim.MaxFrames location ids. It is the decoder's inner
// loop, one call per distinct stack, so it walks the bytes itself, without
// callbacks.
func (raw *rawProfile) sample(b []byte) error {
	s := rawSample{}
	kept := 0
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return malformed("sample", protowire.ParseError(n))
		}
		b = b[n:]
		switch {
		case num == sampleLocationID && typ == protowire.BytesType:
			packed, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return malformed("sample", protowire.ParseError(n))
			}
			b = b[n:]
			for len(packed) > 0 {
				var id uint64
				if packed[0] < 0x80 {
					id, packed = uint64(packed[0]), packed[1:]
				} else {
					var n int
					if id, n = protowire.ConsumeVarint(packed); n < 0 {
						return malformed("sample location", protowire.ParseError(n))
					}
					packed = packed[n:]
				}
				if raw.lim.MaxFrames > 0 && kept >= raw.lim.MaxFrames {
					s.stackCut = true
					continue
				}
				raw.locationIDs = append(raw.locationIDs, id)
				kept++
			}
			continue
		case num == sampleValue && typ == protowire.BytesType:
			packed, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return malformed("sample", protowire.ParseError(n))
			}
			b = b[n:]
			for len(packed) > 0 {
				v, n := protowire.ConsumeVarint(packed)
				if n < 0 {
					return malformed("sample value", protowire.ParseError(n))
				}
				packed = packed[n:]
				raw.values = append(raw.values, int64(v))
			}
			continue
		case num == sampleLabel && typ == protowire.BytesType:
			msg, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return malformed("sample", protowire.ParseError(n))
			}
			b = b[n:]
			if err := raw.label(msg); err != nil {
				return err
			}
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
			return malformed(fmt.Sprintf("sample field %d", num), protowire.ParseError(n))
		}
		b = b[n:]
		switch {
		case num == sampleLocationID && raw.lim.MaxFrames > 0 && kept >= raw.lim.MaxFrames:
			s.stackCut = true
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

// label reads
//
//	message Label {
//	  int64 key = 1; // Index into string table
//	  int64 str = 2; // Index into string table
//	  int64 num = 3;
//	}
func (raw *rawProfile) label(b []byte) error {
	var l rawLabel
	err := scalars(b, func(num protowire.Number, v uint64) {
		switch num {
		case labelKey:
			l.key = int64(v)
		case labelStr:
			l.str = int64(v)
		case labelNum:
			l.num = int64(v)
		}
	})
	if err != nil {
		return err
	}
	raw.labels = append(raw.labels, l)
	return nil
}

// mapping reads
//
//	message Mapping {
//	  uint64 id = 1;
//	  uint64 memory_start = 2;
//	  uint64 memory_limit = 3;
//	  uint64 file_offset = 4;
//	  int64 filename = 5; // Index into string table
//	  int64 build_id = 6; // Index into string table
//	  ...
//	}
func (raw *rawProfile) mapping(b []byte) error {
	var m rawMapping
	err := scalars(b, func(num protowire.Number, v uint64) {
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
}

// location reads
//
//	message Location {
//	  uint64 id = 1;
//	  uint64 address = 3;
//	  repeated Line line = 4;
//	  ...
//	}
//
// one call per program counter of the profile, so it walks the bytes
// itself: a callback per field made small profiles a tenth slower.
func (raw *rawProfile) location(b []byte) error {
	var l rawLocation
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return malformed("location", protowire.ParseError(n))
		}
		b = b[n:]
		switch typ {
		case protowire.VarintType:
			v, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return malformed(fmt.Sprintf("location field %d", num), protowire.ParseError(n))
			}
			b = b[n:]
			switch num {
			case locationID:
				l.id = v
			case locationAddress:
				l.address = v
			}
		case protowire.BytesType:
			msg, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return malformed(fmt.Sprintf("location field %d", num), protowire.ParseError(n))
			}
			b = b[n:]
			if num == locationLine {
				if err := raw.line(msg); err != nil {
					return err
				}
			}
		default:
			n, err := skip(num, typ, b)
			if err != nil {
				return err
			}
			b = b[n:]
		}
	}
	l.lines = len(raw.lines)
	raw.locations = append(raw.locations, l)
	return nil
}

// line reads
//
//	message Line {
//	  uint64 function_id = 1;
//	  int64 line = 2;
//	}
func (raw *rawProfile) line(b []byte) error {
	var ln rawLine
	err := scalars(b, func(num protowire.Number, v uint64) {
		switch num {
		case lineFunctionID:
			ln.functionID = v
		case lineLine:
			ln.line = int64(v)
		}
	})
	if err != nil {
		return err
	}
	raw.lines = append(raw.lines, ln)
	return nil
}

// function reads
//
//	message Function {
//	  uint64 id = 1;
//	  int64 name = 2;        // Index into string table
//	  int64 system_name = 3; // Index into string table
//	  int64 filename = 4;    // Index into string table
//	  int64 start_line = 5;
//	}
func (raw *rawProfile) function(b []byte) error {
	var f rawFunction
	err := scalars(b, func(num protowire.Number, v uint64) {
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
}

// string reads one entry of `repeated string string_table = 6`, cut to
// lim.MaxStringBytes.
func (raw *rawProfile) string(b []byte, in *interner) {
	if raw.lim.MaxStringBytes > 0 && len(b) > raw.lim.MaxStringBytes {
		b = b[:raw.lim.MaxStringBytes]
		raw.stringsCut++
	}
	raw.strings = append(raw.strings, in.intern(b))
}

// scalars calls fn for every varint field of the message in b and skips
// the others.
func scalars(b []byte, fn func(num protowire.Number, v uint64)) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return malformed("message", protowire.ParseError(n))
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
			return malformed(fmt.Sprintf("field %d", num), protowire.ParseError(n))
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
			return 0, malformed(fmt.Sprintf("field %d", num), protowire.ParseError(n))
		}
		return n, nil
	}
	// Groups are not part of profile.proto; a group tag here means the
	// bytes are something else.
	return 0, fmt.Errorf("%w: unexpected wire type %d for field %d", ErrMalformed, typ, num)
}

// malformed reports a message that does not parse: what was being read and
// protowire's reason.
func malformed(what string, err error) error {
	return fmt.Errorf("%w: %s: %w", ErrMalformed, what, err)
}
