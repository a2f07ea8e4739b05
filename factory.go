package goroutinereceiver // import "github.com/goroutinewatch/goroutinereceiver"

import (
	"context"
	"sync"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/xconsumer"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/receiver/xreceiver"

	"github.com/goroutinewatch/goroutinereceiver/internal/metadata"
)

// NewFactory returns the factory of the goroutine receiver. It is a
// metrics, a logs and a profiles receiver: a receiver in pipelines of
// several signals is one scraper, whose scrapes feed them all.
func NewFactory() receiver.Factory {
	shared := &sharedReceivers{byConfig: map[*Config]*goroutineReceiver{}}
	return xreceiver.NewFactory(
		metadata.Type,
		func() component.Config { return createDefaultConfig() },
		xreceiver.WithMetrics(shared.createMetrics, metadata.MetricsStability),
		xreceiver.WithLogs(shared.createLogs, metadata.LogsStability),
		xreceiver.WithProfiles(shared.createProfiles, metadata.ProfilesStability),
	)
}

// sharedReceivers hands the metrics and the logs side of one configured
// receiver the same goroutineReceiver. It belongs to one factory, not to
// the package.
type sharedReceivers struct {
	mu       sync.Mutex
	byConfig map[*Config]*goroutineReceiver
}

func (s *sharedReceivers) get(set receiver.Settings, cfg *Config) (*goroutineReceiver, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r, ok := s.byConfig[cfg]; ok {
		return r, nil
	}
	sc, err := newScraper(cfg, set, time.Now)
	if err != nil {
		return nil, err
	}
	r := &goroutineReceiver{cfg: cfg, set: set, scraper: sc, release: func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		delete(s.byConfig, cfg)
	}}
	s.byConfig[cfg] = r
	return r, nil
}

func (s *sharedReceivers) createMetrics(_ context.Context, set receiver.Settings, cfg component.Config, next consumer.Metrics) (receiver.Metrics, error) {
	r, err := s.get(set, cfg.(*Config))
	if err != nil {
		return nil, err
	}
	r.scraper.metrics = next
	return r, nil
}

func (s *sharedReceivers) createLogs(_ context.Context, set receiver.Settings, cfg component.Config, next consumer.Logs) (receiver.Logs, error) {
	r, err := s.get(set, cfg.(*Config))
	if err != nil {
		return nil, err
	}
	r.scraper.logs = next
	return r, nil
}

func (s *sharedReceivers) createProfiles(_ context.Context, set receiver.Settings, cfg component.Config, next xconsumer.Profiles) (xreceiver.Profiles, error) {
	r, err := s.get(set, cfg.(*Config))
	if err != nil {
		return nil, err
	}
	r.scraper.profiles = next
	return r, nil
}

// goroutineReceiver runs one scraper's loops, for the metrics pipeline and
// the logs pipeline alike: the collector starts and shuts it down once per
// pipeline, and it runs from the first start to the last shutdown.
type goroutineReceiver struct {
	cfg     *Config
	set     receiver.Settings
	scraper *scraper
	release func()

	mu      sync.Mutex
	started int
}

func (r *goroutineReceiver) Start(ctx context.Context, host component.Host) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.started++; r.started > 1 {
		return nil
	}
	if err := r.scraper.start(ctx, host); err != nil {
		return err
	}
	r.scraper.run()
	return nil
}

// Shutdown stops the loops, canceling the scrapes under way (a hung target
// would hold its loop until its deadline), and saves the targets' state.
func (r *goroutineReceiver) Shutdown(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.started > 1 {
		r.started--
		return nil
	}
	r.started = 0
	r.release()
	return r.scraper.shutdown(ctx)
}
