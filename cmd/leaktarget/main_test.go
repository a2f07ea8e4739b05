package main

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// waitNoCases is parked in `select {}` on purpose: nothing can wake it.
var ignoreNoCases = goleak.IgnoreAnyFunction("github.com/goroutinewatch/goroutinereceiver/cmd/leaktarget.waitNoCases")

func TestMain(m *testing.M) { goleak.VerifyTestMain(m, ignoreNoCases) }

func TestSelectPatterns(t *testing.T) {
	got, err := selectPatterns("fanout, pool")
	require.NoError(t, err)
	assert.Equal(t, []string{"fanout", "pool"}, got)

	all, err := selectPatterns("all")
	require.NoError(t, err)
	assert.Len(t, all, len(patterns))

	_, err = selectPatterns("fanout,nosuch")
	assert.ErrorContains(t, err, `unknown pattern "nosuch"`)
	_, err = selectPatterns(",")
	assert.ErrorContains(t, err, "no pattern selected")
}

// TestHealthyPatternsStop runs the healthy patterns and cancels them: every
// goroutine they started must be gone (goleak checks at exit), which is what
// makes them healthy.
func TestHealthyPatternsStop(t *testing.T) {
	for _, name := range []string{"pool", "growpool", "waits"} {
		t.Run(name, func(_ *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() {
				defer close(done)
				patterns[name](ctx, pace{every: time.Millisecond, limit: 5})
			}()
			time.Sleep(20 * time.Millisecond)
			cancel()
			<-done
		})
	}
	goleak.VerifyNone(t, ignoreNoCases)
}
