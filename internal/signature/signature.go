// Package signature names a goroutine stack: a stable id for grouping, what
// the goroutine waits on, where in user code it is stuck and what it was
// started with.
package signature // import "github.com/goroutinewatch/goroutinereceiver/internal/signature"

import (
	"encoding/binary"
	"strconv"
	"strings"
)

// Frame is one call in a stack, with inlined calls given frames of their own.
type Frame struct {
	Function string // fully qualified, without arguments: "main.(*ttlCache).cacheJanitor"
	File     string
	Line     int64
}

// ID is a signature: a 64-bit hash of the stack's significant frames.
type ID uint64

// String returns the id as 16 lower-case hex digits, the form emitted as
// goroutine.signature.
func (id ID) String() string {
	const digits = "0123456789abcdef"
	var b [16]byte
	for i := 15; i >= 0; i-- {
		b[i] = digits[id&0xf]
		id >>= 4
	}
	return string(b[:])
}

// Mode says what of a frame takes part in the id.
type Mode int

const (
	// ByFunction hashes function names only: a group keeps its id when
	// unrelated edits move its lines.
	ByFunction Mode = iota
	// ByLine hashes function names and lines: two go statements in one
	// function become two groups.
	ByLine
)

const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
	// chainBase is the polynomial's base: odd, so that its powers never
	// reach 0 modulo 2^64, with its bits well mixed.
	chainBase = 0x9e3779b97f4a7c15
)

// Of returns the id of a stack, innermost frame first.
//
// Unexported runtime frames (runtime.gopark, runtime.main, runtime.goexit)
// are left out: they say how the goroutine parks, which the wait kind already
// tells, and the runtime's own text dump (debug=2) hides them, so leaving them
// out gives the same id to the same stack read from either format.
func Of(frames []Frame, mode Mode) ID {
	c := Empty
	for _, f := range frames {
		c = c.Then(FrameChain(f.Function, f.Line, mode))
	}
	return c.ID()
}

// Chain is the hash of a run of frames, built so that a stack's hash can be
// put together from its parts': the chain of a location's inlined frames is
// computed once per profile, and a sample's id is its locations' chains
// joined, two multiplications each, with no string read again.
//
// It is a polynomial in the frames' own hashes modulo 2^64:
// sum = h1*B^(n-1) + ... + hn, scale = B^n. Each frame's hash is an FNV-1a
// of its function name prefixed with its length (and of its line, by line),
// so no two different stacks are spelled as the same bytes
// ("a.b"+"c" against "a"+"b.c").
type Chain struct {
	sum, scale uint64
}

// Empty is the chain of no frames.
var Empty = Chain{scale: 1}

// FrameChain is the chain of one frame: Empty for a frame the id leaves out.
func FrameChain(function string, line int64, mode Mode) Chain {
	if hiddenRuntimeFrame(function) {
		return Empty
	}
	h := fnv64a(fnvOffset)
	var n [binary.MaxVarintLen64]byte
	h.bytes(n[:binary.PutUvarint(n[:], uint64(len(function)))])
	h.string(function)
	if mode == ByLine {
		h.bytes(n[:binary.PutVarint(n[:], line)])
	}
	return Chain{sum: uint64(h), scale: chainBase}
}

// Then returns c followed by d.
func (c Chain) Then(d Chain) Chain {
	return Chain{sum: c.sum*d.scale + d.sum, scale: c.scale * d.scale}
}

// ID finishes the chain: scale brings in the number of frames, and a
// final mix (splitmix64's) spreads the polynomial's bits.
func (c Chain) ID() ID {
	z := c.sum ^ c.scale*0xbf58476d1ce4e5b9
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return ID(z ^ z>>31)
}

// fnv64a is FNV-1a written out so that hashing a string needs no []byte copy.
type fnv64a uint64

func (h *fnv64a) bytes(b []byte) {
	for _, c := range b {
		*h = (*h ^ fnv64a(c)) * fnvPrime
	}
}

func (h *fnv64a) string(s string) {
	for i := range len(s) {
		*h = (*h ^ fnv64a(s[i])) * fnvPrime
	}
}

// hiddenRuntimeFrame reports the frames the runtime's tracebacks hide:
// unexported functions of package runtime.
func hiddenRuntimeFrame(fn string) bool {
	rest, ok := strings.CutPrefix(fn, "runtime.")
	return ok && rest != "" && (rest[0] < 'A' || rest[0] > 'Z')
}

// ParseMode reads the `signature` config value.
func ParseMode(s string) (Mode, bool) {
	switch s {
	case "function":
		return ByFunction, true
	case "line":
		return ByLine, true
	}
	return 0, false
}

func (m Mode) String() string {
	switch m {
	case ByFunction:
		return "function"
	case ByLine:
		return "line"
	}
	return "Mode(" + strconv.Itoa(int(m)) + ")"
}
