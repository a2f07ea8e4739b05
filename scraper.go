package goroutinereceiver // import "github.com/goroutinewatch/goroutinereceiver"

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/xconsumer"
	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pprofile"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/receiver/receiverhelper"
	"go.uber.org/zap"

	"github.com/goroutinewatch/goroutinereceiver/internal/decode"
	"github.com/goroutinewatch/goroutinereceiver/internal/evidence"
	"github.com/goroutinewatch/goroutinereceiver/internal/fetch"
	"github.com/goroutinewatch/goroutinereceiver/internal/group"
	"github.com/goroutinewatch/goroutinereceiver/internal/known"
	"github.com/goroutinewatch/goroutinereceiver/internal/metadata"
	"github.com/goroutinewatch/goroutinereceiver/internal/signature"
	"github.com/goroutinewatch/goroutinereceiver/internal/state"
)

// scraper is the receiver's targets and what they share: the reader, the
// workers, the evidence policy, the storage, the pipelines. Each target has
// a loop of its own (loop.go), which runs the target's stages at each of
// its slots (scrapeTarget) and hands the result down the pipelines.
type scraper struct {
	cfg      *Config
	settings receiver.Settings
	// now is the clock of the data: timestamps, leak windows, evidence
	// intervals, saves. The loops' slots are on the wall clock.
	now     func() time.Time
	targets []*target
	// slots are the targets' places in the interval; a test sets them.
	slots []slot

	reader *reader
	source source // the profile or the dump, as `mode` chose once
	policy evidence.Policy
	// workers are the max_concurrency workers the loops share.
	workers workers
	// known is the table of known library leaks, read once.
	known *known.Table
	// telemetry reports the targets' health in the collector's own
	// telemetry, as each loop publishes it.
	telemetry *selfTelemetry
	// results holds the results of scrapes delivered, for the next ones.
	results sync.Pool

	// metrics, logs and profiles receive each target's scrape; nil when no
	// pipeline of that signal has the receiver. obs counts what they
	// accept.
	metrics  consumer.Metrics
	logs     consumer.Logs
	profiles xconsumer.Profiles
	obs      *receiverhelper.ObsReport
	// store keeps the targets' state across restarts; nil without
	// `storage`.
	store *state.Store
	// stop ends the loops, canceling the scrapes under way; running waits
	// for them.
	stop    context.CancelFunc
	running sync.WaitGroup
}

