package goroutinereceiver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/goroutinewatch/goroutinereceiver/internal/decode"
	"github.com/goroutinewatch/goroutinereceiver/internal/dump"
	"github.com/goroutinewatch/goroutinereceiver/internal/fetch"
	"github.com/goroutinewatch/goroutinereceiver/internal/group"
	"github.com/goroutinewatch/goroutinereceiver/internal/limit"
	"github.com/goroutinewatch/goroutinereceiver/internal/metadata"
)

// TestLimitAttribute: every limit maps to the `limit` value metadata.yaml
// spells as its key, and metadata.yaml has no value without a limit.
func TestLimitAttribute(t *testing.T) {
	for _, l := range limit.All {
		assert.Equal(t, l.String(), limitAttribute(l).String(), "%v", l)
		assert.Equal(t, limitAttribute(l), metadata.MapAttributeLimit[l.String()])
	}
	assert.Len(t, metadata.MapAttributeLimit, len(limit.All))
}

// TestStateAndEvidenceAttributes: every state error and every held-back
// fetch maps to its own value of metadata.yaml's enum, and every value is
// one's.
func TestStateAndEvidenceAttributes(t *testing.T) {
	states := map[metadata.AttributeGoroutineStateError]bool{}
	for e := range numStateErrors {
		a := stateAttribute(e)
		assert.NotZero(t, a, "state error %d", e)
		states[a] = true
	}
	assert.Len(t, states, len(metadata.MapAttributeGoroutineStateError))
	kinds := map[metadata.AttributeGoroutineEvidence]bool{}
	for k := range numCeilinged {
		a := evidenceAttribute(k)
		assert.NotZero(t, a, "evidence kind %d", k)
		kinds[a] = true
	}
	assert.Len(t, kinds, len(metadata.MapAttributeGoroutineEvidence))
}

func TestErrorType(t *testing.T) {
	timeout := &net.DNSError{Err: "i/o timeout", IsTimeout: true}
	tests := []struct {
		give error
		want metadata.AttributeErrorType
	}{
		{context.DeadlineExceeded, metadata.AttributeErrorTypeTimeout},
		{fmt.Errorf("read: %w", timeout), metadata.AttributeErrorTypeTimeout},
		{&fetch.StatusError{Code: 404}, metadata.AttributeErrorTypeHTTPStatus},
		{limit.Exceeded(limit.MaxBodyBytes, 1), metadata.AttributeErrorTypeLimit},
		{fmt.Errorf("%w: panic reading the profile: boom", errPanic), metadata.AttributeErrorTypeInternal},
		{fmt.Errorf("%w: empty body", decode.ErrMalformed), metadata.AttributeErrorTypeDecode},
		{fmt.Errorf("line 3: %w", dump.ErrMalformed), metadata.AttributeErrorTypeDecode},
		{fmt.Errorf("%w: sample type %q", group.ErrNotGoroutineProfile, "space/bytes"), metadata.AttributeErrorTypeNotGoroutineProfile},
		{errors.New("dial tcp 127.0.0.1:1: connect: connection refused"), metadata.AttributeErrorTypeConnect},
	}
	for _, tt := range tests {
		t.Run(tt.give.Error(), func(t *testing.T) {
			assert.Equal(t, tt.want, errorType(tt.give))
		})
	}
	for _, kind := range errorTypes {
		assert.Contains(t, metadata.MapAttributeErrorType, kind.String(), "emitted in order, declared in metadata.yaml")
	}
	assert.Len(t, errorTypes, len(metadata.MapAttributeErrorType))
}
