package trend

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
)

// ErrForeign reports a saved tracker whose horizons are not the tracker's:
// leak.windows changed since it was saved, so its windows mean something
// else now.
var ErrForeign = errors.New("kept for other horizons")

// ErrMalformed reports bytes that are not a saved tracker.
var ErrMalformed = errors.New("malformed")

// The saved form of a tracker, in order, integers as varints unless said:
//
//	horizons  uvarint count, then each bucket width in nanoseconds
//	instance  8 bytes, little-endian: the process identity
//	total     8 bytes, the last total as float64 bits
//	series    the total's (below)
//	groups    uvarint count, then each key (uvarint length, bytes) and series
//
// and a series, per horizon, then its newest sample as 4 bytes of float32:
//
//	head      varint: the newest bucket's index from the epoch, 0 for none;
//	          when not 0:
//	base      4 bytes, float32;  step  4 bytes, float32
//	codes     per bucket, uvarint: 0 for a gap, else 1 + the zigzag
//	          difference from the previous bucket's code (from 0)
//	open      4 bytes of float32 mean, 2 of samples, 2 of mean time
//	reading   4 bytes of float32 growth, a byte of flags (ready 1,
//	          suspected 2), a byte of hysteresis
//
// A series of the default three horizons takes about 200 bytes, its key
// aside (TestSavedSize).

// AppendTo appends the tracker's saved form to dst; key appends a key's
// spelling to its argument.
func (t *Tracker[K]) AppendTo(dst []byte, key func([]byte, K) []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(t.cfg.Horizons)))
	for i := range t.cfg.Horizons {
		dst = binary.AppendUvarint(dst, uint64(t.cfg.Horizons[i].width()))
	}
	dst = binary.LittleEndian.AppendUint64(dst, t.instance)
	dst = binary.LittleEndian.AppendUint64(dst, math.Float64bits(t.lastTotal))
	dst = t.total.appendTo(dst)
	dst = binary.AppendUvarint(dst, uint64(len(t.groups)))
	// Largest first, so that a tracker restored with room for fewer keeps
	// the largest, as Observe does; and one state has one saved form.
	// The keys are spelled into one buffer, each entry holding its span.
	type entry struct {
		from, to int
		g        *tracked[K]
	}
	entries := make([]entry, 0, len(t.groups))
	var keys []byte
	for i := range t.groups {
		from := len(keys)
		keys = key(keys, t.groups[i].key)
		entries = append(entries, entry{from, len(keys), &t.groups[i]})
	}
	slices.SortFunc(entries, func(a, b entry) int {
		return cmp.Or(cmp.Compare(b.g.last(), a.g.last()), bytes.Compare(keys[a.from:a.to], keys[b.from:b.to]))
	})
	for _, e := range entries {
		dst = binary.AppendUvarint(dst, uint64(e.to-e.from))
		dst = append(dst, keys[e.from:e.to]...)
		if e.g.steady() {
			// A steady group is saved as the series of its own it stands
			// for: the form does not depend on the sharing.
			dst = e.g.s.appendShifted(dst, e.g.v)
			continue
		}
		dst = e.g.s.appendTo(dst)
	}
	return dst
}

func (s *Series) appendTo(dst []byte) []byte {
	for i := range s.h {
		dst = s.h[i].appendTo(dst)
	}
	return binary.LittleEndian.AppendUint32(dst, math.Float32bits(s.last))
}

// appendShifted appends the saved form of the series a template stands for
// at the value v (shifted), with no copy of the template's windows.
func (s *Series) appendShifted(dst []byte, v float32) []byte {
	for i := range s.h {
		hs := s.h[i]
		if hs.w.step != 0 {
			hs.w.base = v
		}
		hs.w.open.v = v
		dst = hs.appendTo(dst)
	}
	return binary.LittleEndian.AppendUint32(dst, math.Float32bits(v))
}

