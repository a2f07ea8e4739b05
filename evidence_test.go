package goroutinereceiver

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/pprof/profile"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/receiver/receivertest"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/goroutinewatch/goroutinereceiver/internal/decode"
	"github.com/goroutinewatch/goroutinereceiver/internal/dump"
	"github.com/goroutinewatch/goroutinereceiver/internal/metadata"
)

// pprofTarget serves a process's three goroutine endpoints from files (a
// nil one answers 404) and counts the requests for each.
type pprofTarget struct {
	profile, dump, leak, index []byte
	mu                         sync.Mutex
	hits                       map[string]int
}

func (pt *pprofTarget) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	kind := r.URL.Path
	if r.URL.Query().Get("debug") == "2" {
		kind += "?debug=2"
	}
	pt.mu.Lock()
	pt.hits[kind]++
	pt.mu.Unlock()
	var body []byte
	switch kind {
	case "/debug/pprof/goroutine":
		body = pt.profile
	case "/debug/pprof/goroutine?debug=2":
		body = pt.dump
	case "/debug/pprof/goroutineleak":
		body = pt.leak
	case "/debug/pprof/":
		body = pt.index
	}
	if body == nil {
		http.NotFound(w, r)
		return
	}
	_, _ = w.Write(body)
}

func (pt *pprofTarget) count(kind string) int {
	pt.mu.Lock()
	defer pt.mu.Unlock()
	return pt.hits[kind]
}

func startPprofTarget(t *testing.T, profile, dump, leak []byte) (*pprofTarget, string) {
	t.Helper()
	pt := &pprofTarget{profile: profile, dump: dump, leak: leak, hits: map[string]int{}}
	srv := httptest.NewServer(pt)
	t.Cleanup(srv.Close)
	return pt, srv.URL
}

// clockScraper is a scraper on an injected clock, with its log records in a
// sink and its own log lines observed.
type clockScraper struct {
	*scraper
	now  time.Time
	logs *consumertest.LogsSink
	own  *observer.ObservedLogs
}

func newClockScraper(t *testing.T, cfg *Config) *clockScraper {
	t.Helper()
	cs := startClockScraper(t, cfg, componenttest.NewNopHost(), receivertest.NewNopSettings(metadata.Type), 0)
	t.Cleanup(func() { require.NoError(t, cs.shutdown(context.Background())) })
	return cs
}

// startClockScraper starts a scraper with settings set on host, its clock
// at after t0; the caller shuts it down.
func startClockScraper(t *testing.T, cfg *Config, host component.Host, set receiver.Settings, at time.Duration) *clockScraper {
	t.Helper()
	require.NoError(t, cfg.Validate())
	cs := &clockScraper{now: t0.Add(at), logs: new(consumertest.LogsSink)}
	var core zapcore.Core
	core, cs.own = observer.New(zap.InfoLevel)
	set.Logger = zap.New(core)
	s, err := newScraper(cfg, set, func() time.Time { return cs.now })
	require.NoError(t, err)
	s.logs = cs.logs
	require.NoError(t, s.start(context.Background(), host))
	cs.scraper = s
	return cs
}

func (cs *clockScraper) scrapeAt(t *testing.T, at time.Duration) pmetric.Metrics {
	t.Helper()
	cs.now = t0.Add(at)
	m, err := cs.scrape(context.Background())
	require.NoError(t, err)
	return m
}

// records returns every log record received, with its resource's service.
func (cs *clockScraper) records() []plog.LogRecord {
	var out []plog.LogRecord
	for _, l := range cs.logs.AllLogs() {
		for i := range l.ResourceLogs().Len() {
			rl := l.ResourceLogs().At(i)
			for j := range rl.ScopeLogs().Len() {
				lrs := rl.ScopeLogs().At(j).LogRecords()
				for k := range lrs.Len() {
					out = append(out, lrs.At(k))
				}
			}
		}
	}
	return out
}

// pointsBy returns a gauge's points of one target, by the stuck function.
func pointsBy(t *testing.T, m pmetric.Metrics, service, name string) map[string]pmetric.NumberDataPoint {
	t.Helper()
	out := map[string]pmetric.NumberDataPoint{}
	if !hasMetric(byService(t, m, service), name) {
		return out
	}
	dps := metric(t, byService(t, m, service), name).Gauge().DataPoints()
	for i := range dps.Len() {
		fn, _ := dps.At(i).Attributes().Get("code.function.name")
		out[fn.Str()] = dps.At(i)
	}
	return out
}

