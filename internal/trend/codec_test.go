package trend

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func appendKey(dst []byte, k string) []byte { return append(dst, k...) }
func readKey(b []byte) (string, error)      { return string(b), nil }

// scenario is a target of three groups under the default horizons, one
// scrape a minute: a leak of one goroutine a minute, a flat pool and a
// noisy one.
type scenario struct{ instance func(at time.Duration) uint64 }

func (s scenario) observe(tr *Tracker[string], at time.Duration, out []Estimate) (Estimate, []Estimate) {
	inst := uint64(1)
	if s.instance != nil {
		inst = s.instance(at)
	}
	m := at.Minutes()
	counts := []float64{math.Floor(5 + m), 40, 30 + float64(int(m)%7)}
	return tr.Observe(t0.Add(at), inst, counts[0]+counts[1]+counts[2]+20, []string{"leak", "pool", "noisy"}, counts, out, nil)
}

func saved(tr *Tracker[string]) []byte { return tr.AppendTo(nil, appendKey) }

// TestSaveRestore saves a tracker in the middle of a leak, restores it into
// a new one after a downtime, and runs both on: the restored one's saved
// form is the saved one's, and it flags the leak within one bucket of the
// shortest horizon of when a tracker that never stopped does. A target
// restarted during the downtime starts afresh.
func TestSaveRestore(t *testing.T) {
	cfg := defaults()
	width := cfg.Horizons[0].width()
	tests := []struct {
		name     string
		down     time.Duration // from the save to the first scrape after it
		restart  bool          // the target restarts while the collector is down
		wantFlag bool          // the restored tracker flags the leak
	}{
		{name: "no downtime", down: time.Minute, wantFlag: true},
		{name: "killed between saves", down: 90 * time.Second, wantFlag: true},
		{name: "down ten minutes", down: 10 * time.Minute, wantFlag: true},
		{name: "down three days", down: 72 * time.Hour, wantFlag: true},
		{name: "target restarted while down", down: 10 * time.Minute, restart: true, wantFlag: true},
	}
	const saveAt = 8 * time.Minute
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var sc scenario
			if tt.restart {
				sc.instance = func(at time.Duration) uint64 {
					if at <= saveAt {
						return 1
					}
					return 2
				}
			}
			// The tracker that never stops, and the one that is saved.
			always, before := NewTracker(&cfg, 10, strings.Compare, nil), NewTracker(&cfg, 10, strings.Compare, nil)
			var est []Estimate
			var flagAlways, flagRestored time.Duration = -1, -1
			for at := time.Duration(0); at <= saveAt; at += time.Minute {
				sc.observe(before, at, nil)
			}
			blob := saved(before)

			after := NewTracker(&cfg, 10, strings.Compare, nil)
			require.NoError(t, after.Restore(blob, readKey))
			assert.Equal(t, blob, saved(after), "the restored tracker's saved form")

			for at := time.Duration(0); at <= saveAt+tt.down+2*time.Hour; at += time.Minute {
				if _, est = sc.observe(always, at, est); est[0].Suspected && flagAlways < 0 {
					flagAlways = at
				}
				if at < saveAt+tt.down {
					continue
				}
				var total Estimate
				total, est = sc.observe(after, at, est)
				if at == saveAt+tt.down {
					if tt.restart {
						assert.False(t, est[0].Ready, "the restarted target's windows start afresh")
					} else {
						gapOnly(t, after.find("leak"), &cfg, saveAt, tt.down)
					}
				}
				assert.GreaterOrEqual(t, total.Growth, 0.0, "total growth at %v", at)
				assert.False(t, est[1].Suspected || est[2].Suspected, "a healthy group flagged at %v", at)
				if est[0].Suspected && flagRestored < 0 {
					flagRestored = at
				}
			}
			require.Positive(t, flagAlways)
			require.Equal(t, tt.wantFlag, flagRestored >= 0)
			// A restart within a bucket or two costs at most a bucket; a
			// longer downtime leaves a gap the newest half of the window
			// must fill again before the flag is raised.
			if tt.down <= 2*width && !tt.restart {
				assert.LessOrEqual(t, flagRestored, flagAlways+width, "flagged later than a tracker that never stopped")
			}
		})
	}
}

// gapOnly checks that the downtime shows in every window of s as buckets
// with no point, never as points of zero.
func gapOnly(t *testing.T, s *Series, cfg *Config, saveAt, down time.Duration) {
	t.Helper()
	for i := range s.h {
		h := &cfg.Horizons[i]
		pts := s.h[i].w.Points(h.width(), nil)
		for _, p := range pts {
			assert.Positive(t, p.V, "horizon %v: a zero", h.Window)
		}
		// The window's start, from the epoch, puts each point in time.
		start := time.Duration(s.h[i].w.Head()-Buckets+1) * h.width()
		for _, p := range pts[:len(pts)-1] {
			at := start + time.Duration(p.T*float64(time.Second)) - time.Duration(t0.UnixNano())
			assert.False(t, at > saveAt+h.width() && at < saveAt+down-h.width(), "horizon %v: a point at %v, in the downtime", h.Window, at)
		}
	}
}

