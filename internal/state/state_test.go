package state

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.uber.org/goleak"

	"github.com/goroutinewatch/goroutinereceiver/internal/evidence"
	"github.com/goroutinewatch/goroutinereceiver/internal/group"
	"github.com/goroutinewatch/goroutinereceiver/internal/signature"
	"github.com/goroutinewatch/goroutinereceiver/internal/state/statetest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var t0 = time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)

func record() Record {
	return Record{
		SavedAt: t0,
		Evidence: evidence.State{
			LeakAt: t0.Add(-time.Hour), LeakAbsentUntil: t0.Add(time.Hour), Leak: evidence.Absent,
		},
		Reported: []signature.ID{1, 0xfedcba9876543210},
		Tracker:  []byte("the tracker's bytes"),
	}
}

func encode(r Record) []byte {
	return r.AppendTo(nil, func(b []byte) []byte { return append(b, r.Tracker...) })
}

// TestRecordRoundTrip reads back every field written, zero times too.
func TestRecordRoundTrip(t *testing.T) {
	for _, give := range []Record{record(), {SavedAt: t0, Reported: []signature.ID{}, Tracker: []byte{}}} {
		got, err := Decode(encode(give), 1<<20)
		require.NoError(t, err)
		assert.True(t, give.SavedAt.Equal(got.SavedAt))
		for _, p := range [][2]time.Time{
			{give.Evidence.LeakAt, got.Evidence.LeakAt},
			{give.Evidence.LeakAbsentUntil, got.Evidence.LeakAbsentUntil},
			{give.Evidence.SuspectAt, got.Evidence.SuspectAt},
		} {
			assert.True(t, p[0].Equal(p[1]), "%v read back as %v", p[0], p[1])
		}
		assert.Equal(t, give.Evidence.Leak, got.Evidence.Leak)
		assert.Equal(t, give.Reported, got.Reported)
		assert.Equal(t, give.Tracker, got.Tracker)
	}
}

// TestDecodeRefuses feeds what is not a record: each is refused with its
// cause.
func TestDecodeRefuses(t *testing.T) {
	good := encode(record())
	future := bytes.Clone(good)
	future[len(magic)] = Version + 1
	tests := []struct {
		name string
		give []byte
		max  int
		want error
	}{
		{name: "nothing", give: nil, want: ErrNotState},
		{name: "another format", give: []byte("{\"offset\": 12}"), want: ErrNotState},
		{name: "a future version", give: future, want: ErrVersion},
		{name: "larger than the bound", give: good, max: len(good) - 1, want: ErrTooLarge},
		{name: "a byte more", give: append(bytes.Clone(good), 0), want: ErrCorrupt},
	}
	for i := headerBytes; i < len(good); i++ {
		flipped := bytes.Clone(good)
		flipped[i] ^= 0x10
		tests = append(tests, struct {
			name string
			give []byte
			max  int
			want error
		}{name: fmt.Sprintf("byte %d changed", i), give: flipped, want: ErrCorrupt},
			struct {
				name string
				give []byte
				max  int
				want error
			}{name: fmt.Sprintf("cut at %d", i), give: good[:i], want: ErrCorrupt})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Decode(tt.give, cmpOr(tt.max, 1<<20))
			assert.ErrorIs(t, err, tt.want)
		})
	}
}

// TestDecodeFields refuses records whose checksum holds but whose fields
// are wrong: what a writer with a bug would leave. A record whose times are
// all zero has a byte for each, so the availability is the fifth byte of
// the body and the count of signatures the sixth.
func TestDecodeFields(t *testing.T) {
	tests := []struct {
		name string
		at   int
		give byte
	}{
		{name: "an availability past the known", at: 4, give: byte(evidence.Served) + 1},
		{name: "a hundred signatures in no bytes", at: 5, give: 100},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := Record{}
			b := r.AppendTo(nil, func(b []byte) []byte { return b })
			b[headerBytes+tt.at] = tt.give
			binary.LittleEndian.PutUint32(b[headerBytes-4:], crc32.Checksum(b[headerBytes:], castagnoli))
			_, err := Decode(b, 1<<20)
			assert.ErrorIs(t, err, ErrCorrupt)
		})
	}
}