func attr(m pcommon.Map, key string) string {
	v, ok := m.Get(key)
	if !ok {
		return ""
	}
	return v.AsString()
}

// TestDumpMode scrapes a captured debug=2 dump: the groups carry the ids
// the profile gives them, their creator and their longest wait; only the
// dump is asked for.
func TestDumpMode(t *testing.T) {
	txt := mustRead("testdata/dumps/leaktarget.txt")
	pt, url := startPprofTarget(t, nil, txt, nil)
	cfg := createDefaultConfig()
	cfg.Targets = []TargetConfig{{Endpoint: url, ServiceName: "app"}}
	cfg.Mode = modeDump
	cs := newClockScraper(t, cfg)

	m := cs.scrapeAt(t, 0)
	assert.Equal(t, int64(1), gaugeValue(t, byService(t, m, "app"), "go.goroutine.scrape.up"))
	counts := pointsBy(t, m, "app", "go.goroutine.group.count")
	fanout, ok := counts["main.fanoutWorker"]
	require.True(t, ok)
	assert.Equal(t, "main.firstResult", attr(fanout.Attributes(), "goroutine.creator"))
	assert.Equal(t, "chan send", attr(fanout.Attributes(), "goroutine.wait"))
	assert.Equal(t, int64(bytes.Count(txt, []byte("\nmain.fanoutWorker("))), fanout.IntValue(), "one goroutine per fanoutWorker frame")
	waits := pointsBy(t, m, "app", "go.goroutine.group.wait.max")
	require.Contains(t, waits, "main.fanoutWorker")
	assert.Equal(t, "main.firstResult", attr(waits["main.fanoutWorker"].Attributes(), "goroutine.creator"))
	assert.Zero(t, metric(t, byService(t, m, "app"), "go.goroutine.scrape.truncated").Sum().DataPoints().At(0).IntValue())
	assert.Equal(t, 1, pt.count("/debug/pprof/goroutine?debug=2"))
	assert.Zero(t, pt.count("/debug/pprof/goroutine"))
}

// TestDumpModeTruncated serves a dump cut at 64 MiB inside a goroutine, as
// the runtime cuts it: the scrape succeeds without that goroutine and is
// counted truncated.
func TestDumpModeTruncated(t *testing.T) {
	one := mustRead("testdata/dumps/leaktarget.txt")
	var buf bytes.Buffer
	for buf.Len() < dump.MaxBytes {
		buf.Write(one)
		buf.WriteString("\n")
	}
	_, url := startPprofTarget(t, nil, buf.Bytes()[:dump.MaxBytes], nil)
	cfg := createDefaultConfig()
	cfg.Targets = []TargetConfig{{Endpoint: url, ServiceName: "app"}}
	cfg.Mode = modeDump
	cfg.Timeout = 20 * time.Second
	cfg.CollectionInterval = time.Minute
	cs := newClockScraper(t, cfg)

	m := cs.scrapeAt(t, 0)
	ms := byService(t, m, "app")
	assert.Equal(t, int64(1), gaugeValue(t, ms, "go.goroutine.scrape.up"))
	assert.Equal(t, int64(1), metric(t, ms, "go.goroutine.scrape.truncated").Sum().DataPoints().At(0).IntValue())
	complete := int64(bytes.Count(buf.Bytes()[:dump.MaxBytes], []byte("\ngoroutine ")))
	assert.Equal(t, complete, gaugeValue(t, ms, "go.goroutine.count"), "every goroutine but the cut one")
}

