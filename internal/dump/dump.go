// Package dump reads the goroutine dump served by
// /debug/pprof/goroutine?debug=2: the runtime's traceback of every goroutine,
// as text. It streams: one goroutine is held at a time, so memory follows the
// longest stack, not the size of the dump.
//
// A dump is a sequence of goroutines separated by blank lines:
//
//	goroutine 18 [chan receive, 12 minutes, locked to thread]:
//	main.worker(0xc000010000, ...)
//		/src/app/worker.go:30 +0x45
//	created by main.main in goroutine 1
//		/src/app/main.go:20 +0x66
//
// It differs from the debug=0 profile in what it adds (goroutine ids, the
// exact wait reason, minutes waited, who started each goroutine, the leaked
// marker of a leak-detecting runtime) and in what it hides: the runtime's own
// frames (runtime.gopark and the like), which signature ids leave out too.
package dump // import "github.com/goroutinewatch/goroutinereceiver/internal/dump"

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/goroutinewatch/goroutinereceiver/internal/signature"
)

// MaxBytes is where the runtime cuts its dump (runtime/pprof's
// writeGoroutineStacks stops growing its buffer at 64 MiB and writes what
// fits): a dump this long ends inside a goroutine.
const MaxBytes = 64 << 20

// MaxLineBytes bounds one line. A real line is a function with its
// arguments or a file path, well under a kilobyte.
const MaxLineBytes = 64 << 10

// ErrMalformed reports text that is not a goroutine dump.
var ErrMalformed = errors.New("malformed goroutine dump")

// Goroutine is one goroutine of a dump.
type Goroutine struct {
	ID uint64
	// Wait is the runtime's wait reason ("chan receive", "select") or,
	// for a goroutine not waiting, its status ("running", "runnable",
	// "syscall").
	Wait string
	// WaitMinutes is how long the goroutine has waited, in whole minutes,
	// when the runtime printed it (from one minute on). The runtime stamps
	// the start of a wait only when a garbage collection sees it, so this
	// is a lower bound, late by up to one GC cycle.
	WaitMinutes int64
	// Leaked marks a goroutine that a leak-detecting collection proved
	// can never wake: blocked on something no running goroutine can reach.
	Leaked         bool
	LockedToThread bool
	// Labels are the goroutine's pprof labels, printed by runtimes that
	// put them in tracebacks (GODEBUG=tracebacklabels=1).
	Labels []Label
	// Frames is the stack, innermost first, with the runtime's own frames
	// already hidden by the runtime.
	Frames []signature.Frame
	// Elided counts frames the runtime left out of the middle of a deep
	// stack ("...12 frames elided...").
	Elided int
	// StackCut reports a stack longer than the Reader's MaxFrames: its
	// innermost MaxFrames frames are kept.
	StackCut bool
	// CreatedBy is the frame of the go statement that started the
	// goroutine; its Function is empty for the main goroutine.
	CreatedBy signature.Frame
	// Creator is the id of the goroutine that ran that go statement, 0
	// when the runtime did not print it.
	Creator uint64
	// Ancestors are the goroutines that started this one, its creator
	// first, as a runtime run with GODEBUG=tracebackancestors=N prints
	// them after the "created by" line, N generations up at most:
	//
	//	created by net/http.(*Transport).dialConn in goroutine 24
	//		/usr/local/go/src/net/http/transport.go:1994 +0x16ac
	//	[originating from goroutine 24]:
	//	net/http.(*Transport).dialConn(...)
	//		/usr/local/go/src/net/http/transport.go:1995 +0x16ac
	//	created by net/http.(*Transport).startDialConnForLocked
	//		/usr/local/go/src/net/http/transport.go:1628 +0x112
	//	[originating from goroutine 23]:
	//	main.(*app).leakBody(...)
	//		/src/app/main.go:254 +0x3b
	//
	// An ancestor's stack is the one it had at the go statement, taken
	// when the goroutine was created: the ancestor may have moved on or
	// ended since. At most MaxAncestors are kept.
	Ancestors []Ancestor
	// AncestorsCut reports ancestors past MaxAncestors, dropped.
	AncestorsCut bool
}

