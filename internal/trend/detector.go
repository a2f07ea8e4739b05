package trend

import (
	"math"
	"time"
)

// MaxHorizons is the most horizons a series is judged over.
const MaxHorizons = 4

// Horizon is one window of a series' history and the thresholds it is judged
// by. A short horizon finds a fast leak in minutes; a long one a leak of a
// goroutine an hour within a day.
type Horizon struct {
	// Window is how far back the horizon looks.
	Window time.Duration
	// MinGrowth is the least growth flagged, in goroutines per minute.
	MinGrowth float64
	// MinIncrease is the least rise over the judged span, in goroutines.
	MinIncrease float64
	// MaxGrowth, when positive, is the most growth this horizon judges, in
	// goroutines per minute: growth that fast is a shorter horizon's to
	// judge, and when that one let it pass (it gave goroutines back there),
	// a long window's smoothing must not make it a leak. Load that rises
	// for hours, a day's ramp, is this fast.
	MaxGrowth float64
}

// DefaultWindows are the receiver's horizons unless configured: half an
// hour finds a leak of a goroutine a minute in 16 minutes, five hours one of
// six an hour in under three, two days one of a goroutine an hour in 26.
func DefaultWindows() []time.Duration {
	return []time.Duration{30 * time.Minute, 5 * time.Hour, 48 * time.Hour}
}

// Horizons returns the horizons of windows, shortest first, with thresholds
// that make sense for each length: minGrowth applies to the shortest and
// falls in proportion to the window's length for the others, minIncrease
// applies to all, and each horizon after the first judges only growth
// slower than the rate at which the one before it would see minIncrease in
// the half window it first judges.
func Horizons(windows []time.Duration, minGrowth, minIncrease float64) []Horizon {
	hs := make([]Horizon, len(windows))
	for i, w := range windows {
		hs[i] = Horizon{Window: w, MinGrowth: minGrowth * float64(windows[0]) / float64(w), MinIncrease: minIncrease}
		if i > 0 {
			hs[i].MaxGrowth = minIncrease / (windows[i-1] / 2).Minutes() //nolint:gosec // G602: i > 0 and i < len(windows).
		}
	}
	return hs
}

// Config holds the leak test's horizons and significance.
type Config struct {
	// Horizons, shortest first; at most MaxHorizons.
	Horizons []Horizon
	// Z is the Mann-Kendall z score a rise must reach: 2.326 is the
	// one-sided 1% level.
	Z float64
}

const (
	// recentZ is the weaker test the newest half of the window must pass:
	// a pool that grew and stopped fails it once its plateau fills half.
	recentZ = 1.645
	// recentPace is the least share of the span's slope the newest quarter
	// must keep: a leak adds goroutines at its pace to the end; a pool
	// that warms up slows down as it fills.
	recentPace = 1.0 / 3
	// raiseAfter and clearAfter are the hysteresis, in evaluations (one per
	// closed bucket): quick enough to raise, slow enough not to flap.
	raiseAfter = 2
	clearAfter = 3
	// minDrawdownTolerance is the fall a leaking group may show anyway:
	// goroutines pass through a leak's stack on their way elsewhere.
	minDrawdownTolerance = 2
	// drawdownFraction of the rise is the larger tolerance for big groups.
	drawdownFraction = 0.25
	// belowPeakFraction of an earlier peak is how far past it a series must
	// rise before its slow horizons take the rise for more than a climb
	// back: the noise of a long horizon's bucket means, of large groups too.
	belowPeakFraction = 0.02
	// A leak's rise is spread over at least minRises bucket-to-bucket rises,
	// none larger than maxJumpFraction of the whole.
	minRises        = 3
	maxJumpFraction = 0.5
)

// Reading is what one horizon of a series says at one scrape.
type Reading struct {
	// Ready is false until the horizon's window spans half its length:
	// until then neither growth nor flag is emitted for it.
	Ready bool
	// Suspected is the horizon's leak flag, with hysteresis.
	Suspected bool
	// Growth is the Theil-Sen slope over the window, per minute.
	Growth float32
}