// TestLeakProfile scrapes two targets over two hours of an injected clock
// with leak_profile on: one serves the goroutineleak profile, one answers
// 404. The first is read every leak_profile_interval and its proven leaks
// are reported at every scrape, with one log record per group when first
// proven; the second is asked once, recorded absent once, and asked again
// only after an hour.
func TestLeakProfile(t *testing.T) {
	profile := mustRead("testdata/dumps/leaktarget.pb.gz")
	leak := mustRead("testdata/dumps/leaktarget-leak.pb.gz")
	with, withURL := startPprofTarget(t, profile, nil, leak)
	without, withoutURL := startPprofTarget(t, profile, nil, nil)
	cfg := createDefaultConfig()
	cfg.Targets = []TargetConfig{{Endpoint: withURL, ServiceName: "with"}, {Endpoint: withoutURL, ServiceName: "without"}}
	cfg.LeakProfile = ptr(true)
	cs := newClockScraper(t, cfg)

	var leakedFanout []int64
	for at := time.Duration(0); at < 2*time.Hour; at += 30 * time.Second {
		m := cs.scrapeAt(t, at)
		leaked := pointsBy(t, m, "with", "go.goroutine.group.leaked")
		leakedFanout = append(leakedFanout, leaked["main.fanoutWorker"].IntValue())
		assert.NotContains(t, leaked, "main.poolWorker", "a pool waiting for jobs is not leaked")
		assert.Equal(t, int64(1), gaugeValue(t, byService(t, m, "with"), "go.goroutine.leak_profile.available"))
		assert.Equal(t, int64(0), gaugeValue(t, byService(t, m, "without"), "go.goroutine.leak_profile.available"))
		assert.Empty(t, pointsBy(t, m, "without", "go.goroutine.group.leaked"))
	}
	assert.Equal(t, 24, with.count("/debug/pprof/goroutineleak"), "every 5 minutes for 2 hours")
	assert.Equal(t, 2, without.count("/debug/pprof/goroutineleak"), "at the start and an hour later")
	assert.Equal(t, 240, with.count("/debug/pprof/goroutine"), "the profile every scrape")
	for _, n := range leakedFanout {
		assert.Equal(t, leakedFanout[0], n, "reported at every scrape as of the last read")
	}
	assert.Positive(t, leakedFanout[0])
	assert.Equal(t, 1, cs.own.FilterMessageSnippet("serves no goroutineleak profile").Len(), "recorded once, not per ask or scrape")

	// One record per proven group, on its first proof only.
	var proven []plog.LogRecord
	for _, r := range cs.records() {
		if r.EventName() == eventProven {
			proven = append(proven, r)
		}
	}
	seen := map[string]bool{}
	for _, r := range proven {
		sig := attr(r.Attributes(), "goroutine.signature")
		assert.False(t, seen[sig], "group %s reported proven twice", sig)
		seen[sig] = true
	}
	var fanout plog.LogRecord
	for _, r := range proven {
		if attr(r.Attributes(), "code.function.name") == "main.fanoutWorker" {
			fanout = r
		}
	}
	require.NotEqual(t, plog.LogRecord{}, fanout, "no record for the fan-out leak")
	body := fanout.Body().Str()
	assert.Contains(t, body, "proven leaked by the runtime")
	assert.Contains(t, body, "main.fanoutWorker\n\tgithub.com/goroutinewatch/goroutinereceiver/cmd/leaktarget/patterns.go:")
	assert.Equal(t, fmt.Sprint(leakedFanout[0]), attr(fanout.Attributes(), "goroutine.leaked"))
}

// TestCeilings serves the same profile, dump and leak profile from two
// targets, one of which the ceilings put above: it is never asked for its
// leak profile, the skip counted once an interval and said once in the log,
// and the rest of its scrape goes on; the other is asked as before.
func TestCeilings(t *testing.T) {
	profile := mustRead("testdata/dumps/leaktarget.pb.gz")
	leak := mustRead("testdata/dumps/leaktarget-leak.pb.gz")
	small, smallURL := startPprofTarget(t, profile, nil, leak)
	large, largeURL := startPprofTarget(t, profile, nil, leak)
	cfg := createDefaultConfig()
	cfg.Targets = []TargetConfig{{Endpoint: smallURL, ServiceName: "small"}}
	cfg.LeakProfile = ptr(true)
	below := newClockScraper(t, cfg)
	p, err := decode.Decode(bytes.NewReader(profile), decode.Limits{MaxBytes: 1 << 26})
	require.NoError(t, err)
	var goroutines int64
	for _, s := range p.Sample {
		goroutines += s.Value[0]
	}
	cfg = createDefaultConfig()
	cfg.Targets = []TargetConfig{{Endpoint: largeURL, ServiceName: "large"}}
	cfg.LeakProfile = ptr(true)
	cfg.LeakProfileMaxGoroutines = goroutines - 1 // the profile's goroutines are one too many
	above := newClockScraper(t, cfg)

	for at := time.Duration(0); at < 30*time.Minute; at += 30 * time.Second {
		below.scrapeAt(t, at)
		m := above.scrapeAt(t, at)
		assert.Equal(t, int64(1), gaugeValue(t, byService(t, m, "large"), "go.goroutine.scrape.up"))
		assert.NotEmpty(t, pointsBy(t, m, "large", "go.goroutine.group.count"), "the rest of the scrape goes on")
		if at == 29*time.Minute+30*time.Second {
			skipped := metric(t, byService(t, m, "large"), "go.goroutine.evidence.skipped").Sum().DataPoints()
			require.Equal(t, 1, skipped.Len())
			assert.Equal(t, metadata.AttributeGoroutineEvidenceLeakProfile.String(), attr(skipped.At(0).Attributes(), "goroutine.evidence"))
			assert.Equal(t, int64(6), skipped.At(0).IntValue(), "once a leak_profile_interval for 30 minutes")
		}
	}
	assert.Equal(t, 6, small.count("/debug/pprof/goroutineleak"))
	assert.Zero(t, large.count("/debug/pprof/goroutineleak"), "asked above its ceiling")
	assert.Equal(t, 60, large.count("/debug/pprof/goroutine"), "the profile every scrape")
	said := above.own.FilterMessageSnippet("more goroutines than the ceiling")
	require.Equal(t, 1, said.Len(), "said once")
	assert.Equal(t, goroutines, said.All()[0].ContextMap()["goroutines"])
}

