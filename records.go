package goroutinereceiver // import "github.com/goroutinewatch/goroutinereceiver"

import (
	"fmt"
	"strings"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/goroutinewatch/goroutinereceiver/internal/group"
	"github.com/goroutinewatch/goroutinereceiver/internal/known"
	"github.com/goroutinewatch/goroutinereceiver/internal/signature"
)

// The log records' event.name values.
const (
	eventSuspected = "goroutine.leak.suspected"
	eventProven    = "goroutine.leak.proven"
)

// maybe is a value a record carries only where a source told it.
type maybe[T any] struct {
	v  T
	ok bool
}

func some[T any](v T) maybe[T] { return maybe[T]{v: v, ok: true} }

// record is one log record to write: a group that turned suspected, or that
// the runtime proved leaked.
type record struct {
	event string
	id    *group.Identity
	count int64
	// creator is the go statement that started the group, where a dump
	// told it.
	creator signature.Frame
	growth  maybe[float64] // per minute, over the horizon that suspects
	// horizon is the leak test's horizon, by position, that suspects the
	// group; -1 for a record of the runtime's proof.
	horizon int
	// waitMinutes is the group's longest wait, from a dump.
	waitMinutes maybe[int64]
	// leaked is what the leak profile proved of the group (0 when it was
	// served and proved none).
	leaked maybe[int64]
	stack  []signature.Frame
	// origins are where the user's code started the group's goroutines,
	// as the last dump read told (nil when none was read).
	origins []group.Origin
}

// newRecord returns the record of event for the group id of count
// goroutines, carrying what the group's stack says; the rest is added as the
// sources tell it.
func newRecord(event string, id *group.Identity, count int64) record {
	return record{event: event, id: id, count: count, creator: id.Creator, horizon: -1}
}

// writeRecord writes rec as an OTLP log record: its body the group's stack
// in the runtime's traceback form (function, then file:line, innermost
// first), its attributes what the metrics say of the group. labelKeys are
// the goroutine.label.<key> attributes, horizons the goroutine.horizon
// values.
func writeRecord(now pcommon.Timestamp, rec *record, leak *known.Leak, labelKeys, horizons []string, lr plog.LogRecord) {
	lr.SetTimestamp(now)
	lr.SetObservedTimestamp(now)
	lr.SetEventName(rec.event)
	lr.SetSeverityNumber(plog.SeverityNumberWarn)
	lr.SetSeverityText("WARN")
	id := rec.id
	var b strings.Builder
	switch rec.event {
	case eventSuspected:
		fmt.Fprintf(&b, "goroutine group %s suspected of leaking: %d goroutines [%s], growing %.1f/min\n", id.ID, rec.count, id.Wait, rec.growth.v)
	default:
		fmt.Fprintf(&b, "goroutine group %s proven leaked by the runtime: %d goroutines [%s]\n", id.ID, rec.count, id.Wait)
	}
	for _, f := range rec.stack {
		fmt.Fprintf(&b, "%s\n\t%s:%d\n", f.Function, f.File, f.Line)
	}
	if rec.creator.Function != "" {
		fmt.Fprintf(&b, "created by %s\n\t%s:%d\n", rec.creator.Function, rec.creator.File, rec.creator.Line)
	}
	user, others := userCode(rec.id, rec.origins)
	if user.Missing == group.Found {
		total := dumped(rec.origins)
		fmt.Fprintf(&b, "the user's code behind it (%s):\n%s\n\t%s:%d%s\n", whereFound(user, total), user.Function, user.File, user.Line, afterCall(user))
		for _, o := range others {
			fmt.Fprintf(&b, "and (%s):\n%s\n\t%s:%d%s\n", whereFound(o, total), o.Function, o.File, o.Line, afterCall(o))
		}
	} else {
		fmt.Fprintf(&b, "the user's code behind it is unknown: %s\n", missingText(user.Missing, rec.creator.Function))
	}
	if leak != nil {
		fmt.Fprintf(&b, "known leak of %s (%s): %s\n", leak.Library, leak.ID, leak.Cause)
	}
	lr.Body().SetStr(strings.TrimSuffix(b.String(), "\n"))

	attrs := lr.Attributes()
	attrs.PutStr("goroutine.signature", id.ID.String())
	attrs.PutStr("goroutine.wait", id.Wait)
	attrs.PutStr("code.function.name", id.Stuck.Function)
	attrs.PutStr("code.file.path", id.Stuck.File)
	attrs.PutInt("code.line.number", id.Stuck.Line)
	attrs.PutStr("goroutine.entry", id.Entry)
	if rec.creator.Function != "" {
		attrs.PutStr("goroutine.creator", rec.creator.Function)
	}
	if user.Missing == group.Found {
		attrs.PutStr("goroutine.user.function", user.Function)
		attrs.PutStr("goroutine.user.file", user.File)
		attrs.PutInt("goroutine.user.line", user.Line)
		attrs.PutStr("goroutine.user.source", sourceName(user.Source))
		attrs.PutInt("goroutine.user.generation", int64(user.Generation))
		if rec.origins != nil {
			attrs.PutInt("goroutine.user.goroutines", user.Count)
		}
	} else {
		attrs.PutStr("goroutine.user.missing", missingText(user.Missing, rec.creator.Function))
	}
	if leak != nil {
		attrs.PutStr("goroutine.known_leak.id", leak.ID)
		attrs.PutStr("goroutine.known_leak.library", leak.Library)
		attrs.PutStr("goroutine.known_leak.cause", leak.Cause)
	}
	attrs.PutInt("goroutine.count", rec.count)
	if rec.growth.ok {
		attrs.PutDouble("goroutine.growth", rec.growth.v)
	}
	if rec.horizon >= 0 && rec.horizon < len(horizons) {
		attrs.PutStr("goroutine.horizon", horizons[rec.horizon])
	}
	if rec.waitMinutes.ok {
		attrs.PutInt("goroutine.wait.max_minutes", rec.waitMinutes.v)
	}
	if rec.leaked.ok {
		attrs.PutInt("goroutine.leaked", rec.leaked.v)
	}
	for i, key := range labelKeys {
		if i < len(id.LabelValues) {
			attrs.PutStr(key, id.LabelValues[i])
		}
	}
}

