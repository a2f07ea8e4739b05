package trend

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var t0 = time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)

// series is a synthetic goroutine count: value at time since start, and the
// process instance at that time (a change is a restart).
type series func(at time.Duration, r *rand.Rand) (value float64, instance uint64)

func linear(start, perMinute float64) series {
	return func(at time.Duration, _ *rand.Rand) (float64, uint64) {
		return math.Floor(start + perMinute*at.Minutes()), 1
	}
}

// noisy adds jitter of up to ±amp goroutines passing through the stack.
func noisy(s series, amp float64) series {
	return func(at time.Duration, r *rand.Rand) (float64, uint64) {
		v, inst := s(at, r)
		return math.Max(0, v+math.Round((r.Float64()*2-1)*amp)), inst
	}
}

// single is a config of one horizon, window long, with the thresholds of
// the receiver's defaults.
func single(window time.Duration, minGrowth float64) Config {
	return Config{Horizons: Horizons([]time.Duration{window}, minGrowth, 10), Z: 2.326}
}

func defaultConfig() Config { return single(30*time.Minute, 0.1) }

// TestDetector runs each series through one Series on an injected clock and
// checks when the flag is raised, that it never is for load, and that once
// raised for a leak it does not flap.
func TestDetector(t *testing.T) {
	slow := single(48*time.Hour, 0.01)

	tests := []struct {
		name     string
		cfg      Config
		every    time.Duration // scrape interval
		run      time.Duration // how long the series runs
		give     series
		wantFlag bool
		by       time.Duration // raised no later than this (wantFlag)
		after    time.Duration // and no earlier than this
		// cleared, when set: the flag must be down at the end.
		wantClearedAtEnd bool
		wantNoFlap       bool
	}{
		{
			name: "leak 1000/min", cfg: defaultConfig(), every: 15 * time.Second, run: time.Hour,
			give: linear(20, 1000), wantFlag: true, after: 15 * time.Minute, by: 20 * time.Minute, wantNoFlap: true,
		},
		{
			name: "leak 10/min", cfg: defaultConfig(), every: 15 * time.Second, run: time.Hour,
			give: linear(0, 10), wantFlag: true, after: 15 * time.Minute, by: 20 * time.Minute, wantNoFlap: true,
		},
		{
			name: "leak 1/min", cfg: defaultConfig(), every: 15 * time.Second, run: time.Hour,
			give: linear(3, 1), wantFlag: true, by: 30 * time.Minute, wantNoFlap: true,
		},
		{
			// The seed article's service: 48 goroutines at noon, 844 at three.
			name: "seed article 48 to 844 in three hours", cfg: defaultConfig(), every: 30 * time.Second, run: 3 * time.Hour,
			give: noisy(linear(48, (844-48)/180.0), 2), wantFlag: true, by: 30 * time.Minute, wantNoFlap: true,
		},
		{
			name: "leak 1/hour, 48h window", cfg: slow, every: time.Minute, run: 72 * time.Hour,
			give: linear(0, 1.0/60), wantFlag: true, after: 24 * time.Hour, by: 36 * time.Hour, wantNoFlap: true,
		},
		{
			name: "leak 1/hour under jitter, 48h window", cfg: slow, every: time.Minute, run: 72 * time.Hour,
			give: noisy(linear(40, 1.0/60), 1), wantFlag: true, by: 40 * time.Hour,
		},
		{
			name: "slow leak under jitter", cfg: defaultConfig(), every: 15 * time.Second, run: 2 * time.Hour,
			give: noisy(linear(100, 0.5), 2), wantFlag: true, by: 45 * time.Minute,
		},
		{
			name: "flat line with noise", cfg: defaultConfig(), every: 15 * time.Second, run: 3 * time.Hour,
			give: noisy(linear(100, 0), 5),
		},
		{
			name: "sawtooth of bursts", cfg: defaultConfig(), every: 15 * time.Second, run: 3 * time.Hour,
			give: func(at time.Duration, _ *rand.Rand) (float64, uint64) {
				// 50 goroutines pile up over 4 minutes, then finish at once.
				phase := math.Mod(at.Minutes(), 5)
				return 10 + math.Floor(math.Min(phase, 4)/4*50), 1
			},
		},
		{
			name: "ramp for 10m then plateau", cfg: defaultConfig(), every: 15 * time.Second, run: 2 * time.Hour,
			give: func(at time.Duration, _ *rand.Rand) (float64, uint64) {
				return math.Floor(math.Min(at.Minutes(), 10) * 10), 1
			},
		},
		{
			// A ramp longer than the window looks like a leak while it
			// lasts; the flag must come down once the plateau fills the
			// newest half of the window.
			name: "ramp for 60m then plateau", cfg: defaultConfig(), every: 15 * time.Second, run: 2 * time.Hour,
			give: func(at time.Duration, _ *rand.Rand) (float64, uint64) {
				return math.Floor(math.Min(at.Minutes(), 60) * 2), 1
			},
			wantFlag: true, by: 30 * time.Minute, wantClearedAtEnd: true,
		},
		{
			name: "single step", cfg: defaultConfig(), every: 15 * time.Second, run: 2 * time.Hour,
			give: func(at time.Duration, _ *rand.Rand) (float64, uint64) {
				if at > 40*time.Minute {
					return 300, 1
				}
				return 100, 1
			},
		},
		{
			name: "daily load cycle", cfg: defaultConfig(), every: 30 * time.Second, run: 48 * time.Hour,
			give: func(at time.Duration, r *rand.Rand) (float64, uint64) {
				mean := 1000 + 500*math.Sin(2*math.Pi*at.Hours()/24)
				return math.Max(0, math.Round(mean+r.NormFloat64()*math.Sqrt(mean))), 1
			},
		},
		{
			// A healthy service restarted every 40 minutes: its pool fills
			// back within a minute each time.
			name: "restarts of a healthy service", cfg: defaultConfig(), every: 15 * time.Second, run: 4 * time.Hour,
			give: func(at time.Duration, _ *rand.Rand) (float64, uint64) {
				inst := uint64(at/(40*time.Minute)) + 1
				since := at % (40 * time.Minute)
				return math.Min(200, math.Floor(since.Seconds()*4)), inst
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(7, 11))
			tr := NewTracker(&tt.cfg, 10, strings.Compare, nil)
			var (
				raisedAt  time.Duration = -1
				flips     int
				last      Estimate
				estimates []Estimate
			)
			for at := time.Duration(0); at <= tt.run; at += tt.every {
				v, inst := tt.give(at, r)
				var total Estimate
				total, estimates = tr.Observe(t0.Add(at), inst, v, []string{"g"}, []float64{v}, estimates, nil)
				_ = total
				e := estimates[0]
				if e.Suspected != last.Suspected {
					flips++
					if e.Suspected && raisedAt < 0 {
						raisedAt = at
					}
				}
				last = e
			}
			if !tt.wantFlag {
				assert.Equal(t, time.Duration(-1), raisedAt, "flag raised at %v", raisedAt)
				return
			}
			require.GreaterOrEqual(t, raisedAt, time.Duration(0), "flag never raised")
			assert.LessOrEqual(t, raisedAt, tt.by, "raised late")
			assert.GreaterOrEqual(t, raisedAt, tt.after, "raised before the window held enough")
			if tt.wantNoFlap {
				assert.Equal(t, 1, flips, "flag flapped")
			}
			if tt.wantClearedAtEnd {
				assert.False(t, last.Suspected, "flag still up at the end")
			}
			t.Logf("raised at %v, %d flips", raisedAt, flips)
		})
	}
}