// TestIndexes scrapes targets with the defaults whose /debug/pprof/ index
// is Go 1.27's, Go 1.26's, or hostile: a page that lists no leak profile
// keeps it from being asked; one that lists it has it asked from the next
// scrape; one that is not an index, or too large, tells nothing, the leak
// profile is asked as without an index, and the scrape goes on; the too
// large one is counted as a refused fetch.
func TestIndexes(t *testing.T) {
	profile := mustRead("testdata/dumps/leaktarget.pb.gz")
	leak := mustRead("testdata/dumps/leaktarget-leak.pb.gz")
	go127, go126 := mustRead("internal/index/testdata/go1.27.html"), mustRead("internal/index/testdata/go1.26.html")
	row := []byte("<tr><td>1</td><td><a href='goroutineleak?debug=1'>goroutineleak</a></td></tr>\n")
	tests := []struct {
		name      string
		index     []byte
		wantLeak  int // asks for the leak profile over the run
		wantLimit int64
	}{
		{name: "go1.27", index: go127, wantLeak: 3},
		{name: "go1.26", index: go126, wantLeak: 0},
		{name: "no index", index: nil, wantLeak: 3},
		{name: "a login page", index: []byte("<html><body>sign in</body></html>"), wantLeak: 3},
		{name: "lying counts", index: []byte("<tr><td>99999999999999999999999</td><td><a href='goroutine?debug=1'>goroutine</a></td></tr>\n"), wantLeak: 3},
		{name: "many rows", index: bytes.Repeat(row, 2000), wantLeak: 3},
		{name: "huge", index: append(bytes.Clone(go127), bytes.Repeat([]byte(strings.Repeat(" ", 1023)+"\n"), 200)...), wantLeak: 3, wantLimit: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pt, u := startPprofTarget(t, profile, nil, leak)
			pt.index = tt.index
			cfg := createDefaultConfig()
			cfg.Endpoint = u
			cs := newClockScraper(t, cfg)
			var m pmetric.Metrics
			for at := time.Duration(0); at < 11*time.Minute; at += 30 * time.Second {
				m = cs.scrapeAt(t, at)
				assert.Equal(t, int64(1), gaugeValue(t, m.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics(), "go.goroutine.scrape.up"))
			}
			assert.Equal(t, 1, pt.count("/debug/pprof/"), "the index read once an hour")
			assert.Equal(t, tt.wantLeak, pt.count("/debug/pprof/goroutineleak"))
			if tt.wantLimit > 0 {
				errs := metric(t, m.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics(), "go.goroutine.scrape.errors").Sum().DataPoints()
				require.Equal(t, 1, errs.Len())
				assert.Equal(t, metadata.AttributeErrorTypeLimit.String(), attr(errs.At(0).Attributes(), "error.type"))
				assert.Equal(t, tt.wantLimit, errs.At(0).IntValue())
			}
		})
	}
}