// Estimate is what a series says at one scrape: a reading per horizon.
type Estimate struct {
	Horizons [MaxHorizons]Reading
	// Ready is set when any horizon is; Suspected when any horizon
	// suspects a leak: the group's flag. Growth is the shortest ready
	// horizon's, By the shortest suspecting horizon (-1: none).
	Ready, Suspected bool
	By               int8
	Growth           float64
}

func (e *Estimate) sum(n int) {
	e.Ready, e.Suspected, e.By, e.Growth = false, false, -1, 0
	for i := range n {
		r := &e.Horizons[i]
		if r.Ready && !e.Ready {
			e.Ready, e.Growth = true, float64(r.Growth)
		}
		if r.Suspected && !e.Suspected {
			e.Suspected, e.By = true, int8(i)
		}
	}
}

// width is the width of a horizon's buckets.
func (h *Horizon) width() time.Duration { return max(h.Window/Buckets, time.Nanosecond) }

// Series judges one count over time, over every horizon: in 40 bytes and
// about 100 a horizon (BenchmarkSeriesMemory).
type Series struct {
	h    []horizonState
	last float32 // the newest sample
	// refs is how many steady groups a Tracker's template stands for (0:
	// the series is a group's own); idx its place among the tracker's
	// templates at the last scrape.
	refs, idx int32
}

// horizonState is one horizon's window and flag, in 96 bytes.
type horizonState struct {
	w         Window
	growth    float32 // per minute, when ready
	ready     bool
	suspected bool
	// hyst counts consecutive evaluations that met every condition (low
	// nibble) or did not (high nibble), up to raiseAfter and clearAfter.
	hyst uint8
}

func (hs *horizonState) reading() Reading {
	return Reading{Ready: hs.ready, Suspected: hs.suspected, Growth: hs.growth}
}

// Width is the width of the shortest horizon's buckets: how often a
// series' judgment can change, and so how often its state is worth saving.
func (c *Config) Width() time.Duration { return c.Horizons[0].width() }

// NewSeries returns a series with empty windows.
func (c *Config) NewSeries() *Series {
	return &Series{h: make([]horizonState, len(c.Horizons))}
}

// Scratch is the memory an observation works in and leaves nothing in:
// one per goroutine, whatever the trackers it serves. A tracker of its own
// would keep, between scrapes, memory as large as its last scrape's work
// (16 bytes a steady group) for every target.
type Scratch struct {
	pts    []Point
	recent []Point
	slopes []float64
	vals   []float64

	fresh   []int     // positions of the keys not yet followed
	waiting []waiting // steady groups whose estimate is their template's
	est     []Estimate
}

// Observe adds a sample and returns the estimate. A horizon's estimate is
// computed again only when one of its buckets closes: between, the samples
// only refine a bucket mean, and the cost stays at one evaluation per
// bucket whatever the scrape interval.
func (s *Series) Observe(c *Config, at time.Time, v float64, sc *Scratch) Estimate {
	var opened [MaxHorizons]bool
	for i := range s.h {
		opened[i] = s.h[i].w.Add(c.Horizons[i].width(), at, v)
	}
	s.last = float32(v)
	var e Estimate
	for i := range s.h {
		if opened[i] {
			s.h[i].evaluate(&c.Horizons[i], c.Z, sc, i > 0 && s.climbingBack(&c.Horizons[i], &c.Horizons[len(s.h)-1], sc))
		}
		e.Horizons[i] = s.h[i].reading()
	}
	e.sum(len(s.h))
	return e
}

// climbingBack reports whether the series, judged over h, is climbing back
// to a level it held before h's window in its longest history, and has not
// passed it by more than a long horizon's noise: a group whose rise only
// regains what it gave back is load (a day's ramp after its night), and its
// slow horizons must not take that rise for a leak. A leak passes every
// earlier level. The shortest horizon is not held to it: a fast leak shows
// itself whatever came before. longest is the longest horizon.
func (s *Series) climbingBack(h, longest *Horizon, sc *Scratch) bool {
	sc.pts = s.h[len(s.h)-1].w.Points(longest.width(), sc.pts)
	if len(sc.pts) < 2 {
		return false
	}
	last := sc.pts[len(sc.pts)-1]
	cut := last.T - h.Window.Seconds()
	earlier := math.Inf(-1)
	for _, p := range sc.pts {
		if p.T < cut {
			earlier = math.Max(earlier, p.V)
		}
	}
	return last.V < earlier+math.Max(minDrawdownTolerance, belowPeakFraction*earlier)
}

