package goroutinereceiver

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/goroutinewatch/goroutinereceiver/internal/evidence"
	"github.com/goroutinewatch/goroutinereceiver/internal/group"
	"github.com/goroutinewatch/goroutinereceiver/internal/signature"
)

// TestProofRule runs one target through the leak profile's answers as the
// runtime gives them, varying from fetch to fetch (golang/go#79452): the
// group proven keeps the most goroutines any proof found, capped at what
// the scrape shows, until a scrape shows none of it, another process is
// scraped, or the target stops serving the profile.
func TestProofRule(t *testing.T) {
	leak := groupOf("app.leak", 0)
	proof := func(n int64) found {
		return found{leak: []provenGroup{{key: leak.Key, id: *leak.Identity, count: n, stack: leak.Stack}}}
	}
	scrape := func(n int64) observation {
		o := observed(groupOf("app.pool", 50), groupOf("app.leak", n))
		if n == 0 {
			o = observed(groupOf("app.pool", 50))
		}
		return o
	}
	steps := []struct {
		name       string
		answer     found // the leak profile's answer, fetched at every step
		goroutines int64 // of the group, in the scrape
		instance   uint64
		want       int64 // go.goroutine.group.leaked, 0: no point
	}{
		{"a fresh process's first fetch proves nothing", found{}, 10, 7, 0},
		{"proven", proof(10), 12, 7, 10},
		{"a fetch that proves fewer", proof(4), 14, 7, 10},
		{"a fetch that proves none", found{}, 14, 7, 10},
		{"more proven", proof(14), 14, 7, 14},
		{"the scrape shows fewer", found{}, 9, 7, 9},
		{"and more again: the cap holds", found{}, 20, 7, 9},
		{"the group gone", found{}, 0, 7, 0},
		{"back, unproven", found{}, 20, 7, 0},
		{"proven again", proof(20), 20, 7, 20},
		{"another process", found{}, 20, 8, 0},
		{"proven in it", proof(5), 20, 8, 5},
		{"the profile no longer served", found{leakAbsent: true}, 20, 8, 0},
	}
	rt := newReportTest(t, evidence.Policy{LeakProfile: true, LeakInterval: time.Minute})
	for i, step := range steps {
		rt.answer = step.answer
		o := scrape(step.goroutines)
		o.instance = step.instance
		r := rt.report(time.Duration(i)*time.Minute, o)
		var got int64
		for _, p := range r.leaked {
			if p.key == leak.Key {
				got = p.count
			}
		}
		assert.Equal(t, step.want, got, "step %d: %s", i, step.name)
		assert.Equal(t, step.want > 0, rt.t.reported[leak.ID], "step %d: %s: reported while proven", i, step.name)
	}
}

// TestProofsAfter: a fresh proof and the proofs kept merge by group at the
// larger count, the largest kept, none with its stack.
func TestProofsAfter(t *testing.T) {
	p := func(id signature.ID, n int64) provenGroup { return provenGroup{key: group.Key{ID: id}, count: n} }
	fresh := func(ps ...provenGroup) []provenGroup {
		for i := range ps {
			ps[i].stack = []signature.Frame{{Function: "app.leak"}}
		}
		return ps
	}
	tests := []struct {
		name        string
		kept, fresh []provenGroup
		most        int
		want        []provenGroup
	}{
		{"first", nil, fresh(p(1, 5), p(2, 3)), 10, []provenGroup{p(1, 5), p(2, 3)}},
		{"the larger count", []provenGroup{p(1, 5)}, fresh(p(1, 3), p(2, 4)), 10, []provenGroup{p(1, 5), p(2, 4)}},
		{"a group the fresh proof misses", []provenGroup{p(3, 9)}, fresh(p(1, 2)), 10, []provenGroup{p(3, 9), p(1, 2)}},
		{"the largest kept", []provenGroup{p(3, 9)}, fresh(p(1, 2), p(2, 7)), 2, []provenGroup{p(3, 9), p(2, 7)}},
		{"equals by key", nil, fresh(p(2, 1), p(1, 1)), 10, []provenGroup{p(1, 1), p(2, 1)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, proofsAfter(tt.kept, tt.fresh, tt.most))
		})
	}
}
