package trend

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// find returns the series of k as the group holds it (a steady group's
// template shifted to its value), nil when k is not followed.
func (t *Tracker[K]) find(k K) *Series {
	i, ok := t.search(k)
	if !ok {
		return nil
	}
	g := &t.groups[i]
	if g.steady() {
		return g.s.shifted(g.v)
	}
	return g.s
}

// Shared returns how many groups share a template, and how many templates
// they share.
func (t *Tracker[K]) shared() (groups, templates int) {
	for _, s := range t.templates {
		groups += int(s.refs)
	}
	return groups, len(t.templates)
}

// TestSteadyGroupsShareTemplates runs a tracker whose steady groups share
// templates beside one whose groups each have a series of their own, on
// random histories: groups steady throughout, steady until they change,
// changing then steady for longer than every window, coming and going;
// scrapes at uneven intervals with gaps; process restarts; and saves
// restored midway into trackers of each kind. Every estimate, and every
// saved form, is the same in both; and the sharing happened: groups shared
// templates, and groups that changed shared one again once their windows
// held one value.
func TestSteadyGroupsShareTemplates(t *testing.T) {
	cfg := Config{Horizons: Horizons([]time.Duration{2 * time.Minute, 10 * time.Minute, 30 * time.Minute}, 0.1, 10), Z: 2.326}
	readKey := func(b []byte) (string, error) { return string(b), nil }
	appendKey := func(b []byte, k string) []byte { return append(b, k...) }
	seeds := 20
	if raceEnabled {
		seeds = 6 // make test's race build; go test ./internal/trend runs all 20
	}
	for seed := range seeds {
		t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) {
			t.Parallel()
			rng := rand.New(rand.NewPCG(uint64(seed), 7))
			shared := NewTracker(&cfg, 40, strings.Compare, nil)
			own := NewTracker(&cfg, 40, strings.Compare, nil)
			own.unshared = true

			const groups = 50
			type behavior struct {
				base          float64
				changeAt      time.Duration // when it starts to vary, 0: never
				settleAt      time.Duration // when it stops varying
				comesAndGoes  bool
				fraction, big bool
			}
			bs := make([]behavior, groups)
			for i := range bs {
				b := &bs[i]
				b.base = float64(rng.IntN(30))
				switch rng.IntN(5) {
				case 0: // steady throughout
				case 1:
					b.changeAt = time.Duration(rng.IntN(90)) * time.Minute
				case 2:
					b.changeAt = time.Duration(rng.IntN(20)) * time.Minute
					b.settleAt = b.changeAt + time.Duration(1+rng.IntN(10))*time.Minute
				case 3:
					b.comesAndGoes = true
				case 4:
					b.fraction = rng.IntN(2) == 0 // a count no float32 holds
					b.big = !b.fraction
				}
			}
			var (
				sharedEst, ownEst    []Estimate
				everShared, reShared bool
				instance             uint64 = 1
			)
			at := time.Duration(0)
			for step := 0; at < 3*time.Hour; step++ {
				at += time.Duration(1+rng.IntN(8)) * time.Second
				if rng.IntN(200) == 0 {
					at += time.Duration(rng.IntN(20)) * time.Minute // the collector was down
				}
				if rng.IntN(2000) == 0 {
					instance++
				}
				var keys []string
				var counts []float64
				for i, b := range bs {
					if b.comesAndGoes && rng.IntN(10) == 0 {
						continue
					}
					v := b.base
					if b.changeAt > 0 && at >= b.changeAt && (b.settleAt == 0 || at < b.settleAt) {
						v += float64(rng.IntN(5))
					}
					if b.settleAt > 0 && at >= b.settleAt {
						v = b.base + 3
					}
					if b.fraction {
						v += 0.1
					}
					if b.big {
						v += 1 << 25
					}
					keys = append(keys, fmt.Sprintf("g%02d", i))
					counts = append(counts, v)
				}
				total := 1000.0
				var st, ot Estimate
				st, sharedEst = shared.Observe(t0.Add(at), instance, total, keys, counts, sharedEst, nil)
				ot, ownEst = own.Observe(t0.Add(at), instance, total, keys, counts, ownEst, nil)
				require.Equal(t, ot, st, "seed %d at %v: the total", seed, at)
				require.Equal(t, ownEst, sharedEst, "seed %d at %v: the groups' estimates", seed, at)
				n, _ := shared.shared()
				everShared = everShared || n > 0
				if step%97 == 0 {
					blob := shared.AppendTo(nil, appendKey)
					require.Equal(t, own.AppendTo(nil, appendKey), blob, "seed %d at %v: the saved forms", seed, at)
					if rng.IntN(2) == 0 {
						require.NoError(t, shared.Restore(blob, readKey))
						require.NoError(t, own.Restore(blob, readKey))
					}
				}
				for i, b := range bs {
					if b.settleAt > 0 && at > b.settleAt+31*time.Minute {
						if j, ok := shared.search(fmt.Sprintf("g%02d", i)); ok && shared.groups[j].steady() {
							reShared = true
						}
					}
				}
			}
			assert.True(t, everShared, "seed %d: no group shared a template", seed)
			assert.True(t, reShared, "seed %d: no group that changed and settled shared a template again", seed)
		})
	}
}

