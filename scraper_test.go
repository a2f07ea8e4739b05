package goroutinereceiver

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/golden"
	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/pdatatest/pmetrictest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/filter"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/receiver/receivertest"

	"github.com/goroutinewatch/goroutinereceiver/internal/decode/hostile"
	"github.com/goroutinewatch/goroutinereceiver/internal/metadata"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/scraper")

var fixedNow = time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)

// scrape scrapes every target once, in configuration order, as their
// loops do at their slots, and returns the metrics delivered, joined, and
// the targets' errors. Log records go to the scraper's logs consumer.
func (s *scraper) scrape(ctx context.Context) (pmetric.Metrics, error) {
	sink := new(consumertest.MetricsSink)
	s.metrics = sink
	errs := make([]error, len(s.targets))
	for i := range s.targets {
		errs[i] = s.scrapeTarget(ctx, i)
	}
	m := pmetric.NewMetrics()
	for _, md := range sink.AllMetrics() {
		md.ResourceMetrics().MoveAndAppendTo(m.ResourceMetrics())
	}
	return m, errors.Join(errs...)
}

func serveFile(tb testing.TB, path string) *httptest.Server {
	tb.Helper()
	b, err := os.ReadFile(path)
	require.NoError(tb, err)
	return serveBytes(tb, b)
}

// serveBytes serves b as a target's goroutine profile, and 404 elsewhere.
func serveBytes(tb testing.TB, b []byte) *httptest.Server {
	tb.Helper()
	srv := httptest.NewServer(profileHandler(b))
	tb.Cleanup(srv.Close)
	return srv
}

func profileHandler(b []byte) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != defaultPath {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		_, _ = w.Write(b)
	}
}

func newTestScraper(t *testing.T, cfg *Config) *scraper {
	t.Helper()
	require.NoError(t, cfg.Validate())
	s, err := newScraper(cfg, receivertest.NewNopSettings(metadata.Type), func() time.Time { return fixedNow })
	require.NoError(t, err)
	require.NoError(t, s.start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { require.NoError(t, s.shutdown(context.Background())) })
	return s
}

// compareGolden checks m against testdata/scraper/<name>.yaml, leaving out
// what changes from run to run: ports, URLs, durations, timestamps.
func compareGolden(t *testing.T, name string, m pmetric.Metrics) {
	t.Helper()
	path := filepath.Join("testdata", "scraper", name+".yaml")
	if *update {
		require.NoError(t, golden.WriteMetrics(t, path, m))
	}
	want, err := golden.ReadMetrics(path)
	require.NoError(t, err)
	require.NoError(t, pmetrictest.CompareMetrics(want, m,
		pmetrictest.IgnoreResourceAttributeValue("server.port"),
		pmetrictest.IgnoreResourceAttributeValue("service.instance.id"),
		pmetrictest.IgnoreResourceAttributeValue("url.full"),
		pmetrictest.IgnoreMetricValues("go.goroutine.scrape.duration"),
		pmetrictest.IgnoreStartTimestamp(),
		pmetrictest.IgnoreTimestamp(),
		pmetrictest.IgnoreResourceMetricsOrder(),
		pmetrictest.IgnoreMetricDataPointsOrder(),
	))
}

func TestScrapeGolden(t *testing.T) {
	all := serveFile(t, "testdata/profiles/leaktarget.pb.gz")
	fanout := serveFile(t, "testdata/profiles/fanout-1.pb.gz")

	cfg := createDefaultConfig()
	cfg.Endpoint = strings.TrimPrefix(fanout.URL, "http://")
	cfg.Targets = []TargetConfig{{Endpoint: all.URL, ServiceName: "leaktarget"}}
	cfg.Labels = []string{"pattern"}
	cfg.MaxGroups = 12
	cfg.Ignore = []string{"os/signal.signal_recv"}
	s := newTestScraper(t, cfg)

	m, err := s.scrape(context.Background())
	require.NoError(t, err)
	compareGolden(t, "two_targets", m)
	assertGroupsAddUp(t, m)
}

