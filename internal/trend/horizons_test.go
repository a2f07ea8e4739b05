package trend

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// defaults is the receiver's default leak test: three horizons, the
// thresholds of leak.min_growth 0.1 and leak.min_increase 10, the 1% level.
func defaults() Config {
	return Config{Horizons: Horizons(DefaultWindows(), 0.1, 10), Z: 2.326}
}

// rampTo rises linearly from 0 to height over d, then stays.
func rampTo(height float64, d time.Duration) series {
	return func(at time.Duration, _ *rand.Rand) (float64, uint64) {
		return math.Floor(height * math.Min(1, float64(at)/float64(d))), 1
	}
}

// daily is a load cycle around mean of amplitude amp and period a day, with
// Poisson noise.
func daily(mean, amp float64) series {
	return func(at time.Duration, r *rand.Rand) (float64, uint64) {
		m := mean + amp*math.Sin(2*math.Pi*at.Hours()/24)
		return math.Max(0, math.Round(m+r.NormFloat64()*math.Sqrt(m))), 1
	}
}

// startingAt is s from from on, start before.
func startingAt(from time.Duration, start float64, perMinute float64) series {
	return func(at time.Duration, _ *rand.Rand) (float64, uint64) {
		return math.Floor(start + perMinute*math.Max(0, (at-from).Minutes())), 1
	}
}

// TestDefaultHorizons holds the default configuration, and nothing else, to
// the goals of the leak test on an injected clock: fast leaks within 16
// minutes, slow ones within hours, a goroutine an hour within 26 hours, and
// none of the healthy series ever flagged on any horizon. Each row says by
// when the flag must be raised (from the leak's start), or that it must never
// be.
func TestDefaultHorizons(t *testing.T) {
	tests := []struct {
		name  string
		every time.Duration // scrape interval
		run   time.Duration
		give  series
		// from is when the leak starts; by, when set, how long after it the
		// flag must be up; without by, the flag must never be raised.
		from, by time.Duration
		// quietFrom, when set, allows flags before it (a documented blind
		// spot) and none from then on.
		quietFrom time.Duration
		// seeds is how many draws of the noise the row runs under (1 unless
		// set).
		seeds uint64
	}{
		{name: "leak 1000/min", every: 15 * time.Second, run: time.Hour, give: linear(20, 1000), by: 16 * time.Minute},
		{name: "leak 1/min", every: 15 * time.Second, run: time.Hour, give: linear(3, 1), by: 16 * time.Minute},
		{
			name: "seed article: 48 to 844 in three hours", every: 30 * time.Second, run: 3 * time.Hour,
			give: noisy(linear(48, (844-48)/180.0), 2), by: 16 * time.Minute,
		},
		{name: "leak 6/hour", every: 30 * time.Second, run: 8 * time.Hour, give: linear(2, 0.1), by: 3 * time.Hour},
		{name: "leak 6/hour under jitter", every: 30 * time.Second, run: 8 * time.Hour, give: noisy(linear(20, 0.1), 1), by: 3 * time.Hour},
		{
			name: "leak 6/hour starting at 10h", every: 30 * time.Second, run: 16 * time.Hour,
			give: startingAt(10*time.Hour, 50, 0.1), from: 10 * time.Hour, by: 3 * time.Hour,
		},
		{name: "leak 1/hour", every: time.Minute, run: 48 * time.Hour, give: linear(0, 1.0/60), by: 26 * time.Hour},
		{name: "leak 1/hour under jitter", every: time.Minute, run: 48 * time.Hour, give: noisy(linear(40, 1.0/60), 1), by: 26 * time.Hour},
		{
			name: "leak 1/hour starting at 30h", every: time.Minute, run: 72 * time.Hour,
			give: startingAt(30*time.Hour, 50, 1.0/60), from: 30 * time.Hour, by: 26 * time.Hour,
		},

		{name: "daily load cycle, 1000 ± 500 with Poisson noise", every: 30 * time.Second, run: 72 * time.Hour, give: daily(1000, 500), seeds: 3},
		{
			name: "healthy service restarted every 40m", every: 30 * time.Second, run: 24 * time.Hour,
			give: func(at time.Duration, _ *rand.Rand) (float64, uint64) {
				since := at % (40 * time.Minute)
				return math.Min(200, math.Floor(since.Seconds()*4)), uint64(at/(40*time.Minute)) + 1
			},
		},
		{name: "pool warming up to 30 over 2h", every: 30 * time.Second, run: 24 * time.Hour, give: rampTo(30, 2*time.Hour)},
		{name: "flat line with noise", every: time.Minute, run: 72 * time.Hour, give: noisy(linear(100, 0), 5), seeds: 3},
		{
			name: "sawtooth of bursts", every: 15 * time.Second, run: 12 * time.Hour,
			give: func(at time.Duration, _ *rand.Rand) (float64, uint64) {
				phase := math.Mod(at.Minutes(), 5)
				return 10 + math.Floor(math.Min(phase, 4)/4*50), 1
			},
		},
		// A blind spot, bounded: a small daily cycle's first ramp, before the
		// series was ever seen to fall, looks like a slow leak to the 5h
		// horizon; from the first night on it is load.
		{name: "daily load cycle, 100 ± 50, after its first day", every: time.Minute, run: 72 * time.Hour, give: daily(100, 50), quietFrom: 12 * time.Hour, seeds: 3},
		{name: "daily load cycle, 20 ± 10, after its first day", every: time.Minute, run: 72 * time.Hour, give: daily(20, 10), quietFrom: 12 * time.Hour, seeds: 3},
	}
	cfg := defaults()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for seed := range max(tt.seeds, 1) {
				testRow(t, &cfg, seed, tt.every, tt.run, tt.give, tt.from, tt.by, tt.quietFrom)
			}
		})
	}
}

