package goroutinereceiver // import "github.com/goroutinewatch/goroutinereceiver"

import (
	"cmp"
	"errors"
	"net"
	"net/url"
	"slices"
	"strconv"
	"time"

	"go.uber.org/zap"

	"github.com/goroutinewatch/goroutinereceiver/internal/evidence"
	"github.com/goroutinewatch/goroutinereceiver/internal/fetch"
	"github.com/goroutinewatch/goroutinereceiver/internal/group"
	"github.com/goroutinewatch/goroutinereceiver/internal/index"
	"github.com/goroutinewatch/goroutinereceiver/internal/signature"
	"github.com/goroutinewatch/goroutinereceiver/internal/trend"
)

// target is one scraped process and everything the receiver remembers of
// it between scrapes. One worker at a time touches a target, so it needs no
// lock; report is the one writer of its state.
type target struct {
	endpoints fetch.Endpoints
	resource  resource
	// logger is the receiver's; a line about the target names it (a
	// logger of its own per target would cost a kilobyte each).
	logger *zap.Logger

	health health
	// keep is where and when the target's state is saved, with `storage`.
	keep keeping

	// maxGroups is the most groups reported per scrape, suspected ones
	// aside.
	maxGroups int
	// tracker holds the leak windows of the target's total and groups;
	// suspected the groups suspected at the last scrape: a group absent from
	// it that is suspected now is newly suspected.
	tracker   *trend.Tracker[group.Key]
	suspected map[group.Key]bool

	// evidence is what the target's past evidence fetches leave for the
	// policy. dumpFacts is what the last dump fetched as evidence told, by
	// signature: each such fetch replaces it, so it holds at most the
	// max_samples groups of one dump. leaked is what the last leak profile
	// served proved, largest first: each served profile replaces it and a
	// 404 empties it, so it holds at most max_samples groups.
	evidence  evidence.State
	dumpFacts map[signature.ID]dumpFacts
	leaked    []leakedGroup
	// reported holds the signatures a log record has reported, suspected
	// or proven: one record per group, until it is neither. Each scrape
	// forgets the others, so it holds at most the groups suspected at the
	// last scrape and those last proven.
	reported map[signature.ID]bool
}

// scratch is the memory a report works in, reused from one target to the
// next by the worker that owns it: a result is emitted before its worker
// takes another target, so its slices are free again by then. It holds
// nothing of a target from one scrape to the next, and so costs per worker
// what per target would cost a thousand times over.
type scratch struct {
	keys      []group.Key
	counts    []float64
	estimates []trend.Estimate
	kept      []int
	newly     []int
}

// resource is what a target's resource says of it, worked out once.
type resource struct {
	host, instance, url, serviceName string
	port                             int64
}

// dumpFacts is what a dump says of one signature: what a profile cannot.
type dumpFacts struct {
	creator     signature.Frame
	waitMinutes int64
	stack       []signature.Frame
	// origins are the user's code behind the signature's goroutines, of
	// all its groups (the dump's own, copied).
	origins []group.Origin
}

// leakedGroup is one group of the goroutineleak profile.
type leakedGroup struct {
	group.Identity
	count int64
}

func newTarget(u *url.URL, serviceName string, cfg *Config, leak *trend.Config, logger *zap.Logger) *target {
	host, port := hostPort(u)
	maxGroups, maxTracked := cfg.MaxGroups, cfg.Leak.MaxTrackedGroups
	return &target{
		endpoints: fetch.EndpointsOf(u),
		resource: resource{
			host: host, port: port, instance: net.JoinHostPort(host, strconv.FormatInt(port, 10)),
			url: u.Redacted(), serviceName: serviceName,
		},
		logger:    logger,
		health:    newHealth(),
		keep:      newKeeping(u.Redacted(), leak, maxTracked, len(cfg.Labels), cfg.MaxStringBytes),
		maxGroups: maxGroups,
		tracker:   trend.NewTracker(leak, maxTracked, group.Key.Compare),
		suspected: map[group.Key]bool{},
		dumpFacts: map[signature.ID]dumpFacts{},
		reported:  map[signature.ID]bool{},
	}
}