// TestRestoreRefuses feeds saved forms that are not a tracker's: every one
// is refused with its cause, and leaves the tracker empty, as if new.
func TestRestoreRefuses(t *testing.T) {
	cfg := defaults()
	tr := NewTracker(&cfg, 10, strings.Compare, nil)
	for at := time.Duration(0); at <= 20*time.Minute; at += time.Minute {
		scenario{}.observe(tr, at, nil)
	}
	good := saved(tr)
	other := single(time.Hour, 0.1)
	dupKey := func([]byte) (string, error) { return "same", nil }
	badKey := func([]byte) (string, error) { return "", errors.New("not a key") }
	tests := []struct {
		name string
		give []byte
		cfg  *Config
		key  func([]byte) (string, error)
		want error
	}{
		{name: "other horizons", give: good, cfg: &other, want: ErrForeign},
		{name: "empty", give: nil, want: ErrMalformed},
		{name: "a byte more", give: append(bytes.Clone(good), 0), want: ErrMalformed},
		{name: "a key twice", give: good, key: dupKey, want: ErrMalformed},
		{name: "a key refused", give: good, key: badKey, want: ErrMalformed},
		{name: "a billion groups", give: withGroups(good, 1e9), want: ErrMalformed},
		{name: "a base not a number", give: withFloat(good, math.NaN()), want: ErrMalformed},
	}
	for n := 1; n < len(good); n++ {
		tests = append(tests, struct {
			name string
			give []byte
			cfg  *Config
			key  func([]byte) (string, error)
			want error
		}{name: fmt.Sprintf("cut at %d of %d", n, len(good)), give: good[:n], want: ErrMalformed})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, key := &cfg, readKey
			if tt.cfg != nil {
				c = tt.cfg
			}
			if tt.key != nil {
				key = tt.key
			}
			r := NewTracker(c, 10, strings.Compare, nil)
			err := r.Restore(tt.give, key)
			require.ErrorIs(t, err, tt.want)
			assert.Zero(t, r.Len())
			_, ok := r.total.Last()
			assert.False(t, ok, "the total kept a window")
			assert.Zero(t, r.instance, "the fingerprint kept")
		})
	}
}

// withGroups returns good, a saved form of the default horizons, with its
// group count replaced by n. The count follows the total's series: it is
// the last byte of good's tracker saved without its groups.
func withGroups(good []byte, n uint64) []byte {
	cfg := defaults()
	tr := NewTracker(&cfg, 10, strings.Compare, nil)
	if err := tr.Restore(good, readKey); err != nil {
		panic(err)
	}
	tr.groups = nil
	at := len(saved(tr)) - 1
	return append(appendUvarint(bytes.Clone(good[:at]), n), good[at+1:]...)
}

// withFloat returns good with the base of the total's first window, after
// the horizons, the instance, the last total and the window's head,
// replaced by f.
func withFloat(good []byte, f float64) []byte {
	at := 0
	for range len(defaults().Horizons) + 1 {
		at += uvarintLenAt(good[at:])
	}
	at += 16
	at += uvarintLenAt(good[at:])
	b := bytes.Clone(good)
	binary.LittleEndian.PutUint32(b[at:], math.Float32bits(float32(f)))
	return b
}

func appendUvarint(b []byte, v uint64) []byte { return binary.AppendUvarint(b, v) }

func uvarintLenAt(b []byte) int {
	for i, c := range b {
		if c < 0x80 {
			return i + 1
		}
	}
	return len(b)
}

// TestRestoreKeepsTheLargest restores into a tracker that follows fewer
// groups than were saved: the largest are kept.
func TestRestoreKeepsTheLargest(t *testing.T) {
	cfg := defaults()
	tr := NewTracker(&cfg, 10, strings.Compare, nil)
	for at := time.Duration(0); at <= 10*time.Minute; at += time.Minute {
		scenario{}.observe(tr, at, nil)
	}
	small := NewTracker(&cfg, 2, strings.Compare, nil)
	require.NoError(t, small.Restore(saved(tr), readKey))
	assert.Equal(t, 2, small.Len())
	assert.Equal(t, []string{"noisy", "pool"}, followed(small))
}

// TestSavedSize is the saved bytes of a series of the default horizons,
// with every window full, and a scrape a minute: docs/state.md quotes it.
func TestSavedSize(t *testing.T) {
	const n = 100
	cfg := defaults()
	empty := saved(NewTracker(&cfg, n, strings.Compare, nil))
	tr := NewTracker(&cfg, n, strings.Compare, nil)
	keys := make([]string, n)
	counts := make([]float64, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("%08d", i)
	}
	var est []Estimate
	for at := time.Duration(0); at <= 50*time.Hour; at += time.Minute {
		for i := range counts {
			counts[i] = float64(i%200) + math.Floor(at.Hours())
		}
		_, est = tr.Observe(t0.Add(at), 1, 1e5, keys, counts, est, nil)
	}
	perGroup := float64(len(saved(tr))-len(empty))/n - 9 // the key and its length
	t.Logf("saved: %d bytes with no group, %.0f bytes a group beside its key", len(empty), perGroup)
	assert.LessOrEqual(t, perGroup, 220.0)
}

// FuzzRestore: no input crashes Restore, and what it accepts it saves
// again as it read it.
func FuzzRestore(f *testing.F) {
	cfg := defaults()
	tr := NewTracker(&cfg, 10, strings.Compare, nil)
	for at := time.Duration(0); at <= 20*time.Minute; at += time.Minute {
		scenario{}.observe(tr, at, nil)
	}
	f.Add(saved(tr))
	f.Add(saved(NewTracker(&cfg, 10, strings.Compare, nil)))
	f.Fuzz(func(t *testing.T, b []byte) {
		r := NewTracker(&cfg, 10, strings.Compare, nil)
		if err := r.Restore(b, readKey); err != nil {
			return
		}
		again := NewTracker(&cfg, 10, strings.Compare, nil)
		require.NoError(t, again.Restore(saved(r), readKey))
		assert.Equal(t, saved(r), saved(again))
	})
}
