package goroutinereceiver // import "github.com/goroutinewatch/goroutinereceiver"

import (
	"context"
	"hash/fnv"
	"time"
)

// slot is a target's place in the collection interval: its scrapes fall at
// offset past each multiple of the interval since the Unix epoch, the
// offset a hash of the target. A thousand targets scrape at a thousand
// instants spread over the interval, not all at once, and each keeps its
// instant across collector restarts, as Prometheus's scrape loops do.
type slot struct {
	interval, offset time.Duration
}

// slotOf returns the slot of the target whose storage key is key.
func slotOf(key string, interval time.Duration) slot {
	h := fnv.New64a()
	_, _ = h.Write([]byte(key))
	return slot{interval: interval, offset: time.Duration(h.Sum64() % uint64(interval))}
}

// next returns the first instant of the slot at or after at.
func (s slot) next(at time.Time) time.Time {
	into := (at.UnixNano() - int64(s.offset)) % int64(s.interval)
	if into < 0 {
		into += int64(s.interval)
	}
	if into == 0 {
		return at
	}
	return at.Add(s.interval - time.Duration(into))
}

// loop scrapes one target on its own schedule: the first scrape at its slot
// once initial_delay has passed, then one at each slot. A scrape never
// overlaps the target's last: one that outlasts the interval (its stages
// are bounded by timeout, at most the interval, but delivery is not) skips
// the slots it ran past. Its scrapes touch no other target, and wait for
// nothing another target holds but a free worker while a body is read, so
// a target that hangs costs only its own slots.
type loop struct {
	slot   slot
	delay  time.Duration
	scrape func(ctx context.Context)
}

// run scrapes until ctx ends; a scrape under way then ends at once, its
// fetches cancelled.
func (l *loop) run(ctx context.Context) {
	wait := time.NewTimer(time.Until(l.slot.next(time.Now().Add(l.delay))))
	defer wait.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-wait.C:
		}
		// A slot that fell due as the loop was stopped: select takes
		// either, and a stopped receiver starts no scrape.
		if ctx.Err() != nil {
			return
		}
		l.scrape(ctx)
		// The next slot strictly after now: the one after the slot just
		// scraped, or, past a long scrape, the first one left.
		wait.Reset(time.Until(l.slot.next(time.Now().Add(time.Nanosecond))))
	}
}
