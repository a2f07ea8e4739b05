package goroutinereceiver

import (
	"errors"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/goroutinewatch/goroutinereceiver/internal/evidence"
	"github.com/goroutinewatch/goroutinereceiver/internal/group"
	"github.com/goroutinewatch/goroutinereceiver/internal/metadata"
	"github.com/goroutinewatch/goroutinereceiver/internal/signature"
)

// reportTest is one target fed observations on an injected clock, its
// evidence fetches answered by the test: the target's stages, called in the
// order its loop calls them, with no HTTP.
type reportTest struct {
	t      *target
	logs   *observer.ObservedLogs
	policy evidence.Policy
	asked  []evidence.Fetch
	answer found
	sc     scratch
	// save, when set, stores the target's state when a save is due,
	// returning its size or the storage's error.
	save func(at time.Time, b []byte) (int, error)
}

func newReportTest(t *testing.T, policy evidence.Policy) *reportTest {
	t.Helper()
	u, err := url.Parse("http://10.0.0.7:6060/debug/pprof/goroutine")
	require.NoError(t, err)
	core, logs := observer.New(zapcore.InfoLevel)
	cfg := createDefaultConfig()
	cfg.MaxGroups, cfg.Leak.MaxTrackedGroups = 2, 10
	leak := cfg.trend()
	return &reportTest{t: newTarget(u, "app", cfg, leak, zap.New(core)), logs: logs, policy: policy}
}

// report runs one scrape's stages on o at at: observe, the evidence the
// plan asks answered with rt.answer, apply, the health, the save when due.
func (rt *reportTest) report(at time.Duration, o observation) result {
	var r result
	when := t0.Add(at)
	if o.err != nil {
		rt.t.failed(o.err, &r)
		return r
	}
	p := rt.t.observe(when, &o, rt.policy, profilePolicy{}, &rt.sc, &r)
	if p.fetch.Any() {
		rt.asked = append(rt.asked, p.fetch)
	}
	f := rt.answer
	rt.t.apply(when, p, &f, &r)
	rt.t.health.scraped(&o, nil)
	if rt.save != nil && rt.t.saveDue(when) {
		rt.t.saved(rt.save(when, rt.t.appendState(nil, when)))
	}
	return r
}

// leakReported returns the group of r stuck in app.leak, failing when r
// reports none.
func leakReported(t *testing.T, r result) reportedGroup {
	t.Helper()
	for _, g := range r.groups {
		if g.id.Stuck.Function == "app.leak" {
			return g
		}
	}
	t.Fatal("no group of app.leak reported")
	return reportedGroup{}
}

// stuckIn lists the stuck functions of r's groups, in the order reported.
func stuckIn(r result) []string {
	var out []string
	for _, g := range r.groups {
		out = append(out, g.id.Stuck.Function)
	}
	return out
}

var t0 = time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)

// groupOf is a group of n goroutines stuck in fn.
func groupOf(fn string, n int64) group.Group {
	frames := []signature.Frame{{Function: fn, File: "app/main.go", Line: 10}}
	id := signature.Of(frames, signature.ByFunction)
	return group.Group{
		Key:      group.Key{ID: id},
		Identity: &group.Identity{Info: signature.Info{ID: id, Wait: signature.WaitChanSend, Stuck: frames[0], Entry: fn}},
		Count:    n,
		Stack:    frames,
	}
}

func observed(groups ...group.Group) observation {
	o := observation{groups: group.Result{Groups: groups}, instance: 7, bytes: 100}
	for _, g := range groups {
		o.groups.Total += g.Count
	}
	return o
}

// TestReportTimeline runs one target through a leak that is suspected,
// evidence fetched on suspicion (its dump tells the creator, its leak
// profile is absent), failed scrapes that free the windows, and a restart.
func TestReportTimeline(t *testing.T) {
	rt := newReportTest(t, evidence.Policy{OnSuspect: true, Interval: 10 * time.Minute, LeakInterval: 5 * time.Minute})
	creator := signature.Frame{Function: "app.serve", File: "app/main.go", Line: 42}
	leakGroup := groupOf("app.leak", 1)
	rt.answer = found{
		dump:       map[signature.ID]dumpFacts{leakGroup.ID: {creator: creator, waitMinutes: 7, stack: leakGroup.Stack}},
		leakAbsent: true,
	}

	var records []record
	suspectedAt := time.Duration(-1)
	for i := range 30 * 4 {
		at := time.Duration(i) * 15 * time.Second
		r := rt.report(at, observed(groupOf("app.pool", 50), groupOf("app.leak", int64(1+4*i))))
		require.NoError(t, r.err)
		records = append(records, r.records...)
		if suspectedAt < 0 && leakReported(t, r).estimate.Suspected {
			suspectedAt = at
			assert.Equal(t, []evidence.Fetch{{Dump: true, Leak: true}}, rt.asked, "evidence fetched on the scrape that suspects")
			assert.Equal(t, []string{"app.leak", "app.pool"}, stuckIn(r), "largest first")
		}
	}
	require.Positive(t, suspectedAt)
	assert.Len(t, rt.asked, 1, "one fetch for one suspicion")
	require.Len(t, records, 1, "one record for one group turning suspected")
	rec := records[0]
	assert.Equal(t, eventSuspected, rec.event)
	assert.Equal(t, creator, rec.creator, "the dump's creator")
	assert.Equal(t, some(int64(7)), rec.waitMinutes)
	assert.False(t, rec.leaked.ok, "the target serves no leak profile")
	assert.True(t, rec.growth.ok)
	assert.InDelta(t, 16, rec.growth.v, 0.5)
	assert.Equal(t, evidence.Absent, rt.t.evidence.Leak)
	assert.Equal(t, 1, rt.logs.FilterMessageSnippet("serves no goroutineleak profile").Len())
	assert.Equal(t, [numErrorTypes]int64{}, rt.t.health.errors)

	// The target goes away: a gap for two scrapes, the windows freed at the
	// third.
	at := 30 * time.Minute
	for i := range forgetAfter {
		r := rt.report(at, observation{err: errors.New("connection refused")})
		assert.Empty(t, r.groups)
		if i < forgetAfter-1 {
			assert.Positive(t, rt.t.tracker.Len())
		}
		at += 15 * time.Second
	}
	assert.Zero(t, rt.t.tracker.Len())
	assert.Equal(t, int64(forgetAfter), rt.t.health.errors[metadata.AttributeErrorTypeConnect])

	// Back: no estimate until the window fills again, the flag cleared.
	r := rt.report(at, observed(groupOf("app.leak", 1)))
	assert.False(t, leakReported(t, r).estimate.Ready)
	assert.Zero(t, rt.t.health.failures)
}