// TestLeakPathServesTheProfile scrapes a target that answers the leak
// profile's path with its goroutine profile, as a proxy or a catch-all mux
// would: nothing is proven, and each ask counts as not_goroutine_profile.
func TestLeakPathServesTheProfile(t *testing.T) {
	profile := mustRead("testdata/dumps/leaktarget.pb.gz")
	pt, u := startPprofTarget(t, profile, nil, profile)
	cfg := createDefaultConfig()
	cfg.Targets = []TargetConfig{{Endpoint: u, ServiceName: "catch-all"}}
	cfg.LeakProfile = ptr(true)
	cs := newClockScraper(t, cfg)
	var m pmetric.Metrics
	for at := time.Duration(0); at < 11*time.Minute; at += 30 * time.Second {
		m = cs.scrapeAt(t, at)
		assert.Empty(t, pointsBy(t, m, "catch-all", "go.goroutine.group.leaked"), "proven from a goroutine profile")
	}
	assert.Equal(t, 3, pt.count("/debug/pprof/goroutineleak"))
	errs := metric(t, m.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics(), "go.goroutine.scrape.errors").Sum().DataPoints()
	require.Equal(t, 1, errs.Len())
	assert.Equal(t, metadata.AttributeErrorTypeNotGoroutineProfile.String(), attr(errs.At(0).Attributes(), "error.type"))
	assert.Equal(t, int64(3), errs.At(0).IntValue())
}

