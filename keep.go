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

// keeping is where and when a target's state is saved, with `storage`.
type keeping struct {
	// key is the target's record in the storage.
	key string
	// every is how often the state is saved: once a bucket of the shortest
	// horizon, when the judgment can have changed. phase is the target's
	// own offset into that period, so that a collector of many targets
	// spreads its saves over the period instead of making them all at once.
	every, phase time.Duration
	// slot is the period of the last save (or of the start).
	slot int64
	// maxBytes is the largest record the target's settings can write:
	// a larger one read back is not the target's.
	maxBytes int
	// failing is set while saves fail: the first failure is logged, the
	// others only counted, and the next success logged again.
	failing bool
}

func newKeeping(url string, leak *trend.Config, maxTracked, labels, maxStringBytes int) keeping {
	k := keeping{
		key:      state.Key(url),
		every:    leak.Width(),
		maxBytes: state.MaxBytes(maxTracked, len(leak.Horizons), labels*(maxStringBytes+10)),
	}
	h := fnv.New64a()
	_, _ = h.Write([]byte(k.key))
	k.phase = time.Duration(h.Sum64() % uint64(k.every))
	return k
}

// slotAt is the period of the target's saves that at falls in.
func (k *keeping) slotAt(at time.Time) int64 {
	return (at.UnixNano() - int64(k.phase)) / int64(k.every)
}

// saver writes a target's state: encode appends the record to the buffer
// the saver owns, and the saver stores it, returning its size.
type saver func(encode func([]byte) []byte) (int, error)

// keepState saves the target's state when a new period of its saves has
// begun since the last, with save (nil without `storage`).
func (t *target) keepState(at time.Time, save saver) {
	if save == nil {
		return
	}
	slot := t.keep.slotAt(at)
	if slot == t.keep.slot {
		return
	}
	t.keep.slot = slot
	t.saved(save(func(dst []byte) []byte { return t.appendState(dst, at) }))
}

// saved applies the outcome of a save.
func (t *target) saved(n int, err error) {
	if err != nil {
		t.health.stateErrors[stateWrite]++
		if !t.keep.failing {
			t.logger.Warn("saving the target's leak state failed; it is kept in memory, and saved again at the next bucket",
				zap.String("target", t.resource.url), zap.Error(err))
		}
		t.keep.failing = true
		return
	}
	if t.keep.failing {
		t.logger.Info("the target's leak state is saved again", zap.String("target", t.resource.url))
	}
	t.keep.failing = false
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

// restored applies what the storage held for the target at the start, at:
// b is its record (nil when there is none) and err the storage's failure
// to read it. It reports whether the record is to be deleted: one that is
// not the target's own is discarded, logged once and counted, and the
// target starts afresh, as without storage.
func (t *target) restored(at time.Time, b []byte, err error) (discard bool) {
	t.keep.slot = t.keep.slotAt(at)
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
	if err := t.restore(b); err != nil {
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

// keptInMemory counts a storage that failed to open: the target starts
// afresh and its state is not saved until the collector restarts. The
// receiver logs it once, for every target.
func (t *target) keptInMemory() { t.health.stateErrors[stateRead]++ }

// restore replaces the target's state with its record b, or leaves it as
// new and says why b is not one.
func (t *target) restore(b []byte) error {
	rec, err := state.Decode(b, t.keep.maxBytes)
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
