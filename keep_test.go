package goroutinereceiver

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/goroutinewatch/goroutinereceiver/internal/evidence"
	"github.com/goroutinewatch/goroutinereceiver/internal/group"
	"github.com/goroutinewatch/goroutinereceiver/internal/state"
	"github.com/goroutinewatch/goroutinereceiver/internal/trend"
)

// saves is a saver that keeps what it is given, failing while fail is set.
type saves struct {
	at   []time.Time
	last []byte
	fail bool
	now  time.Time
}

func (s *saves) saver() saver {
	return func(encode func([]byte) []byte) (int, error) {
		b := encode(nil)
		if s.fail {
			return len(b), errors.New("database not open")
		}
		s.at, s.last = append(s.at, s.now), b
		return len(b), nil
	}
}

// leaking reports the scrape at i of a target whose app.leak group grows
// by 4 at each 15-second scrape beside a pool of 50.
func leaking(rt *reportTest, sv *saves, i int) result {
	at := time.Duration(i) * 15 * time.Second
	sv.now = t0.Add(at)
	return rt.report(at, observed(groupOf("app.pool", 50), groupOf("app.leak", int64(1+4*i))))
}

// TestKeepStateTimeline saves a target's state once a bucket of the
// shortest horizon, at the target's own phase; a storage that fails is
// counted at each save, logged once, and its recovery logged.
func TestKeepStateTimeline(t *testing.T) {
	rt := newReportTest(t, evidence.Policy{})
	sv := &saves{}
	rt.save = sv.saver()
	rt.t.restored(t0, nil, nil)
	every := rt.t.keep.every
	require.Equal(t, time.Minute, every, "the 30m horizon's buckets")

	periods := map[int64]bool{rt.t.keep.slotAt(t0): true}
	for i := range 4 * 10 { // ten minutes
		leaking(rt, sv, i)
		periods[rt.t.keep.slotAt(sv.now)] = true
	}
	require.Len(t, sv.at, len(periods)-1, "a save a period begun since the start")
	require.GreaterOrEqual(t, len(sv.at), 9)
	for i, at := range sv.at {
		assert.NotEqual(t, rt.t.keep.slotAt(at.Add(-15*time.Second)), rt.t.keep.slotAt(at), "save %d at the first scrape past the target's phase", i)
		if i > 0 {
			assert.Equal(t, every, at.Sub(sv.at[i-1]), "save %d a bucket after the last", i)
		}
	}
	assert.Equal(t, int64(len(sv.last)), rt.t.health.savedBytes)

	sv.fail = true
	for i := 40; i < 40+4*3; i++ {
		leaking(rt, sv, i)
	}
	assert.Equal(t, int64(3), rt.t.health.stateErrors[stateWrite], "a failure a save")
	assert.Equal(t, 1, rt.logs.FilterMessageSnippet("saving the target's leak state failed").Len(), "logged once")
	sv.fail = false
	for i := 52; i < 52+4; i++ {
		leaking(rt, sv, i)
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
	sv := &saves{}
	before.save = sv.saver()
	before.t.restored(t0, nil, nil)
	var records []record
	i := 0
	for ; len(records) == 0 && i < 4*30; i++ {
		records = append(records, leaking(before, sv, i).records...)
	}
	require.Len(t, records, 1, "suspected, and reported")
	require.NotEmpty(t, before.asked)

	// The collector stops: a save at shutdown, and a start a scrape later.
	saved := before.t.appendState(nil, t0.Add(time.Duration(i)*15*time.Second))
	assert.False(t, after.t.restored(t0.Add(time.Duration(i)*15*time.Second), saved, nil))
	assert.Equal(t, before.t.evidence, after.t.evidence)
	assert.Equal(t, before.t.reported, after.t.reported)
	assert.Equal(t, before.t.suspected, after.t.suspected)

	r := leaking(after, sv, i+1)
	assert.True(t, r.estimates[1].Suspected, "suspected from the first scrape after the restart")
	assert.Empty(t, r.records, "reported once, before the restart")
	assert.Empty(t, after.asked, "the evidence of the suspicion was fetched before the restart")
	assert.Equal(t, evidence.Absent, after.t.evidence.Leak)
}

// TestRestoredRefuses starts targets from what is not their state: each is
// discarded (but for a storage that fails to read), logged once naming the
// target, counted, and the target starts afresh and scrapes on.
func TestRestoredRefuses(t *testing.T) {
	rt := newReportTest(t, evidence.Policy{})
	sv := &saves{}
	for i := range 4 * 20 {
		leaking(rt, sv, i)
	}
	good := rt.t.appendState(nil, t0.Add(20*time.Minute))
	future := bytes.Clone(good)
	future[4] = state.Version + 1

	other := newReportTest(t, evidence.Policy{})
	other.t.tracker = trend.NewTracker(&trend.Config{Horizons: trend.Horizons([]time.Duration{time.Hour}, 0.1, 10), Z: 2.326}, 10, group.Key.Compare)
	for i := range 4 * 40 {
		leaking(other, sv, i)
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
			assert.Equal(t, tt.wantDiscard, fresh.t.restored(t0.Add(21*time.Minute), tt.give, tt.err))
			assert.Equal(t, int64(1), fresh.t.health.stateErrors[tt.want])
			logged := fresh.logs.FilterMessageSnippet(tt.wantLog)
			require.Equal(t, 1, logged.Len())
			assert.Equal(t, rt.t.resource.url, logged.All()[0].ContextMap()["target"])
			assert.Zero(t, fresh.t.tracker.Len(), "started afresh")
			assert.Equal(t, evidence.State{}, fresh.t.evidence)
			r := leaking(fresh, sv, 4*21)
			require.NoError(t, r.err)
			assert.False(t, r.estimates[1].Ready, "no window carried over")
		})
	}
}