// TestRestartInTheMiddleOfALeak restarts a leaking target: at no scrape after
// the restart may the growth be negative or the flag be up before the new
// window holds half its span; the leak is found again afterwards.
func TestRestartInTheMiddleOfALeak(t *testing.T) {
	cfg := defaultConfig()
	tr := NewTracker(&cfg, 10, strings.Compare, nil)
	restart := 50 * time.Minute
	var (
		est        []Estimate
		raisedPre  bool
		raisedPost time.Duration = -1
	)
	for at := time.Duration(0); at <= 2*time.Hour; at += 15 * time.Second {
		inst, since := uint64(1), at
		if at >= restart {
			inst, since = 2, at-restart
		}
		v := math.Floor(20 + 10*since.Minutes())
		total, e := tr.Observe(t0.Add(at), inst, v+50, []string{"leak"}, []float64{v}, est, nil)
		est = e
		if at < restart {
			raisedPre = raisedPre || e[0].Suspected
			continue
		}
		assert.GreaterOrEqual(t, e[0].Growth, 0.0, "negative growth at %v", at)
		assert.GreaterOrEqual(t, total.Growth, 0.0, "negative total growth at %v", at)
		if at-restart < cfg.Horizons[0].Window/2 {
			assert.False(t, e[0].Ready, "estimate before the new window filled, at %v", at)
			assert.False(t, e[0].Suspected, "flag carried over the restart, at %v", at)
		}
		if e[0].Suspected && raisedPost < 0 {
			raisedPost = at - restart
		}
	}
	assert.True(t, raisedPre, "leak found before the restart")
	assert.GreaterOrEqual(t, raisedPost, cfg.Horizons[0].Window/2, "leak found again after the restart")
	assert.LessOrEqual(t, raisedPost, cfg.Horizons[0].Window)
}