// TestEvidenceOnSuspect grows one group of a synthetic target until it is
// suspected: only then are the dump and the leak profile fetched, once,
// and one log record carries the stack, the creator and the wait from the
// dump. Later scrapes, the group still suspected, fetch nothing more. The
// target keeps what the dump says of the groups reported only: before, it
// kept every group of the dump with its whole stack.
func TestEvidenceOnSuspect(t *testing.T) {
	st := &syntheticTarget{counts: map[string]int64{"app.poolWorker": 50, "app.leak": 1}, vdso: 0x7f0000000000}
	var (
		mu   sync.Mutex
		hits = map[string]int{}
		n    int64
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		kind := r.URL.Path + "?" + r.URL.RawQuery
		hits[kind]++
		leaking := n
		mu.Unlock()
		switch kind {
		case "/debug/pprof/goroutine?":
			st.ServeHTTP(w, r)
		case "/debug/pprof/goroutine?debug=2":
			// The synthetic profile's stack as the runtime prints it, its
			// own frames hidden.
			for i := range leaking {
				_, _ = fmt.Fprintf(w, "goroutine %d [chan send, 7 minutes]:\napp.leak()\n\tapp/main.go:10 +0x1d\ncreated by app.serve in goroutine 1\n\tapp/main.go:42 +0x66\n\n", 100+i)
			}
			// Groups the scrape does not report, each of its own stack:
			// the target keeps nothing of them.
			for i := range 2000 {
				_, _ = fmt.Fprintf(w, "goroutine %d [select]:\napp.other%d()\n\tapp/other.go:%d +0x1d\n\n", 100000+i, i, i+1)
			}
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)

	cfg := createDefaultConfig()
	cfg.Targets = []TargetConfig{{Endpoint: srv.URL, ServiceName: "app"}}
	cfg.CollectionInterval = 15 * time.Second
	cfg.Evidence = evidenceOnSuspect
	cfg.LeakProfile = ptr(false) // the proof on suspicion only
	cs := newClockScraper(t, cfg)

	suspectedAt := -1
	for i := range 4 * 40 {
		mu.Lock()
		n = int64(1 + 4*i)
		mu.Unlock()
		st.set("app.leak", n)
		m := cs.scrapeAt(t, time.Duration(i)*15*time.Second)
		susp := pointsBy(t, m, "app", "go.goroutine.group.suspected")
		if suspectedAt < 0 && susp["app.leak"].IntValue() == 1 {
			suspectedAt = i
		}
		mu.Lock()
		dumps, leaks := hits["/debug/pprof/goroutine?debug=2"], hits["/debug/pprof/goroutineleak?"]
		mu.Unlock()
		if suspectedAt < 0 {
			assert.Zero(t, dumps, "a dump fetched before any suspicion, scrape %d", i)
			assert.Zero(t, leaks, "a leak profile fetched before any suspicion, scrape %d", i)
			continue
		}
		assert.Equal(t, 1, dumps, "one dump for one suspicion, scrape %d", i)
		assert.Equal(t, 1, leaks, "one leak profile for one suspicion, scrape %d", i)
		if i == suspectedAt {
			assert.Len(t, cs.targets[0].dumpFacts, 1, "the dump's facts of the groups reported alone, of 2,001 groups")
			waits := pointsBy(t, m, "app", "go.goroutine.group.wait.max")
			require.Contains(t, waits, "app.leak")
			assert.Equal(t, int64(7), waits["app.leak"].IntValue())
			assert.Equal(t, "app.serve", attr(waits["app.leak"].Attributes(), "goroutine.creator"))
			counts := pointsBy(t, m, "app", "go.goroutine.group.count")
			require.Contains(t, counts, "app.leak")
			assert.Empty(t, attr(counts["app.leak"].Attributes(), "goroutine.creator"), "the count's series keeps its attributes")
		}
	}
	require.GreaterOrEqual(t, suspectedAt, 0, "the leak was never suspected")

	records := cs.records()
	require.Len(t, records, 1, "one record for one group turning suspected")
	r := records[0]
	assert.Equal(t, eventSuspected, r.EventName())
	assert.Equal(t, "app.leak", attr(r.Attributes(), "code.function.name"))
	assert.Equal(t, "app.serve", attr(r.Attributes(), "goroutine.creator"))
	assert.Equal(t, "7", attr(r.Attributes(), "goroutine.wait.max_minutes"))
	assert.Equal(t, "chan send", attr(r.Attributes(), "goroutine.wait"))
	assert.NotContains(t, r.Attributes().AsRaw(), "goroutine.leaked", "the target has no leak profile")
	assert.Equal(t, strings.Join([]string{
		"goroutine group " + attr(r.Attributes(), "goroutine.signature") + " suspected of leaking: " + attr(r.Attributes(), "goroutine.count") +
			" goroutines [chan send], growing 16.0/min",
		"app.leak", "\tapp/main.go:10",
		"created by app.serve", "\tapp/main.go:42",
		"the user's code behind it (in its own stack, " + attr(r.Attributes(), "goroutine.count") + " of the " + attr(r.Attributes(), "goroutine.count") + " goroutines in the dump):",
		"app.leak", "\tapp/main.go:10",
	}, "\n"), r.Body().Str())
	assert.Equal(t, "app.leak", attr(r.Attributes(), "goroutine.user.function"))
	assert.Equal(t, "stack", attr(r.Attributes(), "goroutine.user.source"))
}

// TestDumpModeBadTargets feeds dump mode what is not a dump, and a dump
// with more distinct stacks than max_samples: each fails its own target
// with a named cause and a counted error, and the good target is reported.
func TestDumpModeBadTargets(t *testing.T) {
	var many bytes.Buffer
	for i := range 500 {
		fmt.Fprintf(&many, "goroutine %d [select]:\nmain.f%d()\n\t/a.go:1 +0x1\n\n", i+1, i)
	}
	_, good := startPprofTarget(t, nil, mustRead("testdata/dumps/leaktarget.txt"), nil)
	_, html := startPprofTarget(t, nil, []byte("<html><body>not here</body></html>\n"), nil)
	_, wide := startPprofTarget(t, nil, many.Bytes(), nil)
	cfg := createDefaultConfig()
	cfg.Targets = []TargetConfig{{Endpoint: good, ServiceName: "good"}, {Endpoint: html, ServiceName: "html"}, {Endpoint: wide, ServiceName: "wide"}}
	cfg.Mode = modeDump
	cfg.MaxSamples = 200
	cs := newClockScraper(t, cfg)

	cs.now = cs.now.Add(time.Second)
	m, err := cs.scrape(context.Background())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "malformed goroutine dump")
	assert.Contains(t, err.Error(), "profile exceeds max_samples (200)")
	assert.Equal(t, int64(1), gaugeValue(t, byService(t, m, "good"), "go.goroutine.scrape.up"))
	for svc, want := range map[string]metadata.AttributeErrorType{"html": metadata.AttributeErrorTypeDecode, "wide": metadata.AttributeErrorTypeLimit} {
		ms := byService(t, m, svc)
		assert.Equal(t, int64(0), gaugeValue(t, ms, "go.goroutine.scrape.up"), svc)
		dp := metric(t, ms, "go.goroutine.scrape.errors").Sum().DataPoints().At(0)
		assert.Equal(t, want.String(), attr(dp.Attributes(), "error.type"), svc)
	}
}