// MaxAncestors bounds the ancestors kept of one goroutine. The runtime
// prints as many as GODEBUG=tracebackancestors asks; the user's code is
// rarely more than a few generations up (a gRPC client's transport reader
// is three from the call that made the connection).
const MaxAncestors = 16

// Ancestor is one goroutine of a goroutine's ancestry.
type Ancestor struct {
	ID uint64
	// Frames is its stack at the go statement, innermost first: the
	// runtime keeps 50 program counters of it (tracebackInnerFrames) and
	// prints those its tracebacks show.
	Frames []signature.Frame
	// Elided reports frames beyond those ("...additional frames
	// elided...").
	Elided bool
	// CreatedBy is the go statement that started the ancestor itself;
	// its Function is empty for the main goroutine.
	CreatedBy signature.Frame
}

// Label is a pprof label.
type Label struct{ Key, Value string }

// Reader reads a dump one goroutine at a time.
type Reader struct {
	r       *bufio.Reader
	limit   int64
	n       int64 // bytes read
	line    int   // lines read
	g       Goroutine
	err     error
	ended   bool // the last line had no newline
	atLimit bool // the limit was reached
	// MaxFrames is the most frames kept per goroutine; 0 keeps all. The
	// runtime prints at most 100, so only a dump from elsewhere has more.
	MaxFrames int
	// strings holds the function and file names read so far: a dump
	// repeats a few hundred of them for every goroutine.
	strings map[string]string
	// Cut reports that the dump ended inside a goroutine: at MaxBytes, as
	// the runtime cuts it, at the Reader's limit, or without the newline
	// that ends every line the runtime writes. Next drops that goroutine.
	Cut bool
}

// NewReader returns a Reader of r that reads at most limit bytes: a dump
// longer than that is read as one cut there.
func NewReader(r io.Reader, limit int64) *Reader {
	return &Reader{r: bufio.NewReaderSize(r, MaxLineBytes), limit: limit, strings: make(map[string]string)}
}

// Next returns the next goroutine, or io.EOF after the last. The Goroutine
// and its slices are reused by the next call.
func (d *Reader) Next() (*Goroutine, error) {
	if d.err != nil {
		return nil, d.err
	}
	g, err := d.next()
	if err != nil {
		d.err = err
		return nil, err
	}
	return g, nil
}

