package goroutinereceiver // import "github.com/goroutinewatch/goroutinereceiver"

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
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
	"github.com/goroutinewatch/goroutinereceiver/internal/trend"
)

// goroutineScraper runs the stages for every target at each scrape: a
// pool of workers reads the targets, each target's report applies what was
// read to it, and the worker's emitter writes the result under the
// target's resource, which goes down the pipelines at once.
type goroutineScraper struct {
	cfg      *Config
	settings receiver.Settings
	now      func() time.Time
	targets  []*target

	reader  *reader
	source  source // the profile or the dump, as `mode` chose once
	policy  evidence.Policy
	workers []worker
	// known is the table of known library leaks, read once.
	known *known.Table
	// telemetry reports the targets' totals in the collector's own
	// telemetry, taken after each round.
	telemetry *selfTelemetry

	// metrics and logs receive each target's scrape; nil when no pipeline
	// of that signal has the receiver. obs counts what they accept.
	metrics consumer.Metrics
	logs    consumer.Logs
	obs     *receiverhelper.ObsReport
	// store keeps the targets' state across restarts; nil without
	// `storage`.
	store *state.Store
	// stop cancels scrapes under way when the receiver shuts down.
	stopCtx context.Context
	stop    context.CancelFunc
}

func newScraper(cfg *Config, set receiver.Settings, now func() time.Time) (*goroutineScraper, error) {
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
		decode: (*decode.Decoder).Decode,
	}
	table, err := known.Default()
	if err != nil {
		return nil, err
	}
	s := &goroutineScraper{
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
	}
	if cfg.Mode == modeDump {
		s.source = dumpSource{r}
	}
	// Not derived from a caller's context: it lives as long as the receiver,
	// and only shutdown ends it.
	s.stopCtx, s.stop = context.WithCancel(context.Background())
	leak := &trend.Config{
		Horizons: trend.Horizons(cfg.windows(), cfg.Leak.MinGrowth, cfg.Leak.MinIncrease),
		Z:        cfg.Leak.z(),
	}
	add := func(endpoint, service string) error {
		u, err := targetURL(endpoint)
		if err != nil {
			return fmt.Errorf("endpoint %q: %w", endpoint, err)
		}
		s.targets = append(s.targets, newTarget(u, service, cfg, leak, set.Logger))
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
	s.reader.client = fetch.Client{HTTP: c}
	if s.obs, err = receiverhelper.NewObsReport(receiverhelper.ObsReportSettings{ReceiverID: s.settings.ID, ReceiverCreateSettings: s.settings}); err != nil {
		return err
	}
	started := pcommon.NewTimestampFromTime(s.now())
	s.workers = make([]worker, min(s.cfg.MaxConcurrency, len(s.targets)))
	for i := range s.workers {
		s.workers[i].emitter = newEmitter(s.cfg, s.settings, started, s.known)
	}
	if s.telemetry, err = newSelfTelemetry(s.settings.ID, s.settings.TelemetrySettings); err != nil {
		return err
	}
	if s.cfg.Storage != nil {
		err = s.restore(ctx, host, *s.cfg.Storage)
	}
	s.telemetry.take(s.targets)
	return err
}

// restore opens the storage extension id names and restores each target's
// state from it. A storage that fails leaves the targets to start afresh,
// in memory only; one that is not configured, or not a storage, is a
// mistake in the configuration and fails the start.
func (s *goroutineScraper) restore(ctx context.Context, host component.Host, id component.ID) error {
	ext, ok := host.GetExtensions()[id]
	if !ok {
		return fmt.Errorf("storage: no extension %q is configured in the service", id)
	}
	se, ok := ext.(storage.Extension)
	if !ok {
		return fmt.Errorf("storage: extension %q is not a storage extension", id)
	}
	client, err := se.GetClient(ctx, component.KindReceiver, s.settings.ID, "")
	if err != nil {
		// A storage that is there but fails (a corrupt file, a full or
		// read-only disk) costs the memory of the restart, not the
		// collector: the targets start afresh, and are counted.
		s.settings.Logger.Warn("the storage failed; the targets' leak state is kept in memory only until the collector restarts",
			zap.String("storage", id.String()), zap.Error(err))
		for _, t := range s.targets {
			t.keptInMemory()
		}
		return nil
	}
	keys := make([]string, len(s.targets))
	for i, t := range s.targets {
		keys[i] = t.keep.key
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
		b, err := store.Load(ctx, t.keep.key)
		if t.restored(at, b, err) {
			if err := store.Delete(ctx, t.keep.key); err != nil {
				s.settings.Logger.Warn("deleting a discarded state", zap.String("target", t.resource.url), zap.Error(err))
			}
		}
	}
	return nil
}

