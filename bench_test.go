package goroutinereceiver

import (
	"context"
	"fmt"
	"math"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/receiver/receivertest"
	"go.uber.org/zap"

	"github.com/goroutinewatch/goroutinereceiver/internal/group"
	"github.com/goroutinewatch/goroutinereceiver/internal/metadata"
	"github.com/goroutinewatch/goroutinereceiver/internal/signature"
	"github.com/goroutinewatch/goroutinereceiver/internal/trend"
)

// BenchmarkScrape is one scrape of n loopback targets through the whole
// receiver (fetch, decode, group, trend, evidence policy, emit, delivery),
// on a clock that moves one interval a scrape, the targets scraped at once
// as their loops do when their slots coincide. It measures the receiver's
// own cost per scrape, without a collector around it, on two profiles: the
// example target's (27 groups, a label kept) and a farm's of 1,000 distinct
// stacks with the defaults, the profile of BenchmarkCollectorScale. Its
// three horizons are the shortest the interval allows, and every one is
// ready before the clock starts, so that each reported group writes its
// seven points, as a collector's do once its horizons are ready:
//
//	go test -run '^$' -bench BenchmarkScrape -benchmem -count 6 .
func BenchmarkScrape(b *testing.B) {
	farm := farmProfile(b, 1000)
	for _, c := range []struct {
		name    string
		profile []byte
		labels  []string
	}{
		{"example", mustRead("testdata/profiles/leaktarget.pb.gz"), []string{"pattern"}},
		{"farm=1000", farm, nil},
	} {
		for _, n := range []int{1, 32} {
			b.Run(fmt.Sprintf("profile=%s/targets=%d", c.name, n), func(b *testing.B) {
				cfg := createDefaultConfig()
				for i := range n {
					srv := serveBytes(b, c.profile)
					cfg.Targets = append(cfg.Targets, TargetConfig{Endpoint: srv.URL, ServiceName: fmt.Sprint("t", i)})
				}
				cfg.Labels = c.labels
				shortest := minScrapesPerWindow * cfg.CollectionInterval
				cfg.Leak.Windows = []time.Duration{shortest, shortest + cfg.CollectionInterval, shortest + 2*cfg.CollectionInterval}
				at := fixedNow
				s := newBenchScraper(b, cfg, func() time.Time { return at })
				warm := new(consumertest.MetricsSink)
				s.metrics = warm
				scrape := func() {
					at = at.Add(cfg.CollectionInterval)
					var wg sync.WaitGroup
					for i := range s.targets {
						wg.Go(func() {
							if err := s.scrapeTarget(context.Background(), i); err != nil {
								b.Error(err)
							}
						})
					}
					wg.Wait()
				}
				// A horizon is ready once its window spans half its length.
				for range minScrapesPerWindow/2 + 2 {
					scrape()
				}
				batches := warm.AllMetrics()
				last := batches[len(batches)-1]
				require.Len(b, horizonsOf(last), len(cfg.Leak.Windows), "a horizon not ready when the clock starts")
				s.metrics = consumertest.NewNop()
				b.ReportAllocs()
				for b.Loop() {
					scrape()
				}
				b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*n), "µs/target-scrape")
			})
		}
	}
}

// horizonsOf returns the horizons of md's group growth points.
func horizonsOf(md pmetric.Metrics) map[string]bool {
	seen := map[string]bool{}
	for i := range md.ResourceMetrics().Len() {
		ms := md.ResourceMetrics().At(i).ScopeMetrics().At(0).Metrics()
		for j := range ms.Len() {
			if ms.At(j).Name() != "go.goroutine.group.growth" {
				continue
			}
			dps := ms.At(j).Gauge().DataPoints()
			for k := range dps.Len() {
				h, _ := dps.At(k).Attributes().Get("goroutine.horizon")
				seen[h.Str()] = true
			}
		}
	}
	return seen
}

