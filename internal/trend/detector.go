package trend

import (
	"math"
	"time"
)

// Config holds the thresholds of the leak test.
type Config struct {
	// Window is how far back a series is judged.
	Window time.Duration
	// MinGrowth is the least growth, in goroutines per minute, flagged.
	MinGrowth float64
	// MinIncrease is the least rise over the judged span, in goroutines.
	MinIncrease float64
	// Z is the Mann-Kendall z score a rise must reach: 2.326 is the
	// one-sided 1% level.
	Z float64
}

const (
	// recentZ is the weaker test the newest half of the window must pass:
	// a pool that grew and stopped fails it once its plateau fills half.
	recentZ = 1.645
	// raiseAfter and clearAfter are the hysteresis, in evaluations (one per
	// closed bucket): quick enough to raise, slow enough not to flap.
	raiseAfter = 2
	clearAfter = 3
	// minDrawdownTolerance is the fall a leaking group may show anyway:
	// goroutines pass through a leak's stack on their way elsewhere.
	minDrawdownTolerance = 2
	// drawdownFraction of the rise is the larger tolerance for big groups.
	drawdownFraction = 0.25
	// A leak's rise is spread over at least minRises bucket-to-bucket rises,
	// none larger than maxJumpFraction of the whole.
	minRises        = 3
	maxJumpFraction = 0.5
)

// Estimate is what a series says at one scrape.
type Estimate struct {
	// Ready is false until the window spans half its length: until then
	// neither growth nor flag is emitted.
	Ready bool
	// Growth is the Theil-Sen slope over the window, per minute.
	Growth float64
	// Suspected is the leak flag, with hysteresis.
	Suspected bool
}

// Series judges one count over time.
type Series struct {
	w         Window // in the series, not behind a pointer: one allocation
	evaluated int64  // Window.Head at the last evaluation
	est       Estimate
	pass      int    // consecutive evaluations that met every condition
	fail      int    // consecutive evaluations that did not
	seen      uint64 // the Tracker's last scrape that showed the series
}

// NewSeries returns a series with an empty window.
func (c *Config) NewSeries() *Series {
	return &Series{w: makeWindow(c.Window), evaluated: -1}
}

// Scratch is reusable memory for evaluations; one per goroutine.
type Scratch struct {
	pts    []Point
	recent []Point
	slopes []float64
	vals   []float64
}

// Observe adds a sample and returns the estimate. The estimate is computed
// again only when a bucket closes: between, the samples only refine a bucket
// mean, and the cost stays at one evaluation per bucket whatever the scrape
// interval.
func (s *Series) Observe(c *Config, at time.Time, v float64, sc *Scratch) Estimate {
	s.w.Add(at, v)
	if s.w.Head() == s.evaluated {
		return s.est
	}
	s.evaluated = s.w.Head()
	s.evaluate(c, sc)
	return s.est
}

func (s *Series) evaluate(c *Config, sc *Scratch) {
	sc.pts = s.w.Points(sc.pts)
	span := s.w.Span()
	if span < c.Window/2 || len(sc.pts) < Buckets/3 {
		s.est = Estimate{}
		return
	}
	var perSecond float64
	perSecond, sc.slopes = TheilSen(sc.pts, sc.slopes)
	s.est.Ready = true
	s.est.Growth = perSecond * 60

	if s.rising(c, sc, perSecond, span) {
		s.pass, s.fail = s.pass+1, 0
		if s.pass >= raiseAfter {
			s.est.Suspected = true
		}
		return
	}
	s.pass, s.fail = 0, s.fail+1
	if s.fail >= clearAfter {
		s.est.Suspected = false
	}
}

// rising reports whether the window shows a leak: a significant, sustained,
// large enough rise that is still going on and never gave goroutines back.
func (s *Series) rising(c *Config, sc *Scratch, perSecond float64, span time.Duration) bool {
	increase := perSecond * span.Seconds()
	if perSecond*60 < c.MinGrowth || increase < c.MinIncrease || increase <= 0 {
		return false
	}
	var z float64
	if z, sc.vals = mannKendall(sc.pts, sc.vals); z < c.Z {
		return false
	}
	if !spread(sc.pts) {
		return false
	}
	// Still growing: the newest half of the span must rise on its own, and
	// so must the newest quarter, or a pool that has just stopped growing
	// would pass on the strength of its ramp.
	var ok bool
	if sc.recent, ok = s.risesSince(sc, span/2, true); !ok {
		return false
	}
	if sc.recent, ok = s.risesSince(sc, span/4, false); !ok {
		return false
	}
	return Drawdown(sc.pts) <= math.Max(minDrawdownTolerance, drawdownFraction*increase)
}

// risesSince reports whether the points of the newest part of the span have
// a positive Theil-Sen slope, and with significant, a Mann-Kendall z of at
// least recentZ.
func (s *Series) risesSince(sc *Scratch, part time.Duration, significant bool) ([]Point, bool) {
	cut := sc.pts[len(sc.pts)-1].T - part.Seconds()
	recent := sc.recent[:0]
	for _, p := range sc.pts {
		if p.T >= cut {
			recent = append(recent, p)
		}
	}
	var slope float64
	slope, sc.slopes = TheilSen(recent, sc.slopes)
	if slope <= 0 || !significant {
		return recent, slope > 0
	}
	var z float64
	z, sc.vals = mannKendall(recent, sc.vals)
	return recent, z >= recentZ
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
