package goroutinereceiver // import "github.com/goroutinewatch/goroutinereceiver"

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/scraper/scrapererror"

	"github.com/goroutinewatch/goroutinereceiver/internal/decode"
	"github.com/goroutinewatch/goroutinereceiver/internal/dump"
	"github.com/goroutinewatch/goroutinereceiver/internal/group"
	"github.com/goroutinewatch/goroutinereceiver/internal/metadata"
	"github.com/goroutinewatch/goroutinereceiver/internal/signature"
	"github.com/goroutinewatch/goroutinereceiver/internal/trend"
)

// otherSignature names the group that sums every group beyond max_groups.
const otherSignature = "other"

// errPanic reports a panic while reading a target's profile: a bug, turned
// into that target's error so that the receiver and other targets go on.
var errPanic = errors.New("internal error")

// forgetAfter is how many failed scrapes in a row free a target's leak
// windows: a target that went away must not hold memory, and one that comes
// back after that long starts afresh anyway.
const forgetAfter = 3

// statusError is a non-200 answer; body holds the start of what came with it.
type statusError struct {
	code int
	body string
}

func (e *statusError) Error() string {
	if e.body == "" {
		return fmt.Sprintf("HTTP status %d", e.code)
	}
	return fmt.Sprintf("HTTP status %d: %q", e.code, e.body)
}

// bodyPrefixBytes is how much of an unexpected body an error quotes: enough
// to recognize an HTML error page, too little to carry a secret far.
const bodyPrefixBytes = 64

type target struct {
	url         *url.URL
	serviceName string
	// errors counts failed scrapes by cause since start, for the cumulative
	// go.goroutine.scrape.errors.
	errors map[metadata.AttributeErrorType]int64
	// limits counts scrapes that reached a limit, by limit.
	limits map[metadata.AttributeLimit]int64
	// failures counts failed scrapes in a row.
	failures int
	// tracker holds the leak windows of the target's total and groups. One
	// worker at a time touches a target, so it needs no lock.
	tracker *trend.Tracker[group.Key]
	// grouper keeps what the target's groups say from one scrape to the next.
	grouper group.Grouper
	// suspected holds the groups suspected at the last scrape: a group
	// absent from it that is suspected now gets a log record.
	suspected map[group.Key]bool

	// The goroutineleak profile: when it was last read, until when a
	// target that answered 404 is not asked again, whether it served it at
	// the last ask (-1: never asked), and what it said, by signature.
	leakGrouper     group.Grouper
	leakAt          time.Time
	leakAbsentUntil time.Time
	leakAvailable   int
	leaked          []leakedGroup
	// reported holds the signatures a log record has reported, suspected
	// or proven: one record per group, until it is neither.
	reported map[signature.ID]bool

	// The dump fetched as evidence (evidence: on_suspect), by signature.
	evidenceGrouper group.Grouper
	evidenceAt      time.Time
	evidence        map[signature.ID]dumpFacts

	// truncated counts dumps cut inside a goroutine, for the cumulative
	// go.goroutine.scrape.truncated.
	truncated int64

	// Reused across scrapes: a result is emitted before the controller
	// starts the next scrape, so its slices are free again by then.
	keys      []group.Key
	counts    []float64
	estimates []trend.Estimate
	kept      []int
}

// leakedGroup is one group of the goroutineleak profile.
type leakedGroup struct {
	group.Known
	count int64
}

// dumpFacts is what a dump says of one signature: what a profile cannot.
type dumpFacts struct {
	creator     signature.Frame
	waitMinutes int64
	stack       []signature.Frame
}

// record is one log record to emit: a group that turned suspected, or that
// the runtime proved leaked.
type record struct {
	event   string
	known   group.Known
	count   int64
	growth  float64 // NaN where not known
	minutes int64   // the longest wait; -1 where no dump told it
	leaked  int64   // -1 where no leak profile told it
	stack   []signature.Frame
}

