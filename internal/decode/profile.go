// Package decode reads the debug=0 goroutine profile served by
// /debug/pprof/goroutine: a gzip-compressed profile.proto message.
//
// The model mirrors profile.proto one to one for the parts a goroutine profile
// fills (samples, locations with inlined lines, functions, labels), resolved
// so that callers never see string-table indexes or ids. It is decoded with a
// hand-written protowire walk rather than google/pprof's profile.Parse, whose
// general object graph costs many times more and trusts the sizes it reads.
package decode // import "github.com/goroutinewatch/goroutinereceiver/internal/decode"

import (
	"encoding/binary"
	"hash/fnv"
)

// Profile is a decoded profile.proto message: its tables, with every id and
// string-table index resolved, ids to positions in the tables and indexes to
// strings. A Profile from a Decoder is the Decoder's: its next Decode
// overwrites it.
type Profile struct {
	// SampleType[i] describes Sample.Value[i]: "goroutine"/"count" for the
	// goroutine profile, "goroutineleak"/"count" for the leak profile.
	SampleType []ValueType
	Sample     []Sample
	Location   []Location
	Function   []Function
	// Mapping lists the target's memory mappings: its binary and, on Linux,
	// its shared objects and [vdso], at addresses ASLR draws anew per process.
	Mapping []Mapping
	// TimeNanos is when the target took the profile, in Unix nanoseconds.
	TimeNanos int64
	// StringsCut counts strings cut to Limits.MaxStringBytes.
	StringsCut int

	// The arenas the slices of Sample and Location are cut from.
	lines           []Line
	sampleLocations []int32
	labels          []Label
}

// Mapping is profile.proto's Mapping.
type Mapping struct {
	ID          uint64
	MemoryStart uint64
	MemoryLimit uint64
	FileOffset  uint64
	Filename    string
	BuildID     string
}

// Instance identifies the process that wrote the profile: a hash of its
// mappings' addresses, files and build ids. Two profiles of one process share
// it; a restarted process differs, because ASLR places [vdso] and shared
// objects elsewhere and a new build has a new build id. 0 when the profile
// has no mapping (runtimes that cannot read their own maps).
func (p *Profile) Instance() uint64 {
	if len(p.Mapping) == 0 {
		return 0
	}
	// A hash.Hash's Write never returns an error.
	h := fnv.New64a()
	var b [8]byte
	for _, m := range p.Mapping {
		binary.LittleEndian.PutUint64(b[:], m.MemoryStart)
		_, _ = h.Write(b[:])
		binary.LittleEndian.PutUint64(b[:], uint64(len(m.Filename)))
		_, _ = h.Write(b[:])
		_, _ = h.Write([]byte(m.Filename))
		binary.LittleEndian.PutUint64(b[:], uint64(len(m.BuildID)))
		_, _ = h.Write(b[:])
		_, _ = h.Write([]byte(m.BuildID))
	}
	return max(h.Sum64(), 1)
}

// ValueType is profile.proto's ValueType.
type ValueType struct {
	Type, Unit string
}

// Sample is one distinct stack and label set, with its values (for a goroutine
// profile, the number of goroutines in it).
type Sample struct {
	// Location is the stack, innermost call first, as positions in
	// Profile.Location.
	Location []int32
	Value    []int64
	Label    []Label
	// StackCut reports that the stack held more than Limits.MaxFrames
	// locations and the outermost ones were dropped.
	StackCut bool
}

// Location is a program counter; Line holds one entry per function inlined
// at it, innermost first.
type Location struct {
	ID      uint64
	Address uint64
	Line    []Line
}

// Line is profile.proto's Line.
type Line struct {
	// Function is a position in Profile.Function.
	Function int32
	Line     int64
}

// Function is profile.proto's Function.
type Function struct {
	ID         uint64
	Name       string
	SystemName string
	Filename   string
	StartLine  int64
}

// Label is a pprof label; goroutine profiles carry only string labels, so
// numeric ones (Num) are kept but rarely set.
type Label struct {
	Key, Str string
	Num      int64
}
