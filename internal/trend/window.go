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

// bucket is the mean of the samples of one slice of a window, in 8 bytes: a
// target with a thousand groups has a thousand series of several windows.
// The means are kept as they run (a float32 mean of goroutine counts is off
// by a part in ten million); the time, as a fraction of the bucket's width,
// to 1/65536 of it.
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

// Window is the recent history of one series: Buckets buckets of one width,
// oldest first, in a ring. Buckets are aligned to the Unix epoch, so that a
// window saved and restored continues where it stood, and the buckets a
// downtime skipped are gaps. Empty buckets are gaps (a failed scrape, a
// collector that was down), never zeros. The width is the horizon's, passed
// in: a window does not store it.
type Window struct {
	// head is the index, counted from the epoch, of the newest bucket; 0
	// for a window that holds nothing (the epoch's own bucket is never
	// observed).
	head int64
	ring [Buckets]bucket
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
		w.head, opened = idx, true
	case idx > w.head:
		for i := w.head + 1; i <= idx && i <= w.head+Buckets; i++ {
			w.ring[i%Buckets] = bucket{}
		}
		w.head, opened = idx, true
	default:
		idx = w.head
	}
	frac := float64(at.UnixNano()-idx*int64(width)) / float64(width)
	w.ring[idx%Buckets].add(math.Min(math.Max(frac, 0), 1), v)
	return opened
}

// Points returns the non-empty buckets, oldest first, into dst.
func (w *Window) Points(width time.Duration, dst []Point) []Point {
	dst = dst[:0]
	if w.head == 0 {
		return dst
	}
	first := w.head - Buckets + 1
	for i := first; i <= w.head; i++ {
		if b := &w.ring[i%Buckets]; b.n > 0 {
			t := (float64(i-first) + float64(b.t)/math.MaxUint16) * width.Seconds()
			dst = append(dst, Point{T: t, V: float64(b.v)})
		}
	}
	return dst
}

// Span returns the time from the oldest to the newest bucket holding data.
func (w *Window) Span(width time.Duration) time.Duration {
	if w.head == 0 {
		return 0
	}
	var first, last int64 = -1, -1
	for i := w.head - Buckets + 1; i <= w.head; i++ {
		if w.ring[i%Buckets].n > 0 {
			if first < 0 {
				first = i
			}
			last = i
		}
	}
	if first < 0 {
		return 0
	}
	return time.Duration(last-first) * width
}

// Head returns the index, from the epoch, of the newest bucket.
func (w *Window) Head() int64 { return w.head }