// relabeled returns the gzip-compressed profile b with every value of the
// label key prefixed: the same process, told apart by its labels.
func relabeled(t *testing.T, b []byte, key, prefix string) []byte {
	t.Helper()
	p, err := profile.Parse(bytes.NewReader(b))
	require.NoError(t, err)
	for _, s := range p.Sample {
		for i, v := range s.Label[key] {
			s.Label[key][i] = prefix + v
		}
	}
	var out bytes.Buffer
	require.NoError(t, p.Write(&out))
	return out.Bytes()
}

// TestLeakedKeepsItsLabels proves groups of two targets on one worker,
// their pprof labels kept: each target's go.goroutine.group.leaked points
// carry its own label values at every scrape, also after the worker has
// read the other target's leak profile. Before, a target's proven groups
// held their label values in the worker's grouper, which the next leak
// profile it read overwrote.
func TestLeakedKeepsItsLabels(t *testing.T) {
	profile := mustRead("testdata/dumps/leaktarget.pb.gz")
	leak := mustRead("testdata/dumps/leaktarget-leak.pb.gz")
	_, aURL := startPprofTarget(t, profile, nil, leak)
	_, bURL := startPprofTarget(t, relabeled(t, profile, "pattern", "b-"), nil, relabeled(t, leak, "pattern", "b-"))
	cfg := createDefaultConfig()
	cfg.Targets = []TargetConfig{{Endpoint: aURL, ServiceName: "a"}, {Endpoint: bURL, ServiceName: "b"}}
	cfg.LeakProfile, cfg.MaxConcurrency, cfg.Labels = ptr(true), 1, []string{"pattern"}
	cs := newClockScraper(t, cfg)
	for _, at := range []time.Duration{0, 30 * time.Second, time.Minute} {
		m := cs.scrapeAt(t, at)
		for _, service := range []string{"a", "b"} {
			leaked := pointsBy(t, m, service, "go.goroutine.group.leaked")
			require.NotEmpty(t, leaked, "%s at %v", service, at)
			for fn, dp := range leaked {
				pattern := attr(dp.Attributes(), "goroutine.label.pattern")
				require.NotEmpty(t, pattern, "%s's %s at %v", service, fn, at)
				assert.Equal(t, service == "b", strings.HasPrefix(pattern, "b-"), "%s's %s at %v: pattern %q", service, fn, at, pattern)
			}
		}
	}
}

// wideProfile returns a gzip-compressed profile of sampleType of n groups,
// group i of count(i) goroutines stuck on a channel send in a function of
// its own.
func wideProfile(t *testing.T, sampleType string, n int, count func(int) int64) []byte {
	t.Helper()
	p := &profile.Profile{
		SampleType: []*profile.ValueType{{Type: sampleType, Unit: "count"}},
		PeriodType: &profile.ValueType{Type: sampleType, Unit: "count"},
		Period:     1,
		Mapping:    []*profile.Mapping{{ID: 1, Start: 0x400000, Limit: 0x800000, File: "/app", BuildID: "b1"}},
	}
	park := &profile.Function{ID: 1, Name: "runtime.gopark", Filename: "runtime/proc.go"}
	p.Function = []*profile.Function{park}
	p.Location = []*profile.Location{{ID: 1, Mapping: p.Mapping[0], Address: 0x401000, Line: []profile.Line{{Function: park, Line: 1}}}}
	for i := range n {
		f := &profile.Function{ID: uint64(i + 2), Name: fmt.Sprintf("app.leak%05d", i), Filename: "app/main.go"}
		l := &profile.Location{ID: uint64(i + 2), Mapping: p.Mapping[0], Address: 0x500000 + uint64(i), Line: []profile.Line{{Function: f, Line: 10}}}
		p.Function, p.Location = append(p.Function, f), append(p.Location, l)
		p.Sample = append(p.Sample, &profile.Sample{Location: []*profile.Location{p.Location[0], l}, Value: []int64{count(i)}})
	}
	var buf bytes.Buffer
	require.NoError(t, p.Write(&buf))
	return buf.Bytes()
}

