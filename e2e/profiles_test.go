//go:build e2e

package e2e

import (
	"bytes"
	"cmp"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/pprof/profile"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pprofile/pprofileotlp"

	"github.com/goroutinewatch/goroutinereceiver/internal/otlpprofile"
)

// profileSink is an OTLP/HTTP profiles endpoint that keeps each profile it
// receives as google/pprof reads it, in order.
type profileSink struct {
	mu    sync.Mutex
	profs []*profile.Profile
	err   error
}

func (s *profileSink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, ok := otlpBody(w, r)
	if !ok {
		return
	}
	req := pprofileotlp.NewExportRequest()
	if err := req.UnmarshalProto(b); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	profs, err := otlpprofile.ToPprof(req.Profiles())
	s.mu.Lock()
	s.profs = append(s.profs, profs...)
	if err != nil && s.err == nil {
		s.err = err
	}
	s.mu.Unlock()
	resp, _ := pprofileotlp.NewExportResponse().MarshalProto()
	w.Header().Set("Content-Type", "application/x-protobuf")
	_, _ = w.Write(resp)
}

// failed returns the first profile ToPprof could not read.
func (s *profileSink) failed() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// of returns the profiles received of a kind (goroutine, goroutineleak),
// oldest first: the exporter may send two batches at once.
func (s *profileSink) of(kind string) []*profile.Profile {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*profile.Profile
	for _, p := range s.profs {
		if p.SampleType[0].Type == kind {
			out = append(out, p)
		}
	}
	slices.SortStableFunc(out, func(a, b *profile.Profile) int { return cmp.Compare(a.TimeNanos, b.TimeNanos) })
	return out
}

// marked returns the value of the sample of p whose stack holds fn and
// whose label key is value.
func marked(p *profile.Profile, fn, key, value string) int64 {
	for _, s := range p.Sample {
		if !slices.Contains(s.Label[key], value) {
			continue
		}
		for _, l := range s.Location {
			if l.Line[0].Function.Name == fn {
				return s.Value[0]
			}
		}
	}
	return 0
}

// TestProfilesToPprof runs the ocb-built collector with the receiver in a
// profiles pipeline (the feature gate on), exporting over otlp_http to this
// test, on the example target built with the leak-profile experiment: a
// fan-out leak beside a fixed pool, every second, the goroutine profile
// every 5 scrapes and on suspicion. The profiles received, converted to
// pprof and written as files, are read by `go tool pprof` as people read
// goroutine profiles by hand: -tagfocus on the leak mark (suspected, or
// proven: the runtime proves the fan-out leak before the window suspects
// it) keeps the leaking function alone, and -base between an early and a
// late profile shows it grew while the pool did not. The goroutineleak
// profile names it too.
func TestProfilesToPprof(t *testing.T) {
	t.Parallel()
	bin := buildTargetWith(t, "GOEXPERIMENT=goroutineleakprofile")
	_, target := runTarget(t, bin, "127.0.0.1:0", "-patterns", "fanout,pool", "-rate", "5")
	var s profileSink
	otlp := serveSink(t, &s)
	config := collectorConfig(t, "", fmt.Sprintf(`
receivers:
  goroutine:
    collection_interval: 1s
    initial_delay: 0s
    timeout: 900ms
    targets:
      - endpoint: %s
        service_name: shop
    leak_profile: true
    leak_profile_interval: 5s
    leak:
      window: 30s
    profiles:
      every: 5
exporters:
  otlp_http:
    endpoint: %s
    compression: none
service:
  pipelines:
    profiles:
      receivers: [goroutine]
      exporters: [otlp_http]
`, target, otlp))
	cmd := exec.Command(collectorBinary(t), "--config", config, "--feature-gates=+service.profilesSupport")
	startLogged(t, cmd, "collector")

	require.Eventually(t, func() bool {
		if s.failed() != nil {
			return true
		}
		// Four profiles at least, of scrapes seconds apart, the leak
		// marked in the last.
		profs := s.of("goroutine")
		if n := len(profs); n >= 4 && len(s.of("goroutineleak")) > 0 {
			last := profs[n-1]
			return marked(last, stuckIn["fanout"], "goroutine.leak", "suspected")+marked(last, stuckIn["fanout"], "goroutine.leak", "proven") > 0
		}
		return false
	}, 90*time.Second, 500*time.Millisecond, "no goroutine profile with the fan-out leak marked, or no goroutineleak profile")
	require.NoError(t, s.failed())

	profs := s.of("goroutine")
	dir := t.TempDir()
	write := func(name string, p *profile.Profile) string {
		var buf bytes.Buffer
		require.NoError(t, p.Write(&buf))
		path := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(path, buf.Bytes(), 0o600))
		return path
	}
	first, last := write("first.pb.gz", profs[0]), write("last.pb.gz", profs[len(profs)-1])
	leak := write("leak.pb.gz", s.of("goroutineleak")[0])

	// The function at the top of each listing, by flat count.
	top := func(args ...string) string {
		out, err := exec.Command("go", append([]string{"tool", "pprof", "-top", "-nodecount=3"}, args...)...).CombinedOutput()
		require.NoError(t, err, string(out))
		t.Logf("go tool pprof -top %s:\n%s", strings.Join(args, " "), out)
		m := regexp.MustCompile(`(?m)^\s+-?\d+\s+[\d.]+%\s+[\d.]+%\s+-?\d+\s+[\d.]+%\s+(\S+)`).FindSubmatch(out)
		require.NotNil(t, m, "no entry in:\n%s", out)
		return string(m[1])
	}
	assert.Equal(t, "runtime.gopark", top(last), "every goroutine parks: the flat count is gopark's")
	assert.Equal(t, stuckIn["fanout"], top("-tagfocus=goroutine.leak=suspected|proven", "-hide=^runtime\\.", last))
	assert.Equal(t, stuckIn["fanout"], top("-hide=^runtime\\.", "-base", first, last), "what grew between the two")
	assert.Equal(t, stuckIn["fanout"], top("-hide=^runtime\\.", leak))
}
