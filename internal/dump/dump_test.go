package dump

import (
	"bytes"
	"errors"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/goroutinewatch/goroutinereceiver/internal/signature"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// readAll reads every goroutine of a dump, copying each.
func readAll(t testing.TB, r io.Reader, limit int64) ([]Goroutine, *Reader) {
	t.Helper()
	d := NewReader(r, limit)
	var out []Goroutine
	for {
		g, err := d.Next()
		if errors.Is(err, io.EOF) {
			return out, d
		}
		require.NoError(t, err)
		c := *g
		c.Frames = append([]signature.Frame(nil), g.Frames...)
		c.Labels = append([]Label(nil), g.Labels...)
		out = append(out, c)
	}
}

func load(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("../../testdata/dumps/" + name)
	require.NoError(t, err, "run scripts/capture-dumps.sh")
	return b
}

func find(gs []Goroutine, fn string) *Goroutine {
	for i, g := range gs {
		for _, f := range g.Frames {
			if f.Function == fn {
				return &gs[i]
			}
		}
	}
	return nil
}

// TestCapturedDumps reads each dump captured from a real process and checks
// one goroutine of it, field by field, against what the capture shows.
func TestCapturedDumps(t *testing.T) {
	tests := []struct {
		file      string
		wantCount int // goroutine headers in the file
		fn        string
		want      func(t *testing.T, g *Goroutine)
	}{
		{
			file: "leaktarget.txt", fn: "main.fanoutWorker",
			want: func(t *testing.T, g *Goroutine) {
				assert.Equal(t, "chan send", g.Wait)
				assert.True(t, g.Leaked, "the leak profile's collection marked it")
				assert.Equal(t, "main.fanoutWorker", g.Frames[0].Function)
				assert.Equal(t, "github.com/goroutinewatch/goroutinereceiver/cmd/leaktarget/patterns.go", g.Frames[0].File)
				assert.Positive(t, g.Frames[0].Line)
				assert.Equal(t, "main.firstResult", g.CreatedBy.Function, "the go statement in patterns.go")
				assert.Positive(t, g.Creator)
			},
		},
		{
			file: "leaktarget.txt", fn: "main.poolWorker",
			want: func(t *testing.T, g *Goroutine) {
				assert.Equal(t, "select", g.Wait)
				assert.False(t, g.Leaked, "a pool waiting for jobs is reachable")
			},
		},
		{
			file: "labels.txt", fn: "main.fanoutWorker",
			want: func(t *testing.T, g *Goroutine) {
				assert.Equal(t, []Label{{Key: "pattern", Value: "fanout"}}, g.Labels)
				assert.Equal(t, "chan send", g.Wait)
			},
		},
		{
			// Go 1.27, a module of go 1.27: labels after the brackets.
			file: "go1.27-labels.txt", fn: "main.main.func1",
			want: func(t *testing.T, g *Goroutine) {
				assert.Equal(t, []Label{{Key: "pattern", Value: "fanout"}}, g.Labels)
				assert.Equal(t, "chan send", g.Wait)
			},
		},
		{
			file: "deep.txt", fn: "main.d0",
			want: func(t *testing.T, g *Goroutine) {
				assert.Positive(t, g.Elided, "a 120-frame stack loses its middle")
				assert.Len(t, g.Frames, 100, "50 innermost and 50 outermost frames")
			},
		},
		{
			file: "crash-system.txt", fn: "main.recurse",
			want: func(t *testing.T, g *Goroutine) {
				assert.Equal(t, "chan receive", g.Wait)
				assert.Equal(t, "runtime.gopark", g.Frames[0].Function, "GOTRACEBACK=system shows runtime frames")
				assert.Equal(t, "runtime/proc.go", g.Frames[0].File)
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.file+"/"+tt.fn, func(t *testing.T) {
			b := load(t, tt.file)
			gs, d := readAll(t, bytes.NewReader(b), MaxBytes)
			assert.False(t, d.Cut)
			assert.Len(t, gs, bytes.Count(b, []byte("\ngoroutine "))+1, "one per header")
			g := find(gs, tt.fn)
			require.NotNil(t, g, "no goroutine in %s", tt.fn)
			tt.want(t, g)
		})
	}
}

// TestTruncated builds dumps the way the runtime cuts them, from a captured
// one: goroutines repeated up to 64 MiB and cut there, inside one. The cut
// goroutine is dropped and every whole one kept.
func TestTruncated(t *testing.T) {
	one := load(t, "leaktarget.txt")
	whole := bytes.Count(one, []byte("\ngoroutine ")) + 1
	var buf bytes.Buffer
	copies := 0
	for buf.Len() < MaxBytes {
		buf.Write(one)
		buf.WriteString("\n\n")
		copies++
	}
	big := buf.Bytes()[:MaxBytes]
	// How many goroutines start before the cut and end before it.
	complete := bytes.Count(big, []byte("\ngoroutine ")) + 1 - 1

	tests := []struct {
		name      string
		give      []byte
		limit     int64
		wantCount int
		wantCut   bool
	}{
		{"whole", one, MaxBytes, whole, false},
		{"cut by the runtime at 64 MiB", big, MaxBytes, complete, true},
		{"cut by the limit", one, int64(len(one) / 2), bytes.Count(one[:len(one)/2], []byte("\ngoroutine ")), true},
		{"cut mid-line by the connection", one[:len(one)-3], MaxBytes, whole - 1, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gs, d := readAll(t, bytes.NewReader(tt.give), tt.limit)
			assert.Equal(t, tt.wantCut, d.Cut)
			assert.Len(t, gs, tt.wantCount)
		})
	}
}

func TestHeaders(t *testing.T) {
	tests := []struct {
		give string
		want Goroutine
	}{
		{"goroutine 1 [running]:", Goroutine{ID: 1, Wait: "running"}},
		{"goroutine 18 [chan receive, 12 minutes, locked to thread]:", Goroutine{ID: 18, Wait: "chan receive", WaitMinutes: 12, LockedToThread: true}},
		{"goroutine 7 gp=0xc000007dc0 m=nil [select (no cases)]:", Goroutine{ID: 7, Wait: "select (no cases)"}},
		{"goroutine 9 gp=0xc0001 m=3 mp=0xc0002 [chan send (leaked), 3 minutes]:", Goroutine{ID: 9, Wait: "chan send", Leaked: true, WaitMinutes: 3}},
		{"goroutine 5 [GC worker (idle)]:", Goroutine{ID: 5, Wait: "GC worker (idle)"}},
		{"goroutine 6 [sync.WaitGroup.Wait (durable)]:", Goroutine{ID: 6, Wait: "sync.WaitGroup.Wait"}},
		{`goroutine 8 [select, 2 minutes labels:{"a": "x]:", "b": "y\"z"}]:`, Goroutine{ID: 8, Wait: "select", WaitMinutes: 2,
			Labels: []Label{{"a", "x]:"}, {"b", `y"z`}}}},
		// Go 1.27: after the brackets, quoted only where needed.
		{"goroutine 7 [chan send] {pattern: fanout}:", Goroutine{ID: 7, Wait: "chan send", Labels: []Label{{"pattern", "fanout"}}}},
		{`goroutine 9 [select, 3 minutes, locked to thread] {route: /api/v1, "user id": "a b", "k": "x] {y}:", empty: }:`, Goroutine{ID: 9, Wait: "select", WaitMinutes: 3, LockedToThread: true,
			Labels: []Label{{"route", "/api/v1"}, {"user id", "a b"}, {"k", "x] {y}:"}, {"empty", ""}}}},
		{"goroutine 4 [chan receive, synctest bubble 2] {t: 1}:", Goroutine{ID: 4, Wait: "chan receive", Labels: []Label{{"t", "1"}}}},
	}
	for _, tt := range tests {
		t.Run(tt.give, func(t *testing.T) {
			var g Goroutine
			require.NoError(t, parseHeader([]byte(tt.give), &g))
			assert.Equal(t, tt.want, g)
		})
	}
}

func TestFunctionOf(t *testing.T) {
	tests := []struct{ give, want string }{
		{"main.(*ttlCache).cacheJanitor(0xc000120000)", "main.(*ttlCache).cacheJanitor"},
		{"main.fanout.func1(...)", "main.fanout.func1"},
		{"main.Map[...](0x1, {0xc0000a4000, 0x2, 0x2})", "main.Map[...]"},
		{"panic({0x4c1f40, 0x5a6b10})", "panic"},
		{"net/http.(*conn).serve(0xc0001, {0x7a2f28, 0xc0002})", "net/http.(*conn).serve"},
	}
	for _, tt := range tests {
		got, err := functionOf([]byte(tt.give))
		require.NoError(t, err)
		assert.Equal(t, tt.want, string(got))
	}
}

// TestMalformed feeds text that is not a dump: each fails with
// ErrMalformed and the line that broke it.
func TestMalformed(t *testing.T) {
	tests := []struct {
		name, give, wantErr string
	}{
		{"html", "<html><body>404</body></html>\n", "want a goroutine header"},
		{"debug=1 text", "goroutine profile: total 3\n1 @ 0x43e0 0x4112\n", "want a goroutine header"},
		{"no id", "goroutine x [running]:\nmain.f()\n\t/a.go:1\n", "goroutine id"},
		{"no status", "goroutine 1 []:\nmain.f()\n\t/a.go:1\n", "no status"},
		{"bad minutes", "goroutine 1 [select, many minutes]:\n", "minutes"},
		{"frame without location", "goroutine 1 [running]:\nmain.f()\nmain.g()\n", "want a file:line"},
		{"location without line", "goroutine 1 [running]:\nmain.f()\n\t/a.go\n", "no line number"},
		{"not a call", "goroutine 1 [running]:\nmain.f\n\t/a.go:1\n", "want a function call"},
		{"unbalanced", "goroutine 1 [running]:\nmain.f)\n\t/a.go:1\n", "unbalanced"},
		{"bad labels", "goroutine 1 [running labels:{a: b}]:\n", "labels"},
		{"bad Go 1.27 labels", "goroutine 1 [running] {a b}:\n", "labels"},
		{"Go 1.27 labels unquoted where they need it", "goroutine 1 [running] {a: b c}:\n", "labels"},
		{"long line", "goroutine 1 [running]:\n" + strings.Repeat("x", MaxLineBytes+10) + "()\n", "longer than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := NewReader(strings.NewReader(tt.give), MaxBytes)
			var err error
			for err == nil {
				_, err = d.Next()
			}
			require.ErrorIs(t, err, ErrMalformed)
			assert.Contains(t, err.Error(), tt.wantErr)
			_, again := d.Next()
			assert.Equal(t, err, again, "the error sticks")
		})
	}
}

// FuzzReader feeds arbitrary text, seeded with the captured dumps: an error
// or goroutines, never a panic, and never more frames than lines.
//
//	go test ./internal/dump -run '^$' -fuzz FuzzReader -fuzztime 1000000x
func FuzzReader(f *testing.F) {
	for _, name := range []string{"leaktarget.txt", "labels.txt", "go1.27-labels.txt", "crash-system.txt", "deep.txt"} {
		b := load(f, name)
		f.Add(b[:min(len(b), 8<<10)])
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		d := NewReader(bytes.NewReader(b), 1<<20)
		frames := 0
		for {
			g, err := d.Next()
			if err != nil {
				break
			}
			frames += len(g.Frames)
			if g.Wait == "" {
				t.Fatal("a goroutine without a wait or status")
			}
		}
		if lines := bytes.Count(b, []byte("\n")) + 1; frames > lines {
			t.Fatalf("%d frames from %d lines", frames, lines)
		}
	})
}