// assertGroupsAddUp checks, per target, that the group points (other
// included) sum to the total less the ignored goroutines: one, signal_recv.
func assertGroupsAddUp(t *testing.T, m pmetric.Metrics) {
	t.Helper()
	for i := range m.ResourceMetrics().Len() {
		rm := m.ResourceMetrics().At(i)
		var total, groups int64
		ms := rm.ScopeMetrics().At(0).Metrics()
		for j := range ms.Len() {
			switch mt := ms.At(j); mt.Name() {
			case "go.goroutine.count":
				total = mt.Gauge().DataPoints().At(0).IntValue()
			case "go.goroutine.group.count":
				for k := range mt.Gauge().DataPoints().Len() {
					groups += mt.Gauge().DataPoints().At(k).IntValue()
				}
			}
		}
		assert.Positive(t, total)
		assert.Equal(t, total-1, groups)
	}
}

func heapProfile(t *testing.T) []byte {
	t.Helper()
	var buf bytes.Buffer
	require.NoError(t, pprof.Lookup("heap").WriteTo(&buf, 0))
	return buf.Bytes()
}

// TestScrapeFailingTargets puts one bad target beside a healthy one: the bad
// one's error names it and its cause, counts under its error.type and sets
// its up to 0, while the healthy one's data goes out whole.
func TestScrapeFailingTargets(t *testing.T) {
	heap := heapProfile(t)
	// Port 1 is outside the ephemeral range and nothing listens on it: a
	// closed listener's port could be handed to the next test server.
	downAddr := "127.0.0.1:1"

	tests := []struct {
		name     string
		handler  http.HandlerFunc
		endpoint string // instead of a handler
		tls      bool
		maxBody  int64
		// wantLimit, when set, is the limit counted in
		// go.goroutine.scrape.limit_breaches.
		wantLimit string
		wantType  metadata.AttributeErrorType
		wantMsg   string
	}{
		{
			name:     "down",
			endpoint: downAddr,
			wantType: metadata.AttributeErrorTypeConnect,
			wantMsg:  "connection refused",
		},
		{
			name:     "not found",
			handler:  http.NotFound,
			wantType: metadata.AttributeErrorTypeHTTPStatus,
			wantMsg:  `HTTP status 404: "404 page not found\n"`,
		},
		{
			name: "server error with a long page",
			handler: func(w http.ResponseWriter, _ *http.Request) {
				w.WriteHeader(http.StatusInternalServerError)
				_, _ = w.Write([]byte(strings.Repeat("<html>oops</html>", 1000)))
			},
			wantType: metadata.AttributeErrorTypeHTTPStatus,
			wantMsg:  "HTTP status 500",
		},
		{
			name: "html page with 200",
			handler: func(w http.ResponseWriter, _ *http.Request) {
				_, _ = w.Write([]byte("<!DOCTYPE html><html><body>login</body></html>"))
			},
			wantType: metadata.AttributeErrorTypeDecode,
			wantMsg:  "malformed profile",
		},
		{
			name:     "heap profile",
			handler:  func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(heap) },
			wantType: metadata.AttributeErrorTypeNotGoroutineProfile,
			wantMsg:  "not a goroutine profile",
		},
		{
			name: "empty body",
			handler: func(w http.ResponseWriter, _ *http.Request) {
				w.WriteHeader(http.StatusOK)
			},
			wantType: metadata.AttributeErrorTypeDecode,
			wantMsg:  "empty body",
		},
		{
			name: "hangs past the timeout",
			handler: func(_ http.ResponseWriter, r *http.Request) {
				select {
				case <-r.Context().Done():
				case <-time.After(5 * time.Second):
				}
			},
			wantType: metadata.AttributeErrorTypeTimeout,
			wantMsg:  "context deadline exceeded",
		},
		{
			name: "larger than max_body_bytes",
			handler: func(w http.ResponseWriter, _ *http.Request) {
				_, _ = w.Write(bytes.Repeat([]byte{0}, 4096))
			},
			maxBody:   3000,
			wantType:  metadata.AttributeErrorTypeLimit,
			wantLimit: "max_body_bytes",
			wantMsg:   "profile exceeds max_body_bytes (3000)",
		},
		{
			name:      "10 GiB gzip bomb as debug=0",
			handler:   serve(func() io.Reader { return hostile.GzipBomb(10 << 30) }, ""),
			wantType:  metadata.AttributeErrorTypeLimit,
			wantLimit: "compression_ratio",
			wantMsg:   "compression_ratio",
		},
		{
			name:      "10 GiB gzip bomb with Content-Encoding: gzip",
			handler:   serve(func() io.Reader { return hostile.GzipBomb(10 << 30) }, "gzip"),
			maxBody:   1 << 20, // decompressed by the HTTP client, so counted here
			wantType:  metadata.AttributeErrorTypeLimit,
			wantLimit: "max_body_bytes",
			wantMsg:   "max_body_bytes",
		},
		{
			name:     "many empty gzip members",
			handler:  serve(func() io.Reader { return hostile.EmptyMembers(20_000) }, ""),
			wantType: metadata.AttributeErrorTypeDecode,
			wantMsg:  "string table",
		},
		{
			name:      "sample of 64M location ids in 62 KB",
			handler:   serve(func() io.Reader { return bytes.NewReader(hugeSample) }, ""),
			wantType:  metadata.AttributeErrorTypeLimit,
			wantLimit: "max_message_bytes",
			wantMsg:   "max_message_bytes",
		},
		{
			name:      "endless fast body",
			handler:   hostile.EndlessBody,
			maxBody:   1 << 20,
			wantType:  metadata.AttributeErrorTypeLimit,
			wantLimit: "max_body_bytes",
			wantMsg:   "max_body_bytes",
		},
		{
			name:     "trickle of one byte a second",
			handler:  hostile.Trickle(time.Second, validProfile),
			wantType: metadata.AttributeErrorTypeTimeout,
			wantMsg:  "deadline exceeded",
		},
		{
			name:     "truncated gzip",
			handler:  func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(validProfile[:len(validProfile)/2]) },
			wantType: metadata.AttributeErrorTypeDecode,
			wantMsg:  "truncated",
		},
		{
			name: "two concatenated profiles",
			handler: func(w http.ResponseWriter, _ *http.Request) {
				_, _ = w.Write(validProfile)
				_, _ = w.Write(validProfile)
			},
			wantType: metadata.AttributeErrorTypeDecode,
			wantMsg:  "concatenated profiles",
		},
		{
			name: "redirect loop",
			handler: func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, r.URL.Path, http.StatusFound)
			},
			wantType: metadata.AttributeErrorTypeConnect,
			wantMsg:  "stopped after 10 redirects",
		},
		{
			name:     "TLS with a certificate nobody signed",
			tls:      true,
			handler:  func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(validProfile) },
			wantType: metadata.AttributeErrorTypeConnect,
			wantMsg:  "certificate signed by unknown authority",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			healthy := serveFile(t, "testdata/profiles/fanout-1.pb.gz")
			endpoint := tt.endpoint
			if tt.handler != nil {
				bad := httptest.NewUnstartedServer(tt.handler)
				if tt.tls {
					bad.StartTLS()
				} else {
					bad.Start()
				}
				t.Cleanup(bad.Close)
				endpoint = bad.URL
			}
			cfg := createDefaultConfig()
			cfg.Targets = []TargetConfig{
				{Endpoint: withUser(endpoint), ServiceName: "bad"},
				{Endpoint: healthy.URL, ServiceName: "healthy"},
			}
			// Generous for the inputs that must fail on their own account
			// rather than time out, even under -race on a loaded machine.
			cfg.Timeout = time.Second
			cfg.Headers.Set("Authorization", "Bearer s3cr3t-token")
			if tt.maxBody > 0 {
				cfg.MaxBodyBytes = tt.maxBody
			}
			s := newTestScraper(t, cfg)

			for scrape := int64(1); scrape <= 2; scrape++ {
				start := time.Now()
				m, err := s.scrape(context.Background())
				elapsed := time.Since(start)
				require.Error(t, err)
				u, _ := url.Parse(withUser(endpoint))
				assert.Contains(t, err.Error(), "target "+u.Redacted()+defaultPath)
				assert.Contains(t, err.Error(), tt.wantMsg)
				assert.NotContains(t, err.Error(), "hunter2")
				assert.NotContains(t, err.Error(), "s3cr3t-token")
				assert.Less(t, len(err.Error()), 400, "quotes a bounded prefix of a body")

				bad, good := byService(t, m, "bad"), byService(t, m, "healthy")
				assert.Equal(t, int64(0), gaugeValue(t, bad, "go.goroutine.scrape.up"))
				assert.Equal(t, int64(1), gaugeValue(t, good, "go.goroutine.scrape.up"))
				assert.False(t, hasMetric(bad, "go.goroutine.count"), "a failed scrape is a gap, not a zero")
				assert.True(t, hasMetric(good, "go.goroutine.group.count"))
				assert.Positive(t, gaugeValue(t, good, "go.goroutine.count"))

				errs := metric(t, bad, "go.goroutine.scrape.errors").Sum().DataPoints()
				require.Equal(t, 1, errs.Len())
				typ, _ := errs.At(0).Attributes().Get("error.type")
				assert.Equal(t, tt.wantType.String(), typ.Str())
				assert.Equal(t, scrape, errs.At(0).IntValue(), "cumulative across scrapes")
				if tt.wantLimit != "" {
					breaches := metric(t, bad, "go.goroutine.scrape.limit_breaches").Sum().DataPoints()
					require.Equal(t, 1, breaches.Len())
					l, _ := breaches.At(0).Attributes().Get("limit")
					assert.Equal(t, tt.wantLimit, l.Str())
					assert.Equal(t, scrape, breaches.At(0).IntValue())
				} else {
					assert.False(t, hasMetric(bad, "go.goroutine.scrape.limit_breaches"))
				}
				assert.Less(t, elapsed, cfg.Timeout+200*time.Millisecond, "the scrape ended within the deadline")
			}
		})
	}
}

