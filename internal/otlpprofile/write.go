// Package otlpprofile writes goroutine groups as OTLP profiles
// (pdata/pprofile, the collector's profiles signal) and reads such profiles
// back as google/pprof profiles.
//
// An OTLP profiles batch holds one dictionary for all its profiles: tables
// of strings, functions, locations, stacks and attributes, which samples
// point into by index, entry 0 of each the zero value. pprofile's own
// helpers find an entry by scanning its table, quadratic in a profile of a
// thousand stacks; a Batch keeps an index of each table instead.
package otlpprofile // import "github.com/goroutinewatch/goroutinereceiver/internal/otlpprofile"

import (
	"encoding/binary"
	"hash/fnv"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pprofile"

	"github.com/goroutinewatch/goroutinereceiver/internal/signature"
)

// Kind is the kind of a goroutine profile, named by its sample and period
// type as the Go runtime names its own: a profiler shows it under that name.
type Kind int

const (
	// Goroutine is the goroutine profile: every goroutine, by stack.
	Goroutine Kind = iota
	// GoroutineLeak is the goroutineleak profile: the goroutines the
	// runtime proved blocked forever, by stack.
	GoroutineLeak
)

// Type is the sample and period type of the kind: "goroutine" or
// "goroutineleak", its unit "count", as runtime/pprof writes them.
func (k Kind) Type() (name, unit string) {
	if k == GoroutineLeak {
		return "goroutineleak", "count"
	}
	return "goroutine", "count"
}

// Attr is a string attribute of a sample.
type Attr struct{ Key, Value string }

// Batch is one pprofile.Profiles under construction, with an index of each
// of its dictionary's tables: one a target's scrape. The profiles keep the
// strings they are given, which must not change after (no string of a
// buffer reused).
type Batch struct {
	p    pprofile.Profiles
	dict pprofile.ProfilesDictionary

	strs   map[string]int32
	fns    map[function]int32
	locs   map[signature.Frame]int32
	stacks map[string]int32 // by the stack's location indices, as bytes
	attrs  map[Attr]int32
	key    []byte // scratch: a stack's key
}

type function struct{ name, file int32 }

// NewBatch returns an empty batch whose tables hold their zero entries,
// its indexes sized for about frames frames and stacks stacks: grown from
// nothing, they would be rehashed a dozen times for a large profile.
func NewBatch(frames, stacks int) *Batch {
	b := &Batch{
		p:      pprofile.NewProfiles(),
		strs:   make(map[string]int32, frames),
		fns:    make(map[function]int32, frames),
		locs:   make(map[signature.Frame]int32, frames),
		stacks: make(map[string]int32, stacks),
		attrs:  make(map[Attr]int32, stacks),
	}
	b.dict = b.p.Dictionary()
	b.dict.StringTable().Append("")
	b.strs[""] = 0
	b.dict.FunctionTable().AppendEmpty()
	b.dict.LocationTable().AppendEmpty()
	b.dict.StackTable().AppendEmpty()
	b.dict.AttributeTable().AppendEmpty()
	b.dict.MappingTable().AppendEmpty()
	b.dict.LinkTable().AppendEmpty()
	return b
}

// Profiles returns the batch's profiles; the batch must not be used after.
func (b *Batch) Profiles() pprofile.Profiles { return b.p }

// Profile is one profile of a batch being written.
type Profile struct {
	b *Batch
	p pprofile.Profile
}

// NewProfile appends a profile of kind taken at at to sp, a scope of the
// batch's, and returns it to add samples to. Its id is a hash of id (the
// source's: a receiver's and its target's), at and kind, so that each
// profile of a batch has its own and a profile sent twice has the same.
func (b *Batch) NewProfile(sp pprofile.ScopeProfiles, kind Kind, at pcommon.Timestamp, id string) Profile {
	p := sp.Profiles().AppendEmpty()
	name, unit := kind.Type()
	p.SampleType().SetTypeStrindex(b.str(name))
	p.SampleType().SetUnitStrindex(b.str(unit))
	p.PeriodType().SetTypeStrindex(b.str(name))
	p.PeriodType().SetUnitStrindex(b.str(unit))
	p.SetPeriod(1)
	p.SetTime(at)
	h := fnv.New128a()
	_, _ = h.Write([]byte(id))
	_ = binary.Write(h, binary.LittleEndian, [2]uint64{uint64(at), uint64(kind)})
	var pid pprofile.ProfileID
	copy(pid[:], h.Sum(nil))
	p.SetProfileID(pid)
	return Profile{b: b, p: p}
}

// Add appends a sample of count goroutines whose stack is frames, innermost
// first (a stack of none is the zero stack: goroutines counted without
// theirs), with attrs.
func (p Profile) Add(frames []signature.Frame, count int64, attrs ...Attr) {
	b := p.b
	s := p.p.Samples().AppendEmpty()
	s.SetStackIndex(b.stack(frames))
	s.Values().Append(count)
	for _, a := range attrs {
		s.AttributeIndices().Append(b.attr(a))
	}
}

func (b *Batch) str(s string) int32 {
	if i, ok := b.strs[s]; ok {
		return i
	}
	i := int32(b.dict.StringTable().Len())
	b.dict.StringTable().Append(s)
	b.strs[s] = i
	return i
}

func (b *Batch) function(f signature.Frame) int32 {
	k := function{name: b.str(f.Function), file: b.str(f.File)}
	if i, ok := b.fns[k]; ok {
		return i
	}
	i := int32(b.dict.FunctionTable().Len())
	fn := b.dict.FunctionTable().AppendEmpty()
	fn.SetNameStrindex(k.name)
	fn.SetSystemNameStrindex(k.name)
	fn.SetFilenameStrindex(k.file)
	b.fns[k] = i
	return i
}

// location is a frame's location: its function at its line. Most frames
// of a batch's stacks recur (the runtime's, the server's), so the frame
// itself is the key, hashed once.
func (b *Batch) location(f signature.Frame) int32 {
	if i, ok := b.locs[f]; ok {
		return i
	}
	i := int32(b.dict.LocationTable().Len())
	l := b.dict.LocationTable().AppendEmpty().Lines().AppendEmpty()
	l.SetFunctionIndex(b.function(f))
	l.SetLine(f.Line)
	b.locs[f] = i
	return i
}

func (b *Batch) stack(frames []signature.Frame) int32 {
	if len(frames) == 0 {
		return 0
	}
	b.key = b.key[:0]
	for _, f := range frames {
		b.key = binary.LittleEndian.AppendUint32(b.key, uint32(b.location(f)))
	}
	if i, ok := b.stacks[string(b.key)]; ok {
		return i
	}
	i := int32(b.dict.StackTable().Len())
	st := b.dict.StackTable().AppendEmpty()
	for j := 0; j < len(b.key); j += 4 {
		st.LocationIndices().Append(int32(binary.LittleEndian.Uint32(b.key[j:])))
	}
	b.stacks[string(b.key)] = i
	return i
}

func (b *Batch) attr(a Attr) int32 {
	if i, ok := b.attrs[a]; ok {
		return i
	}
	i := int32(b.dict.AttributeTable().Len())
	kv := b.dict.AttributeTable().AppendEmpty()
	kv.SetKeyStrindex(b.str(a.Key))
	kv.Value().SetStr(a.Value)
	b.attrs[a] = i
	return i
}
