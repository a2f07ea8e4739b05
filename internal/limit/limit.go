// Package limit names the bounds on what one target's response may cost the
// collector. Each is declared here once, as a typed value that is also the
// sentinel error a refusal wraps, so that the stages that enforce a limit
// (fetch, decode, dump, group) and the one that counts it (the receiver's
// health) agree on it without spelling it as a string.
package limit // import "github.com/goroutinewatch/goroutinereceiver/internal/limit"

import (
	"errors"
	"fmt"
)

// Limit is one bound, named by the configuration key that sets it or, for
// the fixed ones, by the name the `limit` attribute gives it.
type Limit uint8

const (
	// MaxBodyBytes bounds the response body as sent. Refused.
	MaxBodyBytes Limit = iota + 1
	// MaxProfileBytes bounds a profile once decompressed. Refused. (A dump
	// longer than it is read up to it and counted cut.)
	MaxProfileBytes
	// MaxSamples bounds a profile's samples and a dump's groups. Refused.
	MaxSamples
	// MaxLocations bounds a profile's locations, functions, mappings and
	// strings together. Refused.
	MaxLocations
	// MaxMessageBytes bounds one top-level message of a profile (fixed).
	// Refused.
	MaxMessageBytes
	// CompressionRatio bounds how far a gzip body may expand (fixed).
	// Refused.
	CompressionRatio
	// MaxFrames bounds a stack: deeper ones keep their innermost frames and
	// are reported.
	MaxFrames
	// MaxStringBytes bounds a function name, file name or label: longer ones
	// are cut and reported.
	MaxStringBytes
)

// All lists every limit, in the order their counters are emitted.
var All = [...]Limit{
	MaxBodyBytes, MaxProfileBytes, MaxSamples, MaxLocations,
	MaxMessageBytes, CompressionRatio, MaxFrames, MaxStringBytes,
}

var names = [...]string{
	MaxBodyBytes:     "max_body_bytes",
	MaxProfileBytes:  "max_profile_bytes",
	MaxSamples:       "max_samples",
	MaxLocations:     "max_locations",
	MaxMessageBytes:  "max_message_bytes",
	CompressionRatio: "compression_ratio",
	MaxFrames:        "max_frames",
	MaxStringBytes:   "max_string_bytes",
}

// String returns the limit's key: "max_samples".
func (l Limit) String() string {
	if int(l) < len(names) && names[l] != "" {
		return names[l]
	}
	return fmt.Sprintf("Limit(%d)", uint8(l))
}

// Error makes a Limit the sentinel of its refusals:
// errors.Is(err, limit.MaxSamples).
func (l Limit) Error() string { return "profile exceeds " + l.String() }

// ErrLimit is matched by every refusal at a limit.
var ErrLimit = errors.New("limit exceeded")

// Error is a response refused at Limit, whose bound was Max.
type Error struct {
	Limit Limit
	Max   int64
}

// Exceeded returns the refusal of a response at l, whose bound was max.
func Exceeded(l Limit, bound int64) error { return &Error{Limit: l, Max: bound} }

// Error reads "profile exceeds max_samples (200)".
func (e *Error) Error() string { return fmt.Sprintf("%v (%d)", e.Limit, e.Max) }

// Unwrap returns the limit, so that errors.Is matches it.
func (e *Error) Unwrap() error { return e.Limit }

// Is makes errors.Is(err, ErrLimit) true.
func (e *Error) Is(target error) bool { return target == ErrLimit }

// Of returns the limit that refused err, if one did.
func Of(err error) (Limit, bool) {
	var e *Error
	if errors.As(err, &e) {
		return e.Limit, true
	}
	return 0, false
}
