package goroutinereceiver

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/receiver/receivertest"

	"github.com/goroutinewatch/goroutinereceiver/internal/decode"
	"github.com/goroutinewatch/goroutinereceiver/internal/metadata"
)

// TestPanicIsContained makes the decoder panic for one target: that target
// fails with an internal error, the other keeps its data, and the next
// scrape works again.
func TestPanicIsContained(t *testing.T) {
	bad := serveFile(t, "testdata/profiles/fanout-1.pb.gz")
	good := serveFile(t, "testdata/profiles/leaktarget.pb.gz") // another process
	cfg := createDefaultConfig()
	cfg.Targets = []TargetConfig{{Endpoint: bad.URL, ServiceName: "bad"}, {Endpoint: good.URL, ServiceName: "good"}}
	s := newTestScraper(t, cfg)
	s.reader.decode = func(d *decode.Decoder, r io.Reader, lim decode.Limits) (*decode.Profile, error) {
		p, err := d.Decode(r, lim)
		if err == nil && p.Instance() == badInstance {
			panic("decoder bug")
		}
		return p, err
	}
	m, err := s.scrape(context.Background())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "internal error: panic reading the profile: decoder bug")
	assert.Equal(t, int64(0), gaugeValue(t, byService(t, m, "bad"), "go.goroutine.scrape.up"))
	assert.Equal(t, int64(1), gaugeValue(t, byService(t, m, "good"), "go.goroutine.scrape.up"))
	errs := metric(t, byService(t, m, "bad"), "go.goroutine.scrape.errors").Sum().DataPoints()
	typ, _ := errs.At(0).Attributes().Get("error.type")
	assert.Equal(t, metadata.AttributeErrorTypeInternal.String(), typ.Str())

	s.reader.decode = (*decode.Decoder).Decode
	_, err = s.scrape(context.Background())
	require.NoError(t, err)
}

// badInstance is the process identity of fanout-1.pb.gz, the profile the
// panicking decoder chokes on.
var badInstance = func() uint64 {
	p, err := decode.Decode(bytes.NewReader(validProfile), decode.Limits{MaxBytes: 1 << 20})
	if err != nil {
		panic(err)
	}
	return p.Instance()
}()

// TestShutdownCancelsScrape shuts the receiver down while it waits on a
// target that never answers: the scrape ends at once, not at its deadline,
// and no goroutine is left behind (goleak, in TestMain).
func TestShutdownCancelsScrape(t *testing.T) {
	hung := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { <-r.Context().Done() }))
	t.Cleanup(hung.Close)
	cfg := createDefaultConfig()
	cfg.Endpoint = hung.URL
	cfg.Timeout = 20 * time.Second
	cfg.CollectionInterval = time.Minute
	cfg.InitialDelay = 0

	sink := new(consumertest.MetricsSink)
	r, err := NewFactory().CreateMetrics(context.Background(), receivertest.NewNopSettings(metadata.Type), cfg, sink)
	require.NoError(t, err)
	require.NoError(t, r.Start(context.Background(), componenttest.NewNopHost()))
	time.Sleep(200 * time.Millisecond) // the first scrape is under way

	start := time.Now()
	require.NoError(t, r.Shutdown(context.Background()))
	assert.Less(t, time.Since(start), time.Second, "shutdown waited for the scrape's deadline")
}

// TestTargetThatWentAwayIsForgotten: after forgetAfter failed scrapes in a
// row, a target's leak windows are freed.
func TestTargetThatWentAwayIsForgotten(t *testing.T) {
	srv := serveFile(t, "testdata/profiles/leaktarget.pb.gz")
	cfg := createDefaultConfig()
	cfg.Endpoint = srv.URL
	cfg.Timeout = time.Second
	s := newTestScraper(t, cfg)
	_, err := s.scrape(context.Background())
	require.NoError(t, err)
	require.Positive(t, s.targets[0].tracker.Len())

	srv.Close()
	for i := range forgetAfter {
		_, err := s.scrape(context.Background())
		require.Error(t, err)
		if i < forgetAfter-1 {
			assert.Positive(t, s.targets[0].tracker.Len(), "a failed scrape or two is a gap")
		}
	}
	assert.Zero(t, s.targets[0].tracker.Len())
}
