package decode

import (
	"bytes"
	"io"
	"os"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/goroutinewatch/goroutinereceiver/internal/decode/hostile"
	"github.com/goroutinewatch/goroutinereceiver/internal/limit"
)

// defaultLimits are the receiver's defaults.
var defaultLimits = Limits{MaxBytes: 64 << 20, MaxFrames: 1024, MaxStringBytes: 4096, MaxSamples: 100_000, MaxLocations: 250_000}

// TestHostileProfiles feeds each crafted input the hostile package builds and
// checks that it ends in the expected error, quickly.
func TestHostileProfiles(t *testing.T) {
	valid, err := os.ReadFile("../../testdata/profiles/fanout-1.pb.gz")
	require.NoError(t, err)

	tests := []struct {
		name      string
		give      func() io.Reader
		wantErr   error
		wantLimit limit.Limit
		wantMsg   string
	}{
		{
			name:      "10 GiB gzip bomb",
			give:      func() io.Reader { return hostile.GzipBomb(10 << 30) },
			wantErr:   limit.ErrLimit,
			wantLimit: limit.CompressionRatio,
		},
		{
			name:      "sample of 64M location ids in 62 KB",
			give:      func() io.Reader { return bytes.NewReader(hostile.HugeSample(64 << 20)) },
			wantErr:   limit.ErrLimit,
			wantLimit: limit.MaxMessageBytes,
		},
		{
			name:    "many empty gzip members",
			give:    func() io.Reader { return hostile.EmptyMembers(100_000) },
			wantErr: ErrMalformed,
			wantMsg: "string table",
		},
		{
			name:    "two concatenated profiles",
			give:    func() io.Reader { return io.MultiReader(bytes.NewReader(valid), bytes.NewReader(valid)) },
			wantErr: ErrMalformed,
			wantMsg: "concatenated profiles",
		},
		{
			name:    "varint longer than 64 bits",
			give:    func() io.Reader { return bytes.NewReader(bytes.Repeat([]byte{0xff}, 12)) },
			wantErr: ErrMalformed,
			wantMsg: "varint",
		},
		{
			name: "message cut short",
			give: func() io.Reader {
				b := protowire.AppendTag(nil, profileSample, protowire.BytesType)
				return bytes.NewReader(protowire.AppendVarint(b, 1000))
			},
			wantErr: ErrMalformed,
			wantMsg: "truncated",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := tt.give()
			start := time.Now()
			_, err := Decode(in, defaultLimits)
			require.ErrorIs(t, err, tt.wantErr)
			assert.Contains(t, err.Error(), tt.wantMsg)
			if tt.wantLimit != 0 {
				var le *limit.Error
				require.ErrorAs(t, err, &le)
				assert.Equal(t, tt.wantLimit, le.Limit)
			}
			assert.Less(t, time.Since(start), 2*time.Second)
		})
	}
}

func TestLimitsOnCounts(t *testing.T) {
	valid, err := os.ReadFile("../../testdata/profiles/leaktarget.pb.gz")
	require.NoError(t, err)
	p, err := Decode(bytes.NewReader(valid), defaultLimits)
	require.NoError(t, err)

	tests := []struct {
		name      string
		limits    Limits
		wantLimit limit.Limit
	}{
		{"samples", Limits{MaxBytes: 64 << 20, MaxSamples: len(p.Sample) - 1}, limit.MaxSamples},
		{"locations", Limits{MaxBytes: 64 << 20, MaxLocations: 5}, limit.MaxLocations},
		{"bytes", Limits{MaxBytes: 1000}, limit.MaxProfileBytes},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Decode(bytes.NewReader(valid), tt.limits)
			var le *limit.Error
			require.ErrorAs(t, err, &le, "%v", err)
			assert.Equal(t, tt.wantLimit, le.Limit)
		})
	}

	got, err := Decode(bytes.NewReader(valid), Limits{MaxBytes: 64 << 20, MaxStringBytes: 8})
	require.NoError(t, err)
	assert.Positive(t, got.StringsCut)
	for _, s := range got.Sample {
		for _, l := range s.Location {
			for _, ln := range got.Location[l].Line {
				assert.LessOrEqual(t, len(got.Function[ln.Function].Name), 8)
			}
		}
	}
}

// BenchmarkHostile measures what each hostile input costs before it is
// refused: time per op, and bytes allocated per op with -benchmem.
//
//	go test ./internal/decode -run '^$' -bench BenchmarkHostile -benchmem
func BenchmarkHostile(b *testing.B) {
	huge := hostile.HugeSample(64 << 20)
	inputs := map[string]func() io.Reader{
		"gzip-bomb-10GiB":         func() io.Reader { return hostile.GzipBomb(10 << 30) },
		"sample-64M-locations":    func() io.Reader { return bytes.NewReader(huge) },
		"empty-gzip-members-100k": func() io.Reader { return hostile.EmptyMembers(100_000) },
	}
	for name, give := range inputs {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for range b.N {
				if _, err := Decode(give(), defaultLimits); err == nil {
					b.Fatal("accepted")
				}
			}
		})
	}
}

// TestStringsForgottenOnEveryPath feeds one Decoder profiles that each
// bring a thousand new strings and then fail: the strings it remembers
// stay those of at most two profiles, as after profiles that decode. A
// Decoder serves every target of a worker, so what a failing target leaves
// behind would grow with its scrapes, forever where no healthy target
// shares the worker (receiver_creator runs a receiver per target).
func TestStringsForgottenOnEveryPath(t *testing.T) {
	const fresh = 1000
	var d Decoder
	for seed := range 50 {
		_, err := d.Decode(bytes.NewReader(hostile.FreshStrings(seed, fresh, 32)), defaultLimits)
		require.ErrorIs(t, err, ErrMalformed)
		held := len(d.strings.cur) + len(d.strings.prev)
		require.LessOrEqual(t, held, 2*(fresh+1), "after %d failed profiles", seed+1)
	}
	// A profile that decodes still finds its strings shared with the last.
	b, err := os.ReadFile("../../testdata/profiles/leaktarget.pb.gz")
	require.NoError(t, err)
	first, err := d.Decode(bytes.NewReader(b), defaultLimits)
	require.NoError(t, err)
	name := first.Function[0].Name
	_, err = d.Decode(bytes.NewReader(hostile.FreshStrings(99, fresh, 32)), defaultLimits)
	require.Error(t, err)
	again, err := d.Decode(bytes.NewReader(b), defaultLimits)
	require.NoError(t, err)
	assert.Equal(t, unsafeData(name), unsafeData(again.Function[0].Name), "the string interned once, across a failed profile")
}

// unsafeData is where s's bytes are: two strings interned once share them.
func unsafeData(s string) *byte { return unsafe.StringData(s) }