func (d *Reader) next() (*Goroutine, error) {
	// Skip the blank lines between goroutines.
	var line []byte
	for {
		var err error
		line, err = d.readLine()
		if errors.Is(err, io.EOF) {
			return nil, io.EOF
		}
		if err != nil {
			return nil, err
		}
		if len(line) > 0 {
			break
		}
	}
	g := &d.g
	frames, labels, ancestors := g.Frames[:0], g.Labels[:0], g.Ancestors[:0]
	*g = Goroutine{Frames: frames, Labels: labels, Ancestors: ancestors}
	if err := parseHeader(line, g); err != nil {
		return nil, d.errorf("%w", err)
	}
	// ancestor is the ancestry's goroutine being read, nil before the
	// first "[originating from goroutine N]:" line and past MaxAncestors.
	var ancestor *Ancestor
	inAncestry := false
	for {
		line, err := d.readLine()
		if errors.Is(err, io.EOF) {
			if d.partial() {
				return nil, io.EOF
			}
			return g, nil
		}
		if err != nil {
			return nil, err
		}
		switch {
		case len(line) == 0:
			return g, nil
		case bytes.HasPrefix(line, []byte("...additional frames elided...")):
			switch {
			case ancestor != nil:
				ancestor.Elided = true
			case !inAncestry:
				g.Elided++
			}
		case bytes.HasPrefix(line, []byte("...")) && bytes.HasSuffix(line, []byte(" frames elided...")):
			n, err := strconv.Atoi(string(line[3 : len(line)-len(" frames elided...")]))
			if err != nil {
				return nil, d.errorf("%w: elided frames %q", ErrMalformed, line)
			}
			g.Elided += n
		case bytes.HasPrefix(line, []byte("[originating from goroutine ")):
			id, ok := parseOrigin(line)
			if !ok {
				return nil, d.errorf("%w: ancestor header %q", ErrMalformed, line)
			}
			inAncestry = true
			if len(g.Ancestors) == MaxAncestors {
				g.AncestorsCut, ancestor = true, nil
				continue
			}
			if n := len(g.Ancestors); n < cap(g.Ancestors) {
				g.Ancestors = g.Ancestors[:n+1]
				g.Ancestors[n] = Ancestor{ID: id, Frames: g.Ancestors[n].Frames[:0]}
			} else {
				g.Ancestors = append(g.Ancestors, Ancestor{ID: id})
			}
			ancestor = &g.Ancestors[len(g.Ancestors)-1]
		case bytes.HasPrefix(line, []byte("created by ")):
			name, creator := parseCreatedBy(line[len("created by "):])
			fn := d.intern(name)
			file, lineNo, err := d.location()
			if errors.Is(err, io.EOF) && d.partial() {
				return nil, io.EOF
			}
			if err != nil {
				return nil, err
			}
			switch {
			case ancestor != nil:
				ancestor.CreatedBy = signature.Frame{Function: fn, File: file, Line: lineNo}
			case !inAncestry:
				g.CreatedBy = signature.Frame{Function: fn, File: file, Line: lineNo}
				g.Creator = creator
			}
		default:
			name, err := functionOf(line)
			if err != nil {
				return nil, d.errorf("%w", err)
			}
			fn := d.intern(name)
			file, lineNo, err := d.location()
			if errors.Is(err, io.EOF) && d.partial() {
				return nil, io.EOF
			}
			if err != nil {
				return nil, err
			}
			frame := signature.Frame{Function: fn, File: file, Line: lineNo}
			switch {
			case inAncestry:
				if ancestor == nil {
					continue
				}
				if d.MaxFrames > 0 && len(ancestor.Frames) >= d.MaxFrames {
					ancestor.Elided = true
					continue
				}
				ancestor.Frames = append(ancestor.Frames, frame)
			case d.MaxFrames > 0 && len(g.Frames) >= d.MaxFrames:
				g.StackCut = true
			default:
				g.Frames = append(g.Frames, frame)
			}
		}
	}
}

// partial reports, at the end of the stream inside a goroutine, whether
// the dump was cut there, and marks it Cut if so.
func (d *Reader) partial() bool {
	if d.n >= MaxBytes || d.ended || d.atLimit {
		d.Cut = true
	}
	return d.Cut
}

// location reads the line after a function: "\t/file.go:123 +0x1d".
func (d *Reader) location() (string, int64, error) {
	line, err := d.readLine()
	if err != nil {
		return "", 0, err
	}
	if len(line) == 0 || line[0] != '\t' {
		return "", 0, d.errorf("%w: want a file:line, got %q", ErrMalformed, line)
	}
	loc := line[1:]
	if i := bytes.LastIndex(loc, []byte(" +0x")); i >= 0 {
		loc = loc[:i]
	}
	colon := bytes.LastIndexByte(loc, ':')
	if colon < 0 {
		return "", 0, d.errorf("%w: no line number in %q", ErrMalformed, line)
	}
	n, err := strconv.ParseInt(string(loc[colon+1:]), 10, 64)
	if err != nil {
		return "", 0, d.errorf("%w: line number in %q", ErrMalformed, line)
	}
	return d.intern(loc[:colon]), n, nil
}

// maxInterned bounds the names a Reader remembers: a program has a few
// thousand; a hostile dump with a new name on every line gets new strings
// past this many instead of a growing map.
const maxInterned = 1 << 16

func (d *Reader) intern(b []byte) string {
	if s, ok := d.strings[string(b)]; ok {
		return s
	}
	s := string(b)
	if len(d.strings) < maxInterned {
		d.strings[s] = s
	}
	return s
}

