package signature

import "strings"

// Generic names the type arguments of a generic function's instantiation
// the way the runtime's tracebacks do: every bracketed list becomes "[...]".
//
// The two formats of a goroutine endpoint spell the same instantiation two
// ways. The debug=0 profile takes runtime.Frame.Function, which names the
// GC shape of each type argument:
//
//	github.com/jellydator/ttlcache/v3.(*Cache[go.shape.string,go.shape.string]).Start
//	main.Map[go.shape.[]uint8,go.shape.struct { A int; B map[string]int }].func1
//
// and the debug=2 dump, written by the runtime's own printer, elides them:
//
//	github.com/jellydator/ttlcache/v3.(*Cache[...]).Start
//	main.Map[...].func1
//
// A signature hashes the elided spelling, so that one stack has one id in
// either format, and the attributes show the name a traceback shows. The
// shapes carry little for a reader: every pointer type is one shape, and
// the shape of a struct spells all its fields. A name with no bracket is
// returned as is, with no allocation.
func Generic(name string) string {
	open := strings.IndexByte(name, '[')
	if open < 0 || strings.HasPrefix(name[open:], "[...]") && strings.IndexByte(name[open+5:], '[') < 0 {
		return name
	}
	var b strings.Builder
	b.Grow(len(name))
	for {
		b.WriteString(name[:open])
		depth, end := 0, -1
		for i := open; i < len(name); i++ {
			switch name[i] {
			case '[':
				depth++
			case ']':
				depth--
			}
			if depth == 0 {
				end = i
				break
			}
		}
		if end < 0 {
			// Unbalanced: not a name the runtime writes. Keep the rest
			// as it is rather than guess where the list ends.
			b.WriteString(name[open:])
			return b.String()
		}
		b.WriteString("[...]")
		name = name[end+1:]
		if open = strings.IndexByte(name, '['); open < 0 {
			b.WriteString(name)
			return b.String()
		}
	}
}