// hostPort returns the server.address and server.port of a target URL,
// with the scheme's port where the URL names none.
func hostPort(u *url.URL) (string, int64) {
	port := u.Port()
	if port == "" {
		port = "80"
		if u.Scheme == "https" {
			port = "443"
		}
	}
	n, _ := strconv.ParseInt(port, 10, 64)
	return u.Hostname(), n
}

// result is what one scrape of a target gives the emitter.
type result struct {
	observation
	total     trend.Estimate
	estimates []trend.Estimate // one per group
	kept      []int            // the groups reported, by index
	other     int64            // the goroutines of the groups not reported
	records   []record
	duration  time.Duration
}

// found is what the evidence fetches of one scrape brought back. A fetch
// not asked for leaves its fields zero.
type found struct {
	index    index.Index
	indexErr error
	dump     group.Result
	dumpErr  error
	// leak is the leak profile's groups, valid until the worker's decoder
	// decodes again.
	leak       group.Result
	leakAbsent bool // the target answered 404
	leakErr    error
}

// report applies one scrape to the target: its outcome to the health, its
// groups to their leak windows, what turned suspected to the evidence
// policy, whose fetches gather performs, and what they brought to the
// evidence the records and metrics carry. It is the one writer of the
// target's state; with save, it saves the state once a bucket of the
// shortest horizon. It returns what the emitter writes.
func (t *target) report(at time.Time, o observation, policy evidence.Policy, gather func(evidence.Fetch) found, save saver, sc *scratch) result {
	t.health.scraped(&o)
	r := result{observation: o}
	if o.err != nil {
		// A failed scrape leaves the leak windows untouched: a gap, never
		// a zero; enough of them in a row free the windows.
		if t.health.failures == forgetAfter {
			t.tracker.Reset()
		}
		return r
	}

	sc.keys, sc.counts = sc.keys[:0], sc.counts[:0]
	for _, g := range o.groups.Groups {
		sc.keys = append(sc.keys, g.Key)
		sc.counts = append(sc.counts, float64(g.Count))
	}
	r.total, sc.estimates = t.tracker.Observe(at, o.instance, float64(o.groups.Total), sc.keys, sc.counts, sc.estimates)
	r.estimates = sc.estimates
	// Leaks start small: a suspected group is reported beyond max_groups.
	sc.kept, r.other = group.Top(o.groups.Groups, t.maxGroups, func(i int) bool { return r.estimates[i].Suspected }, sc.kept)
	t.health.dropped += int64(len(o.groups.Groups) - len(sc.kept))
	r.kept = sc.kept
	// The identities and stacks of what is reported first: the profile is
	// the worker's decoder's, which the evidence fetches reuse. Every
	// suspected group is kept.
	for _, i := range r.kept {
		r.groups.Identity(i)
	}

	newly := t.suspect(&r, sc)
	for _, i := range newly {
		g := &o.groups.Groups[i]
		if t.reported[g.ID] {
			continue
		}
		t.reported[g.ID] = true
		rec := newRecord(eventSuspected, g.Identity, g.Count)
		est := &r.estimates[i]
		rec.growth, rec.horizon = some(float64(est.Horizons[est.By].Growth)), int(est.By)
		rec.stack = o.groups.Frames(i)
		r.records = append(r.records, rec)
	}

	var fetches evidence.Fetch
	fetches, t.evidence = policy.Plan(at, t.evidence, len(newly), o.groups.Total)
	t.heldBack(fetches, o.groups.Total, policy)
	if fetches.Any() {
		t.takeEvidence(at, fetches, gather(fetches), &r)
	}
	t.annotate(&r, policy.ScrapeDumps)
	t.keepState(at, save)
	return r
}

// suspect returns the positions of the groups suspected now that were not
// at the last scrape, and remembers those suspected now.
func (t *target) suspect(r *result, sc *scratch) []int {
	newly := sc.newly[:0]
	for i, est := range r.estimates {
		if est.Suspected && !t.suspected[r.groups.Groups[i].Key] {
			newly = append(newly, i)
		}
	}
	sc.newly = newly
	clear(t.suspected)
	for i, est := range r.estimates {
		if est.Suspected {
			t.suspected[r.groups.Groups[i].Key] = true
		}
	}
	return newly
}

