// Package index reads a target's /debug/pprof/ page: the one small page
// net/http/pprof serves that lists every profile the process serves, with
// a count beside each. It tells the receiver whether the target serves the
// goroutineleak profile before any ask for it, instead of a 404 after one.
package index // import "github.com/goroutinewatch/goroutinereceiver/internal/index"

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// MaxBytes is the most of a page read: net/http/pprof's is under 3 KiB.
const MaxBytes = 64 << 10

// maxRows is the most profile rows a page may list: the runtime has a dozen.
const maxRows = 64

// ErrMalformed reports a page that is not net/http/pprof's index.
var ErrMalformed = errors.New("not a pprof index")

// Index is what a target's page lists.
type Index struct {
	// Profiles maps each profile listed to its count: goroutines for
	// "goroutine", -1 where the page shows none (cmdline, on some
	// versions).
	Profiles map[string]int64
}

// Serves reports whether the page lists the profile name.
func (x Index) Serves(name string) bool {
	_, ok := x.Profiles[name]
	return ok
}

// Parse reads a page from r, at most MaxBytes of it. It accepts the rows
// of net/http/pprof's table, one per line, as Go 1.26 and 1.27 write them:
//
//	<tr><td>21</td><td><a href='goroutine?debug=1'>goroutine</a></td></tr>
//	<tr><td>0</td><td><a href='goroutineleak?debug=1'>goroutineleak</a></td></tr>
//
// and skips every other line. A page with no such row, a row whose count
// is not a number, more than 64 rows or a page past MaxBytes is refused.
func Parse(r io.Reader) (Index, error) {
	x := Index{Profiles: map[string]int64{}}
	rows := 0
	lr := &io.LimitedReader{R: r, N: MaxBytes + 1}
	sc := bufio.NewScanner(lr)
	sc.Buffer(make([]byte, 0, 4096), MaxBytes)
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if !bytes.HasPrefix(line, []byte("<tr><td>")) {
			continue
		}
		name, count, err := row(line)
		if err != nil {
			return Index{}, err
		}
		if rows++; rows > maxRows {
			return Index{}, fmt.Errorf("%w: more than %d profiles", ErrMalformed, maxRows)
		}
		x.Profiles[name] = count
	}
	switch {
	case lr.N <= 0:
		return Index{}, fmt.Errorf("%w: longer than %d bytes", ErrMalformed, MaxBytes)
	case sc.Err() != nil:
		return Index{}, fmt.Errorf("%w: %w", ErrMalformed, sc.Err())
	case len(x.Profiles) == 0:
		return Index{}, fmt.Errorf("%w: no profile listed", ErrMalformed)
	}
	return x, nil
}

// row reads one row:
//
//	<tr><td>COUNT</td><td><a href='NAME?debug=1'>NAME</a></td></tr>
//
// COUNT may be empty; NAME is the link's text, which must be the link's.
func row(line []byte) (string, int64, error) {
	rest := line[len("<tr><td>"):]
	countText, rest, ok := bytes.Cut(rest, []byte("</td><td><a href='"))
	if !ok {
		return "", 0, fmt.Errorf("%w: row %.64q", ErrMalformed, line)
	}
	href, rest, ok := bytes.Cut(rest, []byte("'>"))
	if !ok {
		return "", 0, fmt.Errorf("%w: row %.64q", ErrMalformed, line)
	}
	text, _, ok := bytes.Cut(rest, []byte("</a>"))
	if !ok || len(text) == 0 || len(text) > 64 || !bytes.Equal(bytes.TrimSuffix(href, []byte("?debug=1")), text) {
		return "", 0, fmt.Errorf("%w: row %.64q", ErrMalformed, line)
	}
	count := int64(-1)
	if len(countText) > 0 {
		n, err := strconv.ParseInt(string(countText), 10, 64)
		if err != nil || n < 0 {
			return "", 0, fmt.Errorf("%w: count %.32q of %s", ErrMalformed, countText, text)
		}
		count = n
	}
	return string(text), count, nil
}
