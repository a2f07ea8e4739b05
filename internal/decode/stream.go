package decode

import (
	"bufio"
	"compress/flate"
	"compress/gzip"
	"errors"
	"fmt"
	"io"

	"github.com/goroutinewatch/goroutinereceiver/internal/limit"
)

// MaxRatio bounds how many times its compressed size a body may expand to,
// past the first RatioSlack bytes. Goroutine profiles compress about 6 to 1
// (measured on 20,000 goroutines); deflate cannot pass about 1032 to 1, and
// a gzip bomb sits there. Refusing beyond 250 to 1 leaves real profiles, even
// of deep identical recursion, a wide margin and stops a bomb after about
// 1 MiB instead of at max_profile_bytes.
const (
	MaxRatio   = 250
	RatioSlack = 1 << 20
)

// MaxMessageBytes bounds one top-level message of the profile (a sample, a
// location, a string). A real one is a few kilobytes; the decoder refuses a
// larger one from its length prefix, before reading it, so a crafted sample
// claiming millions of locations costs nothing.
const MaxMessageBytes = 1 << 20

// stream turns a response body into the bytes of one profile message:
// gunzipped when the body starts with gzip's magic, and bounded in size and,
// under gzip, in expansion. Its readers are kept from one body to the next.
type stream struct {
	src        *bufio.Reader // the body, peeked for gzip's magic
	compressed countingReader
	gz         gzip.Reader
	bounded    boundedReader
	messages   *bufio.Reader // what bounded yields
}

// open returns the stream of profile bytes in r, reading past limit bytes of
// which fails with limit.MaxProfileBytes.
func (s *stream) open(r io.Reader, maxBytes int64) (*bufio.Reader, error) {
	if s.src == nil {
		s.src = bufio.NewReaderSize(r, 32<<10)
	} else {
		s.src.Reset(r)
	}
	magic, err := s.src.Peek(2)
	switch {
	case len(magic) == 0 && errors.Is(err, io.EOF):
		return nil, fmt.Errorf("%w: empty body", ErrMalformed)
	case err != nil && !errors.Is(err, io.EOF):
		return nil, err
	}
	s.bounded = boundedReader{r: s.src, left: maxBytes, max: maxBytes}
	if len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		s.compressed = countingReader{r: s.src}
		if err := s.gz.Reset(&s.compressed); err != nil {
			return nil, fmt.Errorf("%w: gzip: %w", ErrMalformed, err)
		}
		s.bounded = boundedReader{r: &s.gz, left: maxBytes, max: maxBytes, compressed: &s.compressed}
	}
	if s.messages == nil {
		s.messages = bufio.NewReaderSize(&s.bounded, 32<<10)
	} else {
		s.messages.Reset(&s.bounded)
	}
	return s.messages, nil
}

// countingReader counts the compressed bytes under a gzip stream, against
// which its expansion is measured.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// boundedReader fails once more than max bytes are read, where
// io.LimitReader would end quietly and leave a cut profile, and, when
// compressed counts the bytes under a gzip stream, once the stream expands
// more than MaxRatio times.
type boundedReader struct {
	r          io.Reader
	left, max  int64
	compressed *countingReader
}

func (b *boundedReader) Read(p []byte) (int, error) {
	if b.left < 0 {
		return 0, limit.Exceeded(limit.MaxProfileBytes, b.max)
	}
	if int64(len(p)) > b.left+1 {
		p = p[:b.left+1]
	}
	n, err := b.r.Read(p)
	b.left -= int64(n)
	if b.left < 0 {
		return 0, limit.Exceeded(limit.MaxProfileBytes, b.max)
	}
	if b.compressed != nil {
		if out := b.max - b.left; out > RatioSlack && out > MaxRatio*b.compressed.n {
			return 0, limit.Exceeded(limit.CompressionRatio, MaxRatio)
		}
	}
	return n, err
}

// streamErr names what went wrong reading the stream: a limit, a gzip
// stream cut short or corrupt, or a message cut short.
func streamErr(err error) error {
	var corrupt flate.CorruptInputError
	switch {
	case errors.Is(err, limit.ErrLimit):
		return err
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return fmt.Errorf("%w: truncated: %w", ErrMalformed, io.ErrUnexpectedEOF)
	case errors.Is(err, gzip.ErrChecksum), errors.Is(err, gzip.ErrHeader), errors.As(err, &corrupt):
		return fmt.Errorf("%w: gzip: %w", ErrMalformed, err)
	}
	return err
}

// readUvarint reads a base-128 varint; one longer than 64 bits is malformed.
func readUvarint(r io.ByteReader) (uint64, error) {
	var v uint64
	for shift := uint(0); shift < 64; shift += 7 {
		b, err := r.ReadByte()
		if err != nil {
			if shift > 0 && errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return 0, err
		}
		if shift == 63 && b > 1 {
			break
		}
		v |= uint64(b&0x7f) << shift
		if b < 0x80 {
			return v, nil
		}
	}
	return 0, fmt.Errorf("%w: varint longer than 64 bits", ErrMalformed)
}