// takeEvidence keeps what the fetches asked for brought: the dump's facts
// by signature, and the leak profile's answer, with a record for each group
// it proves that no record reported yet. A failed fetch costs the records
// their evidence, not the scrape.
func (t *target) takeEvidence(at time.Time, asked evidence.Fetch, f found, r *result) {
	if asked.Index {
		t.indexRead(f.index, f.indexErr)
	}
	if asked.Dump {
		clear(t.dumpFacts)
		if f.dumpErr != nil {
			t.health.fetched(evidenceDump, outcomeFailure)
			t.evidenceFailed("goroutine dump", f.dumpErr)
		} else {
			t.health.fetched(evidenceDump, outcomeSuccess)
			if f.dump.DumpCut {
				t.health.dumpsCut++
			}
			for _, g := range f.dump.Groups {
				facts := t.dumpFacts[g.ID]
				if facts.stack == nil {
					facts.stack, facts.creator = g.Stack, g.Identity.Creator
				}
				facts.waitMinutes = max(facts.waitMinutes, g.WaitMinutes)
				facts.origins = group.MergeOrigins(facts.origins, g.Identity.Origins)
				t.dumpFacts[g.ID] = facts
			}
		}
	}
	if !asked.Leak {
		return
	}
	switch {
	case f.leakAbsent:
		t.health.fetched(evidenceLeakProfile, outcomeAbsent)
		if t.evidence.Leak != evidence.Absent {
			t.logger.Info("target serves no goroutineleak profile (Go 1.27 serves it, Go 1.26 with GOEXPERIMENT=goroutineleakprofile); asking again in an hour",
				zap.String("target", t.resource.url))
		}
		t.evidence = t.evidence.LeakAnswered(at, false)
		t.leaked = t.leaked[:0]
	case f.leakErr != nil:
		t.health.fetched(evidenceLeakProfile, outcomeFailure)
		t.evidenceFailed("goroutineleak profile", f.leakErr)
	default:
		t.health.fetched(evidenceLeakProfile, outcomeSuccess)
		t.evidence = t.evidence.LeakAnswered(at, true)
		t.leaked = t.leaked[:0]
		for i := range f.leak.Groups {
			g := &f.leak.Groups[i]
			// The identity is the worker's grouper's until its next leak
			// profile, of this target or another: the label values are
			// copied, the strings being immutable.
			id := *f.leak.Identity(i)
			id.LabelValues = slices.Clone(id.LabelValues)
			t.leaked = append(t.leaked, leakedGroup{Identity: id, count: g.Count})
			if t.reported[g.ID] {
				continue
			}
			t.reported[g.ID] = true
			rec := newRecord(eventProven, g.Identity, g.Count)
			rec.leaked = some(g.Count)
			rec.stack = f.leak.Frames(i)
			r.records = append(r.records, rec)
		}
		slices.SortFunc(t.leaked, func(a, b leakedGroup) int {
			return cmp.Or(cmp.Compare(b.count, a.count), cmp.Compare(a.ID, b.ID))
		})
	}
}

// heldBack counts the fetches a ceiling held back, and says the first of
// each kind in the log: the skip repeats at every interval while the
// target stays that large, and a line each time would say nothing new.
func (t *target) heldBack(f evidence.Fetch, goroutines int64, policy evidence.Policy) {
	for _, h := range [...]struct {
		kind    evidenceKind
		skipped bool
		ceiling int64
		what    string
	}{
		{evidenceDump, f.DumpSkipped, policy.MaxDumpGoroutines, "goroutine dump (dump_max_goroutines)"},
		{evidenceLeakProfile, f.LeakSkipped, policy.MaxLeakGoroutines, "goroutineleak profile (leak_profile_max_goroutines)"},
	} {
		if !h.skipped {
			continue
		}
		if t.health.evidenceSkipped[h.kind]++; t.health.evidenceSkipped[h.kind] == 1 {
			t.logger.Info("target has more goroutines than the ceiling of a costly fetch; not fetching it while it does",
				zap.String("target", t.resource.url), zap.String("fetch", h.what),
				zap.Int64("goroutines", goroutines), zap.Int64("ceiling", h.ceiling))
		}
	}
}

