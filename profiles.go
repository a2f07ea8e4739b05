package goroutinereceiver // import "github.com/goroutinewatch/goroutinereceiver"

import (
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pprofile"

	"github.com/goroutinewatch/goroutinereceiver/internal/group"
	"github.com/goroutinewatch/goroutinereceiver/internal/metadata"
	"github.com/goroutinewatch/goroutinereceiver/internal/otlpprofile"
)

// The attribute of a profile's sample that tells a leak, and its values.
const (
	leakAttribute = "goroutine.leak"
	leakSuspected = "suspected"
	leakProven    = "proven"
)

// The attributes a sample shares with the group's metrics, named as
// metadata.yaml names them.
const (
	signatureAttr = string(metadata.GoGoroutineGroupCountMetricAttributeKeyGoroutineSignature)
	waitAttr      = string(metadata.GoGoroutineGroupCountMetricAttributeKeyGoroutineWait)
)

// profilePolicy says when a target's goroutine profile goes down the
// profiles pipeline: when one of its groups turns suspected, the moment a
// user looking at stacks wants them, and every `every` scrapes when set.
// on is unset when no profiles pipeline has the receiver.
type profilePolicy struct {
	on    bool
	every int
}

// due reports whether a scrape in which newly groups turned suspected,
// since scrapes after the one that last sent the profile, sends it.
func (p profilePolicy) due(newly, since int) bool {
	return p.on && (newly > 0 || p.every > 0 && since+1 >= p.every)
}

// emitProfiles writes r's profiles under the target's resource: the
// goroutine profile when r.profile is set, the goroutineleak profile when
// the scrape read one. Each holds the groups the metrics report (the
// max_groups largest and every suspected one; the proven ones, at most
// max_groups), each sample a group, and one sample with no stack for the
// goroutines of the rest. It reports false when r has neither.
func (e *emitter) emitProfiles(now pcommon.Timestamp, r *result) (pprofile.Profiles, bool) {
	if !r.profile && len(r.leakRead) == 0 || r.err != nil {
		return pprofile.Profiles{}, false
	}
	frames, stacks := 0, len(r.groups)+len(r.leakRead)+2
	for i := range r.groups {
		frames += len(r.groups[i].stack)
	}
	for i := range r.leakRead {
		frames += len(r.leakRead[i].stack)
	}
	b := otlpprofile.NewBatch(frames, stacks)
	rp := b.Profiles().ResourceProfiles().AppendEmpty()
	e.resource(r.resource).CopyTo(rp.Resource())
	sp := rp.ScopeProfiles().AppendEmpty()
	sp.Scope().SetName(metadata.ScopeName)
	sp.Scope().SetVersion(e.settings.BuildInfo.Version)

	if r.profile {
		proven := make(map[group.Key]bool, len(r.leaked))
		for i := range r.leaked {
			proven[r.leaked[i].key] = true
		}
		p := b.NewProfile(sp, otlpprofile.Goroutine, now, e.settings.ID.String()+" "+r.resource.url)
		for i := range r.groups {
			g := &r.groups[i]
			state := ""
			switch {
			case proven[g.key]:
				state = leakProven
			case g.estimate.Suspected:
				state = leakSuspected
			}
			p.Add(g.stack, g.count, e.sampleAttrs(&g.id, state)...)
		}
		if r.other > 0 {
			p.Add(nil, r.other, otlpprofile.Attr{Key: signatureAttr, Value: otherSignature})
		}
	}
	if len(r.leakRead) > 0 {
		p := b.NewProfile(sp, otlpprofile.GoroutineLeak, now, e.settings.ID.String()+" "+r.resource.url)
		for i := range r.leakRead {
			g := &r.leakRead[i]
			p.Add(g.stack, g.count, e.sampleAttrs(&g.id, leakProven)...)
		}
		if r.leakReadBeyond > 0 {
			p.Add(nil, r.leakReadBeyond, otlpprofile.Attr{Key: signatureAttr, Value: otherSignature})
		}
	}
	return b.Profiles(), true
}

// sampleAttrs are a group's attributes on its sample: its signature, what
// it waits on, its pprof labels kept, and state, its leak, when it has one.
func (e *emitter) sampleAttrs(id *group.Identity, state string) []otlpprofile.Attr {
	attrs := make([]otlpprofile.Attr, 0, 3+len(id.LabelValues))
	attrs = append(attrs, otlpprofile.Attr{Key: signatureAttr, Value: id.ID.String()}, otlpprofile.Attr{Key: waitAttr, Value: id.Wait})
	for i, v := range id.LabelValues {
		if v != "" && i < len(e.labelKeys) {
			attrs = append(attrs, otlpprofile.Attr{Key: e.labelKeys[i], Value: v})
		}
	}
	if state != "" {
		attrs = append(attrs, otlpprofile.Attr{Key: leakAttribute, Value: state})
	}
	return attrs
}
