package goroutinereceiver

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/receiver/receivertest"

	"github.com/goroutinewatch/goroutinereceiver/internal/metadata"
)

// BenchmarkScrape is one scrape of n loopback targets through the whole
// receiver (fetch, decode, group, trend, evidence policy, emit), each
// target serving the example target's captured profile, on a clock that
// moves one interval a scrape. It measures the receiver's own cost per
// scrape, without a collector around it:
//
//	go test -run '^$' -bench BenchmarkScrape -benchmem -count 6 .
func BenchmarkScrape(b *testing.B) {
	for _, n := range []int{1, 32} {
		b.Run(fmt.Sprintf("targets=%d", n), func(b *testing.B) {
			cfg := createDefaultConfig()
			for i := range n {
				srv := serveFile(b, "testdata/profiles/leaktarget.pb.gz")
				cfg.Targets = append(cfg.Targets, TargetConfig{Endpoint: srv.URL, ServiceName: fmt.Sprint("t", i)})
			}
			cfg.Labels = []string{"pattern"}
			at := fixedNow
			s := newBenchScraper(b, cfg, func() time.Time { return at })
			b.ReportAllocs()
			for b.Loop() {
				at = at.Add(cfg.CollectionInterval)
				if _, err := s.scrape(context.Background()); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func newBenchScraper(b *testing.B, cfg *Config, now func() time.Time) *goroutineScraper {
	b.Helper()
	require.NoError(b, cfg.Validate())
	s, err := newScraper(cfg, receivertest.NewNopSettings(metadata.Type), now)
	require.NoError(b, err)
	require.NoError(b, s.start(context.Background(), componenttest.NewNopHost()))
	b.Cleanup(func() { require.NoError(b, s.shutdown(context.Background())) })
	return s
}