func testRow(t *testing.T, cfg *Config, seed uint64, every, run time.Duration, give series, from, by, quietFrom time.Duration) {
	t.Helper()
	raised, quietBroken := observeFlag(cfg, seed, every, run, give, quietFrom)
	switch {
	case by > 0:
		if assert.GreaterOrEqual(t, raised, from, "seed %d: never raised, or raised before the leak", seed) {
			assert.LessOrEqual(t, raised-from, by, "seed %d: raised late", seed)
		}
		t.Logf("raised %v after the leak's start", raised-from)
	case quietFrom > 0:
		assert.Equal(t, time.Duration(-1), quietBroken, "seed %d: raised at %v, after %v", seed, quietBroken, quietFrom)
	default:
		assert.Equal(t, time.Duration(-1), raised, "seed %d: a healthy series raised at %v", seed, raised)
	}
}

// observeFlag runs give through a tracker and returns when the group's flag
// was first raised (-1: never) and when it was first up at or after
// quietFrom (-1: never).
func observeFlag(cfg *Config, seed uint64, every, run time.Duration, give series, quietFrom time.Duration) (raised, afterQuiet time.Duration) {
	r := rand.New(rand.NewPCG(7+seed, 11))
	tr := NewTracker(cfg, 10, strings.Compare, nil)
	var est []Estimate
	raised, afterQuiet = -1, -1
	for at := time.Duration(0); at <= run; at += every {
		v, inst := give(at, r)
		_, est = tr.Observe(t0.Add(at), inst, v, []string{"g"}, []float64{v}, est, nil)
		if !est[0].Suspected {
			continue
		}
		if raised < 0 {
			raised = at
		}
		if quietFrom > 0 && at >= quietFrom && afterQuiet < 0 {
			afterQuiet = at
		}
	}
	return raised, afterQuiet
}

// TestDefaultHorizonsStepsNeverFlagged sweeps a step of 100 to 400
// goroutines over the first eight hours: one bucket's jump in every horizon,
// never a leak.
func TestDefaultHorizonsStepsNeverFlagged(t *testing.T) {
	cfg := defaults()
	for step := 16 * time.Minute; step <= 8*time.Hour; step += 13 * time.Minute {
		raised, _ := observeFlag(&cfg, 0, time.Minute, 60*time.Hour, func(at time.Duration, _ *rand.Rand) (float64, uint64) {
			if at >= step {
				return 400, 1
			}
			return 100, 1
		}, 0)
		assert.Equal(t, time.Duration(-1), raised, "step at %v raised at %v", step, raised)
	}
}

// TestHorizonsThresholds: the shortest horizon has the configured growth,
// the others less in proportion, and each judges only growth slower than
// the one before it sees.
func TestHorizonsThresholds(t *testing.T) {
	hs := Horizons(DefaultWindows(), 0.1, 10)
	assert.Equal(t, []Horizon{
		{Window: 30 * time.Minute, MinGrowth: 0.1, MinIncrease: 10},
		{Window: 5 * time.Hour, MinGrowth: 0.01, MinIncrease: 10, MaxGrowth: 10.0 / 15},
		{Window: 48 * time.Hour, MinGrowth: 0.1 / 96, MinIncrease: 10, MaxGrowth: 10.0 / 150},
	}, hs)
}