// result is what one target's scrape produced; data flows fetch, decode,
// group, trend, then emit, and only emit touches shared state.
type result struct {
	groups    group.Result
	total     trend.Estimate
	estimates []trend.Estimate // one per group
	kept      []int            // the groups reported, by index
	other     int64            // the goroutines of the groups not reported

	truncatedStrings int
	records          []record
	err              error
	duration         time.Duration
	bytes            int64
}

type goroutineScraper struct {
	cfg        *Config
	settings   receiver.Settings
	now        func() time.Time
	targets    []*target
	opts       group.Options
	limits     decode.Limits
	leak       trend.Config
	labelAttrs []string
	noLabels   []string // an empty value per label, for the other group

	// decoders are the workers' own: a decoder's buffers are needed only
	// while a profile is read, so they are per worker, not per target.
	decoders []decode.Decoder
	// decode is (*decode.Decoder).Decode; a test swaps it to prove a panic
	// is contained.
	decode func(*decode.Decoder, io.Reader, decode.Limits) (*decode.Profile, error)

	client *http.Client
	mb     *metadata.MetricsBuilder
	// logs receives the log records; nil when no logs pipeline has the
	// receiver.
	logs consumer.Logs
	// stop cancels scrapes under way when the receiver shuts down.
	stopCtx context.Context
	stop    context.CancelFunc
}

func newScraper(cfg *Config, set receiver.Settings, now func() time.Time) (*goroutineScraper, error) {
	mode, ok := signature.ParseMode(cfg.Signature)
	if !ok {
		return nil, fmt.Errorf("signature %q: must be function or line", cfg.Signature)
	}
	s := &goroutineScraper{
		cfg:      cfg,
		settings: set,
		now:      now,
		decode:   (*decode.Decoder).Decode,
		opts: group.Options{
			Mode:   mode,
			Labels: cfg.Labels,
			Ignore: cfg.Ignore,
		},
		limits: decode.Limits{
			MaxBytes:       cfg.MaxProfileBytes,
			MaxFrames:      cfg.MaxFrames,
			MaxStringBytes: cfg.MaxStringBytes,
			MaxSamples:     cfg.MaxSamples,
			MaxLocations:   cfg.MaxLocations,
		},
		leak: trend.Config{
			Window:      cfg.Leak.Window,
			MinGrowth:   cfg.Leak.MinGrowth,
			MinIncrease: cfg.Leak.MinIncrease,
			Z:           cfg.Leak.z(),
		},
	}
	// Not derived from a caller's context: it lives as long as the receiver,
	// and only shutdown ends it.
	s.stopCtx, s.stop = context.WithCancel(context.Background())
	for _, l := range cfg.Labels {
		s.labelAttrs = append(s.labelAttrs, "goroutine.label."+l)
	}
	s.noLabels = make([]string, len(cfg.Labels))
	add := func(endpoint, service string) error {
		u, err := targetURL(endpoint)
		if err != nil {
			return fmt.Errorf("endpoint %q: %w", endpoint, err)
		}
		s.targets = append(s.targets, &target{
			url:           u,
			serviceName:   service,
			errors:        map[metadata.AttributeErrorType]int64{},
			limits:        map[metadata.AttributeLimit]int64{},
			tracker:       trend.NewTracker[group.Key](&s.leak, cfg.Leak.MaxTrackedGroups),
			suspected:     map[group.Key]bool{},
			reported:      map[signature.ID]bool{},
			evidence:      map[signature.ID]dumpFacts{},
			leakAvailable: -1,
		})
		return nil
	}
	if cfg.Endpoint != "" {
		if err := add(cfg.Endpoint, cfg.ServiceName); err != nil {
			return nil, err
		}
	}
	for _, t := range cfg.Targets {
		if err := add(t.Endpoint, t.ServiceName); err != nil {
			return nil, err
		}
	}
	return s, nil
}

