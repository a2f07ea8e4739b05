// Package trend tells a goroutine leak from load: it keeps a fixed-size,
// downsampled history per series over several horizons and estimates its
// growth robustly.
package trend // import "github.com/goroutinewatch/goroutinereceiver/internal/trend"

import (
	"math"
	"time"
)

// Buckets is how many buckets a window holds, whatever its length: memory per
// series is constant, and a longer window only makes each bucket wider.
const Buckets = 30

// bucket is the running mean of the samples of the newest slice of a window:
// the mean kept exactly (a float32 mean of goroutine counts is off by a part
// in ten million), the time as a fraction of the bucket's width, to 1/65536.
type bucket struct {
	v float32 // mean value
	n uint16  // samples, saturating: a 48 h window's bucket holds 5,760 at 1 s scrapes
	t uint16  // mean time into the bucket, in 1/65536 of its width
}

func (b *bucket) add(frac, v float64) {
	if b.n == math.MaxUint16 {
		return // the mean of 65,535 samples is what it is
	}
	b.n++
	n := float64(b.n)
	b.v += float32((v - float64(b.v)) / n)
	b.t = uint16(math.Round(float64(b.t) + (frac*math.MaxUint16-float64(b.t))/n))
}

// Point is one bucket seen from outside: mean time and mean value.
type Point struct {
	T float64 // seconds since the start of the window's oldest bucket
	V float64
}

// empty is the code of a bucket that holds no sample: a gap.
const empty = math.MaxUint16

// maxCode is the largest code of a mean.
const maxCode = empty - 1

// minStep is the finest a window resolves its means: a 64th of a goroutine.
const minStep = 1.0 / 64

// Window is the recent history of one series: Buckets buckets of one width,
// oldest first, in a ring, in 88 bytes whatever its length. Buckets are
// aligned to the Unix epoch, so that a window saved and restored continues
// where it stood, and the buckets a downtime skipped are gaps. Empty buckets
// are gaps (a failed scrape, a collector that was down), never zeros. The
// width is the horizon's, passed in: a window does not store it.
//
// The newest bucket's mean runs exactly; a closed bucket keeps its mean in
// 16 bits, as a code in steps of a power of two from a base that the window
// moves as its values do: 1/64 of a goroutine for a window whose means span
// a thousand goroutines, a goroutine for one that spans 65,000, never more
// than a part in 32,000 of the span. A closed bucket's time is its middle.
type Window struct {
	// head is the index, counted from the epoch, of the newest bucket; 0
	// for a window that holds nothing (the epoch's own bucket is never
	// observed).
	head  int64
	base  float32 // the mean of code 0
	step  float32 // the mean of one code unit; 0 until a bucket closes
	codes [Buckets]uint16
	open  bucket // the newest bucket, at codes[head%Buckets]
}

// Add records a sample at time at, in buckets of width, and reports whether
// it opened a new bucket (which is when estimates need recomputing).
// Samples older than the newest bucket's start are folded into it: scrapes
// arrive in order, and a clock step back must not rewrite history.
func (w *Window) Add(width time.Duration, at time.Time, v float64) bool {
	idx := at.UnixNano() / int64(width)
	opened := false
	switch {
	case w.head == 0:
		for i := range w.codes {
			w.codes[i] = empty
		}
		w.head, opened = idx, true
	case idx > w.head:
		w.close()
		for i := w.head + 1; i <= idx && i <= w.head+Buckets; i++ {
			w.codes[i%Buckets] = empty
		}
		w.head, w.open, opened = idx, bucket{}, true
	default:
		idx = w.head
	}
	frac := float64(at.UnixNano()-idx*int64(width)) / float64(width)
	w.open.add(math.Min(math.Max(frac, 0), 1), v)
	return opened
}

// close keeps the newest bucket's mean as a code, moving the base and the
// step first when the mean falls outside them, or when the window's means
// now span so little that a finer step holds them: a window whose spike has
// left it resolves its next means as finely as before the spike.
func (w *Window) close() {
	if w.open.n == 0 {
		return
	}
	v := float64(w.open.v)
	lo, hi := v, v
	for i, c := range w.codes {
		if c != empty && int64(i) != w.head%Buckets {
			m := w.mean(c)
			lo, hi = math.Min(lo, m), math.Max(hi, m)
		}
	}
	step := minStep
	for (hi-lo)/step > maxCode {
		step *= 2
	}
	if w.step == 0 || lo < float64(w.base) || (hi-float64(w.base))/float64(w.step) > maxCode || step < float64(w.step) {
		w.recode(lo, step)
	}
	w.codes[w.head%Buckets] = uint16(math.Round((v - float64(w.base)) / float64(w.step)))
}

// recode codes the closed buckets anew from base lo in steps of step.
func (w *Window) recode(lo, step float64) {
	old := *w
	w.base, w.step = float32(lo), float32(step)
	if old.step == 0 {
		return
	}
	for i, c := range old.codes {
		if c != empty && int64(i) != w.head%Buckets {
			w.codes[i] = uint16(math.Max(0, math.Min(maxCode, math.Round((old.mean(c)-lo)/step))))
		}
	}
}

func (w *Window) mean(code uint16) float64 {
	return float64(w.base) + float64(code)*float64(w.step)
}

// Points returns the non-empty buckets, oldest first, into dst.
func (w *Window) Points(width time.Duration, dst []Point) []Point {
	dst = dst[:0]
	if w.head == 0 {
		return dst
	}
	first := w.head - Buckets + 1
	for i := first; i < w.head; i++ {
		if c := w.codes[i%Buckets]; c != empty {
			dst = append(dst, Point{T: (float64(i-first) + 0.5) * width.Seconds(), V: w.mean(c)})
		}
	}
	if w.open.n > 0 {
		t := (float64(w.head-first) + float64(w.open.t)/math.MaxUint16) * width.Seconds()
		dst = append(dst, Point{T: t, V: float64(w.open.v)})
	}
	return dst
}

// Span returns the time from the oldest to the newest bucket holding data.
func (w *Window) Span(width time.Duration) time.Duration {
	if w.head == 0 {
		return 0
	}
	for i := w.head - Buckets + 1; i < w.head; i++ {
		if w.codes[i%Buckets] != empty {
			return time.Duration(w.head-i) * width
		}
	}
	return 0
}

// Head returns the index, from the epoch, of the newest bucket.
func (w *Window) Head() int64 { return w.head }