// farmProfile runs cmd/stackfarm once and returns its goroutine profile of
// stacks distinct stacks, depth 10, 10,000 goroutines.
func farmProfile(b *testing.B, stacks int) []byte {
	b.Helper()
	out := filepath.Join(b.TempDir(), "farm.pb.gz")
	cmd := exec.Command("go", "run", "./cmd/stackfarm", "-stacks", strconv.Itoa(stacks), "-depth", "10", "-goroutines", "10000", "-out", out)
	msg, err := cmd.CombinedOutput()
	require.NoError(b, err, "%s", msg)
	return mustRead(out)
}

func newBenchScraper(b *testing.B, cfg *Config, now func() time.Time) *scraper {
	b.Helper()
	require.NoError(b, cfg.Validate())
	s, err := newScraper(cfg, receivertest.NewNopSettings(metadata.Type), now)
	require.NoError(b, err)
	require.NoError(b, s.start(context.Background(), componenttest.NewNopHost()))
	b.Cleanup(func() { require.NoError(b, s.shutdown(context.Background())) })
	return s
}

// filledTarget returns a target of the default horizons that follows n
// groups, every window full: 49 hours of scrapes, each group climbing a
// goroutine an hour beside a daily cycle. A scrape every 10 minutes fills
// the 5h and 48h horizons' buckets (10 and 96 minutes wide), and one a
// minute over the last half hour the 30m horizon's: the windows are those
// of scrapes a minute throughout, in a tenth of the time.
func filledTarget(b *testing.B, n int) *target {
	b.Helper()
	cfg := createDefaultConfig()
	cfg.Leak.MaxTrackedGroups = n
	t := newBenchTarget(b, cfg, "http://10.0.0.7:6060")
	keys := make([]group.Key, n)
	counts := make([]float64, n)
	for i := range keys {
		keys[i] = group.Key{ID: signature.ID(i*7919 + 1)}
	}
	var est []trend.Estimate
	const end = 49 * time.Hour
	for at := time.Duration(0); at <= end; at += max(time.Minute, min(10*time.Minute, end-31*time.Minute-at)) {
		for i := range counts {
			counts[i] = float64(i%50) + math.Floor(at.Hours()) + math.Round(3*math.Sin(at.Hours()/24*2*math.Pi))
		}
		_, est = t.tracker.Observe(fixedNow.Add(at), 7, 1e5, keys, counts, est, nil)
	}
	return t
}

func newBenchTarget(b *testing.B, cfg *Config, endpoint string) *target {
	b.Helper()
	u, err := targetURL(endpoint)
	require.NoError(b, err)
	leak := cfg.trend()
	return newTarget(u, "", cfg, leak, zap.NewNop())
}

// BenchmarkState is the cost of keeping one target's state with `storage`:
// encoding its record, decoding and restoring it, and writing it to the
// real file_storage, for targets of 100 and 1,000 groups with every window
// of the default horizons full. It reports the record's size, and the time
// per group.
//
//	go test -run '^$' -bench BenchmarkState -benchmem -count 6 .
func BenchmarkState(b *testing.B) {
	for _, n := range []int{100, 1000} {
		t := filledTarget(b, n)
		record := t.appendState(nil, fixedNow)
		perGroup := func(b *testing.B) {
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/group")
			b.ReportMetric(float64(len(record)), "B/record")
		}
		b.Run(fmt.Sprintf("save/groups=%d", n), func(b *testing.B) {
			var buf []byte
			b.ReportAllocs()
			for b.Loop() {
				buf = t.appendState(buf[:0], fixedNow)
			}
			perGroup(b)
		})
		b.Run(fmt.Sprintf("restore/groups=%d", n), func(b *testing.B) {
			cfg := createDefaultConfig()
			cfg.Leak.MaxTrackedGroups = n
			b.ReportAllocs()
			for b.Loop() {
				fresh := newBenchTarget(b, cfg, "http://10.0.0.7:6060")
				if err := fresh.decodeState(record); err != nil {
					b.Fatal(err)
				}
			}
			perGroup(b)
		})
		b.Run(fmt.Sprintf("file_storage/groups=%d", n), func(b *testing.B) {
			host := fileStorage(b, b.TempDir())
			client := storageClient(b, host)
			b.Cleanup(func() { require.NoError(b, client.Close(context.Background())) })
			b.ReportAllocs()
			for b.Loop() {
				if err := client.Set(context.Background(), t.saves.key, record); err != nil {
					b.Fatal(err)
				}
			}
			perGroup(b)
		})
	}
}

