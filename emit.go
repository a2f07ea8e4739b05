package goroutinereceiver // import "github.com/goroutinewatch/goroutinereceiver"

import (
	"strings"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/receiver"

	"github.com/goroutinewatch/goroutinereceiver/internal/evidence"
	"github.com/goroutinewatch/goroutinereceiver/internal/group"
	"github.com/goroutinewatch/goroutinereceiver/internal/known"
	"github.com/goroutinewatch/goroutinereceiver/internal/limit"
	"github.com/goroutinewatch/goroutinereceiver/internal/metadata"
)

// otherSignature names the group that sums every group beyond max_groups.
const otherSignature = "other"

// labelAttrPrefix begins the attribute of each pprof label kept:
// goroutine.label.<key>, on the metrics and on the profiles' samples.
const labelAttrPrefix = "goroutine.label."

// emitter writes each target's result as metrics under the target's
// resource, and its records as log records under the same. It reads the
// result and the target and writes nothing else.
type emitter struct {
	mb       *metadata.MetricsBuilder
	settings receiver.Settings
	// labelKeys are the goroutine.label.<key> attributes of the kept pprof
	// labels; noLabels an empty value for each, for the other group.
	labelKeys, noLabels []string
	// scrapeDumps is set when every scrape reads the dump: the groups then
	// carry their creators and wait ages.
	scrapeDumps bool
	// keeps is set with `storage`: the targets' state metrics are emitted.
	keeps     bool
	maxGroups int
	// horizons are the goroutine.horizon values of the leak test's
	// horizons, shortest first.
	horizons []string
	start    pcommon.Timestamp // of every point: the receiver's start
	// known explains the groups of known library leaks.
	known *known.Table

	// probe tells whether the user's resource filters keep a resource
	// where the generated builder has nothing to emit to tell it by (every
	// metric but the per-group gauges disabled): a builder of the user's
	// resource attributes with go.goroutine.scrape.up alone enabled.
	probe *metadata.MetricsBuilder

	counts, suspected, waits, leaked *groupGauge[int64]
	growths                          *groupGauge[float64]
	gauges                           []gauge // the five above
}

// gauge is a groupGauge of either value type.
type gauge interface {
	appendTo(ms pmetric.MetricSlice) bool
	drop()
}

func newEmitter(cfg *Config, set receiver.Settings, start pcommon.Timestamp, table *known.Table) *emitter {
	mb := metadata.NewMetricsBuilder(cfg.MetricsBuilderConfig, set, metadata.WithStartTime(start))
	e := &emitter{mb: mb, settings: set, scrapeDumps: cfg.Mode == modeDump, keeps: cfg.Storage != nil, maxGroups: cfg.MaxGroups, start: start, known: table}
	for _, l := range cfg.Labels {
		e.labelKeys = append(e.labelKeys, labelAttrPrefix+l)
	}
	e.noLabels = make([]string, len(cfg.Labels))
	for _, w := range cfg.windows() {
		e.horizons = append(e.horizons, horizonName(w))
	}
	probe := metadata.NewDefaultMetricsBuilderConfig()
	probe.ResourceAttributes = cfg.ResourceAttributes
	e.probe = metadata.NewMetricsBuilder(probe, set)
	info, mc, tmpl := metadata.MetricsInfo, cfg.Metrics, templates(cfg.MetricsBuilderConfig, set)
	e.counts = newGroupGauge[int64](tmpl[info.GoGoroutineGroupCount.Name], mc.GoGoroutineGroupCount.Enabled,
		info.GoGoroutineGroupCount.Attributes, mc.GoGoroutineGroupCount.EnabledAttributes, mc.GoGoroutineGroupCount.AggregationStrategy, e.labelKeys)
	e.growths = newGroupGauge[float64](tmpl[info.GoGoroutineGroupGrowth.Name], mc.GoGoroutineGroupGrowth.Enabled,
		info.GoGoroutineGroupGrowth.Attributes, mc.GoGoroutineGroupGrowth.EnabledAttributes, mc.GoGoroutineGroupGrowth.AggregationStrategy, e.labelKeys)
	e.suspected = newGroupGauge[int64](tmpl[info.GoGoroutineGroupSuspected.Name], mc.GoGoroutineGroupSuspected.Enabled,
		info.GoGoroutineGroupSuspected.Attributes, mc.GoGoroutineGroupSuspected.EnabledAttributes, mc.GoGoroutineGroupSuspected.AggregationStrategy, e.labelKeys)
	e.waits = newGroupGauge[int64](tmpl[info.GoGoroutineGroupWaitMax.Name], mc.GoGoroutineGroupWaitMax.Enabled,
		info.GoGoroutineGroupWaitMax.Attributes, mc.GoGoroutineGroupWaitMax.EnabledAttributes, mc.GoGoroutineGroupWaitMax.AggregationStrategy, e.labelKeys)
	e.leaked = newGroupGauge[int64](tmpl[info.GoGoroutineGroupLeaked.Name], mc.GoGoroutineGroupLeaked.Enabled,
		info.GoGoroutineGroupLeaked.Attributes, mc.GoGoroutineGroupLeaked.EnabledAttributes, mc.GoGoroutineGroupLeaked.AggregationStrategy, e.labelKeys)
	e.gauges = []gauge{e.counts, e.growths, e.suspected, e.waits, e.leaked}
	return e
}

