package evidence

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// answer is how the target answers a leak-profile ask in a step.
type answer int

const (
	serves answer = iota
	notFound
	fails // a timeout or a refused body: no answer at all
)

// listing is what the target's index says of the leak profile in a step.
type listing int

const (
	lists      listing = iota
	notLists           // Go 1.26 without the experiment
	cannotTell         // no index page, or not one
)

// step is one scrape of a timeline: when, how many groups turned suspected
// in it, how the target answers a leak ask, and what must be fetched.
type step struct {
	at         time.Duration
	newly      int
	goroutines int64 // the target's, 0 standing for few
	index      listing
	answer     answer
	want       Fetch
	comment    string
}

var t0 = time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)

func TestPlan(t *testing.T) {
	const interval = 10 * time.Minute // evidence_interval
	tests := []struct {
		name     string
		policy   Policy
		timeline []step
		wantLeak Availability
	}{
		{
			name:   "defaults: nothing ever",
			policy: Policy{LeakInterval: 5 * time.Minute, Interval: interval},
			timeline: []step{
				{at: 0},
				{at: time.Minute, newly: 3, comment: "suspicion fetches nothing without on_suspect"},
				{at: time.Hour},
			},
			wantLeak: Unasked,
		},
		{
			name:   "on_suspect: the dump and the proof once per suspicion, at most every interval",
			policy: Policy{OnSuspect: true, LeakInterval: 5 * time.Minute, Interval: interval},
			timeline: []step{
				{at: 0, comment: "nothing suspected: nothing fetched"},
				{at: 15 * time.Minute},
				{at: 16 * time.Minute, newly: 1, want: Fetch{Dump: true, Leak: true}, comment: "suspect"},
				{at: 17 * time.Minute, comment: "still suspected, nothing new"},
				{at: 20 * time.Minute, newly: 2, comment: "within the interval of the last"},
				{at: 26 * time.Minute, newly: 1, want: Fetch{Dump: true, Leak: true}, comment: "interval passed"},
				{at: 27 * time.Minute},
			},
			wantLeak: Served,
		},
		{
			name:   "leak_profile: every leak_profile_interval, from the first scrape",
			policy: Policy{LeakProfile: true, LeakInterval: 5 * time.Minute, Interval: interval},
			timeline: []step{
				{at: 0, want: Fetch{Leak: true}},
				{at: 30 * time.Second},
				{at: 4*time.Minute + 30*time.Second},
				{at: 5 * time.Minute, want: Fetch{Leak: true}},
				{at: 5*time.Minute + 30*time.Second, newly: 1, comment: "a suspicion without on_suspect adds nothing"},
				{at: 10 * time.Minute, want: Fetch{Leak: true}},
			},
			wantLeak: Served,
		},
		{
			name:   "a 404 holds asks back for an hour, suspicion or not",
			policy: Policy{LeakProfile: true, OnSuspect: true, LeakInterval: 5 * time.Minute, Interval: interval},
			timeline: []step{
				{at: 0, answer: notFound, want: Fetch{Leak: true}},
				{at: 5 * time.Minute},
				{at: 20 * time.Minute, newly: 1, want: Fetch{Dump: true}, comment: "the dump still comes"},
				{at: 59 * time.Minute},
				{at: time.Hour, want: Fetch{Leak: true}, comment: "asked again after an hour"},
				{at: 65 * time.Minute, want: Fetch{Leak: true}, comment: "served now: on its interval again"},
			},
			wantLeak: Served,
		},
		{
			name:   "a failed ask is no 404: asked again on the interval",
			policy: Policy{LeakProfile: true, LeakInterval: 5 * time.Minute, Interval: interval},
			timeline: []step{
				{at: 0, answer: fails, want: Fetch{Leak: true}},
				{at: time.Minute},
				{at: 5 * time.Minute, answer: notFound, want: Fetch{Leak: true}},
				{at: 10 * time.Minute},
			},
			wantLeak: Absent,
		},
		{
			name:   "suspicion cleared and raised again fetches anew after the interval",
			policy: Policy{OnSuspect: true, LeakInterval: 5 * time.Minute, Interval: interval},
			timeline: []step{
				{at: 16 * time.Minute, newly: 1, want: Fetch{Dump: true, Leak: true}},
				{at: 30 * time.Minute, comment: "cleared"},
				{at: 40 * time.Minute, newly: 1, want: Fetch{Dump: true, Leak: true}, comment: "raised again"},
			},
			wantLeak: Served,
		},
		{
			name:   "dump mode: a suspicion asks for the proof only",
			policy: Policy{OnSuspect: true, ScrapeDumps: true, LeakInterval: 5 * time.Minute, Interval: interval},
			timeline: []step{
				{at: 16 * time.Minute, newly: 1, want: Fetch{Leak: true}},
				{at: 17 * time.Minute, newly: 1, comment: "within the interval"},
				{at: 27 * time.Minute, newly: 1, answer: notFound, want: Fetch{Leak: true}},
				{at: 40 * time.Minute, newly: 1, comment: "the 404 holds the proof back; the scrape's dump is the rest"},
			},
			wantLeak: Absent,
		},
	}
	tests = append(tests, []struct {
		name     string
		policy   Policy
		timeline []step
		wantLeak Availability
	}{
		{
			name: "ceilings: a target above one is not asked, once an interval, and asked again below it",
			policy: Policy{
				OnSuspect: true, LeakProfile: true, LeakInterval: 5 * time.Minute, Interval: interval,
				MaxDumpGoroutines: 5000, MaxLeakGoroutines: 10000,
			},
			timeline: []step{
				{at: 0, goroutines: 12000, want: Fetch{LeakSkipped: true}, comment: "above the proof's ceiling"},
				{at: time.Minute, goroutines: 12000, comment: "held back once an interval"},
				{at: 5 * time.Minute, goroutines: 8000, want: Fetch{Leak: true}, comment: "below it"},
				{at: 16 * time.Minute, newly: 1, goroutines: 8000, want: Fetch{Leak: true, DumpSkipped: true}, comment: "above the dump's, below the proof's"},
				{at: 17 * time.Minute, newly: 1, goroutines: 4000, comment: "the suspicion's evidence was decided: within its interval"},
				{at: 27 * time.Minute, newly: 1, goroutines: 4000, want: Fetch{Dump: true, Leak: true}},
			},
			wantLeak: Served,
		},
		{
			name:   "the index: a target whose page lists no leak profile is never asked, one whose page lists it is",
			policy: Policy{LeakProfile: true, OnSuspect: true, ReadIndex: true, LeakInterval: 5 * time.Minute, Interval: interval},
			timeline: []step{
				{at: 0, index: notLists, want: Fetch{Index: true}, comment: "the first scrape reads the page, and asks nothing before it knows"},
				{at: 30 * time.Second, comment: "the page said no"},
				{at: 5 * time.Minute, comment: "nor on the interval"},
				{at: 16 * time.Minute, newly: 1, want: Fetch{Dump: true}, comment: "a suspicion's dump, no proof"},
				{at: 61 * time.Minute, index: lists, want: Fetch{Index: true}, comment: "read again an hour on: rebuilt, it lists it now"},
				{at: 61*time.Minute + 30*time.Second, want: Fetch{Leak: true}, comment: "asked at the next scrape"},
				{at: 66 * time.Minute, comment: "then on its interval"},
				{at: 121*time.Minute + 30*time.Second, index: cannotTell, want: Fetch{Index: true, Leak: true}, comment: "a page that cannot tell"},
				{at: 126*time.Minute + 30*time.Second, want: Fetch{Leak: true}, comment: "asked, as without the index"},
			},
			wantLeak: Served,
		},
		{
			name:   "no ceilings: any size is asked",
			policy: Policy{OnSuspect: true, LeakInterval: 5 * time.Minute, Interval: interval},
			timeline: []step{
				{at: 16 * time.Minute, newly: 1, goroutines: 1e6, want: Fetch{Dump: true, Leak: true}},
			},
			wantLeak: Served,
		},
	}...)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s State
			for _, st := range tt.timeline {
				at := t0.Add(st.at)
				var got Fetch
				got, s = tt.policy.Plan(at, s, st.newly, st.goroutines)
				assert.Equal(t, st.want, got, "at %v: %s", st.at, st.comment)
				if got.Index {
					s = s.IndexRead(st.index != cannotTell, st.index == lists)
				}
				if got.Leak {
					assert.Equal(t, at, s.LeakAt, "at %v", st.at)
					switch st.answer {
					case serves:
						s = s.LeakAnswered(at, true)
					case notFound:
						s = s.LeakAnswered(at, false)
					}
				}
			}
			assert.Equal(t, tt.wantLeak, s.Leak)
		})
	}
}

func TestLeakAnswered(t *testing.T) {
	for _, served := range []bool{true, false} {
		t.Run(fmt.Sprint(served), func(t *testing.T) {
			s := State{LeakAt: t0, SuspectAt: t0}.LeakAnswered(t0, served)
			if served {
				assert.Equal(t, State{LeakAt: t0, SuspectAt: t0, Leak: Served}, s)
				return
			}
			assert.Equal(t, State{LeakAt: t0, SuspectAt: t0, Leak: Absent, LeakAbsentUntil: t0.Add(LeakRetry)}, s)
		})
	}
}