// TestReportProof proves a group with the leak profile on its interval:
// one proven record, none when the same group later turns suspected, and
// the proof dropped when the target answers 404.
func TestReportProof(t *testing.T) {
	rt := newReportTest(t, evidence.Policy{LeakProfile: true, LeakInterval: 5 * time.Minute, Interval: 10 * time.Minute})
	leaked := groupOf("app.leak", 12)
	proof := provenGroup{key: leaked.Key, id: *leaked.Identity, count: 12, stack: leaked.Stack}
	rt.answer = found{leak: []provenGroup{proof}}

	r := rt.report(0, observed(groupOf("app.leak", 12)))
	require.Len(t, r.records, 1)
	assert.Equal(t, eventProven, r.records[0].event)
	assert.Equal(t, some(int64(12)), r.records[0].leaked)
	assert.Equal(t, []provenGroup{{key: leaked.Key, id: *leaked.Identity, count: 12}}, rt.t.proven, "kept without its stack")
	assert.Equal(t, evidence.Served, rt.t.evidence.Leak)

	r = rt.report(5*time.Minute, observed(groupOf("app.leak", 12)))
	assert.Empty(t, r.records, "proven once")
	assert.Len(t, rt.asked, 2)

	rt.answer = found{leakAbsent: true}
	r = rt.report(10*time.Minute, observed(groupOf("app.leak", 12)))
	assert.Empty(t, r.records)
	assert.Empty(t, rt.t.proven, "a 404 drops the proofs")
	assert.Empty(t, rt.t.reported, "neither proven nor suspected: may be reported again")

	rt.answer = found{leakErr: errors.New("read: connection reset by peer")}
	rt.t.evidence.LeakAbsentUntil = time.Time{}
	rt.report(15*time.Minute, observed(groupOf("app.leak", 12)))
	assert.Equal(t, evidence.Absent, rt.t.evidence.Leak, "a failed ask is no answer")
	assert.Equal(t, int64(1), rt.t.health.errors[metadata.AttributeErrorTypeConnect], "counted under its cause")
	assert.Zero(t, rt.t.health.failures, "an evidence failure is not a failed scrape")
}

// TestReportCeilingDump suspects a leak in a target above the dump's
// ceiling: the suspicion still fetches the proof and reports the group,
// without the dump, and the held-back dump is counted and said once.
func TestReportCeilingDump(t *testing.T) {
	rt := newReportTest(t, evidence.Policy{OnSuspect: true, Interval: 10 * time.Minute, LeakInterval: 5 * time.Minute, MaxDumpGoroutines: 40})
	rt.answer = found{leakAbsent: true}
	var records []record
	for i := range 30 * 4 {
		r := rt.report(time.Duration(i)*15*time.Second, observed(groupOf("app.pool", 50), groupOf("app.leak", int64(1+4*i))))
		records = append(records, r.records...)
	}
	require.Len(t, records, 1, "the suspicion is reported")
	assert.Equal(t, []evidence.Fetch{{Leak: true, DumpSkipped: true}}, rt.asked, "the proof, not the dump")
	assert.False(t, records[0].waitMinutes.ok, "no dump, no wait")
	assert.Equal(t, int64(1), rt.t.health.evidenceSkipped[evidenceDump])
	assert.Zero(t, rt.t.health.evidenceSkipped[evidenceLeakProfile])
	assert.Equal(t, 1, rt.logs.FilterMessageSnippet("more goroutines than the ceiling").Len())
}

// TestReportProofCappedByItsScrape: the leak profile is fetched after the
// scrape's goroutine profile; a leak that grew in between is proven more
// than the scrape shows. What is reported is capped by the group's count
// at that scrape (a dashboard compares the two); the proof itself is kept
// whole for the next scrape, which shows the growth.
func TestReportProofCappedByItsScrape(t *testing.T) {
	rt := newReportTest(t, evidence.Policy{LeakProfile: true, LeakInterval: 5 * time.Minute, Interval: 10 * time.Minute})
	leaked := groupOf("app.leak", 44)
	rt.answer = found{leak: []provenGroup{{key: leaked.Key, id: *leaked.Identity, count: 44, stack: leaked.Stack}}}

	r := rt.report(0, observed(groupOf("app.leak", 42)))
	require.Len(t, r.leaked, 1)
	assert.Equal(t, int64(42), r.leaked[0].count, "no more proven than the scrape shows")
	assert.Equal(t, int64(44), rt.t.proven[0].count, "the proof kept whole")

	rt.answer = found{}
	r = rt.report(15*time.Second, observed(groupOf("app.leak", 44)))
	require.Len(t, r.leaked, 1)
	assert.Equal(t, int64(44), r.leaked[0].count)
}