// readLine returns the next line without its newline. A line with no
// newline at the end of the stream is returned and marks d.ended.
func (d *Reader) readLine() ([]byte, error) {
	line, err := d.r.ReadSlice('\n')
	d.n += int64(len(line))
	if d.n > d.limit {
		// Past the limit: the line is cut, and so is the dump.
		d.atLimit, d.Cut = true, true
		return nil, io.EOF
	}
	if errors.Is(err, bufio.ErrBufferFull) {
		return nil, d.errorf("%w: a line longer than %d bytes", ErrMalformed, MaxLineBytes)
	}
	if errors.Is(err, io.EOF) {
		if len(line) == 0 {
			return nil, io.EOF
		}
		d.ended = true
		// The unterminated last line is cut: treat it as absent.
		return nil, io.EOF
	}
	if err != nil {
		return nil, err
	}
	d.line++
	line = line[:len(line)-1]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, nil
}

func (d *Reader) errorf(format string, args ...any) error {
	return fmt.Errorf("line %d: "+format, append([]any{d.line}, args...)...)
}

// parseHeader reads a goroutine's first line:
//
//	goroutine 18 [chan receive, 12 minutes, locked to thread]:
//	goroutine 7 gp=0xc000007dc0 m=nil [select (leaked)]:
//	goroutine 9 [select, 3 minutes labels:{"tenant": "a"}]:
//	goroutine 9 [select, 3 minutes] {tenant: a, "user id": "x y"}:
//
// Go 1.26 under GODEBUG=tracebacklabels=1 puts labels inside the brackets,
// after the other facts, every string quoted; Go 1.27 (by default for a
// module whose go.mod says 1.27) puts them after the brackets, quoting only
// a string with a character outside letters, digits and "./_".
func parseHeader(line []byte, g *Goroutine) error {
	rest, ok := bytes.CutPrefix(line, []byte("goroutine "))
	// closing is where the brackets close: before ":" or before " {".
	closing := len(rest) - 2
	if ok && bytes.HasSuffix(rest, []byte("}:")) {
		if i := bytes.Index(rest, []byte("] {")); i >= 0 {
			labels, err := parseLabels(string(rest[i+len("] {"):len(rest)-1]), g.Labels, true)
			if err != nil {
				return fmt.Errorf("%w: labels in %q: %w", ErrMalformed, line, err)
			}
			g.Labels = labels
			closing = i
		}
	}
	if !ok || closing < 0 || rest[closing] != ']' || closing == len(rest)-2 && rest[len(rest)-1] != ':' {
		return fmt.Errorf("%w: want a goroutine header, got %q", ErrMalformed, line)
	}
	sp := bytes.IndexByte(rest, ' ')
	if sp < 0 {
		return fmt.Errorf("%w: header %q", ErrMalformed, line)
	}
	id, err := strconv.ParseUint(string(rest[:sp]), 10, 64)
	if err != nil {
		return fmt.Errorf("%w: goroutine id in %q", ErrMalformed, line)
	}
	g.ID = id
	open := bytes.IndexByte(rest, '[')
	if open < 0 || open > closing {
		return fmt.Errorf("%w: header %q", ErrMalformed, line)
	}
	facts := string(rest[open+1 : closing])
	if i := strings.Index(facts, " labels:{"); i >= 0 {
		labels, err := parseLabels(facts[i+len(" labels:{"):], g.Labels, false)
		if err != nil {
			return fmt.Errorf("%w: labels in %q: %w", ErrMalformed, line, err)
		}
		g.Labels = labels
		facts = facts[:i]
	}
	status, facts, _ := strings.Cut(facts, ", ")
	for {
		switch {
		case strings.HasSuffix(status, " (leaked)"):
			g.Leaked = true
			status = strings.TrimSuffix(status, " (leaked)")
			continue
		case strings.HasSuffix(status, " (scan)"):
			status = strings.TrimSuffix(status, " (scan)")
			continue
		case strings.HasSuffix(status, " (durable)") && !strings.HasPrefix(status, "synctest"):
			status = strings.TrimSuffix(status, " (durable)")
			continue
		}
		break
	}
	if status == "" {
		return fmt.Errorf("%w: no status in %q", ErrMalformed, line)
	}
	g.Wait = status
	for facts != "" {
		var fact string
		fact, facts, _ = strings.Cut(facts, ", ")
		switch {
		case strings.HasSuffix(fact, " minutes"):
			m, err := strconv.ParseInt(strings.TrimSuffix(fact, " minutes"), 10, 64)
			if err != nil {
				return fmt.Errorf("%w: minutes in %q", ErrMalformed, line)
			}
			g.WaitMinutes = m
		case fact == "locked to thread":
			g.LockedToThread = true
		}
	}
	return nil
}

