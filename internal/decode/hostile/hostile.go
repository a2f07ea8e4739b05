// Package hostile builds the inputs a malicious or broken target may serve,
// for the tests and benchmarks of the decoder and the receiver. Each is
// generated as it is read: a 10 GiB bomb costs its reader nothing to hold.
package hostile // import "github.com/goroutinewatch/goroutinereceiver/internal/decode/hostile"

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
)

const memberBytes = 1 << 20

// bombMember is 1 MiB of a field a decoder must read and skip (field 15,
// varint 0), gzip-compressed: zeros would be refused at the first byte, as
// field number 0; this filler is refused only by the byte limit.
var bombMember = sync.OnceValue(func() []byte {
	filler := bytes.Repeat(protowire.AppendVarint(protowire.AppendTag(nil, 15, protowire.VarintType), 0), memberBytes/2)
	var buf bytes.Buffer
	w, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	_, _ = w.Write(filler)
	_ = w.Close()
	return buf.Bytes()
})

// GzipBomb returns a gzip stream that decompresses to n bytes of valid,
// skippable protobuf, as n/1 MiB concatenated members of about 1 KiB each:
// 10 GiB is about 10 MB on the wire, like a bomb served as a debug=0
// profile.
func GzipBomb(n int64) io.Reader {
	return repeat(bombMember(), n/memberBytes)
}

// GzipBombSize is the compressed size of GzipBomb(n).
func GzipBombSize(n int64) int64 {
	return int64(len(bombMember())) * (n / memberBytes)
}

var emptyMember = sync.OnceValue(func() []byte {
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	_ = w.Close()
	return buf.Bytes()
})

// EmptyMembers returns n concatenated gzip members that each decompress to
// nothing.
func EmptyMembers(n int64) io.Reader {
	return repeat(emptyMember(), n)
}

// HugeSample returns a gzip-compressed profile whose one sample lists n
// location ids: a message of n bytes that compresses to about n/1000.
func HugeSample(n int) []byte {
	var buf bytes.Buffer
	w, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	var head []byte
	head = protowire.AppendTag(head, 6, protowire.BytesType) // string_table[0] = ""
	head = protowire.AppendString(head, "")
	ids := protowire.AppendTag(nil, 1, protowire.BytesType) // location_id, packed
	ids = protowire.AppendVarint(ids, uint64(n))
	sample := protowire.AppendTag(nil, 2, protowire.BytesType)
	sample = protowire.AppendVarint(sample, uint64(len(ids)+n))
	_, _ = w.Write(head)
	_, _ = w.Write(sample)
	_, _ = w.Write(ids)
	ones := bytes.Repeat([]byte{1}, 1<<16)
	for left := n; left > 0; left -= len(ones) {
		_, _ = w.Write(ones[:min(left, len(ones))])
	}
	_ = w.Close()
	return buf.Bytes()
}

// FreshStrings returns a gzip-compressed profile of n string-table entries
// no other seed's profile holds, each of size bytes, then a field of a wire
// type profile.proto never uses: a target that sends new strings at every
// scrape and then fails to decode.
func FreshStrings(seed, n, size int) []byte {
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	var b []byte
	b = protowire.AppendTag(b, 6, protowire.BytesType) // string_table[0] = ""
	b = protowire.AppendString(b, "")
	pad := strings.Repeat("x", max(size-24, 0))
	for i := range n {
		b = protowire.AppendTag(b, 6, protowire.BytesType)
		b = protowire.AppendString(b, fmt.Sprintf("fn.%d.%d.%s", seed, i, pad))
	}
	b = protowire.AppendTag(b, 7, protowire.StartGroupType)
	_, _ = w.Write(b)
	_ = w.Close()
	return buf.Bytes()
}

// repeat returns a reader of b, count times over, without holding the copies.
func repeat(b []byte, count int64) io.Reader {
	return &repeater{b: b, left: count}
}

type repeater struct {
	b    []byte
	off  int
	left int64
}

func (r *repeater) Read(p []byte) (int, error) {
	if r.left == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.b[r.off:])
	r.off += n
	if r.off == len(r.b) {
		r.off = 0
		r.left--
	}
	return n, nil
}

// EndlessBody answers with valid, skippable protobuf as fast as it can
// until the client goes away.
func EndlessBody(w http.ResponseWriter, r *http.Request) {
	chunk := bytes.Repeat(protowire.AppendVarint(protowire.AppendTag(nil, 15, protowire.VarintType), 0), 32<<10)
	for r.Context().Err() == nil {
		if _, err := w.Write(chunk); err != nil {
			return
		}
	}
}

// Trickle answers body one byte every interval, over and over, until the
// client goes away: every byte is what a real profile would send, so only a
// deadline can end it.
func Trickle(interval time.Duration, body []byte) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		for i := 0; r.Context().Err() == nil; i++ {
			if _, err := w.Write(body[i%len(body) : i%len(body)+1]); err != nil {
				return
			}
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
			case <-time.After(interval):
			}
		}
	}
}
