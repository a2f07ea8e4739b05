//go:build e2e

package e2e

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog"
)

// misuse is one of cmd/libtarget's library misuses: the goroutines it
// leaves (their entry function), the handler that misused the library and
// the lines of its misuse (the comment that marks them), the known leak's
// library.
type misuse struct {
	name, entry, handler string
	lines                []string
	library              string
	// byCreator: the handler's own go statement started the goroutine, so
	// that its creator names it even without ancestry.
	byCreator bool
}

var misuses = []misuse{
	{
		name: "body", entry: "net/http.(*persistConn).readLoop", handler: "main.(*app).leakBody",
		lines: []string{"misuse: a body never closed"}, library: "net/http",
	},
	{
		name: "db", entry: "database/sql.(*DB).connectionOpener", handler: "main.(*app).leakDB",
		lines: []string{"misuse: a database per request"}, library: "database/sql",
	},
	{
		name: "grpc", entry: "google.golang.org/grpc/internal/transport.(*http2Client).reader", handler: "main.(*app).leakGRPC",
		lines: []string{"misuse: a connection per request", "misuse: the call that connects it"}, library: "google.golang.org/grpc",
	},
	{
		name: "cache", entry: "github.com/jellydator/ttlcache/v3.(*Cache[...]).Start", handler: "main.(*app).leakCache",
		lines: []string{"misuse: a janitor never stopped"}, library: "github.com/jellydator/ttlcache/v3", byCreator: true,
	},
	{
		name: "watch", entry: "github.com/fsnotify/fsnotify.(*inotify).readEvents", handler: "main.(*app).leakWatch",
		lines: []string{"misuse: a watcher never closed"}, library: "github.com/fsnotify/fsnotify",
	},
}