// emit appends one target's result to out as metrics and to logs as log
// records, both under the target's resource. It reads nothing but r.
func (e *emitter) emit(now pcommon.Timestamp, r *result, out pmetric.ResourceMetricsSlice, logs plog.ResourceLogsSlice) {
	mb := e.mb
	var up int64
	if r.err == nil {
		up = 1
		e.emitGroups(now, r)
	}
	mb.RecordGoGoroutineScrapeUpDataPoint(now, up)
	if r.leakProfile != evidence.Unasked {
		mb.RecordGoGoroutineLeakProfileAvailableDataPoint(now, boolInt(r.leakProfile == evidence.Served))
	}
	h := &r.health
	if e.scrapeDumps || h.dumpsCut > 0 {
		mb.RecordGoGoroutineScrapeTruncatedDataPoint(now, h.dumpsCut)
	}
	mb.RecordGoGoroutineScrapeDurationDataPoint(now, r.duration.Seconds())
	mb.RecordGoGoroutineScrapeSizeDataPoint(now, r.bytes)
	for _, kind := range errorTypes {
		if n := h.errors[kind]; n > 0 {
			mb.RecordGoGoroutineScrapeErrorsDataPoint(now, n, kind)
		}
	}
	for _, l := range limit.All {
		if n := h.limits[l]; n > 0 {
			mb.RecordGoGoroutineScrapeLimitBreachesDataPoint(now, n, limitAttribute(l))
		}
	}
	for k, n := range h.evidenceSkipped {
		if n > 0 {
			mb.RecordGoGoroutineEvidenceSkippedDataPoint(now, n, evidenceAttribute(evidenceKind(k)))
		}
	}
	if e.keeps {
		for se, n := range h.stateErrors {
			if n > 0 {
				mb.RecordGoGoroutineStateErrorsDataPoint(now, n, stateAttribute(stateError(se)))
			}
		}
		if h.savedBytes > 0 {
			mb.RecordGoGoroutineStateSizeDataPoint(now, h.savedBytes)
		}
	}

	res := e.resource(r.resource)
	if len(r.records) > 0 {
		rl := logs.AppendEmpty()
		res.CopyTo(rl.Resource())
		sl := rl.ScopeLogs().AppendEmpty()
		sl.Scope().SetName(metadata.ScopeName)
		sl.Scope().SetVersion(e.settings.BuildInfo.Version)
		for i := range r.records {
			rec := &r.records[i]
			writeRecord(now, rec, e.known.Match(rec.id.Entry), e.labelKeys, e.horizons, sl.LogRecords().AppendEmpty())
		}
	}

	rms := mb.Emit(metadata.WithResource(res)).ResourceMetrics()
	if rms.Len() == 0 && !e.resourceKept(now, res) {
		for _, g := range e.gauges {
			g.drop()
		}
		return
	}
	if rms.Len() == 0 {
		// Only per-group gauges are enabled: their resource and scope as
		// the generated builder writes them.
		rm := rms.AppendEmpty()
		res.CopyTo(rm.Resource())
		scope := rm.ScopeMetrics().AppendEmpty().Scope()
		scope.SetName(metadata.ScopeName)
		scope.SetVersion(e.settings.BuildInfo.Version)
	}
	ms, appended := rms.At(0).ScopeMetrics().At(0).Metrics(), false
	for _, g := range e.gauges {
		appended = g.appendTo(ms) || appended
	}
	if appended {
		ms.Sort(byName)
	}
	if ms.Len() > 0 {
		rms.MoveAndAppendTo(out)
	}
}