func (s *goroutineScraper) start(ctx context.Context, host component.Host) error {
	client := s.cfg.ClientConfig
	// The per-target context deadline bounds connect, headers and body
	// alike; a second timer in http.Client would only race it.
	client.Timeout = 0
	c, err := client.ToClient(ctx, host.GetExtensions(), s.settings.TelemetrySettings)
	if err != nil {
		return err
	}
	s.client = c
	s.mb = metadata.NewMetricsBuilder(s.cfg.MetricsBuilderConfig, s.settings, metadata.WithStartTime(pcommon.NewTimestampFromTime(s.now())))
	return nil
}

func (s *goroutineScraper) shutdown(context.Context) error {
	s.stop()
	if s.client != nil {
		s.client.CloseIdleConnections()
	}
	return nil
}

// scrape fetches every target with at most max_concurrency in flight, then
// emits them in configuration order. A failed target costs only its own data:
// the others' still go out, with a partial scrape error.
func (s *goroutineScraper) scrape(ctx context.Context) (pmetric.Metrics, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(s.stopCtx, cancel)()
	at := s.now()
	results := make([]result, len(s.targets))
	var (
		next atomic.Int64
		wg   sync.WaitGroup
	)
	workers := min(s.cfg.MaxConcurrency, len(s.targets))
	if len(s.decoders) < workers {
		s.decoders = make([]decode.Decoder, workers)
	}
	for w := range workers {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(s.targets) {
					return
				}
				results[i] = s.scrapeTarget(ctx, s.targets[i], &s.decoders[w], at)
			}
		})
	}
	wg.Wait()

	now := pcommon.NewTimestampFromTime(at)
	var errs []error
	logs := plog.NewLogs()
	for i, t := range s.targets {
		if err := s.emit(now, t, results[i], logs.ResourceLogs()); err != nil {
			errs = append(errs, err)
		}
	}
	m := s.mb.Emit()
	if s.logs != nil && logs.LogRecordCount() > 0 {
		if err := s.logs.ConsumeLogs(ctx, logs); err != nil {
			errs = append(errs, fmt.Errorf("sending log records: %w", err))
		}
	}
	if len(errs) > 0 {
		return m, scrapererror.NewPartialScrapeError(errors.Join(errs...), len(errs))
	}
	return m, nil
}

// scrapeTarget runs one target's pipeline. A failed scrape leaves the leak
// windows untouched: a gap, never a zero.
func (s *goroutineScraper) scrapeTarget(ctx context.Context, t *target, d *decode.Decoder, at time.Time) (r result) {
	start := time.Now()
	defer func() {
		if p := recover(); p != nil {
			r = result{err: fmt.Errorf("%w: panic reading the profile: %v", errPanic, p), bytes: r.bytes}
			// What the panic left half-written is not reused.
			*d, t.grouper = decode.Decoder{}, group.Grouper{}
		}
		r.duration = time.Since(start)
		if r.err == nil {
			t.failures = 0
		} else if t.failures++; t.failures == forgetAfter {
			t.tracker.Reset()
		}
	}()
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	var (
		p   *decode.Profile
		err error
	)
	if s.cfg.Mode == modeDump {
		var truncated bool
		r.groups, r.bytes, truncated, err = s.fetchDump(ctx, t.url, &t.grouper)
		if truncated {
			t.truncated++
		}
	} else {
		p, r.bytes, err = s.fetch(ctx, t.url, d)
		if err == nil {
			r.groups, err = t.grouper.Of(p, s.opts)
		}
	}
	if err != nil {
		r.err = err
		return r
	}
	var instance uint64
	if p != nil {
		r.truncatedStrings = p.TruncatedStrings
		instance = p.Instance()
	}

	t.keys, t.counts = t.keys[:0], t.counts[:0]
	for _, g := range r.groups.Groups {
		t.keys = append(t.keys, g.Key)
		t.counts = append(t.counts, float64(g.Count))
	}
	r.total, t.estimates = t.tracker.Observe(at, instance, float64(r.groups.Total), t.keys, t.counts, t.estimates)
	r.estimates = t.estimates
	// Leaks start small: a suspected group is reported beyond max_groups.
	t.kept, r.other = group.Cut(r.groups.Groups, s.cfg.MaxGroups, func(i int) bool { return r.estimates[i].Suspected }, t.kept)
	r.kept = t.kept
	s.investigate(ctx, t, d, at, p, &r)
	return r
}