// TestRestartWithoutInstance recognizes a restart by the total's collapse
// when the profile carries no process identity.
func TestRestartWithoutInstance(t *testing.T) {
	cfg := defaultConfig()
	tr := NewTracker(&cfg, 10, strings.Compare, nil)
	var est []Estimate
	at := t0
	for i := range 200 {
		at = at.Add(15 * time.Second)
		_, est = tr.Observe(at, 0, float64(100+i), []string{"g"}, []float64{float64(i)}, est, nil)
	}
	require.True(t, est[0].Ready)
	_, est = tr.Observe(at.Add(15*time.Second), 0, 30, []string{"g"}, []float64{1}, est, nil)
	assert.False(t, est[0].Ready, "the collapse started a new window")
}

func TestTrackerForgetsAndBounds(t *testing.T) {
	cfg := defaultConfig()
	tr := NewTracker(&cfg, 2, strings.Compare, nil)
	var est []Estimate
	_, est = tr.Observe(t0, 1, 10, []string{"a", "b", "c"}, []float64{5, 3, 2}, est, nil)
	assert.Equal(t, 2, tr.Len(), "at most maxGroups followed")
	assert.Len(t, est, 3)
	_, _ = tr.Observe(t0.Add(time.Minute), 1, 10, []string{"b"}, []float64{3}, est, nil)
	assert.Equal(t, 1, tr.Len(), "groups not seen are forgotten")

	// Keys come in any order; the room left goes to the largest new ones.
	tr = NewTracker(&cfg, 2, strings.Compare, nil)
	_, est = tr.Observe(t0, 1, 10, []string{"c", "a", "b"}, []float64{2, 5, 3}, est, nil)
	assert.Len(t, est, 3)
	assert.Equal(t, []string{"a", "b"}, followed(tr), "in key order")
	_, _ = tr.Observe(t0.Add(time.Minute), 1, 10, []string{"c", "d", "a"}, []float64{9, 1, 5}, est, nil)
	assert.Equal(t, []string{"a", "c"}, followed(tr), "b forgotten, c outgrew d")
}

// followed returns the keys tr follows, in its index's order.
func followed[K comparable](tr *Tracker[K]) []K {
	var keys []K
	for _, g := range tr.groups {
		keys = append(keys, g.key)
	}
	return keys
}

// TestWindowMemoryIndependentOfLength fills windows of one minute and of one
// week with a sample every second: both hold Buckets buckets.
func TestWindowMemoryIndependentOfLength(t *testing.T) {
	for _, span := range []time.Duration{time.Minute, 7 * 24 * time.Hour} {
		var w Window
		for i := range 100_000 {
			w.Add(span/Buckets, t0.Add(time.Duration(i)*time.Second), float64(i))
		}
		assert.LessOrEqual(t, len(w.Points(span/Buckets, nil)), Buckets, span)
	}
}

func TestTheilSenIgnoresOneBurst(t *testing.T) {
	pts := make([]Point, 20)
	for i := range pts {
		pts[i] = Point{T: float64(i * 60), V: 100}
	}
	pts[10].V = 5000
	slope, _ := TheilSen(pts, nil)
	assert.InDelta(t, 0, slope, 1e-9)

	for i := range pts {
		pts[i].V = float64(2 * i)
	}
	slope, _ = TheilSen(pts, nil)
	assert.InDelta(t, 2.0/60, slope, 1e-9)
}

func TestMannKendall(t *testing.T) {
	up := make([]Point, 30)
	flat := make([]Point, 30)
	for i := range up {
		up[i] = Point{T: float64(i), V: float64(i)}
		flat[i] = Point{T: float64(i), V: 7}
	}
	// n=30 strictly rising: S=435, Var=30*29*65/18, z=(S-1)/sqrt(Var).
	assert.InDelta(t, 434/math.Sqrt(30*29*65/18.0), MannKendall(up), 1e-9)
	assert.Equal(t, 0.0, MannKendall(flat))
	assert.Equal(t, 0.0, MannKendall(up[:2]))
}