// serve answers with the bytes of give, under a Content-Encoding when one
// is named, until the client goes away.
func serve(give func() io.Reader, encoding string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		if encoding != "" {
			w.Header().Set("Content-Encoding", encoding)
		}
		_, _ = io.Copy(w, give())
	}
}

var (
	hugeSample   = hostile.HugeSample(64 << 20)
	validProfile = mustRead("testdata/profiles/fanout-1.pb.gz")
)

func mustRead(path string) []byte {
	b, err := os.ReadFile(path)
	if err != nil {
		panic(err)
	}
	return b
}

// withUser puts credentials into a target URL, to check they never show.
func withUser(endpoint string) string {
	scheme, rest, _ := strings.Cut(endpoint, "://")
	if rest == "" {
		scheme, rest = "http", endpoint
	}
	return scheme + "://user:hunter2@" + rest
}

func byService(t *testing.T, m pmetric.Metrics, name string) pmetric.MetricSlice {
	t.Helper()
	for i := range m.ResourceMetrics().Len() {
		rm := m.ResourceMetrics().At(i)
		if v, ok := rm.Resource().Attributes().Get("service.name"); ok && v.Str() == name {
			return rm.ScopeMetrics().At(0).Metrics()
		}
	}
	t.Fatalf("no resource with service.name %q", name)
	return pmetric.MetricSlice{}
}