// leakRetry is how long a target that has no goroutineleak endpoint (404)
// goes before it is asked again: it may have been rebuilt with it.
const leakRetry = time.Hour

// investigate gathers the evidence for the groups that turned suspected in
// this scrape (and, with leak_profile, on its own interval): the
// goroutineleak profile, and with evidence: on_suspect the dump. It writes
// one log record per group, when it first turns suspected or is proven
// leaked, whichever comes first. p is the scrape's profile (nil in dump
// mode). A failed evidence fetch is counted in the target's errors and
// costs the records their evidence, not the scrape.
func (s *goroutineScraper) investigate(ctx context.Context, t *target, d *decode.Decoder, at time.Time, p *decode.Profile, r *result) {
	var newly []int
	for i, est := range r.estimates {
		if est.Suspected && !t.suspected[r.groups.Groups[i].Key] {
			newly = append(newly, i)
		}
	}
	clear(t.suspected)
	for i, est := range r.estimates {
		if est.Suspected {
			t.suspected[r.groups.Groups[i].Key] = true
		}
	}

	// The stacks first: p is the worker's decoder's, which the evidence
	// fetches below reuse.
	for _, i := range newly {
		g, est := &r.groups.Groups[i], r.estimates[i]
		if t.reported[g.ID] {
			continue
		}
		t.reported[g.ID] = true
		rec := record{event: eventSuspected, known: *g.Known, count: g.Count, growth: est.Growth, minutes: -1, leaked: -1, stack: g.Stack}
		if p != nil {
			rec.stack = group.Frames(p, g)
		}
		r.records = append(r.records, rec)
	}

	wantLeak := s.cfg.LeakProfile && at.Sub(t.leakAt) >= s.cfg.LeakProfileInterval
	evidence := s.cfg.Evidence == evidenceOnSuspect && len(newly) > 0 &&
		(t.evidenceAt.IsZero() || at.Sub(t.evidenceAt) >= s.cfg.EvidenceInterval)
	if evidence {
		t.evidenceAt = at
		wantLeak = true
	}
	if wantLeak && at.Before(t.leakAbsentUntil) {
		wantLeak = false
	}
	if evidence && s.cfg.Mode != modeDump {
		if err := s.readEvidence(ctx, t); err != nil {
			t.errors[errorType(err)]++
		}
	}
	if wantLeak {
		if err := s.readLeakProfile(ctx, t, d, at, r); err != nil {
			t.errors[errorType(err)]++
		}
	}

	if len(r.records) == 0 && len(t.reported) == 0 {
		return // the common case: nothing to report, nothing to forget
	}
	// What the dump and the leak profile add to each record.
	leaked := make(map[signature.ID]int64, len(t.leaked))
	for _, l := range t.leaked {
		leaked[l.ID] += l.count
	}
	var dumped map[signature.ID]*group.Group
	if p == nil && len(r.records) > 0 {
		dumped = make(map[signature.ID]*group.Group, len(r.groups.Groups))
		for i := range r.groups.Groups {
			dumped[r.groups.Groups[i].ID] = &r.groups.Groups[i]
		}
	}
	for i := range r.records {
		rec := &r.records[i]
		id := rec.known.ID
		if g, ok := dumped[id]; ok {
			rec.minutes, rec.known.Creator = g.WaitMinutes, g.Creator
		} else if f, ok := t.evidence[id]; ok {
			rec.minutes, rec.known.Creator = f.waitMinutes, f.creator
			if rec.event == eventSuspected {
				rec.stack = f.stack
			}
		}
		if n, ok := leaked[id]; ok || t.leakAvailable == 1 {
			rec.leaked = n
		}
	}

	// A group neither suspected nor proven any more may be reported again
	// when it is.
	for id := range t.reported {
		if _, ok := leaked[id]; ok {
			continue
		}
		if !slices.ContainsFunc(r.groups.Groups, func(g group.Group) bool { return g.ID == id && t.suspected[g.Key] }) {
			delete(t.reported, id)
		}
	}
}