// resource returns the target's resource as the generated builder writes
// it.
func (e *emitter) resource(tr *resource) pcommon.Resource {
	rb := e.mb.NewResourceBuilder()
	rb.SetServerAddress(tr.host)
	rb.SetServerPort(tr.port)
	rb.SetServiceInstanceID(tr.instance)
	rb.SetURLFull(tr.url)
	if tr.serviceName != "" {
		rb.SetServiceName(tr.serviceName)
	}
	return rb.Emit()
}

// resourceKept reports whether the user's resource filters keep res, as
// the generated builder applies them.
func (e *emitter) resourceKept(now pcommon.Timestamp, res pcommon.Resource) bool {
	e.probe.RecordGoGoroutineScrapeUpDataPoint(now, 1)
	return e.probe.Emit(metadata.WithResource(res)).ResourceMetrics().Len() > 0
}

// emitGroups records a scraped target's total and groups: the groups
// reported, the other group, what the dumps tell of them, and the proofs.
func (e *emitter) emitGroups(now pcommon.Timestamp, r *result) {
	mb, start := e.mb, e.start
	mb.RecordGoGoroutineCountDataPoint(now, r.total)
	for h, name := range e.horizons {
		if rd := r.totalEstimate.Horizons[h]; rd.Ready {
			mb.RecordGoGoroutineGrowthDataPoint(now, float64(rd.Growth), name)
		}
	}
	for i := range r.groups {
		g := &r.groups[i]
		a := e.attributes(&g.id)
		e.counts.record(start, now, g.count, &a)
		for h, name := range e.horizons {
			if rd := g.estimate.Horizons[h]; rd.Ready {
				a.horizon = name
				e.growths.record(start, now, float64(rd.Growth), &a)
				e.suspected.record(start, now, boolInt(rd.Suspected), &a)
			}
		}
		a.horizon = ""
		if f := &g.facts; f.ok {
			if !e.scrapeDumps {
				// A series must not gain an attribute mid-life: only in
				// dump mode does every scrape know the creator, set by
				// attributes; an evidence dump's goes on the wait series,
				// which only a dump sets.
				a.creator = f.v.creator.Function
			}
			a.origin(f.v.origins)
			e.waits.record(start, now, f.v.waitMinutes, &a)
		}
	}
	for i := range r.leaked {
		a := e.attributes(&r.leaked[i].id)
		e.leaked.record(start, now, r.leaked[i].count, &a)
	}
	if r.leakedOther > 0 {
		e.leaked.record(start, now, r.leakedOther, &groupAttributes{signature: otherSignature, labelValues: e.noLabels})
	}
	if r.other > 0 {
		e.counts.record(start, now, r.other, &groupAttributes{signature: otherSignature, labelValues: e.noLabels})
	}
}

// attributes are a group's attributes as every per-group metric carries
// them. The creator is set in dump mode only, where every scrape knows it:
// a series must not gain an attribute mid-life. The user's function and the
// known leak are the stack's, and so the signature's.
func (e *emitter) attributes(id *group.Identity) groupAttributes {
	a := groupAttributes{
		signature: id.ID.String(), wait: id.Wait,
		function: id.Stuck.Function, file: id.Stuck.File, line: id.Stuck.Line,
		entry: id.Entry, user: id.User.Function, userLine: id.User.Line, labelValues: id.LabelValues,
	}
	if l := e.known.Match(id.Entry); l != nil {
		a.knownLibrary, a.knownID = l.Library, l.ID
	}
	if e.scrapeDumps {
		a.creator = id.Creator.Function
	}
	if len(a.labelValues) == 0 {
		a.labelValues = e.noLabels
	}
	return a
}

// horizonName spells a horizon as goroutine.horizon does: 30m, 5h, 48h,
// 1h30m; its Go duration without the zero units.
func horizonName(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}
