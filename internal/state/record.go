// Package state keeps what the receiver has learned of each target across
// collector restarts: a record per target, held by the collector's storage
// extension. It knows the bytes, not what they mean: the leak windows are
// the trend package's saved form, carried whole.
package state // import "github.com/goroutinewatch/goroutinereceiver/internal/state"

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"time"

	"github.com/goroutinewatch/goroutinereceiver/internal/evidence"
	"github.com/goroutinewatch/goroutinereceiver/internal/group"
	"github.com/goroutinewatch/goroutinereceiver/internal/signature"
)

// Version is the record format written. A record of another version is
// discarded, not read: the receiver that wrote it judged differently.
const Version = 1

// magic opens every record: a value under a receiver's key that does not
// start with it was not written by one.
const magic = "grst"

// headerBytes is the magic, the version and the checksum.
const headerBytes = len(magic) + 1 + 4

var (
	// ErrNotState reports a value that is not a target's record.
	ErrNotState = errors.New("not a saved target state")
	// ErrVersion reports a record of another format version.
	ErrVersion = errors.New("saved in another format version")
	// ErrCorrupt reports a record whose checksum or fields are wrong: cut
	// short, or changed since it was written.
	ErrCorrupt = errors.New("corrupt")
	// ErrTooLarge reports a record larger than the receiver's settings let
	// it write.
	ErrTooLarge = errors.New("larger than the configured groups allow")
)

// Record is what a target's state is saved as.
//
//	magic     "grst"
//	version   a byte
//	crc       4 bytes, little-endian: CRC-32C of what follows
//	saved     varint: the save's time, in Unix nanoseconds
//	evidence  varints: the last leak profile ask, the end of a 404's hold,
//	          the last suspicion that fetched evidence (0 for none), then a
//	          byte: the leak profile's availability
//	reported  uvarint count, then each signature id, 8 bytes
//	tracker   the rest: the leak windows, in the trend package's form
type Record struct {
	SavedAt  time.Time
	Evidence evidence.State
	// Reported are the signatures a log record has reported: a restart
	// must not report them again.
	Reported []signature.ID
	// Tracker is the leak windows' saved form.
	Tracker []byte
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// AppendTo appends the record's bytes to dst; the tracker's form is
// appended by tracker, which is given the record so far and returns it
// longer.
func (r *Record) AppendTo(dst []byte, tracker func([]byte) []byte) []byte {
	start := len(dst)
	dst = append(dst, magic...)
	dst = append(dst, Version, 0, 0, 0, 0)
	dst = binary.AppendVarint(dst, unixNano(r.SavedAt))
	dst = binary.AppendVarint(dst, unixNano(r.Evidence.LeakAt))
	dst = binary.AppendVarint(dst, unixNano(r.Evidence.LeakAbsentUntil))
	dst = binary.AppendVarint(dst, unixNano(r.Evidence.SuspectAt))
	dst = append(dst, byte(r.Evidence.Leak))
	dst = binary.AppendUvarint(dst, uint64(len(r.Reported)))
	for _, id := range r.Reported {
		dst = binary.LittleEndian.AppendUint64(dst, uint64(id))
	}
	dst = tracker(dst)
	sum := crc32.Checksum(dst[start+headerBytes:], castagnoli)
	binary.LittleEndian.PutUint32(dst[start+headerBytes-4:], sum)
	return dst
}

// Decode reads a record from b, refusing one longer than maxBytes. The
// record's Tracker aliases b.
func Decode(b []byte, maxBytes int) (Record, error) {
	switch {
	case len(b) < headerBytes || string(b[:len(magic)]) != magic:
		return Record{}, ErrNotState
	case b[len(magic)] != Version:
		return Record{}, fmt.Errorf("%w: version %d, this receiver reads %d", ErrVersion, b[len(magic)], Version)
	case len(b) > maxBytes:
		return Record{}, fmt.Errorf("%w: %d bytes, at most %d", ErrTooLarge, len(b), maxBytes)
	}
	body := b[headerBytes:]
	if got, want := crc32.Checksum(body, castagnoli), binary.LittleEndian.Uint32(b[headerBytes-4:]); got != want {
		return Record{}, fmt.Errorf("%w: checksum %08x, want %08x", ErrCorrupt, got, want)
	}
	var (
		r   Record
		err error
	)
	next := func() time.Time {
		v, n := binary.Varint(body)
		if n <= 0 {
			err = errors.New("cut short")
			return time.Time{}
		}
		body = body[n:]
		return fromUnixNano(v)
	}
	r.SavedAt = next()
	r.Evidence.LeakAt, r.Evidence.LeakAbsentUntil, r.Evidence.SuspectAt = next(), next(), next()
	if err != nil || len(body) < 1 {
		return Record{}, fmt.Errorf("%w: the evidence cut short", ErrCorrupt)
	}
	if r.Evidence.Leak = evidence.Availability(body[0]); r.Evidence.Leak > evidence.Served {
		return Record{}, fmt.Errorf("%w: leak profile availability %d", ErrCorrupt, body[0])
	}
	body = body[1:]
	n, k := binary.Uvarint(body)
	if k <= 0 || n > uint64(len(body)-k)/8 {
		return Record{}, fmt.Errorf("%w: the reported signatures cut short", ErrCorrupt)
	}
	body = body[k:]
	r.Reported = make([]signature.ID, n)
	for i := range r.Reported {
		r.Reported[i] = signature.ID(binary.LittleEndian.Uint64(body[8*i:]))
	}
	r.Tracker = body[8*n:]
	return r, nil
}

// MaxBytes is the most bytes a record can take of a target whose tracker
// follows groups groups, over horizons horizons, with label keys of at most
// labelBytes, and that reports at most reported signatures: what Decode is
// given to refuse a larger one, and what a receiver's bounds keep every
// record it saves under. A window's saved form is at most 10 bytes of head,
// 8 of base and step, 3 a code, 8 of open bucket and 6 of reading.
func MaxBytes(groups, reported, horizons, labelBytes int) int {
	const window = 10 + 8 + 3*29 + 8 + 6
	series := horizons*window + 4
	key := 10 + 8 + labelBytes
	const head = headerBytes + 4*10 + 1 + 10 + 64 // and the tracker's own head
	return head + (groups+1)*(series+key) + 8*reported
}

// AppendKey appends the saved form of a group key: its signature id, 8
// bytes, then its label values as they are.
func AppendKey(dst []byte, k group.Key) []byte {
	dst = binary.LittleEndian.AppendUint64(dst, uint64(k.ID))
	return append(dst, k.Labels...)
}

// ReadKey reads a key that AppendKey wrote.
func ReadKey(b []byte) (group.Key, error) {
	if len(b) < 8 {
		return group.Key{}, fmt.Errorf("a key of %d bytes", len(b))
	}
	return group.Key{ID: signature.ID(binary.LittleEndian.Uint64(b)), Labels: string(b[8:])}, nil
}

func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func fromUnixNano(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.Unix(0, v).UTC()
}
