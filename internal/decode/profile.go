// Package decode reads the debug=0 goroutine profile served by
// /debug/pprof/goroutine: a gzip-compressed profile.proto message.
//
// The model mirrors profile.proto one to one for the parts a goroutine profile
// fills (samples, locations with inlined lines, functions, labels), resolved
// so that callers never see string-table indexes or ids. It is decoded with a
// hand-written protowire walk rather than google/pprof's profile.Parse, whose
// general object graph costs many times more and trusts the sizes it reads.
package decode // import "github.com/goroutinewatch/goroutinereceiver/internal/decode"

// Profile is a decoded profile.proto message.
type Profile struct {
	// SampleType[i] describes Sample.Value[i]: "goroutine"/"count" for the
	// goroutine profile, "goroutineleak"/"count" for the leak profile.
	SampleType []ValueType
	Sample     []*Sample
	// TimeNanos is when the target took the profile, in Unix nanoseconds.
	TimeNanos int64
}

// ValueType is profile.proto's ValueType.
type ValueType struct {
	Type, Unit string
}

// Sample is one distinct stack and label set, with its values (for a goroutine
// profile, the number of goroutines in it).
type Sample struct {
	// Location is the stack, innermost call first.
	Location []*Location
	Value    []int64
	Label    []Label
	// Truncated reports that the stack held more than Limits.MaxFrames
	// locations and the outermost ones were dropped.
	Truncated bool
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
	Function *Function
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