// readLeakProfile fetches the goroutineleak profile, keeps its groups and
// writes a record for each group proven leaked that no record reported yet.
func (s *goroutineScraper) readLeakProfile(ctx context.Context, t *target, d *decode.Decoder, at time.Time, r *result) error {
	t.leakAt = at
	u := *t.url
	u.Path = strings.TrimSuffix(u.Path, "goroutine") + "goroutineleak"
	u.RawQuery = ""
	p, _, err := s.fetch(ctx, &u, d)
	var status *statusError
	if errors.As(err, &status) && status.code == http.StatusNotFound {
		if t.leakAvailable != 0 {
			s.settings.Logger.Info("target serves no goroutineleak profile (build it with GOEXPERIMENT=goroutineleakprofile); asking again in an hour",
				zap.String("target", t.url.Redacted()))
		}
		t.leakAvailable, t.leakAbsentUntil, t.leaked = 0, at.Add(leakRetry), t.leaked[:0]
		return nil
	}
	if err != nil {
		return fmt.Errorf("goroutineleak profile: %w", err)
	}
	res, err := t.leakGrouper.Of(p, s.opts)
	if err != nil {
		return fmt.Errorf("goroutineleak profile: %w", err)
	}
	t.leakAvailable = 1
	t.leaked = t.leaked[:0]
	for i := range res.Groups {
		g := &res.Groups[i]
		t.leaked = append(t.leaked, leakedGroup{Known: *g.Known, count: g.Count})
		if t.reported[g.ID] {
			continue
		}
		t.reported[g.ID] = true
		r.records = append(r.records, record{event: eventProven, known: *g.Known, count: g.Count, growth: math.NaN(),
			minutes: -1, leaked: g.Count, stack: group.Frames(p, g)})
	}
	slices.SortFunc(t.leaked, func(a, b leakedGroup) int {
		return cmp.Or(cmp.Compare(b.count, a.count), cmp.Compare(a.ID, b.ID))
	})
	return nil
}

// readEvidence fetches the dump and keeps, per signature, what only it
// tells.
func (s *goroutineScraper) readEvidence(ctx context.Context, t *target) error {
	res, _, truncated, err := s.fetchDump(ctx, t.url, &t.evidenceGrouper)
	clear(t.evidence)
	if truncated {
		t.truncated++
	}
	if err != nil {
		return fmt.Errorf("goroutine dump: %w", err)
	}
	for _, g := range res.Groups {
		f := t.evidence[g.ID]
		if f.stack == nil {
			f.stack, f.creator = g.Stack, g.Creator
		}
		f.waitMinutes = max(f.waitMinutes, g.WaitMinutes)
		t.evidence[g.ID] = f
	}
	return nil
}

// The log records' event.name values.
const (
	eventSuspected = "goroutine.leak.suspected"
	eventProven    = "goroutine.leak.proven"
)

// get opens a GET of u; the caller closes the body. A status other than 200
// is a *statusError quoting the start of the body.
func (s *goroutineScraper) get(ctx context.Context, u *url.URL) (io.ReadCloser, int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), http.NoBody)
	if err != nil {
		return nil, 0, err
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, 0, err
	}
	if resp.StatusCode != http.StatusOK {
		prefix, _ := io.ReadAll(io.LimitReader(resp.Body, bodyPrefixBytes))
		_ = resp.Body.Close()
		return nil, int64(len(prefix)), &statusError{code: resp.StatusCode, body: strings.ToValidUTF8(string(prefix), "?")}
	}
	return resp.Body, 0, nil
}

