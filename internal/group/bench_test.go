package group

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"

	"github.com/google/pprof/profile"

	"github.com/goroutinewatch/goroutinereceiver/internal/decode"
	"github.com/goroutinewatch/goroutinereceiver/internal/signature"
)

// benchSpec is one benchmark profile: stacks distinct stacks of about depth
// frames, from a real Go process (cmd/stackfarm).
type benchSpec struct {
	stacks, depth int
	labels        bool
}

func (s benchSpec) goroutines() int { return max(s.stacks, 10000) }

func (s benchSpec) String() string {
	l := "nolabels"
	if s.labels {
		l = "labels"
	}
	return fmt.Sprintf("stacks=%d/depth=%d/%s", s.stacks, s.depth, l)
}

func (s benchSpec) file() string {
	return fmt.Sprintf("%d-d%d-%t.pb.gz", s.stacks, s.depth, s.labels)
}

var benchSpecs = func() []benchSpec {
	var specs []benchSpec
	for _, stacks := range []int{10, 1000, 10000, 100000} {
		for _, depth := range []int{10, 40} {
			for _, labels := range []bool{false, true} {
				specs = append(specs, benchSpec{stacks, depth, labels})
			}
		}
	}
	return specs
}()

// benchDir holds the profiles; scripts/bench-profiles.sh writes them, and
// fixture writes any that are missing the same way.
const benchDir = "testdata/bench"

var buildFarm = sync.OnceValues(func() (string, error) {
	bin := filepath.Join(os.TempDir(), "stackfarm-bench")
	out, err := exec.Command("go", "build", "-o", bin, "../../cmd/stackfarm").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("building stackfarm: %w\n%s", err, out)
	}
	return bin, nil
})

func fixture(tb testing.TB, s benchSpec) []byte {
	tb.Helper()
	path := filepath.Join(benchDir, s.file())
	if b, err := os.ReadFile(path); err == nil {
		return b
	}
	bin, err := buildFarm()
	if err != nil {
		tb.Fatal(err)
	}
	if err := os.MkdirAll(benchDir, 0o755); err != nil {
		tb.Fatal(err)
	}
	args := []string{
		"-stacks", strconv.Itoa(s.stacks), "-depth", strconv.Itoa(s.depth),
		"-goroutines", strconv.Itoa(s.goroutines()), "-out", path,
	}
	if s.labels {
		args = append(args, "-labels")
	}
	if out, err := exec.Command(bin, args...).CombinedOutput(); err != nil {
		tb.Fatalf("stackfarm %v: %v\n%s", args, err, out)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func gunzipped(tb testing.TB, b []byte) []byte {
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		tb.Fatal(err)
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		tb.Fatal(err)
	}
	return raw
}

var benchOpts = Options{Labels: []string{"route"}}

// BenchmarkGroup compares, per profile, the receiver's path from response
// bytes to groups with google/pprof's parser plus the obvious grouping, and
// with gzip decompression alone, the floor under any decoder. MB/s is of
// uncompressed profile bytes. Reproduce (about 10 minutes):
//
//	go test -run '^$' -bench . -benchmem -count 10 ./internal/group | tee new.txt
//	benchstat -col /path new.txt
func BenchmarkGroup(b *testing.B) {
	for _, s := range benchSpecs {
		if testing.Short() && s.stacks > 1000 {
			continue // make test runs each benchmark once, -short: the code, not the sizes
		}
		body := fixture(b, s)
		size := int64(len(gunzipped(b, body)))
		lim := decode.Limits{MaxBytes: 1 << 30}
		// A worker's every profile after its first: its Decoder and Grouper
		// have their buffers from a profile as large. No identity is
		// worked out: a scrape asks for those of the groups it reports.
		b.Run(s.String()+"/path=receiver", func(b *testing.B) {
			var (
				d decode.Decoder
				g Grouper
			)
			if _, _, err := g.Group(&d, bytes.NewReader(body), lim, benchOpts); err != nil {
				b.Fatal(err)
			}
			b.SetBytes(size)
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := g.Group(&d, bytes.NewReader(body), lim, benchOpts); err != nil {
					b.Fatal(err)
				}
			}
		})
		// A worker's first profile: its Decoder used before, a new Grouper
		// that grows its buffers.
		b.Run(s.String()+"/path=receiver-first", func(b *testing.B) {
			var d decode.Decoder
			if _, err := d.Decode(bytes.NewReader(body), lim); err != nil {
				b.Fatal(err)
			}
			b.SetBytes(size)
			b.ReportAllocs()
			for b.Loop() {
				var g Grouper
				if _, _, err := g.Group(&d, bytes.NewReader(body), lim, benchOpts); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(s.String()+"/path=pprof", func(b *testing.B) {
			b.SetBytes(size)
			b.ReportAllocs()
			for b.Loop() {
				p, err := profile.Parse(bytes.NewReader(body))
				if err != nil {
					b.Fatal(err)
				}
				pprofGroups(p, benchOpts)
			}
		})
		b.Run(s.String()+"/path=gunzip", func(b *testing.B) {
			var zr gzip.Reader
			buf := make([]byte, 32<<10)
			b.SetBytes(size)
			b.ReportAllocs()
			for b.Loop() {
				if err := zr.Reset(bytes.NewReader(body)); err != nil {
					b.Fatal(err)
				}
				if _, err := io.CopyBuffer(io.Discard, &zr, buf); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// refGroup is a group as pprofGroups makes it: with its stack.
type refGroup struct {
	Identity
	Key    Key
	Count  int64
	Frames []signature.Frame
}

// pprofGroups is the obvious grouping of a profile.Parse result: frames per
// sample, classified, summed by key. It is also the reference the receiver's
// path is held to (TestGroupMatchesPprof, FuzzGroupMatchesPprof).
func pprofGroups(p *profile.Profile, opts Options) map[Key]refGroup {
	groups := make(map[Key]refGroup)
	for _, s := range p.Sample {
		if len(s.Value) == 0 || s.Value[0] <= 0 {
			continue
		}
		var frames []signature.Frame
		for _, l := range s.Location {
			for _, ln := range l.Line {
				var f signature.Frame
				if ln.Function != nil {
					f = signature.Frame{Function: signature.Generic(ln.Function.Name), File: ln.Function.Filename}
				}
				f.Line = ln.Line
				frames = append(frames, f)
			}
		}
		if ignored(frames, opts.Ignore) {
			continue
		}
		id := signature.Of(frames, opts.Mode)
		if id == signature.Empty.ID() {
			continue // frameless: in the total, in no group
		}
		info := signature.Classify(frames, id)
		var values []string
		if len(opts.Labels) > 0 {
			values = make([]string, len(opts.Labels))
			for i, k := range opts.Labels {
				if v := s.Label[k]; len(v) > 0 {
					values[i] = v[0]
				}
			}
		}
		k := Key{ID: info.ID, Labels: string(appendLengthPrefixed(nil, values))}
		g, ok := groups[k]
		if !ok {
			g = refGroup{Identity: Identity{Info: info, LabelValues: values}, Key: k, Frames: frames}
			g.User, _ = opts.Code.Innermost(frames)
		}
		g.Count += s.Value[0]
		groups[k] = g
	}
	return groups
}
