package goroutinereceiver // import "github.com/goroutinewatch/goroutinereceiver"

import (
	"hash/fnv"
	"maps"
	"slices"
	"time"

	"go.uber.org/zap"

	"github.com/goroutinewatch/goroutinereceiver/internal/group"
	"github.com/goroutinewatch/goroutinereceiver/internal/state"
	"github.com/goroutinewatch/goroutinereceiver/internal/trend"
)

// A target's state (its leak windows, suspicions, evidence times and
// reports) is saved with `storage` and restored at the next start. saves is
// where and when it is saved; the target's methods below decide when a save
// is due, encode the state, and take the outcome of a save or a restore.
// The loop and the scraper do the storage's I/O.
type saves struct {
	// key is the target's record in the storage.
	key string
	// every is how often the state is saved: once a bucket of the shortest
	// horizon, when the judgment can have changed. phase is the target's
	// own offset into that period, so that a collector of many targets
	// spreads its saves over the period instead of making them all at once.
	every, phase time.Duration
	// slot is the period of the last save (or of the start).
	slot int64
	// maxBytes is the largest record the target's settings can write, and
	// so the largest one read back that can be the target's.
	maxBytes int
	// failing is set while saves fail: the first failure is logged, the
	// others only counted, and the next success logged again.
	failing bool
}

func newSaves(url string, leak *trend.Config, cfg *Config) saves {
	s := saves{
		key:   state.Key(url),
		every: leak.Width(),
		// The tracker follows at most max_tracked_groups groups, and the
		// reports are those suspected (tracked) and those proven (at most
		// max_groups).
		maxBytes: state.MaxBytes(cfg.Leak.MaxTrackedGroups, cfg.Leak.MaxTrackedGroups+cfg.MaxGroups,
			len(leak.Horizons), len(cfg.Labels)*(cfg.MaxStringBytes+10)),
	}
	h := fnv.New64a()
	_, _ = h.Write([]byte(s.key))
	s.phase = time.Duration(h.Sum64() % uint64(s.every))
	return s
}

// slotAt is the period of the target's saves that at falls in.
func (s *saves) slotAt(at time.Time) int64 {
	return (at.UnixNano() - int64(s.phase)) / int64(s.every)
}

// saveDue reports whether a new period of the target's saves has begun
// since the last save, and marks it saved: the caller saves the state now.
func (t *target) saveDue(at time.Time) bool {
	slot := t.saves.slotAt(at)
	if slot == t.saves.slot {
		return false
	}
	t.saves.slot = slot
	return true
}

// saved applies the outcome of a save of n bytes.
func (t *target) saved(n int, err error) {
	if err != nil {
		t.health.stateErrors[stateWrite]++
		if !t.saves.failing {
			t.logger.Warn("saving the target's leak state failed; it is kept in memory, and saved again at the next bucket",
				zap.String("target", t.resource.url), zap.Error(err))
		}
		t.saves.failing = true
		return
	}
	if t.saves.failing {
		t.logger.Info("the target's leak state is saved again", zap.String("target", t.resource.url))
	}
	t.saves.failing = false
	t.health.savesOK++
	t.health.savedBytes = int64(n)
}

// appendState appends the target's record, as of at, to dst.
func (t *target) appendState(dst []byte, at time.Time) []byte {
	rec := state.Record{
		SavedAt:  at,
		Evidence: t.evidence,
		Reported: slices.Sorted(maps.Keys(t.reported)),
	}
	return rec.AppendTo(dst, func(b []byte) []byte { return t.tracker.AppendTo(b, state.AppendKey) })
}

// restore applies what the storage held for the target at the start, at:
// b is its record (nil when there is none) and err the storage's failure
// to read it. It reports whether the record is to be deleted: one that is
// not the target's own is discarded, logged once and counted, and the
// target starts afresh, as without storage.
func (t *target) restore(at time.Time, b []byte, err error) (discard bool) {
	t.saves.slot = t.saves.slotAt(at)
	switch {
	case err != nil:
		t.health.stateErrors[stateRead]++
		t.logger.Warn("reading the target's saved leak state failed; starting afresh",
			zap.String("target", t.resource.url), zap.Error(err))
		return false
	case b == nil:
		t.health.restoresNone++
		return false
	}
	if err := t.decodeState(b); err != nil {
		t.forgetState()
		t.health.stateErrors[stateUnreadable]++
		t.logger.Warn("discarding the target's saved leak state; starting afresh",
			zap.String("target", t.resource.url), zap.Error(err))
		return true
	}
	t.health.restoresOK++
	t.logger.Debug("restored the target's leak state",
		zap.String("target", t.resource.url), zap.Int("groups", t.tracker.Len()), zap.Int("bytes", len(b)))
	return false
}

// storageFailed counts a storage that failed to open: the target starts
// afresh and its state is not saved until the collector restarts. The
// receiver logs it once, for every target.
func (t *target) storageFailed() { t.health.stateErrors[stateRead]++ }

// decodeState replaces the target's state with its record b, or says why b
// is not one.
func (t *target) decodeState(b []byte) error {
	rec, err := state.Decode(b, t.saves.maxBytes)
	if err != nil {
		return err
	}
	if err := t.tracker.Restore(rec.Tracker, state.ReadKey); err != nil {
		return err
	}
	t.evidence = rec.Evidence
	for _, id := range rec.Reported {
		t.reported[id] = true
	}
	// The groups suspected when it was saved are not newly suspected at
	// the next scrape: no second record, no evidence fetched again.
	t.tracker.Suspected(func(k group.Key) { t.suspected[k] = true })
	return nil
}
