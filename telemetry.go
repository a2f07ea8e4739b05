package goroutinereceiver // import "github.com/goroutinewatch/goroutinereceiver"

import (
	"context"
	"errors"
	"sync"

	"go.opentelemetry.io/collector/component"
	otelattribute "go.opentelemetry.io/otel/attribute"
	otelmetric "go.opentelemetry.io/otel/metric"

	"github.com/goroutinewatch/goroutinereceiver/internal/metadata"
)

// The one mapping of each typed value to its attribute value.
var (
	fetchNames   = [numEvidenceKinds]string{evidenceDump: "dump", evidenceLeakProfile: "leak_profile", evidenceIndex: "index"}
	outcomeNames = [numOutcomes]string{
		outcomeSuccess: "success", outcomeFailure: "failure", outcomeAbsent: "absent",
		outcomeNone: "none", outcomeDiscarded: "discarded",
	}
	guardNames = [numCeilinged]string{evidenceDump: "dump_max_goroutines", evidenceLeakProfile: "leak_profile_max_goroutines"}
)

// totals is the receiver's health over its targets, or one target's: what
// its own telemetry reports.
type totals struct {
	scrapesOK    int64
	scrapeErrors [numErrorTypes]int64 // the failures, by cause
	fetches      [numEvidenceKinds][numOutcomes]int64
	skipped      [numCeilinged]int64
	tracked      int64
	dropped      int64
	saves        [numOutcomes]int64 // success and failure
	restores     [numOutcomes]int64 // success, failure, none, discarded
}

// totalsOf is a target's health, and its tracked groups, as totals.
func totalsOf(h *health, tracked int) totals {
	t := totals{
		scrapesOK: h.scrapesOK, scrapeErrors: h.scrapeErrors, fetches: h.fetches, skipped: h.evidenceSkipped,
		tracked: int64(tracked), dropped: h.dropped,
	}
	t.saves[outcomeSuccess] = h.savesOK
	t.saves[outcomeFailure] = h.stateErrors[stateWrite]
	t.restores[outcomeSuccess] = h.restoresOK
	t.restores[outcomeNone] = h.restoresNone
	t.restores[outcomeFailure] = h.stateErrors[stateRead]
	t.restores[outcomeDiscarded] = h.stateErrors[stateUnreadable]
	return t
}

// add adds o to t.
func (t *totals) add(o *totals) {
	t.scrapesOK += o.scrapesOK
	for i, n := range o.scrapeErrors {
		t.scrapeErrors[i] += n
	}
	for k := range o.fetches {
		for oc, n := range o.fetches[k] {
			t.fetches[k][oc] += n
		}
	}
	for k, n := range o.skipped {
		t.skipped[k] += n
	}
	t.tracked += o.tracked
	t.dropped += o.dropped
	for oc := range o.saves {
		t.saves[oc] += o.saves[oc]
		t.restores[oc] += o.restores[oc]
	}
}

// selfTelemetry reports the receiver's totals in the collector's own
// telemetry. Each target's loop publishes the target's after each of its
// scrapes, a copy taken while no other goroutine writes the target; the
// instruments' callbacks sum them when the collector's telemetry collects.
// No target is read while it is written.
type selfTelemetry struct {
	tb *metadata.TelemetryBuilder
	// receiver is the receiver's id on every observation, as the
	// collector's own receiver metrics carry it: receiver_creator runs one
	// receiver a discovered endpoint, each observing the same instruments.
	receiver otelattribute.KeyValue

	mu      sync.Mutex
	targets []totals
}

func newSelfTelemetry(id component.ID, set component.TelemetrySettings, targets int) (*selfTelemetry, error) {
	tb, err := metadata.NewTelemetryBuilder(set)
	if err != nil {
		return nil, err
	}
	st := &selfTelemetry{tb: tb, receiver: otelattribute.String("receiver", id.String()), targets: make([]totals, targets)}
	err = errors.Join(
		tb.RegisterReceiverGoroutineScrapesCallback(st.observeScrapes),
		tb.RegisterReceiverGoroutineEvidenceFetchesCallback(st.observeFetches),
		tb.RegisterReceiverGoroutineEvidenceSkippedCallback(st.observeSkipped),
		tb.RegisterReceiverGoroutineGroupsTrackedCallback(st.observeTracked),
		tb.RegisterReceiverGoroutineSeriesDroppedCallback(st.observeDropped),
		tb.RegisterReceiverGoroutineStateOperationsCallback(st.observeState),
	)
	if err != nil {
		tb.Shutdown()
		return nil, err
	}
	return st, nil
}

// publish replaces target i's totals with its health h and tracked groups.
func (st *selfTelemetry) publish(i int, h *health, tracked int) {
	t := totalsOf(h, tracked)
	st.mu.Lock()
	st.targets[i] = t
	st.mu.Unlock()
}

// sum returns the totals over the targets.
func (st *selfTelemetry) sum() totals {
	st.mu.Lock()
	defer st.mu.Unlock()
	var t totals
	for i := range st.targets {
		t.add(&st.targets[i])
	}
	return t
}

func (st *selfTelemetry) shutdown() { st.tb.Shutdown() }

func (st *selfTelemetry) observeScrapes(_ context.Context, o otelmetric.Int64Observer) error {
	t := st.sum()
	o.Observe(t.scrapesOK, otelmetric.WithAttributes(st.receiver, otelattribute.String("outcome", outcomeNames[outcomeSuccess])))
	for _, et := range errorTypes {
		if n := t.scrapeErrors[et]; n > 0 {
			o.Observe(n, otelmetric.WithAttributes(st.receiver, otelattribute.String("outcome", outcomeNames[outcomeFailure]), otelattribute.String("error.type", et.String())))
		}
	}
	return nil
}

func (st *selfTelemetry) observeFetches(_ context.Context, o otelmetric.Int64Observer) error {
	t := st.sum()
	for k := range numEvidenceKinds {
		for _, oc := range [...]outcome{outcomeSuccess, outcomeFailure, outcomeAbsent} {
			if n := t.fetches[k][oc]; n > 0 {
				o.Observe(n, otelmetric.WithAttributes(st.receiver, otelattribute.String("evidence", fetchNames[k]), otelattribute.String("outcome", outcomeNames[oc])))
			}
		}
	}
	return nil
}

func (st *selfTelemetry) observeSkipped(_ context.Context, o otelmetric.Int64Observer) error {
	t := st.sum()
	for k, n := range t.skipped {
		if n > 0 {
			o.Observe(n, otelmetric.WithAttributes(st.receiver, otelattribute.String("guard", guardNames[k])))
		}
	}
	return nil
}

func (st *selfTelemetry) observeTracked(_ context.Context, o otelmetric.Int64Observer) error {
	t := st.sum()
	o.Observe(t.tracked, otelmetric.WithAttributes(st.receiver))
	return nil
}

func (st *selfTelemetry) observeDropped(_ context.Context, o otelmetric.Int64Observer) error {
	t := st.sum()
	o.Observe(t.dropped, otelmetric.WithAttributes(st.receiver))
	return nil
}

func (st *selfTelemetry) observeState(_ context.Context, o otelmetric.Int64Observer) error {
	t := st.sum()
	for _, op := range [...]struct {
		name   string
		counts *[numOutcomes]int64
	}{{"save", &t.saves}, {"restore", &t.restores}} {
		for oc, n := range op.counts {
			if n > 0 {
				o.Observe(n, otelmetric.WithAttributes(st.receiver, otelattribute.String("operation", op.name), otelattribute.String("outcome", outcomeNames[oc])))
			}
		}
	}
	return nil
}
