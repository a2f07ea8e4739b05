package goroutinereceiver

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/goroutinewatch/goroutinereceiver/internal/evidence"
	"github.com/goroutinewatch/goroutinereceiver/internal/group"
	"github.com/goroutinewatch/goroutinereceiver/internal/state"
	"github.com/goroutinewatch/goroutinereceiver/internal/trend"
)

// savedStates keeps what a target saves, failing while fail is set.
type savedStates struct {
	at   []time.Time
	last []byte
	fail bool
}

func (s *savedStates) save(at time.Time, b []byte) (int, error) {
	if s.fail {
		return len(b), errors.New("database not open")
	}
	s.at, s.last = append(s.at, at), b
	return len(b), nil
}

// leaking reports the scrape at i of a target whose app.leak group grows
// by 4 at each 15-second scrape beside a pool of 50.
func leaking(rt *reportTest, i int) result {
	at := time.Duration(i) * 15 * time.Second
	return rt.report(at, observed(groupOf("app.pool", 50), groupOf("app.leak", int64(1+4*i))))
}

// TestKeepStateTimeline saves a target's state once a bucket of the
// shortest horizon, at the target's own phase; a storage that fails is
// counted at each save, logged once, and its recovery logged.
func TestKeepStateTimeline(t *testing.T) {
	rt := newReportTest(t, evidence.Policy{})
	sv := &savedStates{}
	rt.save = sv.save
	rt.t.restore(t0, nil, nil)
	every := rt.t.saves.every
	require.Equal(t, time.Minute, every, "the 30m horizon's buckets")

	periods := map[int64]bool{rt.t.saves.slotAt(t0): true}
	for i := range 4 * 10 { // ten minutes
		leaking(rt, i)
		periods[rt.t.saves.slotAt(t0.Add(time.Duration(i)*15*time.Second))] = true
	}
	require.Len(t, sv.at, len(periods)-1, "a save a period begun since the start")
	require.GreaterOrEqual(t, len(sv.at), 9)
	for i, at := range sv.at {
		assert.NotEqual(t, rt.t.saves.slotAt(at.Add(-15*time.Second)), rt.t.saves.slotAt(at), "save %d at the first scrape past the target's phase", i)
		if i > 0 {
			assert.Equal(t, every, at.Sub(sv.at[i-1]), "save %d a bucket after the last", i)
		}
	}
	assert.Equal(t, int64(len(sv.last)), rt.t.health.savedBytes)

	sv.fail = true
	for i := 40; i < 40+4*3; i++ {
		leaking(rt, i)
	}
	assert.Equal(t, int64(3), rt.t.health.stateErrors[stateWrite], "a failure a save")
	assert.Equal(t, 1, rt.logs.FilterMessageSnippet("saving the target's leak state failed").Len(), "logged once")
	sv.fail = false
	for i := 52; i < 52+4; i++ {
		leaking(rt, i)
	}
	assert.Equal(t, 1, rt.logs.FilterMessageSnippet("leak state is saved again").Len())
	assert.Len(t, sv.at, len(periods))
}

// TestRestoreContinues restores a target saved while its leak was
// suspected and its evidence fetched: the restored target goes on
// suspecting it from the first scrape, and neither reports it again nor
// fetches its evidence again before the evidence interval.
func TestRestoreContinues(t *testing.T) {
	policy := evidence.Policy{OnSuspect: true, Interval: 10 * time.Minute, LeakProfile: true, LeakInterval: 5 * time.Minute}
	before, after := newReportTest(t, policy), newReportTest(t, policy)
	before.answer = found{leakAbsent: true}
	sv := &savedStates{}
	before.save = sv.save
	before.t.restore(t0, nil, nil)
	var records []record
	i := 0
	for ; len(records) == 0 && i < 4*30; i++ {
		records = append(records, leaking(before, i).records...)
	}
	require.Len(t, records, 1, "suspected, and reported")
	require.NotEmpty(t, before.asked)

	// The collector stops: a save at shutdown, and a start a scrape later.
	saved := before.t.appendState(nil, t0.Add(time.Duration(i)*15*time.Second))
	assert.False(t, after.t.restore(t0.Add(time.Duration(i)*15*time.Second), saved, nil))
	assert.Equal(t, before.t.evidence, after.t.evidence)
	assert.Equal(t, before.t.reported, after.t.reported)
	assert.Equal(t, before.t.suspected, after.t.suspected)

	r := leaking(after, i+1)
	assert.True(t, leakReported(t, r).estimate.Suspected, "suspected from the first scrape after the restart")
	assert.Empty(t, r.records, "reported once, before the restart")
	assert.Empty(t, after.asked, "the evidence of the suspicion was fetched before the restart")
	assert.Equal(t, evidence.Absent, after.t.evidence.Leak)
}

