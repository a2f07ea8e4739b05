package decode

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"slices"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/goroutinewatch/goroutinereceiver/internal/limit"
)

// ErrMalformed reports bytes that are not a well-formed profile.proto
// message, compressed or not.
var ErrMalformed = errors.New("malformed profile")

// Limits bound what one Decode may cost. Every limit is checked while the
// profile streams in; none is checked after reading everything.
type Limits struct {
	// MaxBytes is the most decompressed bytes read (limit.MaxProfileBytes).
	// A gzip trailer states a size too, but a hostile target writes what it
	// likes there, so only bytes actually produced count.
	MaxBytes int64
	// MaxFrames is the most locations kept per sample; deeper stacks keep
	// their innermost MaxFrames and are marked StackCut. 0 keeps all.
	MaxFrames int
	// MaxStringBytes cuts longer strings (function and file names, labels)
	// and counts them in Profile.StringsCut. 0: no limit.
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
	stream stream // the body, decompressed and bounded

	msg     []byte // a message longer than the stream's buffer holds
	raw     rawProfile
	profile Profile
	strings interner
	resolver
}

// Decode reads one profile from r, gzip-compressed (as the runtime writes
// it) or not (as `go tool pprof -proto` may save it). Top-level fields are
// read one at a time, each message into a reused buffer, so memory follows
// the decoded profile, not the size of the stream. The Profile returned is
// valid until the next call.
func (d *Decoder) Decode(r io.Reader, lim Limits) (*Profile, error) {
	p, err := d.decode(r, lim)
	if err != nil {
		d.strings.abandon()
		return nil, err
	}
	d.strings.forget()
	return p, nil
}

func (d *Decoder) decode(r io.Reader, lim Limits) (*Profile, error) {
	br, err := d.stream.open(r, lim.MaxBytes)
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
		var f field
		if f.num, f.typ = protowire.DecodeTag(tag); f.num < 1 {
			return nil, fmt.Errorf("%w: field number %d", ErrMalformed, f.num)
		}
		switch f.typ {
		case protowire.VarintType:
			f.v, err = readUvarint(br)
		case protowire.Fixed64Type:
			_, err = br.Discard(8)
		case protowire.Fixed32Type:
			_, err = br.Discard(4)
		case protowire.BytesType:
			f.msg, err = d.message(br)
		default:
			// Groups are not part of profile.proto; a start-group tag here
			// means the bytes are something else (an HTML page starts with
			// '<', which reads as field 7 of type end-group).
			return nil, fmt.Errorf("%w: unexpected wire type %d for field %d", ErrMalformed, f.typ, f.num)
		}
		if err != nil {
			return nil, streamErr(err)
		}
		if err := d.raw.field(&f, &d.strings); err != nil {
			return nil, err
		}
	}
	if err := d.resolve(&d.raw, &d.profile); err != nil {
		return nil, err
	}
	return &d.profile, nil
}

// field is one top-level field of the Profile message as the stream holds
// it: its number and wire type, and its varint value or its bytes.
type field struct {
	num protowire.Number
	typ protowire.Type
	v   uint64
	msg []byte // valid until the next field is read
}

// message reads a length-prefixed message: in place when the stream's
// buffer holds it (it is used before the next read), else into d.msg. A
// length prefix above limit.MaxMessageBytes is refused before anything of
// the message is read.
func (d *Decoder) message(br *bufio.Reader) ([]byte, error) {
	n, err := readUvarint(br)
	if err != nil {
		return nil, err
	}
	if n > MaxMessageBytes {
		return nil, limit.Exceeded(limit.MaxMessageBytes, MaxMessageBytes)
	}
	if int(n) <= br.Buffered() {
		msg, _ := br.Peek(int(n))
		_, _ = br.Discard(int(n))
		return msg, nil
	}
	d.msg = slices.Grow(d.msg[:0], int(n))[:n]
	_, err = io.ReadFull(br, d.msg)
	return d.msg, err
}