func hasMetric(ms pmetric.MetricSlice, name string) bool {
	for i := range ms.Len() {
		if ms.At(i).Name() == name {
			return true
		}
	}
	return false
}

func metric(t *testing.T, ms pmetric.MetricSlice, name string) pmetric.Metric {
	t.Helper()
	for i := range ms.Len() {
		if ms.At(i).Name() == name {
			return ms.At(i)
		}
	}
	t.Fatalf("no metric %s", name)
	return pmetric.Metric{}
}

func gaugeValue(t *testing.T, ms pmetric.MetricSlice, name string) int64 {
	t.Helper()
	return metric(t, ms, name).Gauge().DataPoints().At(0).IntValue()
}

// TestScrapeSlowTargetDoesNotDelayOthers scrapes four fast targets, one
// after another, while a hung target's scrape waits on its answer, with a
// single worker between them: waiting for an answer holds no worker, so
// each fast target is scraped and up while the hung one still waits. Then
// the hung target answers and its scrape completes too.
func TestScrapeSlowTargetDoesNotDelayOthers(t *testing.T) {
	arrived, release := make(chan struct{}), make(chan struct{})
	body := mustRead("testdata/profiles/leaktarget.pb.gz")
	hung := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != defaultPath {
			http.NotFound(w, r)
			return
		}
		close(arrived)
		<-release
		_, _ = w.Write(body)
	}))
	t.Cleanup(hung.Close)
	cfg := createDefaultConfig()
	cfg.Targets = []TargetConfig{{Endpoint: hung.URL, ServiceName: "hung"}}
	for i := range 4 {
		cfg.Targets = append(cfg.Targets, TargetConfig{
			Endpoint:    serveFile(t, "testdata/profiles/fanout-2.pb.gz").URL,
			ServiceName: "fast" + string(rune('a'+i)),
		})
	}
	cfg.MaxConcurrency = 1
	cfg.Timeout = time.Hour
	cfg.CollectionInterval = time.Hour
	s := newTestScraper(t, cfg)
	sink := new(consumertest.MetricsSink)
	s.metrics = sink

	hungDone := make(chan error, 1)
	go func() { hungDone <- s.scrapeTarget(context.Background(), 0) }()
	<-arrived
	for i := 1; i < len(s.targets); i++ {
		require.NoError(t, s.scrapeTarget(context.Background(), i))
	}
	require.Len(t, sink.AllMetrics(), 4, "the fast targets are delivered while the hung one waits")
	for _, md := range sink.AllMetrics() {
		assert.Equal(t, int64(1), gaugeValue(t, md.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics(), "go.goroutine.scrape.up"))
	}
	close(release)
	require.NoError(t, <-hungDone)
	require.Len(t, sink.AllMetrics(), 5)
}

