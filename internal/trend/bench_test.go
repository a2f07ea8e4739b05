package trend

import (
	"fmt"
	"runtime"
	"testing"
	"time"
)

// BenchmarkSeriesMemory fills 1,000 series with a day of 15s scrapes for
// windows from one minute to one week, and reports the heap each series
// holds: the same for every window, because a window is always Buckets
// buckets wide.
//
//	go test ./internal/trend -run '^$' -bench BenchmarkSeriesMemory -benchmem
func BenchmarkSeriesMemory(b *testing.B) {
	for _, window := range []time.Duration{time.Minute, 30 * time.Minute, 48 * time.Hour, 7 * 24 * time.Hour} {
		b.Run(fmt.Sprintf("window=%v", window), func(b *testing.B) {
			cfg := Config{Window: window, MinGrowth: 0.1, MinIncrease: 10, Z: 2.326}
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
				for step := range 24 * 60 * 4 {
					at := t0.Add(time.Duration(step) * 15 * time.Second)
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
	cfg := Config{Window: 30 * time.Minute, MinGrowth: 0.1, MinIncrease: 10, Z: 2.326}
	s := cfg.NewSeries()
	var sc Scratch
	b.ReportAllocs()
	for i := range b.N {
		s.Observe(&cfg, t0.Add(time.Duration(i)*15*time.Second), float64(i/7), &sc)
	}
}