func cmpOr(a, b int) int {
	if a != 0 {
		return a
	}
	return b
}

func TestKeys(t *testing.T) {
	for _, k := range []group.Key{{ID: 7}, {ID: 1 << 63, Labels: "\x03GET\x05/cart"}} {
		got, err := ReadKey(AppendKey(nil, k))
		require.NoError(t, err)
		assert.Equal(t, k, got)
	}
	_, err := ReadKey([]byte{1, 2, 3})
	assert.Error(t, err)
}

// fileStorage returns a client of the real file_storage extension, in
// dir.
func fileStorage(t *testing.T, dir string) storage.Client {
	t.Helper()
	client, err := statetest.FileStorage(t, dir).GetClient(context.Background(), component.KindReceiver, component.MustNewID("goroutine"), "")
	require.NoError(t, err)
	return client
}

// TestOpenDeletes starts a store three times over the real file_storage:
// the records of the targets the second start no longer configures are
// deleted, the others kept.
func TestOpenDeletes(t *testing.T) {
	ctx := context.Background()
	client := fileStorage(t, t.TempDir())
	a, b, c := Key("http://a:6060/debug/pprof/goroutine"), Key("http://b:6060/debug/pprof/goroutine"), Key("http://c:6060/debug/pprof/goroutine")

	s, deleted, err := Open(ctx, client, []string{a, b})
	require.NoError(t, err)
	assert.Zero(t, deleted)
	require.NoError(t, s.Save(ctx, a, []byte("a")))
	require.NoError(t, s.Save(ctx, b, []byte("b")))

	s, deleted, err = Open(ctx, client, []string{b, c})
	require.NoError(t, err)
	assert.Equal(t, 1, deleted)
	for key, want := range map[string][]byte{a: nil, b: []byte("b"), c: nil} {
		got, err := s.Load(ctx, key)
		require.NoError(t, err)
		assert.Equal(t, want, got, key)
	}
	require.NoError(t, s.Save(ctx, c, []byte("c")))

	// An index that is not one is written anew, and said so.
	require.NoError(t, client.Set(ctx, indexKey, []byte("garbage")))
	s, deleted, err = Open(ctx, client, []string{c})
	require.ErrorIs(t, err, ErrNotState)
	assert.Zero(t, deleted)
	_, _, err = Open(ctx, client, []string{c})
	require.NoError(t, err, "the index was written anew")
	got, err := s.Load(ctx, c)
	require.NoError(t, err)
	assert.Equal(t, []byte("c"), got)
}

// TestStorageFails runs a store whose storage has failed (its client
// closed): every operation says so, none panics.
func TestStorageFails(t *testing.T) {
	ctx := context.Background()
	client := fileStorage(t, t.TempDir())
	require.NoError(t, client.Close(ctx))
	s, _, err := Open(ctx, client, []string{Key("http://a")})
	require.Error(t, err)
	_, err = s.Load(ctx, Key("http://a"))
	assert.Error(t, err)
	assert.Error(t, s.Save(ctx, Key("http://a"), []byte("a")))
}

func TestIndexRefuses(t *testing.T) {
	good := appendIndex(nil, []string{"target a", "target b"})
	for n := 1; n < len(good); n++ {
		_, err := decodeIndex(good[:n])
		assert.ErrorIs(t, err, ErrCorrupt, "cut at %d", n)
	}
	keys, err := decodeIndex(good)
	require.NoError(t, err)
	assert.Equal(t, []string{"target a", "target b"}, keys)
}

// FuzzDecode: no input crashes Decode.
func FuzzDecode(f *testing.F) {
	f.Add(encode(record()))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := Decode(b, 1<<20)
		if err == nil {
			assert.LessOrEqual(t, len(r.Tracker), len(b))
		}
	})
}
