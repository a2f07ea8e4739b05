package trend

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/goroutinewatch/goroutinereceiver/internal/group"
	"github.com/goroutinewatch/goroutinereceiver/internal/signature"
)

// BenchmarkSeriesMemory fills 1,000 series with 200 scrapes, for single
// windows from one minute to one week and for the default horizons, and
// reports the heap each series holds: the same for every window, because a
// window is always Buckets buckets wide, and 256 bytes more per horizon.
//
//	go test ./internal/trend -run '^$' -bench BenchmarkSeriesMemory -benchmem
func BenchmarkSeriesMemory(b *testing.B) {
	configs := []struct {
		name string
		cfg  Config
	}{
		{"window=1m", single(time.Minute, 0.1)},
		{"window=30m", single(30*time.Minute, 0.1)},
		{"window=48h", single(48*time.Hour, 0.1)},
		{"window=168h", single(7*24*time.Hour, 0.1)},
		{"windows=30m,5h,48h", defaults()},
	}
	for _, c := range configs {
		b.Run(c.name, func(b *testing.B) {
			cfg := c.cfg
			const n = 1000
			var sc Scratch
			for range b.N {
				var before, after runtime.MemStats
				runtime.GC()
				runtime.ReadMemStats(&before)
				series := make([]*Series, n)
				for i := range series {
					series[i] = cfg.NewSeries()
				}
				for step := range 200 {
					at := t0.Add(time.Duration(step) * time.Minute)
					for i, s := range series {
						s.Observe(&cfg, at, float64(i+step/10), &sc)
					}
				}
				runtime.GC()
				runtime.ReadMemStats(&after)
				b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/n, "heapB/series")
				runtime.KeepAlive(series)
			}
		})
	}
}

// BenchmarkObserve is the cost of one scrape's sample for one group, across
// scrapes that close a bucket (and evaluate) and scrapes that do not.
//
//	go test ./internal/trend -run '^$' -bench BenchmarkObserve -benchmem
func BenchmarkObserve(b *testing.B) {
	cfg := defaultConfig()
	s := cfg.NewSeries()
	var sc Scratch
	b.ReportAllocs()
	for i := range b.N {
		s.Observe(&cfg, t0.Add(time.Duration(i)*15*time.Second), float64(i/7), &sc)
	}
}

// BenchmarkTrackerMemory fills a tracker of 1,000 groups over 200 scrapes
// a minute apart with the default horizons, and reports the heap it holds
// per group: with every group steady (the same count at every scrape, as
// most of a process's stacks are), with a tenth of them varying at every
// scrape, and with all of them varying.
//
//	go test ./internal/trend -run '^$' -bench BenchmarkTrackerMemory
func BenchmarkTrackerMemory(b *testing.B) {
	for _, varying := range []int{0, 100, 1000} {
		b.Run(fmt.Sprintf("varying=%d", varying), func(b *testing.B) {
			cfg := defaults()
			const n = 1000
			keys := make([]string, n)
			counts := make([]float64, n)
			for i := range keys {
				keys[i] = fmt.Sprintf("g%04d", i)
			}
			for range b.N {
				var before, after runtime.MemStats
				runtime.GC()
				runtime.ReadMemStats(&before)
				tr := NewTracker(&cfg, n, strings.Compare, nil)
				var est []Estimate
				for step := range 200 {
					for i := range counts {
						counts[i] = float64(i % 50)
						if i < varying {
							counts[i] += float64(step % 3)
						}
					}
					_, est = tr.Observe(t0.Add(time.Duration(step)*time.Minute), 1, 1e5, keys, counts, est, nil)
				}
				runtime.GC()
				runtime.ReadMemStats(&after)
				b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/n, "heapB/group")
				runtime.KeepAlive(tr)
			}
		})
	}
}

// BenchmarkTrackerObserve is one scrape of 1,000 groups through a tracker
// that follows them, the keys in the order a profile lists them (not the
// tracker's): with every group steady, a tenth varying, all varying, and,
// steady, with ten groups gone and ten new at every scrape (churn), which
// moves the places the tracker remembers. One op is one scrape of one of
// 256 trackers taken in turn, so that, as in a collector of many targets, a
// tracker's memory is cold when its scrape comes.
//
//	go test ./internal/trend -run '^$' -bench BenchmarkTrackerObserve -benchmem
func BenchmarkTrackerObserve(b *testing.B) {
	const n, trackers = 1000, 256
	for _, c := range []struct{ varying, churn int }{{0, 0}, {100, 0}, {1000, 0}, {0, 10}} {
		varying := c.varying
		name := fmt.Sprintf("varying=%d", varying)
		if c.churn > 0 {
			name = fmt.Sprintf("churn=%d", c.churn)
		}
		b.Run(name, func(b *testing.B) {
			cfg := defaults()
			keys := make([]group.Key, n)
			for i := range keys {
				keys[i] = group.Key{ID: signature.ID(uint64(i+1) * 0x9e3779b97f4a7c15)}
			}
			counts := make([]float64, n)
			scrape := func(step int) {
				for i := range counts {
					counts[i] = float64(i % 50)
					if i < varying {
						counts[i] += float64(step % 3)
					}
				}
			}
			ts := make([]*Tracker[group.Key], trackers)
			var (
				sc  Scratch
				est []Estimate
			)
			at := func(step int) time.Time { return t0.Add(time.Duration(step) * 15 * time.Second) }
			for i := range ts {
				ts[i] = NewTracker(&cfg, n, group.Key.Compare, group.Key.Clone)
				for step := range 2 {
					scrape(step)
					_, est = ts[i].Observe(at(step), 1, 1e5, keys, counts, est, &sc)
				}
			}
			b.ReportAllocs()
			i, fresh := 0, uint64(n)
			for b.Loop() {
				step := 2 + i/trackers
				scrape(step)
				if i%trackers == 0 { // one churn a round of the trackers
					for j := range c.churn {
						fresh++
						keys[(step*c.churn+j)%n] = group.Key{ID: signature.ID(fresh * 0x9e3779b97f4a7c15)}
					}
				}
				_, est = ts[i%trackers].Observe(at(step), 1, 1e5, keys, counts, est, &sc)
				i++
			}
		})
	}
}