// TestScrapeResourceAttributes checks the per-target resource.
func TestScrapeResourceAttributes(t *testing.T) {
	srv := serveFile(t, "testdata/profiles/fanout-1.pb.gz")
	cfg := createDefaultConfig()
	cfg.Targets = []TargetConfig{{Endpoint: srv.URL + "/", ServiceName: "checkout"}}
	s := newTestScraper(t, cfg)
	m, err := s.scrape(context.Background())
	require.NoError(t, err)
	require.Equal(t, 1, m.ResourceMetrics().Len())
	attrs := m.ResourceMetrics().At(0).Resource().Attributes().AsRaw()
	host, port, err := net.SplitHostPort(strings.TrimPrefix(srv.URL, "http://"))
	require.NoError(t, err)
	assert.Equal(t, host, attrs["server.address"])
	assert.EqualValues(t, mustAtoi(t, port), attrs["server.port"])
	assert.Equal(t, host+":"+port, attrs["service.instance.id"], "the instance label, as Prometheus names it")
	assert.Equal(t, srv.URL+defaultPath, attrs["url.full"])
	assert.Equal(t, "checkout", attrs["service.name"])
	ts := m.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics().At(0).Gauge().DataPoints().At(0).Timestamp()
	assert.Equal(t, pcommon.NewTimestampFromTime(fixedNow), ts, "timestamps come from the injected clock")
}

// TestScrapeEndpointServiceName checks that service_name names endpoint's
// service, as a receiver_creator rule or annotation hint sets it.
func TestScrapeEndpointServiceName(t *testing.T) {
	srv := serveFile(t, "testdata/profiles/fanout-1.pb.gz")
	cfg := createDefaultConfig()
	cfg.Endpoint = srv.URL
	cfg.ServiceName = "checkout"
	m, err := newTestScraper(t, cfg).scrape(context.Background())
	require.NoError(t, err)
	require.Equal(t, 1, m.ResourceMetrics().Len())
	name, _ := m.ResourceMetrics().At(0).Resource().Attributes().Get("service.name")
	assert.Equal(t, "checkout", name.Str())
}

func mustAtoi(t *testing.T, s string) int64 {
	t.Helper()
	var n int64
	for _, c := range s {
		require.True(t, c >= '0' && c <= '9')
		n = n*10 + int64(c-'0')
	}
	return n
}

// TestScrapeResourceFilteredOut excludes one target by a resource
// attribute filter: it emits nothing, and none of its group points reach
// the next target's resource, whose points still add up to its total.
func TestScrapeResourceFilteredOut(t *testing.T) {
	excluded := serveFile(t, "testdata/profiles/leaktarget.pb.gz")
	kept := serveFile(t, "testdata/profiles/fanout-1.pb.gz")
	cfg := createDefaultConfig()
	cfg.Targets = []TargetConfig{{Endpoint: excluded.URL, ServiceName: "excluded"}, {Endpoint: kept.URL, ServiceName: "kept"}}
	cfg.ResourceAttributes.ServiceName.MetricsExclude = []filter.Config{{Strict: "excluded"}}
	cfg.Ignore = []string{"os/signal.signal_recv"}
	s := newTestScraper(t, cfg)

	for range 2 {
		m, err := s.scrape(context.Background())
		require.NoError(t, err)
		require.Equal(t, 1, m.ResourceMetrics().Len())
		byService(t, m, "kept")
		assertGroupsAddUp(t, m)
	}
}

