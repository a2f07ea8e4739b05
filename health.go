package goroutinereceiver // import "github.com/goroutinewatch/goroutinereceiver"

import (
	"context"
	"errors"
	"net"

	"github.com/goroutinewatch/goroutinereceiver/internal/decode"
	"github.com/goroutinewatch/goroutinereceiver/internal/dump"
	"github.com/goroutinewatch/goroutinereceiver/internal/fetch"
	"github.com/goroutinewatch/goroutinereceiver/internal/group"
	"github.com/goroutinewatch/goroutinereceiver/internal/limit"
	"github.com/goroutinewatch/goroutinereceiver/internal/metadata"
)

// errPanic reports a panic while reading a target: a bug, turned into that
// target's error so that the receiver and the other targets go on.
var errPanic = errors.New("internal error")

// forgetAfter is how many failed scrapes in a row free a target's leak
// windows: a target that went away must not hold memory, and one that comes
// back after that long starts afresh anyway.
const forgetAfter = 3

// health is how a target's scrapes went since the receiver started: the
// cumulative counters its scrape metrics report. Every counter is a fixed
// array indexed by a typed value, so that a copy of it (what a result
// carries to the emitter, what the telemetry sums) shares nothing with the
// target. Only the target's stages write it; scraped counts each scrape
// once.
type health struct {
	// errors counts failed fetches by cause (indexed by the
	// metadata.AttributeErrorType value): scrapes, and the evidence
	// fetched beside them.
	errors [numErrorTypes]int64
	// limits counts scrapes that reached a limit, by limit.
	limits [numLimits]int64
	// failures counts failed scrapes in a row, and lastError is the cause
	// of the last of them: a run of failures of one cause is one line in
	// the log.
	failures  int
	lastError metadata.AttributeErrorType
	// dumpsCut counts dumps that ended inside a goroutine, scraped or
	// fetched as evidence.
	dumpsCut int64
	// stateErrors counts failures to keep the target's state, by what
	// failed; savedBytes is the size of the last state saved (0: none).
	stateErrors [numStateErrors]int64
	savedBytes  int64
	// evidenceSkipped counts the evidence fetches a ceiling held back, by
	// fetch.
	evidenceSkipped [numCeilinged]int64

	// For the collector's own telemetry (telemetry.go): scrapes that
	// succeeded and, by cause, failed (errors holds the evidence's
	// failures too); evidence fetches by kind and outcome; groups summed
	// into other or left out of a proof's series; states saved, and
	// restored or found absent at start (the failures are stateErrors').
	scrapesOK    int64
	scrapeErrors [numErrorTypes]int64
	fetches      [numEvidenceKinds][numOutcomes]int64
	dropped      int64
	savesOK      int64
	restoresOK   int64
	restoresNone int64
}

// The sizes of health's arrays: the generated enums and the limits start
// at 1, so that 0 is no value.
const (
	numErrorTypes = len(errorTypes) + 1
	numLimits     = len(limit.All) + 1
)

// scraped counts one scrape: its error, or the limits it was cut by. It
// reports whether the scrape changed whether the target is up, and so is
// worth a line in the log: the first failure of a run, a failure of
// another cause, the first success after failures.
func (h *health) scraped(o *observation, err error) (changed bool) {
	if err != nil {
		et := errorType(err)
		changed = h.failures == 0 || h.lastError != et
		h.failures++
		h.lastError = et
		h.errors[et]++
		h.scrapeErrors[et]++
		if l, ok := limit.Of(err); ok {
			h.limits[l]++
		}
		return changed
	}
	changed = h.failures > 0
	h.failures, h.lastError = 0, 0
	h.scrapesOK++
	if o.groups.StacksCut > 0 {
		h.limits[limit.MaxFrames]++
	}
	if o.stringsCut > 0 {
		h.limits[limit.MaxStringBytes]++
	}
	if o.groups.DumpCut {
		h.dumpsCut++
	}
	return changed
}

// evidenceFailed counts a failed evidence fetch: its cause only, since the
// scrape it came with went on.
func (h *health) evidenceFailed(err error) {
	h.errors[errorType(err)]++
}

