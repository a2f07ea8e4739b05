package limit

import (
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestExceeded(t *testing.T) {
	tests := []struct {
		give    Limit
		max     int64
		wantMsg string
	}{
		{MaxBodyBytes, 3000, "profile exceeds max_body_bytes (3000)"},
		{MaxSamples, 200, "profile exceeds max_samples (200)"},
		{CompressionRatio, 250, "profile exceeds compression_ratio (250)"},
	}
	for _, tt := range tests {
		t.Run(tt.give.String(), func(t *testing.T) {
			err := fmt.Errorf("goroutineleak profile: %w", Exceeded(tt.give, tt.max))
			assert.EqualError(t, err, "goroutineleak profile: "+tt.wantMsg)
			assert.ErrorIs(t, err, ErrLimit)
			assert.ErrorIs(t, err, tt.give)
			for _, other := range All {
				if other != tt.give {
					assert.NotErrorIs(t, err, other)
				}
			}
			got, ok := Of(err)
			assert.True(t, ok)
			assert.Equal(t, tt.give, got)
		})
	}
	_, ok := Of(errors.New("connection refused"))
	assert.False(t, ok)
}

// TestEveryLimitIsNamed: each limit has a key of its own.
func TestEveryLimitIsNamed(t *testing.T) {
	seen := map[string]bool{}
	for _, l := range All {
		name := l.String()
		assert.NotContains(t, name, "Limit(", "%d has no name", uint8(l))
		assert.False(t, seen[name], "%s named twice", name)
		seen[name] = true
	}
	assert.Equal(t, "Limit(0)", Limit(0).String())
}