// userCode picks the user's code to report of a group: from a dump, its
// most common origin that was found, and the other found ones; with no
// origin found, the most common reason. With no dump read, the innermost
// frame of the user's code in the stack, if any.
func userCode(id *group.Identity, origins []group.Origin) (group.Origin, []group.Origin) {
	if origins == nil {
		if id.User.Function != "" {
			return group.Origin{Frame: id.User, Source: group.SourceStack}, nil
		}
		return group.Origin{Missing: group.NoDump}, nil
	}
	for i, o := range origins {
		if o.Missing != group.Found {
			continue
		}
		var others []group.Origin
		for _, p := range origins[i+1:] {
			if p.Missing == group.Found {
				others = append(others, p)
			}
		}
		return o, others
	}
	if len(origins) == 0 {
		return group.Origin{Missing: group.NoDump}, nil
	}
	return origins[0], nil
}

// sourceName spells where an origin was found, as goroutine.user.source.
func sourceName(s group.Source) string {
	switch s {
	case group.SourceStack:
		return "stack"
	case group.SourceCreator:
		return "creator"
	case group.SourceAncestry:
		return "ancestry"
	}
	return "none"
}

// afterCall notes an origin's line that may be the one after the call.
func afterCall(o group.Origin) string {
	if o.AfterCall {
		return " (or the line before: the runtime prints an ancestor's calls at their return addresses)"
	}
	return ""
}

// dumped is the goroutines of the group in the dump its origins are from:
// the origins' counts add up to it, even past MaxOrigins.
func dumped(origins []group.Origin) int64 {
	var n int64
	for _, o := range origins {
		n += o.Count
	}
	return n
}

// whereFound says where o was found, for the record's body: with its share
// of the total goroutines of the group in the dump, when a dump told it.
func whereFound(o group.Origin, total int64) string {
	var where string
	switch o.Source {
	case group.SourceStack:
		where = "in its own stack"
	case group.SourceCreator:
		where = "its go statement"
	default:
		where = fmt.Sprintf("in its ancestry, %d goroutines up", o.Generation)
	}
	if total > 0 {
		where += fmt.Sprintf(", %d of the %d goroutines in the dump", o.Count, total)
	}
	return where
}

// missingText says why no user code was found, and what would find it.
// It is goroutine.user.missing, and the documentation's list of reasons
// (docs/user-code.md) quotes it.
func missingText(m group.Missing, creator string) string {
	switch m {
	case group.NoDump:
		return "only the profile was read, which names no creator: the debug=2 dump does " +
			"(evidence: on_suspect reads it for a suspected group, mode: dump at every scrape)"
	case group.NoAncestry:
		by := "a library's go statement"
		if creator != "" {
			by = creator
		}
		return "the stack is library code and so is its creator (" + by + "); run the target with " +
			"GODEBUG=tracebackancestors=5 and its dump names the goroutines that started it, back to the " +
			"user's code (" + ancestryCost + ", docs/user-code.md)"
	case group.AncestryTooShort:
		return "the ancestry the target prints ends in library code before the user's: raise " +
			"GODEBUG=tracebackancestors (" + ancestryCost + ")"
	case group.StartedByLibrary:
		return "the library started these goroutines on its own (at init, or from a goroutine of its " +
			"own), not from a call of the user's code"
	}
	return "unknown"
}

// ancestryCost is what tracebackancestors costs a target, as measured
// (cmd/libtarget's BenchmarkGo, docs/user-code.md).
const ancestryCost = "it costs the target about 4 µs and 650 bytes more per goroutine created, held while the goroutine lives"
