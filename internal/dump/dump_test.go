package dump

import (
	"bytes"
	"errors"
	"fmt"
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
func readAll(tb testing.TB, r io.Reader, limit int64) ([]Goroutine, *Reader) {
	tb.Helper()
	d := NewReader(r, limit)
	var out []Goroutine
	for {
		g, err := d.Next()
		if errors.Is(err, io.EOF) {
			return out, d
		}
		require.NoError(tb, err)
		c := *g
		c.Frames = append([]signature.Frame(nil), g.Frames...)
		c.Labels = append([]Label(nil), g.Labels...)
		c.Ancestors = nil
		for _, a := range g.Ancestors {
			a.Frames = append([]signature.Frame(nil), a.Frames...)
			c.Ancestors = append(c.Ancestors, a)
		}
		out = append(out, c)
	}
}

func load(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile("../../testdata/dumps/" + name)
	require.NoError(tb, err, "run scripts/capture-dumps.sh")
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
		id        uint64 // the goroutine, where fn is not enough
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
			// GODEBUG=tracebackancestors=3: a goroutine started from 60
			// frames deep by the main goroutine.
			file: "ancestry.txt", fn: "main.deep.func1",
			want: func(t *testing.T, g *Goroutine) {
				assert.Equal(t, "main.deep", g.CreatedBy.Function)
				require.Len(t, g.Ancestors, 1)
				a := g.Ancestors[0]
				assert.Equal(t, uint64(1), a.ID)
				assert.Len(t, a.Frames, 48, "the runtime keeps 50 pcs of an ancestor, and shows these of them")
				assert.True(t, a.Elided)
				assert.Equal(t, "main.deep", a.Frames[0].Function)
				assert.Equal(t, "example.com/ancestry/main.go", a.Frames[0].File)
				assert.Empty(t, a.CreatedBy.Function, "nobody's go statement started the main goroutine")
				assert.Zero(t, g.Elided, "the ancestor's cut is not the goroutine's")
			},
		},
		{
			// The sixth of a chain of goroutines, each started by the
			// one before: three generations printed, the third's creator
			// named.
			file: "ancestry.txt", id: 9,
			want: func(t *testing.T, g *Goroutine) {
				require.Len(t, g.Ancestors, 3)
				for _, a := range g.Ancestors {
					assert.Equal(t, "main.chain", a.Frames[0].Function)
					assert.Equal(t, "main.chain", a.CreatedBy.Function)
				}
				assert.Equal(t, []uint64{8, 7, 6}, []uint64{g.Ancestors[0].ID, g.Ancestors[1].ID, g.Ancestors[2].ID})
				assert.Equal(t, g.Creator, g.Ancestors[0].ID)
			},
		},
		{
			// A generic method: the runtime elides its type arguments.
			file: "ancestry.txt", fn: "main.(*Queue[...]).drain",
			want: func(t *testing.T, g *Goroutine) {
				assert.Equal(t, "main.main", g.CreatedBy.Function)
				require.Len(t, g.Ancestors, 1)
				assert.Equal(t, "main.main", g.Ancestors[0].Frames[0].Function)
			},
		},
		{
			// cmd/libtarget built with -trimpath, run with
			// tracebackancestors=5: a connection left by an unclosed body,
			// two generations from the handler that called http.Get.
			file: "libtarget.txt", fn: "net/http.(*persistConn).readLoop",
			want: func(t *testing.T, g *Goroutine) {
				assert.Equal(t, "net/http.(*Transport).dialConn", g.CreatedBy.Function)
				assert.Equal(t, "net/http/transport.go", g.CreatedBy.File)
				require.GreaterOrEqual(t, len(g.Ancestors), 2)
				assert.Equal(t, "net/http.(*Transport).dialConn", g.Ancestors[0].Frames[0].Function)
				assert.Equal(t, "net/http.(*Transport).startDialConnForLocked", g.Ancestors[0].CreatedBy.Function)
				assert.Equal(t, "net/http.(*Transport).startDialConnForLocked", g.Ancestors[1].Frames[0].Function)
			},
		},
		{
			file: "libtarget-plain.txt", fn: "github.com/jellydator/ttlcache/v3.(*Cache[...]).Start",
			want: func(t *testing.T, g *Goroutine) {
				assert.Contains(t, g.Frames[0].File, "/pkg/mod/github.com/jellydator/ttlcache/v3@v3.4.1/")
				assert.Empty(t, g.Ancestors, "no ancestry without tracebackancestors")
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
		t.Run(fmt.Sprintf("%s/%s%d", tt.file, tt.fn, tt.id), func(t *testing.T) {
			b := load(t, tt.file)
			gs, d := readAll(t, bytes.NewReader(b), MaxBytes)
			assert.False(t, d.Cut)
			assert.Len(t, gs, bytes.Count(b, []byte("\ngoroutine "))+1, "one per header")
			g := find(gs, tt.fn)
			if tt.id != 0 {
				g = nil
				for i := range gs {
					if gs[i].ID == tt.id {
						g = &gs[i]
					}
				}
			}
			require.NotNil(t, g, "no goroutine %d in %s", tt.id, tt.fn)
			tt.want(t, g)
		})
	}
}

// TestAncestorsBounded reads a goroutine of more generations than
// MaxAncestors: the nearest are kept, the rest reported dropped, and the
// next goroutine reuses the memory.
func TestAncestorsBounded(t *testing.T) {
	var b strings.Builder
	b.WriteString("goroutine 100 [chan receive]:\nmain.leaf()\n\t/a.go:1 +0x1\ncreated by main.gen in goroutine 99\n\t/a.go:2 +0x2\n")
	for id := 99; id > 99-2*MaxAncestors; id-- {
		fmt.Fprintf(&b, "[originating from goroutine %d]:\nmain.gen(...)\n\t/a.go:3 +0x3\ncreated by main.gen\n\t/a.go:4 +0x4\n", id)
	}
	b.WriteString("\ngoroutine 7 [select]:\nmain.other()\n\t/a.go:9 +0x1\n")
	gs, _ := readAll(t, strings.NewReader(b.String()), MaxBytes)
	require.Len(t, gs, 2)
	assert.Len(t, gs[0].Ancestors, MaxAncestors)
	assert.True(t, gs[0].AncestorsCut)
	assert.Equal(t, uint64(99), gs[0].Ancestors[0].ID)
	assert.Equal(t, []signature.Frame{{Function: "main.gen", File: "/a.go", Line: 3}}, gs[0].Ancestors[MaxAncestors-1].Frames)
	assert.Empty(t, gs[1].Ancestors)
	assert.False(t, gs[1].AncestorsCut)
	assert.Equal(t, "main.other", gs[1].Frames[0].Function, "frames after an ancestry are the next goroutine's")
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
		{`goroutine 8 [select, 2 minutes labels:{"a": "x]:", "b": "y\"z"}]:`, Goroutine{
			ID: 8, Wait: "select", WaitMinutes: 2,
			Labels: []Label{{"a", "x]:"}, {"b", `y"z`}},
		}},
		// Go 1.27: after the brackets, quoted only where needed.
		{"goroutine 7 [chan send] {pattern: fanout}:", Goroutine{ID: 7, Wait: "chan send", Labels: []Label{{"pattern", "fanout"}}}},
		{`goroutine 9 [select, 3 minutes, locked to thread] {route: /api/v1, "user id": "a b", "k": "x] {y}:", empty: }:`, Goroutine{
			ID: 9, Wait: "select", WaitMinutes: 3, LockedToThread: true,
			Labels: []Label{{"route", "/api/v1"}, {"user id", "a b"}, {"k", "x] {y}:"}, {"empty", ""}},
		}},
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
		{"bad ancestor", "goroutine 1 [running]:\nmain.f()\n\t/a.go:1\ncreated by main.g in goroutine 2\n\t/a.go:2\n[originating from goroutine x]:\n", "ancestor header"},
		{"ancestor frame without location", "goroutine 1 [running]:\nmain.f()\n\t/a.go:1\ncreated by main.g in goroutine 2\n\t/a.go:2\n[originating from goroutine 2]:\nmain.g(...)\n\n", "want a file:line"},
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
	for _, name := range []string{"leaktarget.txt", "labels.txt", "go1.27-labels.txt", "crash-system.txt", "deep.txt", "ancestry.txt", "libtarget.txt"} {
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
			if len(g.Ancestors) > MaxAncestors {
				t.Fatalf("%d ancestors kept", len(g.Ancestors))
			}
			for _, a := range g.Ancestors {
				frames += len(a.Frames)
			}
			if g.Wait == "" {
				t.Fatal("a goroutine without a wait or status")
			}
		}
		if lines := bytes.Count(b, []byte("\n")) + 1; frames > lines {
			t.Fatalf("%d frames from %d lines", frames, lines)
		}
	})
}
