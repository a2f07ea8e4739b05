package decode

import (
	"bytes"
	"compress/gzip"
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/encoding/protowire"
)

// worstCase returns at most 64 KiB of gzip that decompresses to as many
// copies of msg as the compression-ratio limit lets through: the most a
// 64 KiB response can make the decoder build.
func worstCase(t *testing.T, msg []byte) []byte {
	t.Helper()
	const budget = 64 << 10
	out := int64(RatioSlack + MaxRatio*budget*9/10)
	head := protowire.AppendString(protowire.AppendTag(nil, profileStringTable, protowire.BytesType), "")
	var buf bytes.Buffer
	w, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	require.NoError(t, err)
	_, _ = w.Write(head)
	chunk := bytes.Repeat(msg, (64<<10)/len(msg))
	for n := int64(0); n < out; n += int64(len(chunk)) {
		_, _ = w.Write(chunk)
	}
	require.NoError(t, w.Close())
	require.LessOrEqual(t, buf.Len(), budget, "the crafted input outgrew 64 KiB")
	return buf.Bytes()
}

// TestSmallInputsCostLittle decodes, for each kind of table entry, the
// 64 KiB input that makes the most of them, and requires it to cost less
// than 64 MiB of allocation, whatever error ends it.
func TestSmallInputsCostLittle(t *testing.T) {
	empty := func(field protowire.Number) []byte {
		return protowire.AppendBytes(protowire.AppendTag(nil, field, protowire.BytesType), nil)
	}
	withID := func(field protowire.Number) []byte {
		m := protowire.AppendVarint(protowire.AppendTag(nil, 1, protowire.VarintType), 1)
		return protowire.AppendBytes(protowire.AppendTag(nil, field, protowire.BytesType), m)
	}
	oneLine := protowire.AppendBytes(protowire.AppendTag(nil, locationLine, protowire.BytesType), nil)
	labeled := protowire.AppendBytes(protowire.AppendTag(nil, sampleLabel, protowire.BytesType), nil)
	kinds := map[string][]byte{
		"empty samples":        empty(profileSample),
		"labeled samples":      protowire.AppendBytes(protowire.AppendTag(nil, profileSample, protowire.BytesType), bytes.Repeat(labeled, 8)),
		"locations":            withID(profileLocation),
		"locations with lines": protowire.AppendBytes(protowire.AppendTag(nil, profileLocation, protowire.BytesType), bytes.Repeat(oneLine, 8)),
		"functions":            withID(profileFunction),
		"mappings":             empty(profileMapping),
		"strings":              empty(profileStringTable),
		"sample types":         empty(profileSampleType),
		"unknown fields":       protowire.AppendVarint(protowire.AppendTag(nil, 15, protowire.VarintType), 0),
	}
	for name, msg := range kinds {
		t.Run(name, func(t *testing.T) {
			in := worstCase(t, msg)
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			_, err := Decode(bytes.NewReader(in), defaultLimits)
			runtime.ReadMemStats(&after)
			allocated := after.TotalAlloc - before.TotalAlloc
			t.Logf("%d bytes of gzip: %v; %d MiB allocated", len(in), err, allocated>>20)
			assert.Less(t, allocated, uint64(64<<20), "%s: %d MiB", name, allocated>>20)
		})
	}
}