// BenchmarkRestoreTargets is a collector's start with `storage`: the
// records of n targets of 1,000 groups each read from the real
// file_storage and restored.
//
//	go test -run '^$' -bench BenchmarkRestoreTargets -benchtime 3x .
func BenchmarkRestoreTargets(b *testing.B) {
	record := filledTarget(b, 1000).appendState(nil, fixedNow)
	for _, n := range []int{1000} {
		b.Run(fmt.Sprintf("targets=%d", n), func(b *testing.B) {
			host := fileStorage(b, b.TempDir())
			cfg := createDefaultConfig()
			cfg.Storage = &fileStorageID
			cfg.Leak.MaxTrackedGroups = 1000
			for i := range n {
				cfg.Targets = append(cfg.Targets, TargetConfig{Endpoint: fmt.Sprintf("http://10.0.%d.%d:6060", i/250, i%250+1)})
			}
			s, err := newScraper(cfg, storedSettings(), func() time.Time { return fixedNow })
			require.NoError(b, err)
			client := storageClient(b, host)
			for _, t := range s.targets {
				require.NoError(b, client.Set(context.Background(), t.saves.key, record))
			}
			require.NoError(b, client.Close(context.Background()))
			for b.Loop() {
				s, err := newScraper(cfg, storedSettings(), func() time.Time { return fixedNow })
				require.NoError(b, err)
				require.NoError(b, s.start(context.Background(), host))
				if s.targets[n-1].tracker.Len() != 1000 {
					b.Fatal("not restored")
				}
				b.StopTimer()
				require.NoError(b, s.shutdown(context.Background()))
				b.StartTimer()
			}
			b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/start")
		})
	}
}

// BenchmarkPointsFloor is what pdata alone costs to build one target's
// points at the steady state of BenchmarkCollectorScale: 200 reported
// groups of seven points (the count, and the growth and flag of three
// horizons), each with the attributes a farm group carries, and no code of
// the receiver's. It is the floor under the emitter's share of a
// target-scrape (BENCHMARKS.md, section 7):
//
//	go test -run '^$' -bench BenchmarkPointsFloor -benchmem -count 6 .
func BenchmarkPointsFloor(b *testing.B) {
	const groups = 200
	put := func(m pcommon.Map, horizon string) {
		n := 8
		if horizon != "" {
			n++
		}
		m.EnsureCapacity(n)
		m.PutStr("goroutine.signature", "0f3a9c41d2e87b65")
		m.PutStr("goroutine.wait", "chan receive")
		m.PutStr("code.function.name", "main.level3")
		m.PutStr("code.file.path", "/src/cmd/stackfarm/main.go")
		m.PutInt("code.line.number", 120)
		m.PutStr("goroutine.entry", "main.spawn.func1")
		m.PutStr("goroutine.user.function", "main.level3")
		m.PutInt("goroutine.user.line", 120)
		if horizon != "" {
			m.PutStr("goroutine.horizon", horizon)
		}
	}
	horizons := []string{"30m", "5h", "48h"}
	b.ReportAllocs()
	for b.Loop() {
		md := pmetric.NewMetrics()
		ms := md.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty().Metrics()
		count, growth, flag := ms.AppendEmpty().SetEmptyGauge(), ms.AppendEmpty().SetEmptyGauge(), ms.AppendEmpty().SetEmptyGauge()
		count.DataPoints().EnsureCapacity(groups)
		growth.DataPoints().EnsureCapacity(3 * groups)
		flag.DataPoints().EnsureCapacity(3 * groups)
		for range groups {
			dp := count.DataPoints().AppendEmpty()
			put(dp.Attributes(), "")
			dp.SetIntValue(50)
			for _, h := range horizons {
				dp := growth.DataPoints().AppendEmpty()
				put(dp.Attributes(), h)
				dp.SetDoubleValue(0)
				dp = flag.DataPoints().AppendEmpty()
				put(dp.Attributes(), h)
				dp.SetIntValue(0)
			}
		}
	}
}
