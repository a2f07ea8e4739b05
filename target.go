package goroutinereceiver // import "github.com/goroutinewatch/goroutinereceiver"

import (
	"errors"
	"net"
	"net/url"
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
// it between scrapes. Its loop is the one goroutine that touches it, and
// calls its stages in order: observe applies what the scrape read, apply
// what the evidence fetches brought, and the state's save and restore
// (state.go) keep it. They decide and write; the loop does every fetch and
// write to storage between them.
type target struct {
	endpoints fetch.Endpoints
	// resource is what the target's resource says of it, worked out once.
	resource resource
	// logger is the receiver's; a line about the target names it (a
	// logger of its own per target would cost a kilobyte each).
	logger *zap.Logger

	health health
	// saves is where and when the target's state is saved, with `storage`.
	saves saves

	// maxGroups is the most groups reported per scrape, suspected ones
	// aside.
	maxGroups int
	// instance is the process the last scrape read (0: the profile did
	// not tell): another one's goroutines are not the proven ones.
	instance uint64
	// tracker holds the leak windows of the target's total and groups;
	// suspected the groups suspected at the last scrape: a group absent from
	// it that is suspected now is newly suspected.
	tracker   *trend.Tracker[group.Key]
	suspected map[group.Key]bool

	// evidence is what the target's past evidence fetches leave for the
	// policy. dumpFacts is what the last dump fetched as evidence told, by
	// signature, of the groups the scrape that fetched it reported and
	// proved: each such fetch replaces it, so it holds at most
	// max_tracked_groups + max_groups groups. proven are the groups the
	// runtime proved leaked, as the proof rule keeps them (proof.go): at
	// most max_groups, largest first; provenBeyond counts the goroutines
	// the last proof found beyond them.
	evidence     evidence.State
	dumpFacts    map[signature.ID]dumpFacts
	proven       []provenGroup
	provenBeyond int64
	// reported holds the signatures a log record has reported, suspected
	// or proven: one record per group, until it is neither. Each scrape
	// forgets the others, so it holds at most the groups suspected at the
	// last scrape and those proven, max_tracked_groups + max_groups
	// (state.MaxBytes budgets as many).
	reported map[signature.ID]bool
	// sinceProfile counts the scrapes since the target's goroutine profile
	// was last sent.
	sinceProfile int
}

// resource is what a target's resource says of it, worked out once.
type resource struct {
	host, instance, url, serviceName string
	port                             int64
}

func newTarget(u *url.URL, serviceName string, cfg *Config, leak *trend.Config, logger *zap.Logger) *target {
	host, port := hostPort(u)
	t := &target{
		endpoints: fetch.EndpointsOf(u),
		resource: resource{
			host: host, port: port, instance: net.JoinHostPort(host, strconv.FormatInt(port, 10)),
			url: u.Redacted(), serviceName: serviceName,
		},
		logger:    logger,
		saves:     newSaves(u.Redacted(), leak, cfg),
		maxGroups: cfg.MaxGroups,
		tracker:   trend.NewTracker(leak, cfg.Leak.MaxTrackedGroups, group.Key.Compare, group.Key.Clone),
	}
	t.forgetState()
	return t
}

// forgetState starts the target's state afresh: no windows, suspicions,
// evidence or reports. Its health and saves stay.
func (t *target) forgetState() {
	t.instance = 0
	t.tracker.Reset()
	t.suspected = map[group.Key]bool{}
	t.evidence = evidence.State{}
	t.dumpFacts = map[signature.ID]dumpFacts{}
	t.proven, t.provenBeyond = nil, 0
	t.reported = map[signature.ID]bool{}
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

// plan is what observe decided to fetch beside the scrape, and the evidence
// state those fetches leave, which apply keeps once they are made.
type plan struct {
	fetch evidence.Fetch
	state evidence.State
	// profiles is set when the receiver sends profiles: a leak profile
	// read is then sent too.
	profiles bool
}

// failed applies a failed scrape: its leak windows see a gap, never a zero,
// and enough failures in a row free them, since a target that went away
// must not hold memory.
func (t *target) failed(err error, r *result) {
	r.err = err
	if t.health.scraped(nil, err) {
		t.logger.Error("Error scraping metrics", zap.String("target", t.resource.url), zap.Error(err))
	}
	if t.health.failures == forgetAfter {
		t.tracker.Reset()
	}
}

// observe applies a scrape's reading to the target: its groups to their
// leak windows, the groups to report (the max_groups largest and every
// suspected one, the rest summed into other), the records of those newly
// suspected, the proofs capped by what the scrape shows, and the evidence
// the policy asks for. Everything of the reading that the rest of the
// scrape needs is copied into r: o lives in a worker's memory, which the
// next target's reading reuses.
func (t *target) observe(at time.Time, o *observation, policy evidence.Policy, profiles profilePolicy, sc *scratch, r *result) plan {
	groups := o.groups.Groups
	sc.keys, sc.counts = sc.keys[:0], sc.counts[:0]
	for i := range groups {
		sc.keys = append(sc.keys, groups[i].Key)
		sc.counts = append(sc.counts, float64(groups[i].Count))
	}
	var total trend.Estimate
	total, sc.estimates = t.tracker.Observe(at, o.instance, float64(o.groups.Total), sc.keys, sc.counts, sc.estimates, &sc.trend)
	r.total, r.totalEstimate, r.bytes = o.groups.Total, total, o.bytes

	// Leaks start small: a suspected group is reported beyond max_groups.
	sc.kept, r.other = group.Top(groups, t.maxGroups, func(i int) bool { return sc.estimates[i].Suspected }, sc.kept)
	t.health.dropped += int64(len(groups) - len(sc.kept))
	for _, i := range sc.kept {
		g := &groups[i]
		rg := reportedGroup{key: t.tracker.OwnedAt(i, g.Key), id: o.groups.Identity(i).Clone(), count: g.Count, estimate: sc.estimates[i]}
		if policy.ScrapeDumps {
			rg.facts = some(dumpFacts{creator: rg.id.Creator, waitMinutes: g.WaitMinutes, origins: rg.id.Origins})
		}
		r.groups = append(r.groups, rg)
	}

	// The groups suspected now that were not at the last scrape: a record
	// each, unless one reported the group already. Every suspected group is
	// among those reported.
	newly := 0
	for j, i := range sc.kept {
		rg := &r.groups[j]
		if !rg.estimate.Suspected || t.suspected[rg.key] {
			continue
		}
		newly++
		if t.reported[rg.key.ID] {
			continue
		}
		t.reported[rg.key.ID] = true
		rec := newRecord(eventSuspected, &rg.id, rg.count)
		rec.growth, rec.horizon = some(float64(rg.estimate.Horizons[rg.estimate.By].Growth)), int(rg.estimate.By)
		// A profile's stack is read afresh, a dump's is the dump's own:
		// neither is the worker's to reuse.
		rec.stack = o.groups.Frames(i)
		r.records = append(r.records, rec)
	}
	if r.profile = profiles.due(newly, t.sinceProfile); r.profile {
		t.sinceProfile = 0
		for j, i := range sc.kept {
			r.groups[j].stack = o.groups.Frames(i)
		}
	} else {
		t.sinceProfile++
	}
	clear(t.suspected)
	for i := range r.groups {
		if r.groups[i].estimate.Suspected {
			t.suspected[r.groups[i].key] = true
		}
	}

	t.capProofs(o)
	p := plan{profiles: profiles.on}
	p.fetch, p.state = policy.Plan(at, t.evidence, newly, o.groups.Total)
	t.heldBack(p.fetch, o.groups.Total, policy)
	return p
}

// capProofs applies the proof rule to what a scrape shows: another process
// proves nothing of this one's groups, and each proof is capped at its
// group's goroutines now.
func (t *target) capProofs(o *observation) {
	if o.instance != 0 && t.instance != 0 && o.instance != t.instance {
		t.proven, t.provenBeyond = nil, 0
	}
	t.instance = o.instance
	if len(t.proven) == 0 {
		return
	}
	// By signature: a dump (mode: dump) carries no labels on Go 1.26, nor
	// on Go 1.27 for a module of an older go.mod, where the leak profile
	// does.
	counts := make(map[signature.ID]int64, len(t.proven))
	for _, p := range t.proven {
		counts[p.key.ID] = 0
	}
	for i := range o.groups.Groups {
		g := &o.groups.Groups[i]
		if _, ok := counts[g.ID]; ok {
			counts[g.ID] += g.Count
		}
	}
	t.proven = proofsCapped(t.proven, counts)
}

// apply keeps what the evidence fetches p asked for brought, f: the index's
// word on the leak profile, the dump's facts of the groups reported, the
// leak profile's proofs with a record for each group it proves that no
// record reported yet; then completes r with what the evidence tells of
// its groups and records, and forgets the reports of groups neither
// suspected nor proven any more. A failed fetch costs the records their
// evidence, not the scrape. A fetch the receiver's shutdown cut short
// leaves the evidence as it was: the next start plans it again.
func (t *target) apply(at time.Time, p plan, f *found, r *result) {
	if !f.stopped {
		t.evidence = p.state
		if p.fetch.Index {
			t.indexRead(f.index, f.indexErr)
		}
		if p.fetch.Dump {
			t.dumpRead(f)
		}
		if p.fetch.Leak {
			t.leakRead(at, f, p.profiles, r)
		}
	}
	t.annotate(r)
	r.leaked = append(r.leaked, t.proven...)
	capReported(r)
	r.leakedOther = t.provenBeyond
	r.leakProfile = t.evidence.Leak
}

// capReported caps each proof reported at the count of its group in the
// same scrape: the leak profile is fetched after the scrape's profile, and
// goroutines that joined a leak in between are proven before the scrape
// shows them. The target keeps the proof whole; the next scrape shows them.
func capReported(r *result) {
	if len(r.leaked) == 0 {
		return
	}
	counts := make(map[group.Key]int64, len(r.groups))
	for i := range r.groups {
		counts[r.groups[i].key] = r.groups[i].count
	}
	for i := range r.leaked {
		if c, ok := counts[r.leaked[i].key]; ok {
			r.leaked[i].count = min(r.leaked[i].count, c)
		}
	}
}

// dumpRead keeps the facts of the evidence dump.
func (t *target) dumpRead(f *found) {
	if f.dumpErr != nil {
		t.health.fetched(evidenceDump, outcomeFailure)
		t.evidenceFailed("goroutine dump", f.dumpErr)
		return
	}
	t.health.fetched(evidenceDump, outcomeSuccess)
	if f.dumpCut {
		t.health.dumpsCut++
	}
	t.dumpFacts = f.dump
}

// leakRead keeps the leak profile's answer: a 404 drops every proof, a
// profile served adds its proofs by the proof rule, with a record for each
// group it proves that no record reported yet, and, when the receiver sends
// profiles, its groups with their stacks for the goroutineleak profile.
func (t *target) leakRead(at time.Time, f *found, profiles bool, r *result) {
	switch {
	case f.leakAbsent:
		t.health.fetched(evidenceLeakProfile, outcomeAbsent)
		if t.evidence.Leak != evidence.Absent {
			t.logger.Info("target serves no goroutineleak profile (Go 1.27 serves it, Go 1.26 with GOEXPERIMENT=goroutineleakprofile); asking again in an hour",
				zap.String("target", t.resource.url))
		}
		t.evidence = t.evidence.LeakAnswered(at, false)
		t.proven, t.provenBeyond = nil, 0
	case f.leakErr != nil:
		t.health.fetched(evidenceLeakProfile, outcomeFailure)
		t.evidenceFailed("goroutineleak profile", f.leakErr)
	default:
		t.health.fetched(evidenceLeakProfile, outcomeSuccess)
		t.evidence = t.evidence.LeakAnswered(at, true)
		t.proven = proofsAfter(t.proven, f.leak, t.maxGroups)
		t.provenBeyond = f.leakBeyond
		t.health.dropped += int64(f.leakBeyondGroups)
		if profiles {
			r.leakRead, r.leakReadBeyond = append(r.leakRead, f.leak...), f.leakBeyond
		}
		for i := range f.leak {
			pg := &f.leak[i]
			if t.reported[pg.key.ID] {
				continue
			}
			t.reported[pg.key.ID] = true
			rec := newRecord(eventProven, &pg.id, pg.count)
			rec.leaked = some(pg.count)
			rec.stack = pg.stack
			r.records = append(r.records, rec)
		}
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

// annotate adds to r's groups and records what the dumps and the proofs
// tell of them, and forgets the reports of groups neither suspected nor
// proven any more: they may be reported again when they are. It is linear
// in the groups reported, the records and the reports.
func (t *target) annotate(r *result) {
	for i := range r.groups {
		g := &r.groups[i]
		if f, ok := t.dumpFacts[g.key.ID]; ok && !g.facts.ok {
			g.facts = some(f)
		}
	}
	if len(r.records) == 0 && len(t.reported) == 0 {
		return // the common case: nothing to report, nothing to forget
	}
	proven := make(map[signature.ID]int64, len(t.proven))
	for _, p := range t.proven {
		proven[p.key.ID] += p.count
	}
	byID := make(map[signature.ID]*reportedGroup, len(r.groups))
	for i := range r.groups {
		byID[r.groups[i].key.ID] = &r.groups[i]
	}
	for i := range r.records {
		rec := &r.records[i]
		var f *dumpFacts
		if g, ok := byID[rec.id.ID]; ok && g.facts.ok {
			f = &g.facts.v
		} else if d, ok := t.dumpFacts[rec.id.ID]; ok {
			f = &d
		}
		if f != nil {
			rec.waitMinutes, rec.creator, rec.origins = some(f.waitMinutes), f.creator, f.origins
			// An evidence dump's stack, of a goroutine as the runtime
			// prints it, where the scrape's own dump keeps none.
			if rec.event == eventSuspected && f.stack != nil {
				rec.stack = f.stack
			}
		}
		if n, ok := proven[rec.id.ID]; ok || t.evidence.Leak == evidence.Served {
			rec.leaked = some(n)
		}
	}
	suspected := make(map[signature.ID]bool, len(t.suspected))
	for k := range t.suspected {
		suspected[k.ID] = true
	}
	for id := range t.reported {
		if _, ok := proven[id]; !ok && !suspected[id] {
			delete(t.reported, id)
		}
	}
}