// TestStepsAndShortRampsNeverFlagged sweeps where a step falls against the
// buckets, and how steep a ramp shorter than half the window is: none is a
// leak, and none may raise the flag.
func TestStepsAndShortRampsNeverFlagged(t *testing.T) {
	cfg := defaultConfig()
	run := func(name string, give func(at time.Duration) float64) {
		tr := NewTracker(&cfg, 10, strings.Compare, nil)
		var est []Estimate
		for at := time.Duration(0); at <= 2*time.Hour; at += 15 * time.Second {
			v := give(at)
			_, est = tr.Observe(t0.Add(at), 1, v, []string{"g"}, []float64{v}, est, nil)
			if est[0].Suspected {
				t.Errorf("%s: flag raised at %v", name, at)
				return
			}
		}
	}
	for step := 16 * time.Minute; step <= 70*time.Minute; step += 20 * time.Second {
		run("step at "+step.String(), func(at time.Duration) float64 {
			if at >= step {
				return 400
			}
			return 100
		})
	}
	for _, height := range []float64{20, 100, 1000, 10000} {
		// Up to a third of the window: a ramp that lasts half the window
		// is a leak for as long as it lasts (see "ramp for 60m").
		for _, length := range []time.Duration{2 * time.Minute, 5 * time.Minute, 10 * time.Minute} {
			run(fmt.Sprintf("ramp of %v to %v", length, height), func(at time.Duration) float64 {
				return math.Floor(height * math.Min(1, float64(at)/float64(length)))
			})
		}
	}
}

// TestWindowCodes closes buckets whose means span ranges from a few
// goroutines to a million, climbing and falling below the first: every
// point read back is within a part in 32,000 of its range (a 64th of a
// goroutine at least) of the exact mean, and the newest bucket is exact.
func TestWindowCodes(t *testing.T) {
	const width = time.Minute
	tests := []struct {
		name  string
		means func(i int) float64
	}{
		{"flat with fractions", func(i int) float64 { return 100 + float64(i%3)/3 }},
		{"climb to a million", func(i int) float64 { return float64(i) * float64(i) * 1100 }},
		{"fall below the first", func(i int) float64 { return 5000 - float64(i)*170.25 }},
		{"sawtooth", func(i int) float64 { return float64(i%5) * 12.5 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var w Window
			exact := map[int]float64{}
			for i := range 3 * Buckets {
				at := t0.Add(time.Duration(i) * width)
				// Two samples a bucket, around its mean.
				w.Add(width, at.Add(10*time.Second), tt.means(i)-1)
				w.Add(width, at.Add(40*time.Second), tt.means(i)+1)
				exact[i] = tt.means(i)
			}
			pts := w.Points(width, nil)
			require.Len(t, pts, Buckets)
			lo, hi := math.Inf(1), math.Inf(-1)
			for i := 2 * Buckets; i < 3*Buckets; i++ {
				lo, hi = math.Min(lo, exact[i]), math.Max(hi, exact[i])
			}
			tolerance := math.Max(minStep, (hi-lo)/32000)
			for j, p := range pts {
				want := exact[2*Buckets+j]
				assert.InDelta(t, want, p.V, tolerance+math.Abs(want)*1e-6, "bucket %d", j)
				if j < Buckets-1 {
					assert.InDelta(t, (float64(j)+0.5)*width.Seconds(), p.T, 1e-9, "a closed bucket's time is its middle")
				}
			}
			assert.InDelta(t, float64(Buckets-1)*60+25, pts[Buckets-1].T, 0.01, "the newest bucket's mean time, exact")
		})
	}
}

// TestWindowCodesRefine: once a spike of a million has left the window, its
// means are resolved to a 64th of a goroutine again.
func TestWindowCodesRefine(t *testing.T) {
	const width = time.Minute
	var w Window
	at := t0
	w.Add(width, at, 1e6)
	for i := 1; i <= 3*Buckets; i++ {
		w.Add(width, at.Add(time.Duration(i)*width), 100+float64(i)/64)
	}
	pts := w.Points(width, nil)
	require.Len(t, pts, Buckets)
	for j, p := range pts[:Buckets-1] {
		assert.InDelta(t, 100+float64(2*Buckets+1+j)/64, p.V, minStep/2+1e-6, "bucket %d", j)
	}
}