// indexRead keeps what the target's index says of the leak profile. A page
// that is not there (a mux without net/http/pprof's index) or not an index
// tells nothing, and the leak profile is asked as without it; a page that
// lists no leak profile is said once, and makes it unavailable.
func (t *target) indexRead(x index.Index, err error) {
	var status *fetch.StatusError
	switch {
	case err == nil:
		t.health.fetched(evidenceIndex, outcomeSuccess)
	case fetch.NotFound(err):
		t.health.fetched(evidenceIndex, outcomeAbsent)
	default:
		t.health.fetched(evidenceIndex, outcomeFailure)
	}
	switch {
	case errors.As(err, &status) || errors.Is(err, index.ErrMalformed):
		t.logger.Debug("target's /debug/pprof/ index tells nothing", zap.String("target", t.resource.url), zap.Error(err))
		t.evidence = t.evidence.IndexRead(false, false)
	case err != nil:
		t.evidenceFailed("/debug/pprof/ index", err)
		t.evidence = t.evidence.IndexRead(false, false)
	case x.Serves("goroutineleak"):
		t.evidence = t.evidence.IndexRead(true, true)
	default:
		if t.evidence.Listed != evidence.Absent {
			t.logger.Info("target's /debug/pprof/ index lists no goroutineleak profile (Go 1.27 serves it, Go 1.26 with GOEXPERIMENT=goroutineleakprofile); not asking for it while the index does not list it",
				zap.String("target", t.resource.url))
		}
		t.evidence = t.evidence.IndexRead(true, false)
	}
}

// evidenceFailed counts a failed evidence fetch under its cause, and says
// so where the collector's debug log shows it.
func (t *target) evidenceFailed(what string, err error) {
	t.health.evidenceFailed(err)
	t.logger.Debug("evidence fetch failed", zap.String("target", t.resource.url), zap.String("endpoint", what), zap.Error(err))
}

// annotate adds to each record what the dumps and the leak profile tell of
// its group, and forgets the groups neither suspected nor proven any more:
// they may be reported again when they are. scrapeDumps is set when the
// scrape's own groups are a dump's.
func (t *target) annotate(r *result, scrapeDumps bool) {
	if len(r.records) == 0 && len(t.reported) == 0 {
		return // the common case: nothing to report, nothing to forget
	}
	leaked := make(map[signature.ID]int64, len(t.leaked))
	for _, l := range t.leaked {
		leaked[l.ID] += l.count
	}
	var dumped map[signature.ID]*group.Group
	if scrapeDumps && len(r.records) > 0 {
		dumped = make(map[signature.ID]*group.Group, len(r.groups.Groups))
		for i := range r.groups.Groups {
			dumped[r.groups.Groups[i].ID] = &r.groups.Groups[i]
		}
	}
	for i := range r.records {
		rec := &r.records[i]
		if g, ok := dumped[rec.id.ID]; ok {
			rec.waitMinutes, rec.creator, rec.origins = some(g.WaitMinutes), g.Identity.Creator, g.Identity.Origins
		} else if f, ok := t.dumpFacts[rec.id.ID]; ok {
			rec.waitMinutes, rec.creator, rec.origins = some(f.waitMinutes), f.creator, f.origins
			if rec.event == eventSuspected {
				rec.stack = f.stack
			}
		}
		if n, ok := leaked[rec.id.ID]; ok || t.evidence.Leak == evidence.Served {
			rec.leaked = some(n)
		}
	}
	for id := range t.reported {
		if _, ok := leaked[id]; ok {
			continue
		}
		if !slices.ContainsFunc(r.groups.Groups, func(g group.Group) bool { return g.ID == id && t.suspected[g.Key] }) {
			delete(t.reported, id)
		}
	}
}
