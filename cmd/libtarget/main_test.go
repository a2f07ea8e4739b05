package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestCorrectUsesLeaveNothing runs the libraries' correct uses under their
// rising and falling load, requests them once more itself, and stops: no
// goroutine of any library is left (goleak), which is what makes them the
// healthy baseline of the e2e tests.
func TestCorrectUsesLeaveNothing(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, ln, config{rate: 1, watchMax: 1, load: 4, period: time.Second}) }()

	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	var body string
	require.Eventually(t, func() bool {
		resp, err := client.Get("http://" + ln.Addr().String() + "/use")
		if err != nil {
			return false
		}
		defer func() { _ = resp.Body.Close() }()
		b, _ := io.ReadAll(resp.Body)
		body = string(b)
		return resp.StatusCode == http.StatusOK
	}, 10*time.Second, 50*time.Millisecond)
	assert.Equal(t, "1", strings.TrimSpace(body), "SELECT 1, through the shared database")
	time.Sleep(1500 * time.Millisecond) // a period of load
	cancel()
	require.NoError(t, <-done)
}
