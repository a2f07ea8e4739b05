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

// ID is a signature: a 64-bit FNV-1a hash of the stack's significant frames.
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
)

// Of returns the id of a stack, innermost frame first.
//
// Unexported runtime frames (runtime.gopark, runtime.main, runtime.goexit)
// are left out: they say how the goroutine parks, which the wait kind already
// tells, and the runtime's own text dump (debug=2) hides them, so leaving them
// out gives the same id to the same stack read from either format. Each part
// is prefixed with its length so that no two different stacks can be spelled
// as the same bytes ("a.b"+"c" against "a"+"b.c").
func Of(frames []Frame, mode Mode) ID {
	h := fnv64a(fnvOffset)
	var n [binary.MaxVarintLen64]byte
	for _, f := range frames {
		if hiddenRuntimeFrame(f.Function) {
			continue
		}
		h.bytes(n[:binary.PutUvarint(n[:], uint64(len(f.Function)))])
		h.string(f.Function)
		if mode == ByLine {
			h.bytes(n[:binary.PutVarint(n[:], f.Line)])
		}
	}
	return ID(h)
}

// fnv64a is FNV-1a written out so that hashing a string needs no []byte copy.
type fnv64a uint64

func (h *fnv64a) bytes(b []byte) {
	for _, c := range b {
		*h = (*h ^ fnv64a(c)) * fnvPrime
	}
}

func (h *fnv64a) string(s string) {
	for i := 0; i < len(s); i++ {
		*h = (*h ^ fnv64a(s[i])) * fnvPrime
	}
}

// hiddenRuntimeFrame reports the frames the runtime's tracebacks hide:
// unexported functions of package runtime.
func hiddenRuntimeFrame(fn string) bool {
	rest, ok := strings.CutPrefix(fn, "runtime.")
	return ok && rest != "" && !(rest[0] >= 'A' && rest[0] <= 'Z')
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
