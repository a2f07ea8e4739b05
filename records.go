package goroutinereceiver // import "github.com/goroutinewatch/goroutinereceiver"

import (
	"fmt"
	"strings"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/goroutinewatch/goroutinereceiver/internal/group"
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
func writeRecord(now pcommon.Timestamp, rec *record, labelKeys, horizons []string, lr plog.LogRecord) {
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
