// Package goroutineconnector is the goroutine connector, profiles to
// metrics: it judges the goroutine profiles that arrive from any component
// (a node collector's goroutine receiver, over OTLP) as the goroutine
// receiver judges the targets it scrapes, a source for each resource, and
// emits the receiver's metrics and leak gauges. The judgment is the
// receiver's own code: this package only names it for an ocb manifest,
//
//	connectors:
//	  - gomod: github.com/goroutinewatch/goroutinereceiver v0.1.0
//	    import: github.com/goroutinewatch/goroutinereceiver/connector/goroutineconnector
package goroutineconnector // import "github.com/goroutinewatch/goroutinereceiver/connector/goroutineconnector"

import (
	"go.opentelemetry.io/collector/connector"

	"github.com/goroutinewatch/goroutinereceiver"
)

// NewFactory returns the factory of the goroutine connector.
func NewFactory() connector.Factory { return goroutinereceiver.NewConnectorFactory() }
