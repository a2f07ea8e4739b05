package hostile

import (
	"bytes"
	"compress/gzip"
	"io"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// The inputs are what their names say: checked by decompressing them.
func TestGzipBomb(t *testing.T) {
	var wire bytes.Buffer
	n, err := io.Copy(&wire, GzipBomb(8<<20))
	require.NoError(t, err)
	assert.Equal(t, GzipBombSize(8<<20), n)
	zr, err := gzip.NewReader(&wire)
	require.NoError(t, err)
	out, err := io.Copy(io.Discard, zr)
	require.NoError(t, err)
	assert.Equal(t, int64(8<<20), out)
	assert.Less(t, n*500, out, "a bomb expands more than 500 times")
}

func TestEmptyMembers(t *testing.T) {
	zr, err := gzip.NewReader(EmptyMembers(1000))
	require.NoError(t, err)
	out, err := io.Copy(io.Discard, zr)
	require.NoError(t, err)
	assert.Zero(t, out)
}

func TestHugeSample(t *testing.T) {
	b := HugeSample(4 << 20)
	assert.Less(t, len(b), 8<<10, "4 MiB of location ids compress to a few KiB")
	zr, err := gzip.NewReader(bytes.NewReader(b))
	require.NoError(t, err)
	out, err := io.Copy(io.Discard, zr)
	require.NoError(t, err)
	assert.Greater(t, out, int64(4<<20))
}