// fetched counts an evidence fetch of kind k by how it ended.
func (h *health) fetched(k evidenceKind, o outcome) { h.fetches[k][o]++ }

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

// errorTypes lists the causes in the order their counters are emitted.
var errorTypes = [...]metadata.AttributeErrorType{
	metadata.AttributeErrorTypeConnect,
	metadata.AttributeErrorTypeTimeout,
	metadata.AttributeErrorTypeHTTPStatus,
	metadata.AttributeErrorTypeLimit,
	metadata.AttributeErrorTypeDecode,
	metadata.AttributeErrorTypeNotGoroutineProfile,
	metadata.AttributeErrorTypeInternal,
}

// errorType is the one mapping of a failed fetch to its error.type. What no
// stage names is a failure to get an answer at all: refused, DNS, TLS,
// redirects.
func errorType(err error) metadata.AttributeErrorType {
	var (
		status *fetch.StatusError
		netErr net.Error
	)
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		return metadata.AttributeErrorTypeTimeout
	case errors.As(err, &status):
		return metadata.AttributeErrorTypeHTTPStatus
	case errors.Is(err, limit.ErrLimit):
		return metadata.AttributeErrorTypeLimit
	case errors.Is(err, errPanic):
		return metadata.AttributeErrorTypeInternal
	case errors.Is(err, decode.ErrMalformed), errors.Is(err, dump.ErrMalformed):
		return metadata.AttributeErrorTypeDecode
	case errors.Is(err, group.ErrNotGoroutineProfile):
		return metadata.AttributeErrorTypeNotGoroutineProfile
	}
	return metadata.AttributeErrorTypeConnect
}

// limitAttribute is the one mapping of a limit to its `limit` attribute.
func limitAttribute(l limit.Limit) metadata.AttributeLimit {
	switch l {
	case limit.MaxBodyBytes:
		return metadata.AttributeLimitMaxBodyBytes
	case limit.MaxProfileBytes:
		return metadata.AttributeLimitMaxProfileBytes
	case limit.MaxSamples:
		return metadata.AttributeLimitMaxSamples
	case limit.MaxLocations:
		return metadata.AttributeLimitMaxLocations
	case limit.MaxMessageBytes:
		return metadata.AttributeLimitMaxMessageBytes
	case limit.CompressionRatio:
		return metadata.AttributeLimitCompressionRatio
	case limit.MaxFrames:
		return metadata.AttributeLimitMaxFrames
	case limit.MaxStringBytes:
		return metadata.AttributeLimitMaxStringBytes
	}
	return 0
}

// stateError is what failed in keeping a target's state in the storage.
type stateError uint8

const (
	stateRead       stateError = iota // the storage failed to read the state
	stateWrite                        // the storage failed to save it
	stateUnreadable                   // the saved state was not a state of ours
	numStateErrors                    // how many there are
)

// stateAttribute is the one mapping of a stateError to its
// goroutine.state.error attribute.
func stateAttribute(e stateError) metadata.AttributeGoroutineStateError {
	switch e {
	case stateRead:
		return metadata.AttributeGoroutineStateErrorRead
	case stateWrite:
		return metadata.AttributeGoroutineStateErrorWrite
	case stateUnreadable:
		return metadata.AttributeGoroutineStateErrorUnreadable
	}
	return 0
}

// evidenceKind is a fetch beside the scrape: first the costly ones, which
// a ceiling can hold back (goroutine.evidence names them), then the index.
type evidenceKind uint8

const (
	evidenceDump        evidenceKind = iota // the debug=2 dump
	evidenceLeakProfile                     // the goroutineleak profile
	evidenceIndex                           // the /debug/pprof/ index
	numEvidenceKinds                        // how many there are

	numCeilinged = evidenceIndex // the kinds before it have a ceiling
)

// evidenceAttribute is the one mapping of an evidenceKind to its
// goroutine.evidence attribute.
func evidenceAttribute(k evidenceKind) metadata.AttributeGoroutineEvidence {
	switch k {
	case evidenceDump:
		return metadata.AttributeGoroutineEvidenceDump
	case evidenceLeakProfile:
		return metadata.AttributeGoroutineEvidenceLeakProfile
	}
	return 0
}