// TestPlaceOfLastScrape holds a tracker that looks each key up where the
// last scrape had it first to one that always searches, over scrapes whose
// keys come, go and change order, and checks that the places are right
// when the order holds.
func TestPlaceOfLastScrape(t *testing.T) {
	cfg := defaults()
	rng := rand.New(rand.NewPCG(7, 9))
	hinted := NewTracker(&cfg, 40, strings.Compare, strings.Clone)
	searched := NewTracker(&cfg, 40, strings.Compare, strings.Clone)
	all := make([]string, 60)
	for i := range all {
		all[i] = fmt.Sprintf("g%02d", i)
	}
	keys := slices.Clone(all[:30])
	var hintedEst, searchedEst []Estimate
	for step := range 300 {
		switch {
		case step%50 == 49: // a new order
			rng.Shuffle(len(keys), func(i, j int) { keys[i], keys[j] = keys[j], keys[i] })
		case step%7 == 6: // a group goes, another comes
			d := rng.IntN(len(keys))
			keys = slices.Delete(keys, d, d+1)
			if k := all[30+rng.IntN(30)]; !slices.Contains(keys, k) {
				keys = append(keys, k)
			}
		}
		counts := make([]float64, len(keys))
		for i := range counts {
			counts[i] = float64(i%5 + step/20*(i%3))
		}
		at := t0.Add(time.Duration(step) * 15 * time.Second)
		searched.at = nil
		_, hintedEst = hinted.Observe(at, 1, 1000, keys, counts, hintedEst, nil)
		_, searchedEst = searched.Observe(at, 1, 1000, keys, counts, searchedEst, nil)
		require.Equal(t, searchedEst, hintedEst, "step %d", step)
		// OwnedAt gives the tracker's own copy of a key it follows, a
		// fresh one of any other.
		for i, k := range keys {
			got := hinted.OwnedAt(i, k)
			require.Equal(t, k, got)
			if j, ok := hinted.search(k); ok {
				assert.Same(t, unsafe.StringData(hinted.groups[j].key), unsafe.StringData(got), "step %d: %s", step, k)
			} else {
				assert.NotSame(t, unsafe.StringData(k), unsafe.StringData(got), "step %d: %s", step, k)
			}
		}
	}
	// The places kept are bounded by the room, not by the scrape: a scrape
	// of many more keys than the tracker follows keeps 2 × maxGroups.
	many := make([]string, 500)
	for i := range many {
		many[i] = fmt.Sprintf("m%03d", i)
	}
	_, _ = hinted.Observe(t0.Add(time.Hour*9), 1, 1000, many, make([]float64, len(many)), nil, nil)
	assert.Len(t, hinted.at, 80)

	// Twice the same order: every place of the second is where it was.
	counts := make([]float64, len(keys))
	_, _ = hinted.Observe(t0.Add(time.Hour*10), 1, 1000, keys, counts, nil, nil)
	_, _ = hinted.Observe(t0.Add(time.Hour*10+time.Minute), 1, 1000, keys, counts, nil, nil)
	for i, k := range keys {
		j, ok := hinted.search(k)
		if !ok {
			assert.Equal(t, int32(-1), hinted.at[i], k)
			continue
		}
		assert.Equal(t, int32(j), hinted.at[i], k)
	}
}