func (hs *horizonState) appendTo(dst []byte) []byte {
	w := &hs.w
	dst = binary.AppendVarint(dst, w.head)
	if w.head == 0 {
		return dst
	}
	dst = binary.LittleEndian.AppendUint32(dst, math.Float32bits(w.base))
	dst = binary.LittleEndian.AppendUint32(dst, math.Float32bits(w.step))
	prev := int64(0)
	for i := w.head - Buckets + 1; i < w.head; i++ {
		c := w.codes[i%Buckets]
		if c == empty {
			dst = append(dst, 0)
			continue
		}
		d := int64(c) - prev
		dst = binary.AppendUvarint(dst, 1+uint64(d<<1^d>>63))
		prev = int64(c)
	}
	dst = binary.LittleEndian.AppendUint32(dst, math.Float32bits(w.open.v))
	dst = binary.LittleEndian.AppendUint16(dst, w.open.n)
	dst = binary.LittleEndian.AppendUint16(dst, w.open.t)
	dst = binary.LittleEndian.AppendUint32(dst, math.Float32bits(hs.growth))
	var flags byte
	if hs.ready {
		flags |= 1
	}
	if hs.suspected {
		flags |= 2
	}
	return append(dst, flags, hs.hyst)
}

// Restore replaces the tracker's state with the saved form in src, read
// with key; it keeps at most the tracker's maxGroups groups, and key must
// refuse a key it cannot read. On any error the tracker is left empty, as
// if new: a saved tracker is input, and a bad one is no reason to judge
// from half of it.
func (t *Tracker[K]) Restore(src []byte, key func([]byte) (K, error)) (err error) {
	defer func() {
		if err != nil {
			t.Reset()
			t.instance, t.lastTotal = 0, 0
		}
	}()
	r := reader{b: src}
	n := r.uvarint()
	if r.err == nil && n != uint64(len(t.cfg.Horizons)) {
		return fmt.Errorf("%w: %d horizons saved, %d configured", ErrForeign, n, len(t.cfg.Horizons))
	}
	for i := range t.cfg.Horizons {
		if w := r.uvarint(); r.err == nil && w != uint64(t.cfg.Horizons[i].width()) {
			return fmt.Errorf("%w: horizon %d has buckets of %dns saved, %v configured", ErrForeign, i, w, t.cfg.Horizons[i].width())
		}
	}
	t.Reset()
	t.instance = r.uint64()
	t.lastTotal = math.Float64frombits(r.uint64())
	t.total.readFrom(&r)
	groups := r.uvarint()
	if r.err == nil && groups > uint64(len(r.b)) {
		// Each group takes a byte at least: a count past the bytes left is
		// no reason to allocate for it.
		r.fail("%d groups in %d bytes", groups, len(r.b))
	}
	kept := min(groups, uint64(t.maxGroups))
	spare := t.cfg.NewSeries() // read into, for the groups past kept
	restored := make([]tracked[K], 0, kept)
	for i := range groups {
		kb := r.bytes(int(r.uvarint()))
		if r.err != nil {
			break
		}
		// Past the groups the tracker follows (max_tracked_groups was
		// lowered since the save) a series is read, to check the whole, and
		// dropped: the smallest go, as they are saved largest first.
		if i >= kept {
			spare.readFrom(&r)
			continue
		}
		k, err := key(kb)
		if err != nil {
			return fmt.Errorf("%w: group key: %w", ErrMalformed, err)
		}
		s := t.cfg.NewSeries()
		s.readFrom(&r)
		restored = append(restored, tracked[K]{key: k, s: s})
	}
	if r.err == nil && len(r.b) > 0 {
		r.err = fmt.Errorf("%d bytes after the last group", len(r.b))
	}
	if r.err != nil {
		return fmt.Errorf("%w: %w", ErrMalformed, r.err)
	}
	t.follow(restored)
	for i := 1; i < len(t.groups); i++ {
		if t.compare(t.groups[i-1].key, t.groups[i].key) == 0 {
			return fmt.Errorf("%w: a group key saved twice", ErrMalformed)
		}
	}
	t.share()
	return nil
}

