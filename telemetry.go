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

// outcome is how a scrape, a fetch or a state operation ended, as the
// telemetry's `outcome` attribute names it.
type outcome uint8

const (
	outcomeSuccess   outcome = iota
	outcomeFailure           // an error
	outcomeAbsent            // the target answered 404
	outcomeNone              // a restore found nothing saved
	outcomeDiscarded         // a restore found a state not the target's own
	numOutcomes
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

// totals is the receiver's health over its targets: what its own telemetry
// reports.
type totals struct {
	scrapesOK    int64
	scrapeErrors map[metadata.AttributeErrorType]int64 // the failures, by cause
	fetches      [numEvidenceKinds][numOutcomes]int64
	skipped      [numCeilinged]int64
	tracked      int64
	dropped      int64
	saves        [numOutcomes]int64 // success and failure
	restores     [numOutcomes]int64 // success, failure, none, discarded
}

// add adds a target's health, and its tracked groups, to t.
func (t *totals) add(h *health, tracked int) {
	t.scrapesOK += h.scrapesOK
	for et, n := range h.scrapeErrors {
		t.scrapeErrors[et] += n
	}
	for k := range h.fetches {
		for o, n := range h.fetches[k] {
			t.fetches[k][o] += n
		}
	}
	for k, n := range h.evidenceSkipped {
		t.skipped[k] += n
	}
	t.tracked += int64(tracked)
	t.dropped += h.dropped
	t.saves[outcomeSuccess] += h.savesOK
	t.saves[outcomeFailure] += h.stateErrors[stateWrite]
	t.restores[outcomeSuccess] += h.restoresOK
	t.restores[outcomeNone] += h.restoresNone
	t.restores[outcomeFailure] += h.stateErrors[stateRead]
	t.restores[outcomeDiscarded] += h.stateErrors[stateUnreadable]
}

// selfTelemetry reports the receiver's totals in the collector's own
// telemetry. The totals are taken after each round of scrapes, when no
// worker writes a target, and read by the instruments' callbacks when the
// collector's telemetry collects: the targets are never read while they
// are written.
type selfTelemetry struct {
	tb *metadata.TelemetryBuilder
	// receiver is the receiver's id on every observation, as the
	// collector's own receiver metrics carry it: receiver_creator runs one
	// receiver a discovered endpoint, each observing the same instruments.
	receiver otelattribute.KeyValue

	mu sync.Mutex
	t  totals
}

func newSelfTelemetry(id component.ID, set component.TelemetrySettings) (*selfTelemetry, error) {
	tb, err := metadata.NewTelemetryBuilder(set)
	if err != nil {
		return nil, err
	}
	st := &selfTelemetry{
		tb: tb, receiver: otelattribute.String("receiver", id.String()),
		t: totals{scrapeErrors: map[metadata.AttributeErrorType]int64{}},
	}
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

// take replaces the totals with those of targets.
func (st *selfTelemetry) take(targets []*target) {
	t := totals{scrapeErrors: make(map[metadata.AttributeErrorType]int64, len(errorTypes))}
	for _, tg := range targets {
		t.add(&tg.health, tg.tracker.Len())
	}
	st.mu.Lock()
	st.t = t
	st.mu.Unlock()
}

func (st *selfTelemetry) shutdown() { st.tb.Shutdown() }

func (st *selfTelemetry) observeScrapes(_ context.Context, o otelmetric.Int64Observer) error {
	st.mu.Lock()
	defer st.mu.Unlock()
	o.Observe(st.t.scrapesOK, otelmetric.WithAttributes(st.receiver, otelattribute.String("outcome", outcomeNames[outcomeSuccess])))
	for _, et := range errorTypes {
		if n := st.t.scrapeErrors[et]; n > 0 {
			o.Observe(n, otelmetric.WithAttributes(st.receiver, otelattribute.String("outcome", outcomeNames[outcomeFailure]), otelattribute.String("error.type", et.String())))
		}
	}
	return nil
}

func (st *selfTelemetry) observeFetches(_ context.Context, o otelmetric.Int64Observer) error {
	st.mu.Lock()
	defer st.mu.Unlock()
	for k := range numEvidenceKinds {
		for _, oc := range [...]outcome{outcomeSuccess, outcomeFailure, outcomeAbsent} {
			if n := st.t.fetches[k][oc]; n > 0 {
				o.Observe(n, otelmetric.WithAttributes(st.receiver, otelattribute.String("evidence", fetchNames[k]), otelattribute.String("outcome", outcomeNames[oc])))
			}
		}
	}
	return nil
}

func (st *selfTelemetry) observeSkipped(_ context.Context, o otelmetric.Int64Observer) error {
	st.mu.Lock()
	defer st.mu.Unlock()
	for k, n := range st.t.skipped {
		if n > 0 {
			o.Observe(n, otelmetric.WithAttributes(st.receiver, otelattribute.String("guard", guardNames[k])))
		}
	}
	return nil
}

func (st *selfTelemetry) observeTracked(_ context.Context, o otelmetric.Int64Observer) error {
	st.mu.Lock()
	defer st.mu.Unlock()
	o.Observe(st.t.tracked, otelmetric.WithAttributes(st.receiver))
	return nil
}

func (st *selfTelemetry) observeDropped(_ context.Context, o otelmetric.Int64Observer) error {
	st.mu.Lock()
	defer st.mu.Unlock()
	o.Observe(st.t.dropped, otelmetric.WithAttributes(st.receiver))
	return nil
}

func (st *selfTelemetry) observeState(_ context.Context, o otelmetric.Int64Observer) error {
	st.mu.Lock()
	defer st.mu.Unlock()
	for _, op := range [...]struct {
		name   string
		counts *[numOutcomes]int64
	}{{"save", &st.t.saves}, {"restore", &st.t.restores}} {
		for oc, n := range op.counts {
			if n > 0 {
				o.Observe(n, otelmetric.WithAttributes(st.receiver, otelattribute.String("operation", op.name), otelattribute.String("outcome", outcomeNames[oc])))
			}
		}
	}
	return nil
}
