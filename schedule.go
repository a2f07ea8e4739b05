package goroutinereceiver // import "github.com/goroutinewatch/goroutinereceiver"

import (
	"context"
	"sync"
	"time"
)

// schedule runs the scrapes: the first after initial_delay, then one each
// collection_interval. A scrape that outlasts the interval delays the next
// rather than overlapping it, as the collector's scraper controller does:
// each target's deadline (timeout) keeps a scrape within the interval.
type schedule struct {
	interval, delay time.Duration
	round           func(context.Context)

	done chan struct{}
	wg   sync.WaitGroup
}

func newSchedule(interval, delay time.Duration, round func(context.Context)) *schedule {
	return &schedule{interval: interval, delay: delay, round: round, done: make(chan struct{})}
}

// start runs the rounds until stop, under a context that outlives the
// start's own: a receiver's start context ends with its start.
func (sc *schedule) start(ctx context.Context) {
	ctx = context.WithoutCancel(ctx)
	sc.wg.Go(func() {
		if sc.delay > 0 {
			select {
			case <-time.After(sc.delay):
			case <-sc.done:
				return
			}
		}
		ticker := time.NewTicker(sc.interval)
		defer ticker.Stop()
		for {
			sc.round(ctx)
			// A round that ran past a tick finds both ready; shutting down
			// comes first.
			select {
			case <-sc.done:
				return
			default:
			}
			select {
			case <-ticker.C:
			case <-sc.done:
				return
			}
		}
	})
}

// stop ends the rounds and waits for the one under way.
func (sc *schedule) stop() {
	close(sc.done)
	sc.wg.Wait()
}