// TestLibraryLeaksNameUserCode runs cmd/libtarget three times: misusing its
// five libraries with GODEBUG=tracebackancestors=5, misusing them without
// it, and using them only correctly, under load that rises and falls (as
// the misusing ones do beside their misuses, sharing the leaked
// connections' stacks). The ocb-built collector scrapes the three every
// second with evidence: on_suspect, for 50 s.
//
// Every misuse's group is flagged within one window in both misusing
// targets; every group flagged is a known library leak, and its record and
// series say so; no group of the correct target is ever flagged. With
// ancestry, each misuse's record names the handler that misused the
// library, with the line, and so does its wait.max series, which the
// dashboard's suspected table shows; without, the handler where its own go
// statement started the goroutine (the cache's janitor, whose generic name
// the profile and the dump spell alike, or the dump's creator would not
// reach the profile's group), and elsewhere why it cannot and what would.
func TestLibraryLeaksNameUserCode(t *testing.T) {
	t.Parallel()
	const window = 30 * time.Second
	bin := filepath.Join(t.TempDir(), "libtarget")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Dir = filepath.Join(repoRoot(t), "cmd", "libtarget")
	out, err := build.CombinedOutput()
	require.NoError(t, err, "%s", out)
	source := filepath.Join(repoRoot(t), "cmd", "libtarget", "main.go")

	// Beside the misuses, the correct uses at up to two workers: their
	// pooled connections share the leaked ones' stacks, and at most a
	// handful are in use at once.
	leaky := []string{"-leaks", "-rate", "1", "-watch-max", "45", "-load", "2"}
	_, ancestry := runTargetEnv(t, bin, "127.0.0.1:0", []string{"GODEBUG=tracebackancestors=5"}, leaky...)
	_, plain := runTargetEnv(t, bin, "127.0.0.1:0", nil, leaky...)
	_, healthy := runTargetEnv(t, bin, "127.0.0.1:0", []string{"GODEBUG=tracebackancestors=5"})

	metrics, logs := &sink{}, &logSink{}
	mux := http.NewServeMux()
	mux.Handle("/v1/metrics", metrics)
	mux.Handle("/v1/logs", logs)
	otlp := httptest.NewServer(mux)
	t.Cleanup(otlp.Close)
	start := time.Now()
	telemetry := freeAddr(t)
	host, port, err := net.SplitHostPort(telemetry)
	require.NoError(t, err)
	runCollector(t, collectorConfig(t, otlp.URL, fmt.Sprintf(`
receivers:
  goroutine:
    targets:
      - endpoint: %s
        service_name: with-ancestry
      - endpoint: %s
        service_name: without-ancestry
      - endpoint: %s
        service_name: correct
    collection_interval: 1s
    initial_delay: 0s
    timeout: 900ms
    evidence: on_suspect
    evidence_interval: 5s
    leak:
      window: %s
service:
  telemetry:
    metrics:
      level: normal
      readers:
        - pull:
            exporter:
              prometheus:
                host: %s
                port: %s
  pipelines:
    logs:
      receivers: [goroutine]
      exporters: [otlp_http]
`, ancestry, plain, healthy, window, host, port)))
	time.Sleep(50 * time.Second)

	// The receiver's health in the collector's own telemetry: every scrape
	// of the three targets a success, the dumps the suspicions fetched,
	// the groups it tracks.
	own := scrapeText(t, "http://"+telemetry+"/metrics")
	scrapes := own.value(t, "otelcol_receiver_goroutine_scrapes", `outcome="success"`, `receiver="goroutine"`)
	assert.GreaterOrEqual(t, scrapes, 3*40.0, "three targets scraped every second for 50 s")
	assert.Zero(t, own.sum("otelcol_receiver_goroutine_scrapes", `outcome="failure"`))
	assert.Positive(t, own.value(t, "otelcol_receiver_goroutine_evidence_fetches", `evidence="dump"`, `outcome="success"`))
	assert.Positive(t, own.value(t, "otelcol_receiver_goroutine_groups_tracked"))
	t.Logf("the collector's own telemetry: %.0f scrapes, %.0f dumps, %.0f groups tracked", scrapes,
		own.value(t, "otelcol_receiver_goroutine_evidence_fetches", `evidence="dump"`, `outcome="success"`),
		own.value(t, "otelcol_receiver_goroutine_groups_tracked"))

	// Per service and group (its entry and signature): when first flagged, and the user's code on
	// the wait.max series at the last scrape (the dump's most common
	// origin, which can change while a leak overtakes a pool).
	type seen struct {
		entry, signature string
		flagged          time.Duration
		user             string
		known            string
	}
	by := map[string]map[string]*seen{}
	for _, m := range metrics.snapshot() {
		for i := range m.ResourceMetrics().Len() {
			rm := m.ResourceMetrics().At(i)
			svc, _ := rm.Resource().Attributes().Get("service.name")
			ms := rm.ScopeMetrics().At(0).Metrics()
			for j := range ms.Len() {
				mt := ms.At(j)
				if mt.Name() != "go.goroutine.group.suspected" && mt.Name() != "go.goroutine.group.wait.max" {
					continue
				}
				dps := mt.Gauge().DataPoints()
				for k := range dps.Len() {
					dp := dps.At(k)
					attrs := dp.Attributes().AsRaw()
					entry, _ := attrs["goroutine.entry"].(string)
					signature, _ := attrs["goroutine.signature"].(string)
					if by[svc.Str()] == nil {
						by[svc.Str()] = map[string]*seen{}
					}
					s := by[svc.Str()][signature]
					if s == nil {
						s = &seen{entry: entry, signature: signature}
						by[svc.Str()][signature] = s
					}
					s.known, _ = attrs["goroutine.known_leak.library"].(string)
					switch {
					case mt.Name() == "go.goroutine.group.wait.max":
						if fn, ok := attrs["goroutine.user.function"].(string); ok {
							s.user = fmt.Sprintf("%s:%v", fn, attrs["goroutine.user.line"])
						}
					case dp.IntValue() == 1 && s.flagged == 0:
						s.flagged = dp.Timestamp().AsTime().Sub(start)
					}
				}
			}
		}
	}

	// The suspected records, by service and signature.
	records := map[string]map[string][]plog.LogRecord{}
	logs.mu.Lock()
	for i, r := range logs.records {
		if r.EventName() != "goroutine.leak.suspected" {
			continue
		}
		signature, _ := r.Attributes().Get("goroutine.signature")
		if records[logs.service[i]] == nil {
			records[logs.service[i]] = map[string][]plog.LogRecord{}
		}
		records[logs.service[i]][signature.Str()] = append(records[logs.service[i]][signature.Str()], r)
	}
	logs.mu.Unlock()
	attr := func(r plog.LogRecord, k string) string {
		if v, ok := r.Attributes().Get(k); ok {
			return v.AsString()
		}
		return ""
	}

	var table strings.Builder
	fmt.Fprintf(&table, "\n| misuse | target | flagged after | the user's code named | found in | known leak |\n| --- | --- | --- | --- | --- | --- |\n")
	for _, m := range misuses {
		// The lines of the misuse, and, for an ancestry's frames, which
		// the runtime prints at their return addresses, the next ones.
		var lines []string
		for _, l := range m.lines {
			n := lineOf(t, source, l)
			lines = append(lines, fmt.Sprintf("%s:%d", m.handler, n))
			if !m.byCreator {
				lines = append(lines, fmt.Sprintf("%s:%d", m.handler, n+1))
			}
		}
		for _, svc := range []string{"with-ancestry", "without-ancestry"} {
			// The misuse's group: of its entry, the one flagged (a pool's
			// idle connections are a group of their own).
			var s *seen
			for _, g := range by[svc] {
				if g.entry == m.entry && g.flagged > 0 && (s == nil || g.flagged < s.flagged) {
					s = g
				}
			}
			require.NotNil(t, s, "%s: no group of %s flagged", svc, m.entry)
			assert.LessOrEqual(t, s.flagged, window+5*time.Second, "%s: %s flagged late", svc, m.name)
			assert.Equal(t, m.library, s.known, "%s: %s's series names its library", svc, m.name)
			recs := records[svc][s.signature]
			require.Len(t, recs, 1, "%s: one record of %s", svc, m.name)
			r := recs[0]
			assert.Equal(t, m.library, attr(r, "goroutine.known_leak.library"))
			assert.Contains(t, r.Body().Str(), "known leak of "+m.library)
			named := fmt.Sprintf("%s:%s", attr(r, "goroutine.user.function"), attr(r, "goroutine.user.line"))
			if svc == "with-ancestry" || m.byCreator {
				assert.Contains(t, lines, named, "%s: the record of %s names %s; body:\n%s", svc, m.name, named, r.Body().Str())
				assert.Contains(t, r.Body().Str(), m.handler+"\n\t"+source+":", "%s: the body names the handler's file", svc)
				if m.byCreator {
					assert.Equal(t, "creator", attr(r, "goroutine.user.source"))
				} else {
					assert.Equal(t, "ancestry", attr(r, "goroutine.user.source"))
					assert.Contains(t, lines, s.user, "%s: %s's wait.max series names the handler", svc, m.name)
				}
			} else {
				assert.Empty(t, attr(r, "goroutine.user.function"), "%s: %s", svc, m.name)
				assert.Contains(t, attr(r, "goroutine.user.missing"), "GODEBUG=tracebackancestors=5", "%s: %s says what would find it", svc, m.name)
				named = "(none: " + strings.SplitN(attr(r, "goroutine.user.missing"), ";", 2)[0] + ")"
			}
			fmt.Fprintf(&table, "| %s | %s | %v | `%s` | %s | %s |\n", m.name, svc, s.flagged.Round(time.Second), named,
				attr(r, "goroutine.user.source"), attr(r, "goroutine.known_leak.id"))
		}
	}
	t.Log(table.String())

	// Every group flagged is a known library leak; the correct target has
	// none flagged.
	for svc, groups := range by {
		for _, s := range groups {
			if s.flagged == 0 {
				continue
			}
			assert.NotEqual(t, "correct", svc, "the correct uses' group %s was flagged after %v", s.entry, s.flagged)
			assert.NotEmpty(t, s.known, "%s: %s flagged, and matches no known leak", svc, s.entry)
		}
	}
	assert.Empty(t, records["correct"], "records of the correct uses")
	require.NotEmpty(t, by["correct"], "the correct target was scraped")
}
