package otlpprofile

import (
	"bytes"
	"strconv"
	"strings"
	"testing"

	"github.com/google/pprof/profile"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pprofile"
	"go.uber.org/goleak"

	"github.com/goroutinewatch/goroutinereceiver/internal/signature"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var (
	park    = signature.Frame{Function: "runtime.gopark", File: "/go/src/runtime/proc.go", Line: 462}
	send    = signature.Frame{Function: "runtime.chansend1", File: "/go/src/runtime/chan.go", Line: 161}
	worker  = signature.Frame{Function: "main.fanoutWorker", File: "/app/patterns.go", Line: 50}
	pool    = signature.Frame{Function: "main.poolWorker", File: "/app/patterns.go", Line: 90}
	receive = signature.Frame{Function: "runtime.chanrecv1", File: "/go/src/runtime/chan.go", Line: 506}
)

// written is a batch of two profiles of one target, as the receiver writes
// them: the goroutine profile with two groups and the rest, the
// goroutineleak profile with the proven one. It goes through the OTLP wire
// format, as it would to another collector.
func written(t *testing.T) pprofile.Profiles {
	t.Helper()
	b := NewBatch(8, 4)
	sp := b.Profiles().ResourceProfiles().AppendEmpty().ScopeProfiles().AppendEmpty()
	at := pcommon.Timestamp(1_700_000_000_000_000_000)
	g := b.NewProfile(sp, Goroutine, at, "http://127.0.0.1:6060/debug/pprof/goroutine")
	g.Add([]signature.Frame{park, send, worker}, 120, Attr{"goroutine.signature", "2a1669c72df75be5"}, Attr{"goroutine.leak", "suspected"})
	g.Add([]signature.Frame{park, receive, pool}, 16, Attr{"goroutine.signature", "9f00aa11bb22cc33"})
	g.Add(nil, 7, Attr{"goroutine.signature", "other"})
	l := b.NewProfile(sp, GoroutineLeak, at, "http://127.0.0.1:6060/debug/pprof/goroutine")
	l.Add([]signature.Frame{park, send, worker}, 118, Attr{"goroutine.signature", "2a1669c72df75be5"}, Attr{"goroutine.leak", "proven"})

	raw, err := (&pprofile.ProtoMarshaler{}).MarshalProfiles(b.Profiles())
	require.NoError(t, err)
	got, err := (&pprofile.ProtoUnmarshaler{}).UnmarshalProfiles(raw)
	require.NoError(t, err)
	return got
}

// TestRoundTrip writes profiles and reads them back as google/pprof does,
// through its own encoder and parser: the types a profiler names them by,
// every stack, value and label, the tables shared.
func TestRoundTrip(t *testing.T) {
	ps := written(t)
	assert.Equal(t, 4, ps.SampleCount())
	// One dictionary for both: the fan-out stack is stored once.
	assert.Equal(t, 3, ps.Dictionary().StackTable().Len(), "the zero stack and two")
	assert.Equal(t, 6, ps.Dictionary().LocationTable().Len(), "the zero location and five")

	profs, err := ToPprof(ps)
	require.NoError(t, err)
	require.Len(t, profs, 2)
	for i, p := range profs {
		var buf bytes.Buffer
		require.NoError(t, p.Write(&buf))
		profs[i], err = profile.ParseData(buf.Bytes())
		require.NoError(t, err)
	}

	g := profs[0]
	assert.Equal(t, []*profile.ValueType{{Type: "goroutine", Unit: "count"}}, g.SampleType)
	assert.Equal(t, &profile.ValueType{Type: "goroutine", Unit: "count"}, g.PeriodType)
	assert.Equal(t, int64(1), g.Period)
	assert.Equal(t, int64(1_700_000_000_000_000_000), g.TimeNanos)
	type sample struct {
		stack []string
		value int64
		label map[string][]string
	}
	var got []sample
	for _, s := range g.Sample {
		var stack []string
		for _, l := range s.Location {
			require.Len(t, l.Line, 1)
			stack = append(stack, l.Line[0].Function.Name+":"+l.Line[0].Function.Filename+":"+strconv.FormatInt(l.Line[0].Line, 10))
		}
		got = append(got, sample{stack, s.Value[0], s.Label})
	}
	assert.Equal(t, []sample{
		{
			[]string{"runtime.gopark:/go/src/runtime/proc.go:462", "runtime.chansend1:/go/src/runtime/chan.go:161", "main.fanoutWorker:/app/patterns.go:50"},
			120,
			map[string][]string{"goroutine.signature": {"2a1669c72df75be5"}, "goroutine.leak": {"suspected"}},
		},
		{
			[]string{"runtime.gopark:/go/src/runtime/proc.go:462", "runtime.chanrecv1:/go/src/runtime/chan.go:506", "main.poolWorker:/app/patterns.go:90"},
			16,
			map[string][]string{"goroutine.signature": {"9f00aa11bb22cc33"}},
		},
		{nil, 7, map[string][]string{"goroutine.signature": {"other"}}},
	}, got)

	l := profs[1]
	assert.Equal(t, "goroutineleak", l.SampleType[0].Type)
	require.Len(t, l.Sample, 1)
	assert.Equal(t, int64(118), l.Sample[0].Value[0])
	assert.Equal(t, "main.fanoutWorker", l.Sample[0].Location[2].Line[0].Function.Name)
}

// TestProfileID: the same target's profile of the same time has the same
// id, another time or target another.
func TestProfileID(t *testing.T) {
	id := func(target string, at pcommon.Timestamp) pprofile.ProfileID {
		b := NewBatch(8, 4)
		sp := b.Profiles().ResourceProfiles().AppendEmpty().ScopeProfiles().AppendEmpty()
		return b.NewProfile(sp, Goroutine, at, target).p.ProfileID()
	}
	same := id("a", 1)
	assert.Equal(t, same, id("a", 1))
	assert.NotEqual(t, id("a", 1), id("a", 2))
	assert.NotEqual(t, id("a", 1), id("b", 1))
	assert.False(t, id("a", 1).IsEmpty())

	// The goroutine and the goroutineleak profile of one scrape.
	ps := written(t)
	profs := ps.ResourceProfiles().At(0).ScopeProfiles().At(0).Profiles()
	assert.NotEqual(t, profs.At(0).ProfileID(), profs.At(1).ProfileID())
}

// TestToPprofRefusesBadIndexes feeds ToPprof profiles whose indexes point
// outside their tables, as a hostile or broken sender's would: each is an
// error naming the table, never a panic.
func TestToPprofRefusesBadIndexes(t *testing.T) {
	tests := []struct {
		name   string
		mangle func(ps pprofile.Profiles)
		want   string
	}{
		{"stack", func(ps pprofile.Profiles) { sample(ps).SetStackIndex(99) }, "stack 99: index out of range"},
		{"negative stack", func(ps pprofile.Profiles) { sample(ps).SetStackIndex(-1) }, "stack -1: index out of range"},
		{"attribute", func(ps pprofile.Profiles) { sample(ps).AttributeIndices().SetAt(0, 1000) }, "attribute 1000: index out of range"},
		{"location", func(ps pprofile.Profiles) { ps.Dictionary().StackTable().At(1).LocationIndices().SetAt(0, 50) }, "location 50: index out of range"},
		{"function", func(ps pprofile.Profiles) {
			ps.Dictionary().LocationTable().At(1).Lines().At(0).SetFunctionIndex(77)
		}, "function 77: index out of range"},
		{"string", func(ps pprofile.Profiles) { ps.Dictionary().FunctionTable().At(1).SetNameStrindex(5000) }, "string 5000: index out of range"},
		{"sample type", func(ps pprofile.Profiles) { profileOf(ps).SampleType().SetTypeStrindex(-3) }, "sample type: string -3: index out of range"},
		{"the zero location", func(ps pprofile.Profiles) { ps.Dictionary().StackTable().At(1).LocationIndices().SetAt(0, 0) }, "location"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ps := written(t)
			tt.mangle(ps)
			_, err := ToPprof(ps)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}

func profileOf(ps pprofile.Profiles) pprofile.Profile {
	return ps.ResourceProfiles().At(0).ScopeProfiles().At(0).Profiles().At(0)
}

func sample(ps pprofile.Profiles) pprofile.Sample { return profileOf(ps).Samples().At(0) }

// FuzzToPprof feeds ToPprof whatever an OTLP profiles request can decode
// to: it must return profiles or an error, never panic. The seed is the
// batch TestRoundTrip reads.
//
//	go test -run '^$' -fuzz FuzzToPprof ./internal/otlpprofile
func FuzzToPprof(f *testing.F) {
	b := NewBatch(8, 4)
	sp := b.Profiles().ResourceProfiles().AppendEmpty().ScopeProfiles().AppendEmpty()
	g := b.NewProfile(sp, Goroutine, 1, "seed")
	g.Add([]signature.Frame{park, send, worker}, 120, Attr{"goroutine.signature", "2a1669c72df75be5"})
	g.Add(nil, 7, Attr{"goroutine.signature", "other"})
	raw, err := (&pprofile.ProtoMarshaler{}).MarshalProfiles(b.Profiles())
	require.NoError(f, err)
	f.Add(raw)
	f.Fuzz(func(t *testing.T, raw []byte) {
		ps, err := (&pprofile.ProtoUnmarshaler{}).UnmarshalProfiles(raw)
		if err != nil {
			return
		}
		profs, err := ToPprof(ps)
		if err == nil {
			for _, p := range profs {
				require.NoError(t, p.CheckValid())
			}
		}
	})
}

// TestCheck bounds what reading a profile would build before it is built:
// its samples, the entries its own samples reach (not its batch's, which
// other profiles share), and the frames, lines and attributes read, with a
// stack counted up to MaxFrames+1.
func TestCheck(t *testing.T) {
	deep := make([]signature.Frame, 3000)
	for i := range deep {
		deep[i] = signature.Frame{Function: "f" + strconv.Itoa(i), File: "deep.go", Line: int64(i)}
	}
	tests := []struct {
		name  string
		lim   Limits
		build func(b *Batch, sp pprofile.ScopeProfiles)
		want  string
	}{
		{"within", Limits{MaxSamples: 10, MaxEntries: 10, MaxRead: 100}, func(b *Batch, sp pprofile.ScopeProfiles) {
			b.NewProfile(sp, Goroutine, 1, "x").Add([]signature.Frame{park, send, worker}, 4)
		}, ""},
		{"samples", Limits{MaxSamples: 2}, func(b *Batch, sp pprofile.ScopeProfiles) {
			p := b.NewProfile(sp, Goroutine, 1, "x")
			for range 3 {
				p.Add(nil, 1)
			}
		}, "max_samples (2)"},
		{"a shared stack read a thousand times", Limits{MaxRead: 100_000}, func(b *Batch, sp pprofile.ScopeProfiles) {
			p := b.NewProfile(sp, Goroutine, 1, "x")
			for range 1000 {
				p.Add(deep[:1000], 1)
			}
		}, "max_profile_bytes (100000)"},
		{"a deep stack counted to MaxFrames+1", Limits{MaxFrames: 10, MaxRead: 100}, func(b *Batch, sp pprofile.ScopeProfiles) {
			p := b.NewProfile(sp, Goroutine, 1, "x")
			for range 4 {
				p.Add(deep, 1) // 4 × 11 frames and their 11 locations' lines: 55
			}
		}, ""},
		{"entries its samples reach", Limits{MaxEntries: 10}, func(b *Batch, sp pprofile.ScopeProfiles) {
			b.NewProfile(sp, Goroutine, 1, "x").Add(deep[:6], 1) // 6 locations, 6 functions
		}, "max_locations (10)"},
		{"a long string referenced many times", Limits{MaxRead: 100_000}, func(b *Batch, sp pprofile.ScopeProfiles) {
			long := strings.Repeat("x", 1<<20)
			p := b.NewProfile(sp, Goroutine, 1, "x")
			attrs := make([]Attr, 300)
			for i := range attrs {
				attrs[i] = Attr{Key: "k" + strconv.Itoa(i%3), Value: long}
			}
			p.Add(nil, 1, attrs...)
		}, "max_profile_bytes (100000)"},
		{"entries of the batch's other profiles", Limits{MaxEntries: 10}, func(b *Batch, sp pprofile.ScopeProfiles) {
			b.NewProfile(sp, Goroutine, 1, "other").Add(deep[100:1000], 1)
			b.NewProfile(sp, Goroutine, 1, "x").Add(deep[:4], 1)
		}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := NewBatch(8, 4)
			sp := b.Profiles().ResourceProfiles().AppendEmpty().ScopeProfiles().AppendEmpty()
			tt.build(b, sp)
			profs := sp.Profiles()
			err := Check(b.Profiles().Dictionary(), profs.At(profs.Len()-1), tt.lim)
			if tt.want == "" {
				assert.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}

// TestToPprofReadsScalarAttributes: an attribute that is a map, a list or
// bytes is no label, and is not copied out as one for each reference.
func TestToPprofReadsScalarAttributes(t *testing.T) {
	b := NewBatch(8, 4)
	sp := b.Profiles().ResourceProfiles().AppendEmpty().ScopeProfiles().AppendEmpty()
	b.NewProfile(sp, Goroutine, 1, "x").Add([]signature.Frame{worker}, 1, Attr{"s", "v"})
	kv := b.dict.AttributeTable().AppendEmpty()
	kv.SetKeyStrindex(b.str("blob"))
	kv.Value().SetEmptyBytes().FromRaw(make([]byte, 1<<20))
	n := b.dict.AttributeTable().Len() - 1
	s := sp.Profiles().At(0).Samples().At(0)
	for range 100 {
		s.AttributeIndices().Append(int32(n))
	}
	s.AttributeIndices().Append(b.attr(Attr{"n", "1"}))
	profs, err := ToPprof(b.Profiles())
	require.NoError(t, err)
	assert.Equal(t, map[string][]string{"s": {"v"}, "n": {"1"}}, profs[0].Sample[0].Label)
}