func (s *goroutineScraper) shutdown(ctx context.Context) error {
	s.stop()
	if s.telemetry != nil {
		s.telemetry.shutdown()
	}
	if s.reader.client.HTTP != nil {
		s.reader.client.HTTP.CloseIdleConnections()
	}
	if s.store == nil {
		return nil
	}
	// The scrapes have stopped: what each target learned since its last
	// save is saved now, so that a restart loses nothing.
	at := s.now()
	var buf []byte
	for _, t := range s.targets {
		buf = t.appendState(buf[:0], at)
		if err := s.store.Save(ctx, t.keep.key, buf); err != nil {
			s.settings.Logger.Warn("saving the target's leak state at shutdown failed", zap.String("target", t.resource.url), zap.Error(err))
		}
	}
	return s.store.Close(ctx)
}

// emitted is one target's scrape as its worker wrote it.
type emitted struct {
	metrics pmetric.ResourceMetricsSlice
	logs    plog.ResourceLogsSlice
	err     error
}

// A delivery takes target i's scrape from the worker that wrote it: some of
// max_concurrency run at once.
type delivery func(ctx context.Context, i int, e *emitted) error

// scrapeEach reads every target with at most max_concurrency in flight,
// each worker emitting a target and handing it to deliver as soon as it is
// read: a scrape of a thousand targets is never one batch of a million
// points held at once. A failed target costs only its own data. It returns
// the failed targets' errors and deliver's, joined.
func (s *goroutineScraper) scrapeEach(ctx context.Context, deliver delivery) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(s.stopCtx, cancel)()
	at := s.now()
	errs := make([]error, len(s.targets))
	var (
		next atomic.Int64
		wg   sync.WaitGroup
	)
	for w := range s.workers {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(s.targets) {
					return
				}
				t := s.targets[i]
				e := s.scrapeTarget(ctx, t, &s.workers[w], at)
				if e.err != nil {
					e.err = fmt.Errorf("target %s: %w", t.resource.url, e.err)
				}
				errs[i] = errors.Join(e.err, deliver(ctx, i, &e))
			}
		})
	}
	wg.Wait()
	s.telemetry.take(s.targets)
	return errors.Join(errs...)
}

// deliver sends a target's metrics and log records down their pipelines,
// counted as the collector counts a receiver's.
func (s *goroutineScraper) deliver(ctx context.Context, _ int, e *emitted) error {
	return errors.Join(s.deliverMetrics(ctx, e), s.deliverLogs(ctx, e))
}

func (s *goroutineScraper) deliverMetrics(ctx context.Context, e *emitted) error {
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

func (s *goroutineScraper) deliverLogs(ctx context.Context, e *emitted) error {
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

// scrapeRound is one scheduled scrape of every target. Its errors are said
// once a round, as the collector's scraper controller says them.
func (s *goroutineScraper) scrapeRound(ctx context.Context) {
	if err := s.scrapeEach(ctx, s.deliver); err != nil {
		s.settings.Logger.Error("Error scraping metrics", zap.Error(err))
	}
}

// scrapeTarget runs one target's stages under its deadline: the source
// reads it, its report applies the reading, gathering the evidence the
// policy asks for, and the worker's emitter writes the result. A panic in
// the reading or the report is that target's internal error.
func (s *goroutineScraper) scrapeTarget(ctx context.Context, t *target, w *worker, at time.Time) emitted {
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, s.cfg.timeout())
	defer cancel()
	gather := func(asked evidence.Fetch) found { return s.reader.gather(ctx, w, t, asked) }
	var save saver
	if s.store != nil {
		save = func(encode func([]byte) []byte) (int, error) {
			w.state = encode(w.state[:0])
			return len(w.state), s.store.Save(ctx, t.keep.key, w.state)
		}
	}

	o, err := contained("reading the profile", func() observation { return s.source.read(ctx, w, t.endpoints) })
	if err != nil {
		o = observation{err: err}
		w.forgetHalfWritten()
	}
	r, err := contained("reporting the scrape", func() result { return t.report(at, o, s.policy, gather, save, &w.scratch) })
	if err != nil {
		w.forgetHalfWritten()
		r = t.report(at, observation{err: err}, s.policy, gather, nil, &w.scratch)
	}
	r.duration = time.Since(start)
	out := emitted{metrics: pmetric.NewResourceMetricsSlice(), logs: plog.NewResourceLogsSlice(), err: r.err}
	w.emitter.emit(pcommon.NewTimestampFromTime(at), t, &r, out.metrics, out.logs)
	return out
}

// forgetHalfWritten drops what a panic may have left half-written: the
// decoder's, the groupers' and the report's memory.
func (w *worker) forgetHalfWritten() {
	w.decoder = decode.Decoder{}
	w.grouper, w.evidenceGrouper, w.leakGrouper = group.Grouper{}, group.Grouper{}, group.Grouper{}
	w.scratch = scratch{}
}

// contained runs f, turning a panic into an errPanic naming what was under
// way.
func contained[T any](what string, f func() T) (v T, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%w: panic %s: %v", errPanic, what, p)
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