// Last returns the newest sample, and false for a series that has none.
func (s *Series) Last() (float64, bool) { return float64(s.last), s.h[0].w.Head() != 0 }

func (hs *horizonState) evaluate(h *Horizon, z float64, sc *Scratch, vetoed bool) {
	width := h.width()
	sc.pts = hs.w.Points(width, sc.pts)
	span := hs.w.Span(width)
	if span < h.Window/2 || len(sc.pts) < Buckets/3 {
		hs.ready, hs.suspected, hs.growth = false, false, 0
		return
	}
	var perSecond float64
	perSecond, sc.slopes = TheilSen(sc.pts, sc.slopes)
	hs.ready, hs.growth = true, float32(perSecond*60)

	pass, fail := hs.hyst&0xf, hs.hyst>>4
	if !vetoed && rising(h, z, sc, perSecond, span) {
		pass, fail = min(pass+1, raiseAfter), 0
		if pass >= raiseAfter {
			hs.suspected = true
		}
	} else {
		pass, fail = 0, min(fail+1, clearAfter)
		if fail >= clearAfter {
			hs.suspected = false
		}
	}
	if !hs.suspected {
		// The failures count towards clearing a flag, and a flag is raised
		// only after passes, which reset them: a horizon not suspected
		// keeps none, so that its state is one whatever came before.
		fail = 0
	}
	hs.hyst = pass | fail<<4
}

// rising reports whether the window shows a leak: a significant, sustained,
// large enough rise, slow enough for this horizon, that is still going on at
// its pace and never gave goroutines back.
func rising(h *Horizon, z float64, sc *Scratch, perSecond float64, span time.Duration) bool {
	increase := perSecond * span.Seconds()
	perMinute := perSecond * 60
	if perMinute < h.MinGrowth || increase < h.MinIncrease || increase <= 0 {
		return false
	}
	if h.MaxGrowth > 0 && perMinute > h.MaxGrowth {
		return false
	}
	var mk float64
	if mk, sc.vals = mannKendall(sc.pts, sc.vals); mk < z {
		return false
	}
	if !spread(sc.pts) {
		return false
	}
	// Still growing: the newest half of the span must rise on its own, and
	// the newest quarter at a leak's pace, or a pool that has just stopped
	// or is slowing down would pass on the strength of its ramp.
	var ok bool
	if sc.recent, _, ok = risesSince(sc, span/2, recentZ); !ok {
		return false
	}
	var slope float64
	if sc.recent, slope, ok = risesSince(sc, span/4, 0); !ok || slope < recentPace*perSecond {
		return false
	}
	return Drawdown(sc.pts) <= math.Max(minDrawdownTolerance, drawdownFraction*increase)
}

// risesSince reports whether the points of the newest part of the span have
// a positive Theil-Sen slope, returned per second, and, with z positive, a
// Mann-Kendall z of at least z.
func risesSince(sc *Scratch, part time.Duration, z float64) ([]Point, float64, bool) {
	cut := sc.pts[len(sc.pts)-1].T - part.Seconds()
	recent := sc.recent[:0]
	for _, p := range sc.pts {
		if p.T >= cut {
			recent = append(recent, p)
		}
	}
	var slope float64
	slope, sc.slopes = TheilSen(recent, sc.slopes)
	if slope <= 0 || z <= 0 {
		return recent, slope, slope > 0
	}
	var mk float64
	mk, sc.vals = mannKendall(recent, sc.vals)
	return recent, slope, mk >= z
}

// spread reports whether a rise is made of several steps, none more than
// half of it: a leak adds goroutines over time; a pool resized at once, or a
// deploy that adds a fixed number of workers, rises in one or two buckets.
func spread(pts []Point) bool {
	rise := pts[len(pts)-1].V - pts[0].V
	if rise <= 0 {
		return false
	}
	rises := 0
	for i := 1; i < len(pts); i++ {
		jump := pts[i].V - pts[i-1].V
		if jump > maxJumpFraction*rise {
			return false
		}
		if jump > tieEpsilon {
			rises++
		}
	}
	return rises >= minRises
}