// fetch reads one profile. The body is bounded twice: as sent, by
// max_body_bytes, and decompressed, by max_profile_bytes.
func (s *goroutineScraper) fetch(ctx context.Context, u *url.URL, d *decode.Decoder) (*decode.Profile, int64, error) {
	rc, n, err := s.get(ctx, u)
	if err != nil {
		return nil, n, err
	}
	defer rc.Close()
	body := &decode.CountingReader{R: io.LimitReader(rc, s.cfg.MaxBodyBytes+1)}
	p, err := s.decode(d, body, s.limits)
	if body.N > s.cfg.MaxBodyBytes {
		// Refused at the limit: Close then drops the connection rather than
		// drain the rest of an endless body.
		return nil, body.N, &decode.LimitError{Limit: "max_body_bytes", Max: s.cfg.MaxBodyBytes}
	}
	return p, body.N, err
}

// fetchDump reads the debug=2 dump of the target at u and groups it as it
// streams. The dump is text, sent uncompressed: max_profile_bytes bounds it
// (the runtime itself stops at 64 MiB). A dump cut short, by the runtime or
// by that limit, keeps its whole goroutines and reports truncated.
func (s *goroutineScraper) fetchDump(ctx context.Context, u *url.URL, g *group.Grouper) (group.Result, int64, bool, error) {
	du := *u
	q := du.Query()
	q.Set("debug", "2")
	du.RawQuery = q.Encode()
	rc, n, err := s.get(ctx, &du)
	if err != nil {
		return group.Result{}, n, false, err
	}
	defer rc.Close()
	body := &decode.CountingReader{R: rc}
	lim := s.limits // max_profile_bytes bounds the text
	res, err := g.OfDump(body, lim, s.opts)
	if err != nil {
		return group.Result{}, body.N, false, err
	}
	return res, body.N, res.Cut, nil
}

// emit records one target's metrics under its resource and returns its
// error, named after the target.
func (s *goroutineScraper) emit(now pcommon.Timestamp, t *target, r result, logs plog.ResourceLogsSlice) error {
	mb := s.mb
	var up int64
	if r.err == nil {
		up = 1
		mb.RecordGoGoroutineCountDataPoint(now, r.groups.Total)
		if r.total.Ready {
			mb.RecordGoGoroutineGrowthDataPoint(now, r.total.Growth)
		}
		for _, i := range r.kept {
			g, est := &r.groups.Groups[i], r.estimates[i]
			a := s.groupAttributes(g.Known)
			mb.RecordGoGoroutineGroupCountDataPointWithLabels(now, g.Count, a)
			if est.Ready {
				mb.RecordGoGoroutineGroupGrowthDataPointWithLabels(now, est.Growth, a)
				mb.RecordGoGoroutineGroupSuspectedDataPointWithLabels(now, boolInt(est.Suspected), a)
			}
			switch f, ok := t.evidence[g.ID]; {
			case s.cfg.Mode == modeDump:
				mb.RecordGoGoroutineGroupWaitMaxDataPointWithLabels(now, g.WaitMinutes, a)
			case ok:
				a.Creator = f.creator.Function
				mb.RecordGoGoroutineGroupWaitMaxDataPointWithLabels(now, f.waitMinutes, a)
			}
		}
		for i, l := range t.leaked {
			if i == s.cfg.MaxGroups {
				break
			}
			mb.RecordGoGoroutineGroupLeakedDataPointWithLabels(now, l.count, s.groupAttributes(&l.Known))
		}
		if r.other > 0 {
			mb.RecordGoGoroutineGroupCountDataPointWithLabels(now, r.other, metadata.GroupAttributes{
				Signature: otherSignature, LabelKeys: s.labelAttrs, LabelValues: s.noLabels,
			})
		}
	} else {
		t.errors[errorType(r.err)]++
	}
	s.countLimits(t, r)
	mb.RecordGoGoroutineScrapeUpDataPoint(now, up)
	if t.leakAvailable >= 0 {
		mb.RecordGoGoroutineLeakProfileAvailableDataPoint(now, int64(t.leakAvailable))
	}
	if s.cfg.Mode == modeDump || t.truncated > 0 {
		mb.RecordGoGoroutineScrapeTruncatedDataPoint(now, t.truncated)
	}
	mb.RecordGoGoroutineScrapeDurationDataPoint(now, r.duration.Seconds())
	mb.RecordGoGoroutineScrapeSizeDataPoint(now, r.bytes)
	for _, kind := range errorTypes {
		if n := t.errors[kind]; n > 0 {
			mb.RecordGoGoroutineScrapeErrorsDataPoint(now, n, kind)
		}
	}
	for _, l := range limitNames {
		if n := t.limits[l]; n > 0 {
			mb.RecordGoGoroutineScrapeLimitBreachesDataPoint(now, n, l)
		}
	}

	rb := mb.NewResourceBuilder()
	host, port := hostPort(t.url)
	rb.SetServerAddress(host)
	rb.SetServerPort(port)
	rb.SetServiceInstanceID(net.JoinHostPort(host, strconv.FormatInt(port, 10)))
	rb.SetURLFull(t.url.Redacted())
	if t.serviceName != "" {
		rb.SetServiceName(t.serviceName)
	}
	res := rb.Emit()
	if len(r.records) > 0 {
		rl := logs.AppendEmpty()
		res.CopyTo(rl.Resource())
		sl := rl.ScopeLogs().AppendEmpty()
		sl.Scope().SetName(metadata.ScopeName)
		sl.Scope().SetVersion(s.settings.BuildInfo.Version)
		for _, rec := range r.records {
			s.logRecord(now, rec, sl.LogRecords().AppendEmpty())
		}
	}
	mb.EmitForResource(metadata.WithResource(res))

	if r.err != nil {
		return fmt.Errorf("target %s: %w", t.url.Redacted(), r.err)
	}
	return nil
}