// TestRestoreRefuses starts targets from what is not their state: each is
// discarded (but for a storage that fails to read), logged once naming the
// target, counted, and the target starts afresh and scrapes on.
func TestRestoreRefuses(t *testing.T) {
	rt := newReportTest(t, evidence.Policy{})
	for i := range 4 * 20 {
		leaking(rt, i)
	}
	good := rt.t.appendState(nil, t0.Add(20*time.Minute))
	future := bytes.Clone(good)
	future[4] = state.Version + 1

	other := newReportTest(t, evidence.Policy{})
	other.t.tracker = trend.NewTracker(&trend.Config{Horizons: trend.Horizons([]time.Duration{time.Hour}, 0.1, 10), Z: 2.326}, 10, group.Key.Compare, group.Key.Clone)
	for i := range 4 * 40 {
		leaking(other, i)
	}
	foreign := other.t.appendState(nil, t0.Add(40*time.Minute))

	tests := []struct {
		name        string
		give        []byte
		err         error
		wantDiscard bool
		want        stateError
		wantLog     string
	}{
		{name: "not a state", give: []byte(`{"offset":12}`), wantDiscard: true, want: stateUnreadable, wantLog: "discarding"},
		{name: "a future version", give: future, wantDiscard: true, want: stateUnreadable, wantLog: "discarding"},
		{name: "cut short", give: good[:len(good)/2], wantDiscard: true, want: stateUnreadable, wantLog: "discarding"},
		{name: "other horizons", give: foreign, wantDiscard: true, want: stateUnreadable, wantLog: "discarding"},
		{name: "a storage that fails", err: errors.New("read-only file system"), want: stateRead, wantLog: "reading the target's saved leak state failed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fresh := newReportTest(t, evidence.Policy{})
			assert.Equal(t, tt.wantDiscard, fresh.t.restore(t0.Add(21*time.Minute), tt.give, tt.err))
			assert.Equal(t, int64(1), fresh.t.health.stateErrors[tt.want])
			logged := fresh.logs.FilterMessageSnippet(tt.wantLog)
			require.Equal(t, 1, logged.Len())
			assert.Equal(t, rt.t.resource.url, logged.All()[0].ContextMap()["target"])
			assert.Zero(t, fresh.t.tracker.Len(), "started afresh")
			assert.Equal(t, evidence.State{}, fresh.t.evidence)
			r := leaking(fresh, 4*21)
			require.NoError(t, r.err)
			assert.False(t, leakReported(t, r).estimate.Ready, "no window carried over")
		})
	}
}

// TestSavedIsRestored: whatever a target saves, a target of the same
// settings restores, over random settings and histories that push every
// bound the record is sized by: as many groups as may be tracked, label
// values of max_string_bytes, as many proofs as max_groups keeps, each
// scrape's proofs new. Before, the reports of proven groups were not
// budgeted, and a target could save a record its restore refused.
func TestSavedIsRestored(t *testing.T) {
	for seed := range 30 {
		rng := rand.New(rand.NewPCG(uint64(seed), 21))
		cfg := createDefaultConfig()
		cfg.MaxGroups = 1 + rng.IntN(20)
		cfg.Leak.MaxTrackedGroups = cfg.MaxGroups + rng.IntN(40)
		cfg.Labels = []string{"a", "b", "c"}[:rng.IntN(4)]
		cfg.MaxStringBytes = 1 + rng.IntN(64)
		target := func() *target {
			u, err := targetURL("10.0.0.7:6060")
			require.NoError(t, err)
			leak := cfg.trend()
			return newTarget(u, "app", cfg, leak, zap.NewNop())
		}
		saved := target()
		value := func() string {
			b := make([]byte, rng.IntN(cfg.MaxStringBytes+1))
			for i := range b {
				b[i] = byte(rng.IntN(256))
			}
			return string(b)
		}
		labeled := func(id int) group.Group {
			g := groupOf(fmt.Sprintf("app.f%d", id), int64(1+rng.IntN(100)))
			var key strings.Builder
			for range cfg.Labels {
				v := value()
				fmt.Fprintf(&key, "%d:%s", len(v), v)
			}
			g.Labels = key.String()
			return g
		}
		policy := evidence.Policy{LeakProfile: true, LeakInterval: time.Minute}
		var sc scratch
		for step := range 5 + rng.IntN(40) {
			at := t0.Add(time.Duration(step) * time.Minute)
			var groups []group.Group
			for i := range rng.IntN(2*cfg.Leak.MaxTrackedGroups + 1) {
				groups = append(groups, labeled(i))
			}
			var f found
			for i := range rng.IntN(3*cfg.MaxGroups + 1) {
				g := labeled(1000*step + i)
				f.leak = append(f.leak, provenGroup{key: g.Key, id: *g.Identity, count: g.Count, stack: g.Stack})
				groups = append(groups, g)
			}
			var r result
			o := observed(groups...)
			p := saved.observe(at, &o, policy, profilePolicy{}, &sc, &r)
			saved.apply(at, p, &f, &r)
		}
		b := saved.appendState(nil, t0.Add(time.Hour))
		restored := target()
		require.NoError(t, restored.decodeState(b), "seed %d: %d bytes of at most %d, %d groups, %d reports", seed, len(b), saved.saves.maxBytes, saved.tracker.Len(), len(saved.reported))
		assert.Equal(t, b, restored.appendState(nil, t0.Add(time.Hour)), "seed %d: restored as saved", seed)
	}
}
