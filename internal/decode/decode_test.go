package decode

import (
	"bytes"
	"compress/gzip"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/google/pprof/profile"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/goroutinewatch/goroutinereceiver/internal/limit"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var noLimit = Limits{MaxBytes: 64 << 20}

func fixtures(tb testing.TB) []string {
	tb.Helper()
	paths, err := filepath.Glob("../../testdata/profiles/*.pb.gz")
	require.NoError(tb, err)
	require.NotEmpty(tb, paths, "run scripts/capture-profiles.sh")
	return paths
}

// flatSample is a sample spelled the same way from either decoder.
type flatSample struct {
	Value  []int64
	Frames []string
	Labels map[string][]string
}

// TestDecodeMatchesPprof decodes every captured profile with this package and
// with google/pprof and requires the same samples, frame by frame.
func TestDecodeMatchesPprof(t *testing.T) {
	for _, path := range fixtures(t) {
		t.Run(filepath.Base(path), func(t *testing.T) {
			b, err := os.ReadFile(path)
			require.NoError(t, err)
			want, err := profile.ParseData(b)
			require.NoError(t, err)
			got, err := Decode(bytes.NewReader(b), noLimit)
			require.NoError(t, err)

			require.Len(t, got.SampleType, len(want.SampleType))
			for i, st := range want.SampleType {
				assert.Equal(t, ValueType{Type: st.Type, Unit: st.Unit}, got.SampleType[i])
			}
			assert.Equal(t, want.TimeNanos, got.TimeNanos)
			require.Len(t, got.Mapping, len(want.Mapping))
			for i, m := range want.Mapping {
				assert.Equal(t, Mapping{ID: m.ID, MemoryStart: m.Start, MemoryLimit: m.Limit, FileOffset: m.Offset, Filename: m.File, BuildID: m.BuildID}, got.Mapping[i])
			}
			require.Len(t, got.Sample, len(want.Sample))
			for i := range want.Sample {
				assert.Equal(t, flattenPprof(want.Sample[i]), flatten(got, &got.Sample[i]), "sample %d", i)
			}
		})
	}
}

func flattenPprof(s *profile.Sample) flatSample {
	f := flatSample{Value: s.Value, Labels: s.Label}
	for _, l := range s.Location {
		for _, ln := range l.Line {
			f.Frames = append(f.Frames, ln.Function.Name+" "+ln.Function.Filename+":"+itoa(ln.Line))
		}
	}
	return f
}

func flatten(p *Profile, s *Sample) flatSample {
	f := flatSample{Value: s.Value}
	for _, l := range s.Location {
		for _, ln := range p.Location[l].Line {
			fn := p.Function[ln.Function]
			f.Frames = append(f.Frames, fn.Name+" "+fn.Filename+":"+itoa(ln.Line))
		}
	}
	for _, l := range s.Label {
		if f.Labels == nil {
			f.Labels = map[string][]string{}
		}
		f.Labels[l.Key] = append(f.Labels[l.Key], l.Str)
	}
	return f
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func gz(tb testing.TB, b []byte) []byte {
	tb.Helper()
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	_, err := w.Write(b)
	require.NoError(tb, err)
	require.NoError(tb, w.Close())
	return buf.Bytes()
}

func TestDecodeUncompressed(t *testing.T) {
	b, err := os.ReadFile(fixtures(t)[0])
	require.NoError(t, err)
	zr, err := gzip.NewReader(bytes.NewReader(b))
	require.NoError(t, err)
	var raw bytes.Buffer
	_, err = raw.ReadFrom(zr)
	require.NoError(t, err)

	fromGzip, err := Decode(bytes.NewReader(b), noLimit)
	require.NoError(t, err)
	fromRaw, err := Decode(&raw, noLimit)
	require.NoError(t, err)
	assert.Len(t, fromRaw.Sample, len(fromGzip.Sample))
}

func TestDecodeMaxFrames(t *testing.T) {
	b, err := os.ReadFile("../../testdata/profiles/leaktarget.pb.gz")
	require.NoError(t, err)
	p, err := Decode(bytes.NewReader(b), Limits{MaxBytes: 64 << 20, MaxFrames: 2})
	require.NoError(t, err)
	truncated := 0
	for _, s := range p.Sample {
		assert.LessOrEqual(t, len(s.Location), 2)
		if s.StackCut {
			truncated++
		}
	}
	assert.Positive(t, truncated)
}

func TestDecodeErrors(t *testing.T) {
	valid, err := os.ReadFile("../../testdata/profiles/leaktarget.pb.gz")
	require.NoError(t, err)
	// A message whose string table lacks the leading empty string.
	noEmptyString := protowire.AppendTag(nil, profileStringTable, protowire.BytesType)
	noEmptyString = protowire.AppendString(noEmptyString, "goroutine")
	// A sample pointing at a location that does not exist.
	danglingLocation := protowire.AppendTag(nil, profileStringTable, protowire.BytesType)
	danglingLocation = protowire.AppendString(danglingLocation, "")
	sample := protowire.AppendTag(nil, sampleLocationID, protowire.VarintType)
	sample = protowire.AppendVarint(sample, 99)
	danglingLocation = protowire.AppendTag(danglingLocation, profileSample, protowire.BytesType)
	danglingLocation = protowire.AppendBytes(danglingLocation, sample)

	tests := []struct {
		name    string
		give    []byte
		limits  Limits
		wantErr error
		wantMsg string
	}{
		{name: "empty body", give: nil, wantErr: ErrMalformed, wantMsg: "empty body"},
		{name: "html page", give: []byte("<html><body>404 page not found</body></html>"), wantErr: ErrMalformed},
		{name: "text dump", give: []byte("goroutine 1 [running]:\nmain.main()\n"), wantErr: ErrMalformed},
		{name: "truncated gzip", give: valid[:len(valid)/2], wantErr: ErrMalformed, wantMsg: "truncated"},
		{name: "gzip of garbage", give: gz(t, []byte("\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff")), wantErr: ErrMalformed},
		{name: "too large", give: valid, limits: Limits{MaxBytes: 100}, wantErr: limit.MaxProfileBytes},
		{name: "no empty string", give: noEmptyString, wantErr: ErrMalformed, wantMsg: "string table"},
		{name: "dangling location", give: danglingLocation, wantErr: ErrMalformed, wantMsg: "unknown location 99"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lim := tt.limits
			if lim.MaxBytes == 0 {
				lim = noLimit
			}
			_, err := Decode(bytes.NewReader(tt.give), lim)
			require.ErrorIs(t, err, tt.wantErr)
			assert.Contains(t, err.Error(), tt.wantMsg)
		})
	}
}

// TestInstance: two scrapes of one process share an instance, a capture of
// another process (same binary, new ASLR draw) has another.
func TestInstance(t *testing.T) {
	inst := func(name string) uint64 {
		b, err := os.ReadFile("../../testdata/profiles/" + name)
		require.NoError(t, err)
		p, err := Decode(bytes.NewReader(b), noLimit)
		require.NoError(t, err)
		return p.Instance()
	}
	assert.Equal(t, inst("fanout-1.pb.gz"), inst("fanout-2.pb.gz"))
	assert.NotEqual(t, inst("fanout-1.pb.gz"), inst("leaktarget.pb.gz"))
	assert.NotZero(t, inst("leaktarget.pb.gz"))
	assert.Zero(t, (&Profile{}).Instance())
}

// TestDecoderReuse decodes the captured profiles one after another with one
// Decoder, with a refused input between them, and requires each result to
// equal a fresh Decoder's: nothing of one profile leaks into the next.
func TestDecoderReuse(t *testing.T) {
	var d Decoder
	for round := range 2 {
		for _, path := range fixtures(t) {
			b, err := os.ReadFile(path)
			require.NoError(t, err)
			want, err := Decode(bytes.NewReader(b), noLimit)
			require.NoError(t, err)

			_, err = d.Decode(bytes.NewReader(b[:len(b)/2]), noLimit)
			require.Error(t, err)
			got, err := d.Decode(bytes.NewReader(b), noLimit)
			require.NoError(t, err)
			require.Len(t, got.Sample, len(want.Sample))
			for i := range want.Sample {
				assert.Equal(t, flatten(want, &want.Sample[i]), flatten(got, &got.Sample[i]), "%s round %d sample %d", path, round, i)
			}
			assert.Equal(t, want.Instance(), got.Instance())
		}
	}
}