// groupAttributes are a group's attributes as every per-group metric
// carries them. The creator is set in dump mode only, where every scrape
// knows it: a series must not gain an attribute mid-life.
func (s *goroutineScraper) groupAttributes(k *group.Known) metadata.GroupAttributes {
	a := metadata.GroupAttributes{
		Signature: k.ID.String(), Wait: k.Wait,
		Function: k.Stuck.Function, File: k.Stuck.File, Line: k.Stuck.Line,
		Entry:     k.Entry,
		LabelKeys: s.labelAttrs, LabelValues: k.LabelValues,
	}
	if s.cfg.Mode == modeDump {
		a.Creator = k.Creator.Function
	}
	if len(a.LabelValues) == 0 && len(a.LabelKeys) > 0 {
		a.LabelValues = s.noLabels
	}
	return a
}

// logRecord writes rec as an OTLP log record: its body the group's stack in
// the runtime's traceback form (function, then file:line, innermost
// first), its attributes what the metrics say of the group.
func (s *goroutineScraper) logRecord(now pcommon.Timestamp, rec record, lr plog.LogRecord) {
	lr.SetTimestamp(now)
	lr.SetObservedTimestamp(now)
	lr.SetEventName(rec.event)
	lr.SetSeverityNumber(plog.SeverityNumberWarn)
	lr.SetSeverityText("WARN")
	k := &rec.known
	var b strings.Builder
	switch rec.event {
	case eventSuspected:
		fmt.Fprintf(&b, "goroutine group %s suspected of leaking: %d goroutines [%s], growing %.1f/min\n", k.ID, rec.count, k.Wait, rec.growth)
	default:
		fmt.Fprintf(&b, "goroutine group %s proven leaked by the runtime: %d goroutines [%s]\n", k.ID, rec.count, k.Wait)
	}
	for _, f := range rec.stack {
		fmt.Fprintf(&b, "%s\n\t%s:%d\n", f.Function, f.File, f.Line)
	}
	if k.Creator.Function != "" {
		fmt.Fprintf(&b, "created by %s\n\t%s:%d\n", k.Creator.Function, k.Creator.File, k.Creator.Line)
	}
	lr.Body().SetStr(strings.TrimSuffix(b.String(), "\n"))

	attrs := lr.Attributes()
	attrs.PutStr("goroutine.signature", k.ID.String())
	attrs.PutStr("goroutine.wait", k.Wait)
	attrs.PutStr("code.function.name", k.Stuck.Function)
	attrs.PutStr("code.file.path", k.Stuck.File)
	attrs.PutInt("code.line.number", k.Stuck.Line)
	attrs.PutStr("goroutine.entry", k.Entry)
	if k.Creator.Function != "" {
		attrs.PutStr("goroutine.creator", k.Creator.Function)
	}
	attrs.PutInt("goroutine.count", rec.count)
	if !math.IsNaN(rec.growth) {
		attrs.PutDouble("goroutine.growth", rec.growth)
	}
	if rec.minutes >= 0 {
		attrs.PutInt("goroutine.wait.max_minutes", rec.minutes)
	}
	if rec.leaked >= 0 {
		attrs.PutInt("goroutine.leaked", rec.leaked)
	}
	for i, key := range s.labelAttrs {
		if i < len(k.LabelValues) {
			attrs.PutStr(key, k.LabelValues[i])
		}
	}
}