// parseLabels reads `"k": "v", "k2": "v2"}`, Go-quoted strings, or, with
// bare, `k: v, "k 2": "v 2"}`, where a string is quoted only when it needs
// to be (an empty one is not).
func parseLabels(s string, dst []Label, bare bool) ([]Label, error) {
	token := quotedPrefix
	if bare {
		token = barePrefix
	}
	for {
		if rest, ok := strings.CutPrefix(s, "}"); ok {
			if rest != "" {
				return nil, fmt.Errorf("text after the labels: %q", rest)
			}
			return dst, nil
		}
		key, rest, err := token(s)
		if err != nil {
			return nil, err
		}
		rest, ok := strings.CutPrefix(rest, ": ")
		if !ok {
			return nil, errors.New("no ': ' after a key")
		}
		value, rest, err := token(rest)
		if err != nil {
			return nil, err
		}
		dst = append(dst, Label{Key: key, Value: value})
		s = strings.TrimPrefix(rest, ", ")
	}
}

// barePrefix reads a string as Go 1.27's traceback writes a label: bare
// when it holds only letters, digits and "./_", else quoted.
func barePrefix(s string) (string, string, error) {
	if strings.HasPrefix(s, `"`) {
		return quotedPrefix(s)
	}
	n := strings.IndexFunc(s, func(r rune) bool {
		return (r < 'a' || r > 'z') && (r < 'A' || r > 'Z') && (r < '0' || r > '9') && r != '.' && r != '/' && r != '_'
	})
	if n < 0 {
		return "", "", errors.New("no end to the labels")
	}
	return s[:n], s[n:], nil
}

func quotedPrefix(s string) (string, string, error) {
	q, err := strconv.QuotedPrefix(s)
	if err != nil {
		return "", "", err
	}
	v, err := strconv.Unquote(q)
	return v, s[len(q):], err
}

// functionOf returns the function of a frame line, without its arguments:
//
//	main.(*ttlCache).cacheJanitor(0xc000120000)  -> main.(*ttlCache).cacheJanitor
//	main.fanout.func1(...)                       -> main.fanout.func1
//	main.Map[...](0x1, {0xc0000a4000, 0x2, 0x2}) -> main.Map[...]
//	panic({0x4c1f40, 0x5a6b10})                  -> panic
func functionOf(line []byte) ([]byte, error) {
	if !bytes.HasSuffix(line, []byte(")")) {
		return nil, fmt.Errorf("%w: want a function call, got %q", ErrMalformed, line)
	}
	// The arguments are the last parenthesized group: find its opening by
	// counting back, since a receiver "(*T)" is parenthesized too.
	depth := 0
	for i := len(line) - 1; i >= 0; i-- {
		switch line[i] {
		case ')':
			depth++
		case '(':
			depth--
			if depth == 0 {
				if i == 0 {
					return nil, fmt.Errorf("%w: no function name in %q", ErrMalformed, line)
				}
				return line[:i], nil
			}
		}
	}
	return nil, fmt.Errorf("%w: unbalanced parentheses in %q", ErrMalformed, line)
}

// parseOrigin reads "[originating from goroutine 24]:".
func parseOrigin(line []byte) (uint64, bool) {
	rest, ok := bytes.CutPrefix(line, []byte("[originating from goroutine "))
	if !ok {
		return 0, false
	}
	rest, ok = bytes.CutSuffix(rest, []byte("]:"))
	if !ok {
		return 0, false
	}
	id, err := strconv.ParseUint(string(rest), 10, 64)
	return id, err == nil
}

// parseCreatedBy reads "pkg.fn in goroutine 12" (the id since Go 1.21).
func parseCreatedBy(b []byte) ([]byte, uint64) {
	fn, id, ok := bytes.Cut(b, []byte(" in goroutine "))
	if !ok {
		return b, 0
	}
	n, _ := strconv.ParseUint(string(id), 10, 64)
	return fn, n
}
