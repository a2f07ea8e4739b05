package goroutinereceiver // import "github.com/goroutinewatch/goroutinereceiver"

import (
	"context"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/scraper"
	"go.opentelemetry.io/collector/scraper/scraperhelper"

	"github.com/goroutinewatch/goroutinereceiver/internal/metadata"
)

// NewFactory returns the factory of the goroutine receiver.
func NewFactory() receiver.Factory {
	return receiver.NewFactory(
		metadata.Type,
		func() component.Config { return createDefaultConfig() },
		receiver.WithMetrics(createMetrics, metadata.MetricsStability),
	)
}

func createMetrics(_ context.Context, set receiver.Settings, rCfg component.Config, next consumer.Metrics) (receiver.Metrics, error) {
	cfg := rCfg.(*Config)
	s, err := newScraper(cfg, set, time.Now)
	if err != nil {
		return nil, err
	}
	sc, err := scraper.NewMetrics(s.scrape, scraper.WithStart(s.start), scraper.WithShutdown(s.shutdown))
	if err != nil {
		return nil, err
	}
	cc := cfg.controllerConfig()
	ctrl, err := scraperhelper.NewMetricsController(&cc, set, next, scraperhelper.AddMetricsScraper(metadata.Type, sc))
	if err != nil {
		return nil, err
	}
	return &metricsReceiver{Metrics: ctrl, stop: s.stop}, nil
}

// metricsReceiver cancels the scrape under way before shutting the
// controller down: the controller waits for that scrape to end before it
// tells the scraper to shut down, and a hung target would hold it until the
// scrape's deadline.
type metricsReceiver struct {
	receiver.Metrics
	stop context.CancelFunc
}

func (r *metricsReceiver) Shutdown(ctx context.Context) error {
	r.stop()
	return r.Metrics.Shutdown(ctx)
}
