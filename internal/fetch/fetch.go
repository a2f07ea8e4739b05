// Package fetch GETs a target's goroutine endpoints: every URL they are
// read from, the bound on a body as sent, and the error a status other than
// 200 becomes. What a body holds is for the decoders to read; fetch hands
// it to them as it streams.
package fetch // import "github.com/goroutinewatch/goroutinereceiver/internal/fetch"

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"strings"

	"github.com/goroutinewatch/goroutinereceiver/internal/limit"
)

// Endpoints are the URLs of one target, all derived from the goroutine
// profile's, as configured.
type Endpoints struct {
	// Profile is the goroutine profile (debug=0): the configured URL.
	Profile *url.URL
	// Dump is the same with debug=2: the runtime's traceback of every
	// goroutine.
	Dump *url.URL
	// Leak is the goroutineleak profile beside it, without the query:
	// /debug/pprof/goroutine becomes /debug/pprof/goroutineleak.
	Leak *url.URL
	// Index is the page that lists the profiles, beside them:
	// /debug/pprof/goroutine becomes /debug/pprof/.
	Index *url.URL
}

// EndpointsOf returns the endpoints of the target whose goroutine profile
// is at profile.
func EndpointsOf(profile *url.URL) Endpoints {
	dump := *profile
	q := dump.Query()
	q.Set("debug", "2")
	dump.RawQuery = q.Encode()
	leak := *profile
	leak.Path = strings.TrimSuffix(leak.Path, "goroutine") + "goroutineleak"
	leak.RawQuery = ""
	index := leak
	index.Path = strings.TrimSuffix(leak.Path, "goroutineleak")
	return Endpoints{Profile: profile, Dump: &dump, Leak: &leak, Index: &index}
}

// StatusError is an answer other than 200; Body holds the start of what
// came with it.
type StatusError struct {
	Code int
	Body string
}

// NotFound reports err an answer of 404: a target that serves no such
// endpoint (Go 1.26 and the goroutineleak profile, a mux without the
// index), which callers tell from a failure.
func NotFound(err error) bool {
	var status *StatusError
	return errors.As(err, &status) && status.Code == http.StatusNotFound
}

func (e *StatusError) Error() string {
	if e.Body == "" {
		return fmt.Sprintf("HTTP status %d", e.Code)
	}
	return fmt.Sprintf("HTTP status %d: %q", e.Code, e.Body)
}

// bodyPrefixBytes is how much of an unexpected body a StatusError quotes:
// enough to recognize an HTML error page, too little to carry a secret far.
const bodyPrefixBytes = 64

// Unbounded is the maxBody of a body that its reader bounds itself.
const Unbounded int64 = math.MaxInt64

// Client GETs targets' endpoints. The context bounds each GET: connect,
// headers and body alike.
type Client struct {
	HTTP *http.Client
}

// Get GETs u and hands its body to read as it streams. It returns how many
// bytes of the body were read, as sent. A status other than 200 is a
// *StatusError. A body longer than maxBody is refused with
// limit.MaxBodyBytes, whatever read made of it; reading stops there, and
// closing the body then drops the connection rather than drain an endless
// body.
func (c *Client) Get(ctx context.Context, u *url.URL, maxBody int64, read func(io.Reader) error) (int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), http.NoBody)
	if err != nil {
		return 0, err
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return 0, err
	}
	// A body read to where the receiver stops: closing it tells nothing
	// the read did not.
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		prefix, _ := io.ReadAll(io.LimitReader(resp.Body, bodyPrefixBytes))
		return int64(len(prefix)), &StatusError{Code: resp.StatusCode, Body: strings.ToValidUTF8(string(prefix), "?")}
	}
	body := &boundedBody{r: resp.Body, max: maxBody}
	err = read(body)
	if body.n > maxBody {
		return body.n, limit.Exceeded(limit.MaxBodyBytes, maxBody)
	}
	return body.n, err
}

// boundedBody counts the bytes read and fails once more than max are.
type boundedBody struct {
	r   io.Reader
	n   int64
	max int64
}

func (b *boundedBody) Read(p []byte) (int, error) {
	if b.n > b.max {
		return 0, limit.Exceeded(limit.MaxBodyBytes, b.max)
	}
	if left := b.max - b.n; int64(len(p)) > left {
		// One byte past the bound tells a body at the bound from a longer one.
		p = p[:left+1]
	}
	n, err := b.r.Read(p)
	b.n += int64(n)
	return n, err
}