// TestFailingTargetHeapBounded scrapes a target whose every profile brings
// new strings and then fails to decode, alone on its worker as under
// receiver_creator: the receiver's heap stays flat over hundreds of
// scrapes, where a decoder that forgot strings only after a profile that
// decoded grew by every failed profile's strings.
func TestFailingTargetHeapBounded(t *testing.T) {
	var seed atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write(hostile.FreshStrings(int(seed.Add(1)), 1000, 100))
	}))
	t.Cleanup(srv.Close)
	cfg := createDefaultConfig()
	cfg.Endpoint = srv.URL
	s := newTestScraper(t, cfg)
	heap := func() uint64 {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	scrapes := func(n int) {
		for range n {
			_, err := s.scrape(context.Background())
			require.ErrorContains(t, err, "malformed profile")
		}
	}
	scrapes(10)
	before := heap()
	scrapes(200) // 200 profiles of 1,000 new strings of 100 bytes: 20 MB of strings
	after := heap()
	t.Logf("heap %d KiB after 10 failed scrapes, %d KiB after 210", before>>10, after>>10)
	assert.Less(t, int64(after)-int64(before), int64(4<<20), "the heap grew with the failed profiles")
}

// onlyMetrics returns the default metrics config with every metric but
// names disabled.
func onlyMetrics(t *testing.T, names ...string) metadata.MetricsBuilderConfig {
	t.Helper()
	mc := metadata.NewDefaultMetricsBuilderConfig()
	v := reflect.ValueOf(&mc.Metrics).Elem()
	for i := range v.NumField() {
		name, _, _ := strings.Cut(v.Type().Field(i).Tag.Get("mapstructure"), ",")
		v.Field(i).FieldByName("Enabled").SetBool(slices.Contains(names, name))
	}
	return mc
}

// TestScrapeOnlyGroupMetrics enables the per-group gauges alone: their
// points go out under the target's resource, though the generated builder
// has nothing of its own to emit; a resource filter still leaves the
// target out.
func TestScrapeOnlyGroupMetrics(t *testing.T) {
	srv := serveFile(t, "testdata/profiles/fanout-1.pb.gz")
	excluded := serveFile(t, "testdata/profiles/leaktarget.pb.gz")
	cfg := createDefaultConfig()
	cfg.Targets = []TargetConfig{{Endpoint: srv.URL, ServiceName: "kept"}, {Endpoint: excluded.URL, ServiceName: "excluded"}}
	cfg.MetricsBuilderConfig = onlyMetrics(t, metadata.MetricsInfo.GoGoroutineGroupCount.Name)
	cfg.ResourceAttributes.ServiceName.MetricsExclude = []filter.Config{{Strict: "excluded"}}
	m, err := newTestScraper(t, cfg).scrape(context.Background())
	require.NoError(t, err)
	require.Equal(t, 1, m.ResourceMetrics().Len(), "the kept target alone")
	ms := byService(t, m, "kept")
	require.Equal(t, 1, ms.Len())
	assert.Equal(t, metadata.MetricsInfo.GoGoroutineGroupCount.Name, ms.At(0).Name())
	assert.Positive(t, ms.At(0).Gauge().DataPoints().Len())
	scope := m.ResourceMetrics().At(0).ScopeMetrics().At(0).Scope()
	assert.Equal(t, metadata.ScopeName, scope.Name(), "the scope the generated builder names")
}

// TestScrapeKeepsEachTargetsConnection scrapes more targets than
// http.DefaultTransport keeps idle connections for (100): the second scrape
// of every target reuses the first's connection.
func TestScrapeKeepsEachTargetsConnection(t *testing.T) {
	body := mustRead("testdata/profiles/leaktarget.pb.gz")
	var dials atomic.Int64
	cfg := createDefaultConfig()
	const n = 150
	for i := range n {
		srv := httptest.NewUnstartedServer(profileHandler(body))
		srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
			if s == http.StateNew {
				dials.Add(1)
			}
		}
		srv.Start()
		t.Cleanup(srv.Close)
		cfg.Targets = append(cfg.Targets, TargetConfig{Endpoint: srv.URL, ServiceName: fmt.Sprintf("t%d", i)})
	}
	s := newTestScraper(t, cfg)
	_, err := s.scrape(t.Context())
	require.NoError(t, err)
	first := dials.Load()
	_, err = s.scrape(t.Context())
	require.NoError(t, err)
	assert.Equal(t, int64(n), first, "connections opened by the first scrape")
	assert.Zero(t, dials.Load()-first, "connections opened by the second")
}