// countLimits counts the limits one scrape reached: the one that refused it,
// or those it was truncated by.
func (s *goroutineScraper) countLimits(t *target, r result) {
	var le *decode.LimitError
	if errors.As(r.err, &le) {
		if l, ok := metadata.MapAttributeLimit[le.Limit]; ok {
			t.limits[l]++
		}
		return
	}
	if r.err != nil {
		return
	}
	if r.groups.Truncated > 0 {
		t.limits[metadata.AttributeLimitMaxFrames]++
	}
	if r.truncatedStrings > 0 {
		t.limits[metadata.AttributeLimitMaxStringBytes]++
	}
}

// limitNames lists the limits in the order their counters are emitted.
var limitNames = []metadata.AttributeLimit{
	metadata.AttributeLimitMaxBodyBytes,
	metadata.AttributeLimitMaxProfileBytes,
	metadata.AttributeLimitMaxSamples,
	metadata.AttributeLimitMaxLocations,
	metadata.AttributeLimitMaxMessageBytes,
	metadata.AttributeLimitCompressionRatio,
	metadata.AttributeLimitMaxFrames,
	metadata.AttributeLimitMaxStringBytes,
}

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// errorTypes lists the causes in the order their counters are emitted.
var errorTypes = []metadata.AttributeErrorType{
	metadata.AttributeErrorTypeConnect,
	metadata.AttributeErrorTypeTimeout,
	metadata.AttributeErrorTypeHTTPStatus,
	metadata.AttributeErrorTypeLimit,
	metadata.AttributeErrorTypeDecode,
	metadata.AttributeErrorTypeNotGoroutineProfile,
	metadata.AttributeErrorTypeInternal,
}

func errorType(err error) metadata.AttributeErrorType {
	var (
		status *statusError
		netErr net.Error
	)
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		return metadata.AttributeErrorTypeTimeout
	case errors.As(err, &status):
		return metadata.AttributeErrorTypeHTTPStatus
	case errors.Is(err, decode.ErrLimit):
		return metadata.AttributeErrorTypeLimit
	case errors.Is(err, errPanic):
		return metadata.AttributeErrorTypeInternal
	case errors.Is(err, decode.ErrMalformed), errors.Is(err, dump.ErrMalformed):
		return metadata.AttributeErrorTypeDecode
	case errors.Is(err, group.ErrNotGoroutineProfile):
		return metadata.AttributeErrorTypeNotGoroutineProfile
	}
	return metadata.AttributeErrorTypeConnect
}