func newScraper(cfg *Config, set receiver.Settings, now func() time.Time) (*scraper, error) {
	mode, ok := signature.ParseMode(cfg.Signature)
	if !ok {
		return nil, fmt.Errorf("signature %q: must be function or line", cfg.Signature)
	}
	r := &reader{
		maxBody: cfg.MaxBodyBytes,
		limits: decode.Limits{
			MaxBytes:       cfg.MaxProfileBytes,
			MaxFrames:      cfg.MaxFrames,
			MaxStringBytes: cfg.MaxStringBytes,
			MaxSamples:     cfg.MaxSamples,
			MaxLocations:   cfg.MaxLocations,
		},
		opts: group.Options{
			Mode: mode, Labels: cfg.Labels, Ignore: genericNames(cfg.Ignore),
			Code: signature.Code{User: cfg.UserCode.Packages, Library: cfg.UserCode.Libraries},
		},
		maxGroups: cfg.MaxGroups,
		decode:    (*decode.Decoder).Decode,
	}
	table, err := known.Default()
	if err != nil {
		return nil, err
	}
	s := &scraper{
		known:    table,
		cfg:      cfg,
		settings: set,
		now:      now,
		reader:   r,
		source:   profileSource{r},
		policy: evidence.Policy{
			LeakProfile:  cfg.LeakProfile == nil || *cfg.LeakProfile,
			ReadIndex:    cfg.LeakProfile == nil || !*cfg.LeakProfile && cfg.Evidence == evidenceOnSuspect,
			LeakInterval: cfg.LeakProfileInterval,
			OnSuspect:    cfg.Evidence == evidenceOnSuspect,
			Interval:     cfg.EvidenceInterval,
			ScrapeDumps:  cfg.Mode == modeDump,

			MaxDumpGoroutines: cfg.DumpMaxGoroutines,
			MaxLeakGoroutines: cfg.LeakProfileMaxGoroutines,
		},
		results: sync.Pool{New: func() any { return new(result) }},
	}
	if cfg.Mode == modeDump {
		s.source = dumpSource{r}
	}
	leak := cfg.trend()
	add := func(endpoint, service string) error {
		u, err := targetURL(endpoint)
		if err != nil {
			return fmt.Errorf("endpoint %q: %w", endpoint, err)
		}
		t := newTarget(u, service, cfg, leak, set.Logger)
		s.targets = append(s.targets, t)
		s.slots = append(s.slots, slotOf(t.saves.key, cfg.CollectionInterval))
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

// start readies what the loops share and restores the targets' state; a
// start that fails leaves nothing registered or open.
func (s *scraper) start(ctx context.Context, host component.Host) (err error) {
	client := s.cfg.ClientConfig
	// The per-target context deadline bounds connect, headers and body
	// alike; a second timer in http.Client would only race it.
	client.Timeout = 0
	c, err := client.ToClient(ctx, host.GetExtensions(), s.settings.TelemetrySettings)
	if err != nil {
		return err
	}
	s.reader.client = fetch.Client{HTTP: c}
	if s.obs, err = receiverhelper.NewObsReport(receiverhelper.ObsReportSettings{ReceiverID: s.settings.ID, ReceiverCreateSettings: s.settings}); err != nil {
		return err
	}
	started := pcommon.NewTimestampFromTime(s.now())
	s.workers = newWorkers(min(s.cfg.MaxConcurrency, len(s.targets)), func() *worker {
		return &worker{emitter: newEmitter(s.cfg, s.settings, started, s.known)}
	})
	if s.telemetry, err = newSelfTelemetry(s.settings.ID, s.settings.TelemetrySettings, len(s.targets)); err != nil {
		return err
	}
	defer func() {
		if err != nil {
			s.telemetry.shutdown()
			s.telemetry = nil
		}
	}()
	if s.cfg.Storage != nil {
		if err := s.restore(ctx, host, *s.cfg.Storage); err != nil {
			return err
		}
	}
	for i, t := range s.targets {
		s.telemetry.publish(i, &t.health, t.tracker.Len())
	}
	return nil
}

// run starts the targets' loops, which run until shutdown.
func (s *scraper) run() {
	// Not derived from a caller's context: the loops live as long as the
	// receiver, and only shutdown ends them.
	ctx, stop := context.WithCancel(context.Background())
	s.stop = stop
	for i := range s.targets {
		l := &loop{slot: s.slots[i], delay: s.cfg.InitialDelay, scrape: func(ctx context.Context) { _ = s.scrapeTarget(ctx, i) }}
		s.running.Go(func() { l.run(ctx) })
	}
}

// storageOf returns the storage extension id names on host; that none is
// configured, or that it is not a storage, is a mistake in the
// configuration, which fails the start.
func storageOf(host component.Host, id component.ID) (storage.Extension, error) {
	ext, ok := host.GetExtensions()[id]
	if !ok {
		return nil, fmt.Errorf("storage: no extension %q is configured in the service", id)
	}
	se, ok := ext.(storage.Extension)
	if !ok {
		return nil, fmt.Errorf("storage: extension %q is not a storage extension", id)
	}
	return se, nil
}

// restore opens the storage extension id names and restores each target's
// state from it. A storage that fails leaves the targets to start afresh,
// in memory only; one that is not configured, or not a storage, is a
// mistake in the configuration and fails the start.
func (s *scraper) restore(ctx context.Context, host component.Host, id component.ID) error {
	se, err := storageOf(host, id)
	if err != nil {
		return err
	}
	client, err := se.GetClient(ctx, component.KindReceiver, s.settings.ID, "")
	if err != nil {
		// A storage that is there but fails (a corrupt file, a full or
		// read-only disk) costs the memory of the restart, not the
		// collector: the targets start afresh, and are counted.
		s.settings.Logger.Warn("the storage failed; the targets' leak state is kept in memory only until the collector restarts",
			zap.String("storage", id.String()), zap.Error(err))
		for _, t := range s.targets {
			t.storageFailed()
		}
		return nil
	}
	keys := make([]string, len(s.targets))
	for i, t := range s.targets {
		keys[i] = t.saves.key
	}
	store, deleted, err := state.Open(ctx, client, keys)
	if err != nil {
		s.settings.Logger.Warn("reading the storage's index of saved targets failed; records of targets no longer configured may stay behind", zap.String("storage", id.String()), zap.Error(err))
	}
	if deleted > 0 {
		s.settings.Logger.Info("deleted the saved state of targets no longer configured", zap.Int("targets", deleted))
	}
	s.store = store
	at := s.now()
	for _, t := range s.targets {
		b, err := store.Load(ctx, t.saves.key)
		if t.restore(at, b, err) {
			if err := store.Delete(ctx, t.saves.key); err != nil {
				s.settings.Logger.Warn("deleting a discarded state", zap.String("target", t.resource.url), zap.Error(err))
			}
		}
	}
	return nil
}

// finalSaveBytes is the most bytes of records one write at shutdown
// carries: the storage's batch makes one transaction of each, and a
// thousand targets of a thousand groups hold 300 MB of records.
const finalSaveBytes = 8 << 20

// shutdown stops the loops, canceling the scrapes under way, and waits for
// them; then what each target learned since its last save is saved, so
// that a restart loses nothing, in a few batches rather than a write a
// target.
func (s *scraper) shutdown(ctx context.Context) error {
	if s.stop != nil {
		s.stop()
	}
	s.running.Wait()
	if s.reader.client.HTTP != nil {
		s.reader.client.HTTP.CloseIdleConnections()
	}
	defer func() {
		if s.telemetry != nil {
			s.telemetry.shutdown()
		}
	}()
	if s.store == nil {
		return nil
	}
	at := s.now()
	var (
		batch []*target
		recs  [][]byte
		size  int
	)
	flush := func() {
		if len(batch) == 0 {
			return
		}
		keys := make([]string, len(batch))
		for i, t := range batch {
			keys[i] = t.saves.key
		}
		err := s.store.SaveAll(ctx, keys, recs)
		if err != nil {
			s.settings.Logger.Warn("saving the targets' leak state at shutdown failed", zap.Int("targets", len(batch)), zap.Error(err))
		}
		for i, t := range batch {
			t.saved(len(recs[i]), err)
		}
		batch, recs, size = batch[:0], recs[:0], 0
	}
	for _, t := range s.targets {
		b := t.appendState(nil, at)
		batch, recs, size = append(batch, t), append(recs, b), size+len(b)
		if size >= finalSaveBytes {
			flush()
		}
	}
	flush()
	return s.store.Close(ctx)
}

// emitted is one target's scrape as a worker's emitter wrote it.
type emitted struct {
	metrics pmetric.ResourceMetricsSlice
	logs    plog.ResourceLogsSlice
	// profiles is set when the scrape sends profiles.
	profiles maybe[pprofile.Profiles]
}

// scrapeTarget is one scrape of target i, its stages run in order under
// the target's deadline (stages), the result written by a worker's emitter
// and handed down the pipelines at once: a scrape of a thousand targets is
// never one batch of a million points held at once. A scrape the
// receiver's shutdown cut short before its reading arrived is dropped,
// counted nowhere. A panic is the target's internal error: what the target
// learned is forgotten rather than kept half-written, and the other
// targets go on.
//
// It returns the scrape's error, naming the target; the target's health
// has counted it and its loop said it in the log.
func (s *scraper) scrapeTarget(ctx context.Context, i int) error {
	t := s.targets[i]
	at, start := s.now(), time.Now()
	r := s.results.Get().(*result)
	defer func() {
		r.reset()
		s.results.Put(r)
	}()
	doing := "reading the profile"
	scraped, err := contained(&doing, func() bool { return s.stages(ctx, t, at, r, &doing) })
	if err != nil {
		t.forgetState()
		r.reset()
		t.failed(err, r)
	} else if !scraped {
		return nil
	}
	r.resource, r.duration = &t.resource, time.Since(start)

	w := <-s.workers // freed by other scrapes within their deadlines
	if s.store != nil && r.err == nil && t.saveDue(at) {
		w.state = t.appendState(w.state[:0], at)
		t.saved(len(w.state), s.store.Save(context.WithoutCancel(ctx), t.saves.key, w.state))
	}
	r.health = t.health
	out := emitted{metrics: pmetric.NewResourceMetricsSlice(), logs: plog.NewResourceLogsSlice()}
	w.emitter.emit(pcommon.NewTimestampFromTime(at), r, out.metrics, out.logs)
	out.profiles.v, out.profiles.ok = w.emitter.emitProfiles(pcommon.NewTimestampFromTime(at), r)
	s.workers <- w
	s.telemetry.publish(i, &t.health, t.tracker.Len())

	if err := s.deliver(context.WithoutCancel(ctx), &out); err != nil {
		t.logger.Debug("the pipeline refused the target's data", zap.String("target", t.resource.url), zap.Error(err))
	}
	if r.err != nil {
		return fmt.Errorf("target %s: %w", t.resource.url, r.err)
	}
	return nil
}

// stages runs one scrape's stages for t, in the order data flows: the
// source reads the target and observe applies the reading, in a worker
// taken when the body arrives; gather fetches the evidence observe planned,
// each body in a worker of its own; apply keeps what it brought. It reports
// false for a scrape the receiver's shutdown cut short before its reading.
//
// doing names the stage under way, for the error of a panic.
func (s *scraper) stages(ctx context.Context, t *target, at time.Time, r *result, doing *string) bool {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.timeout())
	defer cancel()
	l := &lease{ws: s.workers}
	spoilt := true
	defer func() { l.release(spoilt) }()
	o := s.source.read(ctx, l, t.endpoints)
	switch {
	case stopped(ctx, o.err):
		spoilt = false
		return false
	case o.err != nil:
		spoilt = false
		t.failed(o.err, r)
		return true
	}
	*doing = "observing the groups"
	p := t.observe(at, &o, s.policy, profilePolicy{on: s.profiles != nil, every: s.cfg.Profiles.Every}, &l.w.scratch, r)
	spoilt = false
	l.release(false)

	var wanted func(signature.ID) bool
	if p.fetch.Dump {
		ids := make(map[signature.ID]bool, len(r.groups))
		for i := range r.groups {
			ids[r.groups[i].key.ID] = true
		}
		wanted = func(id signature.ID) bool { return ids[id] }
	}
	*doing = "fetching the evidence"
	f := s.reader.gather(ctx, s.workers, t.endpoints, p.fetch, wanted)
	*doing = "applying the evidence"
	t.apply(at, p, &f, r)
	if t.health.scraped(&o, nil) {
		t.logger.Info("target scraped again", zap.String("target", t.resource.url))
	}
	return true
}

// deliver sends a target's metrics, log records and profiles down their
// pipelines, counted as the collector counts a receiver's.
func (s *scraper) deliver(ctx context.Context, e *emitted) error {
	return errors.Join(s.deliverMetrics(ctx, e), s.deliverLogs(ctx, e), s.deliverProfiles(ctx, e))
}

func (s *scraper) deliverProfiles(ctx context.Context, e *emitted) error {
	if s.profiles == nil || !e.profiles.ok {
		return nil
	}
	n := e.profiles.v.SampleCount()
	ctx = s.obs.StartProfilesOp(ctx)
	err := s.profiles.ConsumeProfiles(ctx, e.profiles.v)
	s.obs.EndProfilesOp(ctx, metadata.Type.String(), n, err)
	if err != nil {
		return fmt.Errorf("sending profiles: %w", err)
	}
	return nil
}

func (s *scraper) deliverMetrics(ctx context.Context, e *emitted) error {
	if s.metrics == nil || e.metrics.Len() == 0 {
		return nil
	}
	md := pmetric.NewMetrics()
	e.metrics.MoveAndAppendTo(md.ResourceMetrics())
	n := md.DataPointCount()
	ctx = s.obs.StartMetricsOp(ctx)
	err := s.metrics.ConsumeMetrics(ctx, md)
	s.obs.EndMetricsOp(ctx, metadata.Type.String(), n, err)
	if err != nil {
		return fmt.Errorf("sending metrics: %w", err)
	}
	return nil
}

func (s *scraper) deliverLogs(ctx context.Context, e *emitted) error {
	if s.logs == nil || e.logs.Len() == 0 {
		return nil
	}
	ld := plog.NewLogs()
	e.logs.MoveAndAppendTo(ld.ResourceLogs())
	n := ld.LogRecordCount()
	ctx = s.obs.StartLogsOp(ctx)
	err := s.logs.ConsumeLogs(ctx, ld)
	s.obs.EndLogsOp(ctx, metadata.Type.String(), n, err)
	if err != nil {
		return fmt.Errorf("sending log records: %w", err)
	}
	return nil
}

// contained runs f, turning a panic into an errPanic naming what was under
// way when it came.
func contained[T any](what *string, f func() T) (v T, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%w: panic %s: %v", errPanic, *what, p)
		}
	}()
	return f(), nil
}

// genericNames spells the functions of `ignore` as signatures do, so that a
// generic function matches whether the user copied it from a profile
// (shapes) or a dump ("[...]").
func genericNames(fns []string) []string {
	out := make([]string, len(fns))
	for i, fn := range fns {
		out[i] = signature.Generic(fn)
	}
	return out
}
