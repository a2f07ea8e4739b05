// Package trend tells a goroutine leak from load: it keeps a fixed-size,
// downsampled history per series and estimates its growth robustly.
package trend // import "github.com/goroutinewatch/goroutinereceiver/internal/trend"

import "time"

// Buckets is how many buckets a window holds, whatever its length: memory per
// series is constant, and a longer window only makes each bucket wider.
const Buckets = 30

// bucket summarizes the samples of one slice of the window in 12 bytes: a
// target with a thousand groups has a thousand windows. Times are kept from
// the bucket's own start, so float32 holds them to well under a
// millisecond in the narrowest bucket and a second in a 7-day window's;
// a float32 sum of goroutine counts is off by at most a part in ten
// million.
type bucket struct {
	n    uint32
	sumT float32 // seconds since the bucket's start
	sumV float32
}

func (b *bucket) add(t, v float64) {
	b.n++
	b.sumT += float32(t)
	b.sumV += float32(v)
}

// Point is one bucket seen from outside: mean time and mean value.
type Point struct {
	T float64 // seconds since the window's origin
	V float64
}

// Window is the recent history of one series: Buckets buckets of equal width
// covering its span, oldest first, in a ring. Empty buckets are gaps (a
// failed scrape), never zeros.
type Window struct {
	width   time.Duration
	origin  time.Time
	head    int64   // index, counted from origin, of the newest bucket
	last    float32 // the newest sample
	started bool
	ring    [Buckets]bucket
}

// NewWindow returns an empty window covering span.
func NewWindow(span time.Duration) *Window {
	w := makeWindow(span)
	return &w
}

func makeWindow(span time.Duration) Window {
	return Window{width: max(span/Buckets, time.Nanosecond)}
}

// Add records a sample. Samples older than the newest bucket's start are
// folded into it: scrapes arrive in order, and a clock step back must not
// rewrite history.
func (w *Window) Add(at time.Time, v float64) {
	if !w.started {
		w.started, w.origin = true, at
	}
	idx := int64(at.Sub(w.origin) / w.width)
	if idx > w.head {
		for i := w.head + 1; i <= idx && i <= w.head+Buckets; i++ {
			w.ring[i%Buckets] = bucket{}
		}
		w.head = idx
	} else {
		idx = w.head
	}
	w.ring[idx%Buckets].add((at.Sub(w.origin) - time.Duration(idx)*w.width).Seconds(), v)
	w.last = float32(v)
}

// Points returns the non-empty buckets, oldest first, into dst.
func (w *Window) Points(dst []Point) []Point {
	dst = dst[:0]
	for i := w.head - Buckets + 1; i <= w.head; i++ {
		if i < 0 {
			continue
		}
		if b := &w.ring[i%Buckets]; b.n > 0 {
			start := (time.Duration(i) * w.width).Seconds()
			dst = append(dst, Point{T: start + float64(b.sumT)/float64(b.n), V: float64(b.sumV) / float64(b.n)})
		}
	}
	return dst
}

// Last returns the newest sample.
func (w *Window) Last() (float64, bool) {
	return float64(w.last), w.started && w.ring[w.head%Buckets].n > 0
}

// Span returns the time from the oldest to the newest bucket holding data.
func (w *Window) Span() time.Duration {
	var first, last int64 = -1, -1
	for i := max(w.head-Buckets+1, 0); i <= w.head; i++ {
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
	return time.Duration(last-first) * w.width
}

// Head returns the index of the newest bucket: it changes when a bucket
// closes, which is when estimates need recomputing.
func (w *Window) Head() int64 { return w.head }
