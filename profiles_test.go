package goroutinereceiver

import (
	"fmt"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pprofile"
	"go.opentelemetry.io/collector/receiver/receivertest"

	"github.com/goroutinewatch/goroutinereceiver/internal/group"
	"github.com/goroutinewatch/goroutinereceiver/internal/metadata"
	"github.com/goroutinewatch/goroutinereceiver/internal/otlpprofile"
	"github.com/goroutinewatch/goroutinereceiver/internal/signature"
)

// TestProfilePolicy runs the profile policy over scrapes: give is each
// scrape's newly suspected groups, want the scrapes that send the profile.
func TestProfilePolicy(t *testing.T) {
	tests := []struct {
		name   string
		policy profilePolicy
		give   []int
		want   []int
	}{
		{"no profiles pipeline", profilePolicy{every: 2}, []int{0, 1, 0, 0}, nil},
		{"on suspicion", profilePolicy{on: true}, []int{0, 0, 1, 0, 0, 2, 0}, []int{2, 5}},
		{"every third", profilePolicy{on: true, every: 3}, []int{0, 0, 0, 0, 0, 0, 0}, []int{2, 5}},
		{"a suspicion restarts the count", profilePolicy{on: true, every: 3}, []int{0, 1, 0, 0, 0, 0}, []int{1, 4}},
		{"every scrape", profilePolicy{on: true, every: 1}, []int{0, 0, 0}, []int{0, 1, 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []int
			since := 0
			for i, newly := range tt.give {
				if tt.policy.due(newly, since) {
					got = append(got, i)
					since = 0
				} else {
					since++
				}
			}
			assert.Equal(t, tt.want, got)
		})
	}
}

// sample is one sample of a sent profile: its stack's functions, innermost
// first, its value and its labels.
type sample struct {
	stack []string
	value int64
	label map[string][]string
}

// sentProfiles returns the profiles a sink received, read as google/pprof
// reads them, by kind.
func sentProfiles(t *testing.T, sink *consumertest.ProfilesSink) map[string][][]sample {
	t.Helper()
	out := map[string][][]sample{}
	for _, ps := range sink.AllProfiles() {
		profs, err := otlpprofile.ToPprof(ps)
		require.NoError(t, err)
		for _, p := range profs {
			var ss []sample
			for _, s := range p.Sample {
				var stack []string
				for _, l := range s.Location {
					stack = append(stack, l.Line[0].Function.Name)
				}
				ss = append(ss, sample{stack, s.Value[0], s.Label})
			}
			out[p.SampleType[0].Type] = append(out[p.SampleType[0].Type], ss)
		}
	}
	return out
}

func bySignatureOf(ss []sample, fn string) *sample {
	for i := range ss {
		if n := len(ss[i].stack); n > 0 && ss[i].stack[n-1] == fn {
			return &ss[i]
		}
	}
	return nil
}

// TestProfilesOnSuspicion: a receiver in a profiles pipeline sends a
// target's goroutine profile at the scrape where a group turns suspected,
// and only then; each sample is a group reported, with its stack, count and
// signature as the metrics have them, the suspected one marked; the rest are
// one sample without a stack; the samples sum to the target's goroutines.
func TestProfilesOnSuspicion(t *testing.T) {
	st := &syntheticTarget{counts: map[string]int64{"app.poolWorker": 50, "app.leak": 1}, vdso: 0x7f0000000000}
	for i := range 5 {
		st.counts["app.small"+string(rune('a'+i))] = 1
	}
	srv := startSynthetic(t, st)
	cfg := createDefaultConfig()
	cfg.Targets = []TargetConfig{{Endpoint: srv, ServiceName: "app"}}
	cfg.CollectionInterval = 15 * time.Second
	cfg.MaxGroups = 2
	cfg.LeakProfile = ptr(false)
	cfg.Evidence = evidenceNone
	cs := newClockScraper(t, cfg)
	sink := new(consumertest.ProfilesSink)
	cs.profiles = sink

	suspectedAt := -1
	for i := range 160 {
		st.set("app.leak", int64(1+4*i))
		m := cs.scrapeAt(t, time.Duration(i)*15*time.Second)
		if suspectedAt < 0 && pointsBy(t, m, "app", "go.goroutine.group.suspected")["app.leak"].IntValue() == 1 {
			suspectedAt = i
			require.Equal(t, 1, sink.ProfileCount(), "the profile at the scrape the group turned suspected")
			sent := sentProfiles(t, sink)["goroutine"][0]
			leak, pool := bySignatureOf(sent, "app.leak"), bySignatureOf(sent, "app.poolWorker")
			require.NotNil(t, leak)
			require.NotNil(t, pool)
			counts := pointsBy(t, m, "app", "go.goroutine.group.count")
			assert.Equal(t, counts["app.leak"].IntValue(), leak.value)
			assert.Equal(t, []string{"runtime.gopark", "runtime.chansend1", "app.leak"}, leak.stack)
			assert.Equal(t, []string{attr(counts["app.leak"].Attributes(), "goroutine.signature")}, leak.label["goroutine.signature"])
			assert.Equal(t, []string{"suspected"}, leak.label["goroutine.leak"])
			assert.Equal(t, []string{"chan send"}, leak.label["goroutine.wait"])
			assert.NotContains(t, pool.label, "goroutine.leak", "a healthy group is not marked")
			var sum, rest int64
			for _, s := range sent {
				sum += s.value
				if s.stack == nil {
					rest = s.value
					assert.Equal(t, []string{"other"}, s.label["goroutine.signature"])
				}
			}
			assert.Equal(t, int64(5), rest, "the five small groups beyond max_groups")
			assert.Equal(t, int64(50+5)+leak.value, sum, "every goroutine")
		}
	}
	require.GreaterOrEqual(t, suspectedAt, 0, "never suspected")
	assert.Equal(t, 1, sink.ProfileCount(), "one profile for one suspicion, none before or after")
}

