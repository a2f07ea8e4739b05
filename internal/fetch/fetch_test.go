package fetch

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/goroutinewatch/goroutinereceiver/internal/limit"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestEndpointsOf(t *testing.T) {
	tests := []struct {
		give                          string
		wantDump, wantLeak, wantIndex string
	}{
		{
			give:      "http://10.0.0.7:6060/debug/pprof/goroutine",
			wantDump:  "http://10.0.0.7:6060/debug/pprof/goroutine?debug=2",
			wantLeak:  "http://10.0.0.7:6060/debug/pprof/goroutineleak",
			wantIndex: "http://10.0.0.7:6060/debug/pprof/",
		},
		{
			give:      "https://u:p@svc:8443/internal/pprof/goroutine?seconds=1",
			wantDump:  "https://u:p@svc:8443/internal/pprof/goroutine?debug=2&seconds=1",
			wantLeak:  "https://u:p@svc:8443/internal/pprof/goroutineleak",
			wantIndex: "https://u:p@svc:8443/internal/pprof/",
		},
		{
			give:      "http://svc/debug/pprof/goroutine?debug=1",
			wantDump:  "http://svc/debug/pprof/goroutine?debug=2",
			wantLeak:  "http://svc/debug/pprof/goroutineleak",
			wantIndex: "http://svc/debug/pprof/",
		},
	}
	for _, tt := range tests {
		t.Run(tt.give, func(t *testing.T) {
			u, err := url.Parse(tt.give)
			require.NoError(t, err)
			e := EndpointsOf(u)
			assert.Equal(t, tt.give, e.Profile.String())
			assert.Equal(t, tt.wantDump, e.Dump.String())
			assert.Equal(t, tt.wantLeak, e.Leak.String())
			assert.Equal(t, tt.wantIndex, e.Index.String())
			assert.Equal(t, tt.give, u.String(), "the configured URL is left as it was")
		})
	}
}

func TestGet(t *testing.T) {
	tests := []struct {
		name      string
		handler   http.HandlerFunc
		maxBody   int64
		wantBytes int64
		wantRead  string // what read saw, when it was called
		wantErr   error
		wantMsg   string
	}{
		{
			name:      "ok",
			handler:   func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("profile")) },
			maxBody:   7,
			wantBytes: 7,
			wantRead:  "profile",
		},
		{
			name:      "one byte past max_body_bytes",
			handler:   func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("profile!")) },
			maxBody:   7,
			wantBytes: 8,
			wantRead:  "profile!",
			wantErr:   limit.MaxBodyBytes,
			wantMsg:   "profile exceeds max_body_bytes (7)",
		},
		{
			name: "endless body",
			handler: func(w http.ResponseWriter, r *http.Request) {
				chunk := bytes.Repeat([]byte{'x'}, 4096)
				for r.Context().Err() == nil {
					if _, err := w.Write(chunk); err != nil {
						return
					}
				}
			},
			maxBody:   1 << 20,
			wantBytes: 1<<20 + 1,
			wantErr:   limit.MaxBodyBytes,
		},
		{
			name:      "not found",
			handler:   http.NotFound,
			maxBody:   1 << 20,
			wantBytes: int64(len("404 page not found\n")),
			wantErr:   &StatusError{Code: 404, Body: "404 page not found\n"},
			wantMsg:   `HTTP status 404: "404 page not found\n"`,
		},
		{
			name: "error page longer than the quote",
			handler: func(w http.ResponseWriter, _ *http.Request) {
				w.WriteHeader(http.StatusInternalServerError)
				_, _ = w.Write([]byte(strings.Repeat("<html>oops</html>", 1000)))
			},
			maxBody:   1 << 20,
			wantBytes: bodyPrefixBytes,
			wantMsg:   `HTTP status 500: "` + strings.Repeat("<html>oops</html>", 4)[:bodyPrefixBytes] + `"`,
		},
		{
			name: "invalid UTF-8 in the quote",
			handler: func(w http.ResponseWriter, _ *http.Request) {
				w.WriteHeader(http.StatusForbidden)
				_, _ = w.Write([]byte("no\xff"))
			},
			maxBody:   1 << 20,
			wantBytes: 3,
			wantMsg:   `HTTP status 403: "no?"`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(tt.handler)
			t.Cleanup(srv.Close)
			u, err := url.Parse(srv.URL)
			require.NoError(t, err)
			c := &Client{HTTP: srv.Client()}
			var read []byte
			n, err := c.Get(context.Background(), u, tt.maxBody, func(r io.Reader) error {
				var err error
				read, err = io.ReadAll(r)
				return err
			})
			assert.Equal(t, tt.wantBytes, n)
			if tt.wantRead != "" {
				assert.Equal(t, tt.wantRead, string(read))
			}
			if tt.wantErr == nil && tt.wantMsg == "" {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			var status *StatusError
			assert.Equal(t, errors.As(tt.wantErr, &status) && status.Code == http.StatusNotFound, NotFound(err), "NotFound")
			if errors.As(tt.wantErr, &status) {
				var got *StatusError
				require.ErrorAs(t, err, &got)
				assert.Equal(t, status, got)
			} else if tt.wantErr != nil {
				assert.ErrorIs(t, err, tt.wantErr)
			}
			if tt.wantMsg != "" {
				assert.EqualError(t, err, tt.wantMsg)
			}
		})
	}
}

// TestGetUnbounded reads a body past any small bound.
func TestGetUnbounded(t *testing.T) {
	body := bytes.Repeat([]byte("goroutine 1 [running]:\n"), 10_000)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(body) }))
	t.Cleanup(srv.Close)
	u, err := url.Parse(srv.URL)
	require.NoError(t, err)
	var got []byte
	n, err := (&Client{HTTP: srv.Client()}).Get(context.Background(), u, Unbounded, func(r io.Reader) error {
		got, err = io.ReadAll(r)
		return err
	})
	require.NoError(t, err)
	assert.Equal(t, int64(len(body)), n)
	assert.Equal(t, body, got)
}

// TestGetReadError: what read returns is the error, within the bound.
func TestGetReadError(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("<html>")) }))
	t.Cleanup(srv.Close)
	u, err := url.Parse(srv.URL)
	require.NoError(t, err)
	malformed := io.ErrUnexpectedEOF
	_, err = (&Client{HTTP: srv.Client()}).Get(context.Background(), u, 1<<20, func(io.Reader) error { return malformed })
	assert.ErrorIs(t, err, malformed)
}