// TestProofsBounded serves a leak profile that proves 5,000 groups beside a
// goroutine profile of the same groups, with max_groups 10: a scrape writes
// at most ten proven records and ten leaked series, the rest summed into
// other and counted as dropped; the target keeps ten proofs and no more
// reports than it may save; and what it saves, the next start restores.
// Before, the target kept every proven group, wrote a record for each in
// one scrape, and saved a state its restore refused as too large.
func TestProofsBounded(t *testing.T) {
	const groups, most = 5000, 10
	count := func(i int) int64 { return int64(1 + i%7) }
	var total int64
	for i := range groups {
		total += count(i)
	}
	_, url := startPprofTarget(t, wideProfile(t, "goroutine", groups, count), nil, wideProfile(t, "goroutineleak", groups, count))
	host := fileStorage(t, t.TempDir())
	cfg := createDefaultConfig()
	cfg.Endpoint, cfg.Storage = url, &fileStorageID
	cfg.MaxGroups, cfg.Leak.MaxTrackedGroups = most, most
	cfg.LeakProfile, cfg.LeakProfileMaxGoroutines = ptr(true), 0

	first := startStored(t, cfg, host, 0)
	for _, at := range []time.Duration{0, 30 * time.Second, 5 * time.Minute} {
		m := first.scrapeAt(t, at)
		leaked := metric(t, m.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics(), "go.goroutine.group.leaked").Gauge().DataPoints()
		require.Equal(t, most+1, leaked.Len(), "at %v: the largest proofs and other", at)
		var sum int64
		for i := range leaked.Len() {
			sum += leaked.At(i).IntValue()
		}
		assert.Equal(t, total, sum, "at %v: the proofs add up", at)
		tg := first.targets[0]
		assert.Len(t, tg.proven, most)
		assert.LessOrEqual(t, len(tg.reported), cfg.Leak.MaxTrackedGroups+cfg.MaxGroups)
	}
	proven := 0
	for _, r := range first.records() {
		if r.EventName() == eventProven {
			proven++
		}
	}
	assert.Equal(t, most, proven, "a record for each proof kept, once")
	assert.GreaterOrEqual(t, first.targets[0].health.dropped, int64(groups-most), "the proofs beyond max_groups counted")
	require.NoError(t, first.shutdown(context.Background()))

	second := startStored(t, cfg, host, 6*time.Minute)
	t.Cleanup(func() { require.NoError(t, second.shutdown(context.Background())) })
	assert.Equal(t, [numOutcomes]int64{outcomeSuccess: 1}, second.telemetry.sum().restores, "the state saved is restored")
	assert.Equal(t, first.targets[0].reported, second.targets[0].reported)
}

// TestTrackedKeysKeepTheirLabels scrapes two targets on one worker, their
// pprof labels kept, over a one-minute window: each target's groups keep
// their leak windows from scrape to scrape, so that every group's growth is
// ready once half the window has passed, and each target's tracker holds
// its own label values while the worker holds the other's. The groupers'
// label keys are the worker's, overwritten by the next profile it reads; a
// key the tracker kept without a copy of its own would hold another
// target's labels (the assertion on the keys failed without the copy).
func TestTrackedKeysKeepTheirLabels(t *testing.T) {
	profile := mustRead("testdata/dumps/leaktarget.pb.gz")
	_, aURL := startPprofTarget(t, profile, nil, nil)
	_, bURL := startPprofTarget(t, relabeled(t, profile, "pattern", "b-"), nil, nil)
	cfg := createDefaultConfig()
	cfg.Targets = []TargetConfig{{Endpoint: aURL, ServiceName: "a"}, {Endpoint: bURL, ServiceName: "b"}}
	cfg.LeakProfile, cfg.MaxConcurrency, cfg.Labels = ptr(false), 1, []string{"pattern"}
	cfg.CollectionInterval, cfg.Leak.Windows = 3*time.Second, []time.Duration{time.Minute}
	cs := newClockScraper(t, cfg)
	var m pmetric.Metrics
	for at := time.Duration(0); at <= 40*time.Second; at += 3 * time.Second {
		m = cs.scrapeAt(t, at)
	}
	// The worker's grouper now holds b's label keys, the last it read.
	for i, tg := range cs.targets {
		for k := range tg.tracker.Keys {
			if k.Labels == "0:" {
				continue // no pattern label
			}
			assert.Equal(t, i == 1, strings.Contains(k.Labels, ":b-"), "target %d tracks %q", i, k.Labels)
		}
	}
	for _, service := range []string{"a", "b"} {
		counts := pointsBy(t, m, service, "go.goroutine.group.count")
		growths := pointsBy(t, m, service, "go.goroutine.group.growth")
		require.NotEmpty(t, counts, service)
		for fn := range counts {
			if fn == "" {
				continue // the other group
			}
			assert.Contains(t, growths, fn, "%s's %s: its window started afresh", service, fn)
		}
	}
}