// TestProfilesEveryN: with profiles.every, the goroutine profile is sent
// every N scrapes without any suspicion.
func TestProfilesEveryN(t *testing.T) {
	st := &syntheticTarget{counts: map[string]int64{"app.poolWorker": 50}, vdso: 0x7f0000000000}
	srv := startSynthetic(t, st)
	cfg := createDefaultConfig()
	cfg.Targets = []TargetConfig{{Endpoint: srv, ServiceName: "app"}}
	cfg.LeakProfile = ptr(false)
	cfg.Profiles.Every = 4
	cs := newClockScraper(t, cfg)
	sink := new(consumertest.ProfilesSink)
	cs.profiles = sink
	for i := range 12 {
		cs.scrapeAt(t, time.Duration(i)*10*time.Second)
	}
	assert.Equal(t, 3, sink.ProfileCount())
	for _, ss := range sentProfiles(t, sink)["goroutine"] {
		require.Len(t, ss, 1)
		assert.Equal(t, int64(50), ss[0].value)
	}
}

// TestGoroutineLeakProfileSent: the goroutineleak profile read from a real
// Go 1.27 target (its capture in testdata) is sent as it is read, every
// group proven, the same counts as go.goroutine.group.leaked.
func TestGoroutineLeakProfileSent(t *testing.T) {
	_, u := startPprofTarget(t, mustRead("testdata/dumps/leaktarget.pb.gz"), nil, mustRead("testdata/dumps/leaktarget-leak.pb.gz"))
	cfg := createDefaultConfig()
	cfg.Targets = []TargetConfig{{Endpoint: u, ServiceName: "with"}}
	cfg.LeakProfile = ptr(true)
	cs := newClockScraper(t, cfg)
	sink := new(consumertest.ProfilesSink)
	cs.profiles = sink
	m := cs.scrapeAt(t, 0)
	cs.scrapeAt(t, time.Minute) // no leak profile read: nothing sent
	require.Equal(t, 1, sink.ProfileCount())
	sent := sentProfiles(t, sink)["goroutineleak"]
	require.Len(t, sent, 1)
	leaked := pointsBy(t, m, "with", "go.goroutine.group.leaked")
	fanout := bySignatureOf(sent[0], "main.fanoutWorker")
	require.NotNil(t, fanout)
	assert.Equal(t, leaked["main.fanoutWorker"].IntValue(), fanout.value)
	for _, s := range sent[0] {
		if s.stack != nil {
			assert.Equal(t, []string{"proven"}, s.label["goroutine.leak"], "%v", s.stack)
		}
	}
}

func startSynthetic(t *testing.T, st *syntheticTarget) string {
	t.Helper()
	srv := httptest.NewServer(st)
	t.Cleanup(srv.Close)
	return srv.URL
}

// BenchmarkEmitProfiles writes the goroutine profile of a target at
// max_groups (200) groups of 30 frames each, frames shared as a real
// program's are (ten runtime frames on every stack): the collector's cost of
// a profile sent, and its size on the wire.
//
//	go test -run '^$' -bench EmitProfiles -benchmem .
func BenchmarkEmitProfiles(b *testing.B) {
	e := newEmitter(createDefaultConfig(), receivertest.NewNopSettings(metadata.Type), 1, nil)
	r := &result{resource: &resource{host: "10.0.0.7", port: 6060, instance: "10.0.0.7:6060", url: "http://10.0.0.7:6060/debug/pprof/goroutine"}, profile: true, other: 42}
	for g, stack := range benchStacks(200, 30) {
		r.groups = append(r.groups, reportedGroup{id: group.Identity{Info: signature.Info{ID: signature.ID(g + 1), Wait: "chan send"}}, count: int64(g + 1), stack: stack})
	}
	var size int
	for b.Loop() {
		ps, ok := e.emitProfiles(7, r)
		if !ok {
			b.Fatal("no profile")
		}
		raw, err := (&pprofile.ProtoMarshaler{}).MarshalProfiles(ps)
		if err != nil {
			b.Fatal(err)
		}
		size = len(raw)
	}
	b.ReportMetric(float64(size), "wire-bytes")
}

// benchStacks returns the stacks of groups groups of frames frames each,
// as a real program's share theirs: the ten innermost (the runtime's) on
// every stack, the others the group's own.
func benchStacks(groups, frames int) [][]signature.Frame {
	stacks := make([][]signature.Frame, groups)
	for g := range stacks {
		for f := range frames {
			fn := fmt.Sprintf("runtime.frame%d", f)
			if f >= 10 {
				fn = fmt.Sprintf("corp.example/svc/pkg%d.(*handler%d).step%d", g%17, g, f)
			}
			stacks[g] = append(stacks[g], signature.Frame{Function: fn, File: "/src/corp.example/svc/file.go", Line: int64(f + 1)})
		}
	}
	return stacks
}