// Suspected calls f with each followed key whose series is suspected on
// any horizon: after a restore, the groups already suspected, so that the
// next scrape does not take them for newly suspected ones.
func (t *Tracker[K]) Suspected(f func(K)) {
	for _, g := range t.groups {
		if g.steady() {
			continue // a steady group never is
		}
		for i := range g.s.h {
			if g.s.h[i].suspected {
				f(g.key)
				break
			}
		}
	}
}

func (s *Series) readFrom(r *reader) {
	for i := range s.h {
		s.h[i].readFrom(r)
	}
	s.last = math.Float32frombits(r.uint32())
}

func (hs *horizonState) readFrom(r *reader) {
	w := &hs.w
	*hs = horizonState{}
	if w.head = r.varint(); w.head == 0 || r.err != nil {
		return
	}
	if w.head < Buckets {
		// The epoch's first buckets are never observed: a head there would
		// index the ring before its start.
		r.fail("bucket index %d", w.head)
		return
	}
	w.base = math.Float32frombits(r.uint32())
	w.step = math.Float32frombits(r.uint32())
	if !finite(w.base) || !(w.step == 0 || w.step >= minStep && validStep(w.step)) {
		r.fail("base %v, step %v", w.base, w.step)
		return
	}
	prev := int64(0)
	for i := w.head - Buckets + 1; i <= w.head; i++ {
		w.codes[i%Buckets] = empty
		if i == w.head {
			break
		}
		u := r.uvarint()
		if u == 0 {
			continue
		}
		d := int64((u-1)>>1) ^ -int64((u-1)&1)
		c := prev + d
		if c < 0 || c > maxCode || w.step == 0 {
			r.fail("bucket code %d", c)
			return
		}
		w.codes[i%Buckets], prev = uint16(c), c
	}
	w.open.v = math.Float32frombits(r.uint32())
	w.open.n, w.open.t = r.uint16(), r.uint16()
	hs.growth = math.Float32frombits(r.uint32())
	flags, hyst := r.byte(), r.byte()
	if !finite(w.open.v) || !finite(hs.growth) || flags > 3 || hyst&0xf > raiseAfter || hyst>>4 > clearAfter {
		r.fail("bucket or reading out of range")
		return
	}
	hs.ready, hs.suspected, hs.hyst = flags&1 != 0, flags&2 != 0, hyst
	if !hs.suspected {
		hs.hyst &= 0xf // as evaluate keeps it: failures count while suspected only
	}
}

func finite(f float32) bool { return !math.IsNaN(float64(f)) && !math.IsInf(float64(f), 0) }

// validStep reports a power of two.
func validStep(f float32) bool {
	frac, _ := math.Frexp(float64(f))
	return frac == 0.5
}

// reader reads a saved form, keeping the first error: past it, every read
// returns zero.
type reader struct {
	b   []byte
	err error
}

func (r *reader) fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf(format, args...)
	}
	r.b = nil
}

func (r *reader) uvarint() uint64 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail("cut short or overlong varint")
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) varint() int64 {
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.fail("cut short or overlong varint")
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) bytes(n int) []byte {
	if n < 0 || n > len(r.b) {
		r.fail("cut short")
		return nil
	}
	b := r.b[:n]
	r.b = r.b[n:]
	return b
}

func (r *reader) byte() byte {
	if b := r.bytes(1); b != nil {
		return b[0]
	}
	return 0
}

func (r *reader) uint16() uint16 {
	if b := r.bytes(2); b != nil {
		return binary.LittleEndian.Uint16(b)
	}
	return 0
}

func (r *reader) uint32() uint32 {
	if b := r.bytes(4); b != nil {
		return binary.LittleEndian.Uint32(b)
	}
	return 0
}

func (r *reader) uint64() uint64 {
	if b := r.bytes(8); b != nil {
		return binary.LittleEndian.Uint64(b)
	}
	return 0
}
