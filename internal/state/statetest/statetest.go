// Package statetest starts the real file_storage extension for the tests
// of the receiver's state: the storage users run, not a stand-in.
package statetest // import "github.com/goroutinewatch/goroutinereceiver/internal/state/statetest"

import (
	"context"
	"testing"

	"github.com/open-telemetry/opentelemetry-collector-contrib/extension/storage/filestorage"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/extension/extensiontest"
	"go.opentelemetry.io/collector/extension/xextension/storage"
)

// FileStorage starts file_storage over dir, as a collector with it
// configured does, and shuts it down when the test ends.
func FileStorage(tb testing.TB, dir string) storage.Extension {
	tb.Helper()
	f := filestorage.NewFactory()
	cfg := f.CreateDefaultConfig().(*filestorage.Config)
	cfg.Directory = dir
	ext, err := f.Create(context.Background(), extensiontest.NewNopSettings(f.Type()), cfg)
	require.NoError(tb, err)
	require.NoError(tb, ext.Start(context.Background(), componenttest.NewNopHost()))
	tb.Cleanup(func() { require.NoError(tb, ext.Shutdown(context.Background())) })
	return ext.(storage.Extension)
}
