package goroutinereceiver

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/configopaque"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"

	"github.com/goroutinewatch/goroutinereceiver/internal/metadata"
	"github.com/goroutinewatch/goroutinereceiver/internal/trend"
)

func loadConfig(t *testing.T, name string) *Config {
	t.Helper()
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)
	sub, err := cm.Sub(component.NewIDWithName(metadata.Type, name).String())
	require.NoError(t, err)
	cfg := createDefaultConfig()
	require.NoError(t, sub.Unmarshal(cfg))
	return cfg
}

func TestLoadConfig(t *testing.T) {
	def := loadConfig(t, "")
	assert.Equal(t, createDefaultConfig(), def)
	assert.ErrorIs(t, confmap.Validate(def), errNoTargets)

	cfg := loadConfig(t, "custom")
	require.NoError(t, confmap.Validate(cfg))
	assert.Equal(t, "127.0.0.1:6060", cfg.Endpoint)
	assert.Equal(t, "edge", cfg.ServiceName)
	assert.Equal(t, []TargetConfig{
		{Endpoint: "https://checkout.internal:8443/debug/pprof/goroutine", ServiceName: "checkout"},
		{Endpoint: "http://10.0.0.7:6060"},
	}, cfg.Targets)
	assert.Equal(t, 15*time.Second, cfg.CollectionInterval)
	assert.Equal(t, 2*time.Second, cfg.InitialDelay)
	assert.Equal(t, 5*time.Second, cfg.Timeout)
	assert.Equal(t, "line", cfg.Signature)
	assert.Equal(t, []string{"pattern", "tenant"}, cfg.Labels)
	assert.Equal(t, 50, cfg.MaxGroups)
	assert.Equal(t, []string{"main.poolWorker"}, cfg.Ignore)
	assert.Equal(t, UserCodeConfig{Packages: []string{"corp.example/mono/services"}, Libraries: []string{"corp.example/mono/platform"}}, cfg.UserCode)
	assert.Equal(t, 8, cfg.MaxConcurrency)
	assert.Equal(t, int64(defaultMaxBodyBytes), cfg.MaxBodyBytes)
	assert.Equal(t, modeDump, cfg.Mode)
	assert.Equal(t, ptr(true), cfg.LeakProfile)
	assert.Equal(t, 15*time.Minute, cfg.LeakProfileInterval)
	assert.Equal(t, evidenceOnSuspect, cfg.Evidence)
	assert.Equal(t, time.Hour, cfg.EvidenceInterval)
	v, ok := cfg.Headers.Get("Authorization")
	require.True(t, ok)
	assert.Equal(t, configopaque.String("Bearer s3cr3t"), v)
	assert.Equal(t, LeakConfig{Window: 2 * time.Hour, MinGrowth: 0.05, MinIncrease: 20, Significance: 0.001, MaxTrackedGroups: 300}, cfg.Leak)
	assert.Equal(t, []time.Duration{2 * time.Hour}, cfg.windows(), "leak.window is one horizon in place of the default ones")
	assert.Equal(t, trend.DefaultWindows(), def.windows())
	assert.InDelta(t, 3.090, cfg.Leak.z(), 0.001, "one-sided 0.1%% quantile")
	assert.InDelta(t, 2.326, createDefaultConfig().Leak.z(), 0.001, "one-sided 1%% quantile")
	assert.False(t, cfg.Metrics.GoGoroutineScrapeSize.Enabled)
	assert.True(t, cfg.Metrics.GoGoroutineGroupCount.Enabled)
	assert.Equal(t, 15*time.Second, cfg.CollectionInterval)
	assert.Equal(t, 2*time.Second, cfg.InitialDelay)
}

func TestLoadConfigWindows(t *testing.T) {
	cfg := loadConfig(t, "windows")
	require.NoError(t, confmap.Validate(cfg))
	assert.Equal(t, []time.Duration{10 * time.Minute, 2 * time.Hour, 24 * time.Hour}, cfg.windows())
	require.NotNil(t, cfg.Storage)
	assert.Equal(t, component.MustNewIDWithName("file_storage", "goroutine"), *cfg.Storage)
	assert.Nil(t, createDefaultConfig().Storage, "memory only unless configured")
}

func TestConfigErrors(t *testing.T) {
	tests := []struct {
		name    string
		wantMsg string
	}{
		{"bad_scheme", `endpoint "ftp://127.0.0.1:6060": invalid endpoint: scheme "ftp" is not http or https`},
		{"bad_port", `targets[0].endpoint "127.0.0.1:99999": invalid endpoint`},
		{"no_host", `endpoint "http:///debug/pprof/goroutine": invalid endpoint: no host`},
		{"timeout_above_interval", "timeout 20s: must not be negative nor longer than collection_interval 10s (leave it unset to follow the interval)"},
		{"bad_signature", `signature "address": must be function or line`},
		{"bad_max_groups", "max_groups 0: must be positive"},
		{"empty_label", "labels[0]: must not be empty"},
		{"bad_user_code", `user_code::packages[0] "": must be an import path`},
		{"bad_user_code", `user_code::libraries[0] "corp.example/a b": must be an import path`},
		{"bad_limits", "max_body_bytes -1: must be positive"},
		{"bad_limits", "max_frames 0: must be positive"},
		{"short_window", "leak.window 5m0s: must hold at least 20 collection intervals (10m0s)"},
		{"bad_leak", "leak.min_growth -1: must not be negative"},
		{"bad_leak", "leak.significance 0.5: must be above 0 and below 0.5"},
		{"bad_leak", "leak.max_tracked_groups 10: must be at least max_groups 200"},
		{"bad_evidence", `mode "text": must be profile or dump`},
		{"bad_evidence", `evidence "always": must be none or on_suspect`},
		{"bad_evidence", "leak_profile_interval 0s: must be positive"},
		{"bad_evidence", "evidence_interval -1m0s: must be positive"},
		{"bad_evidence", "profiles.every -2: must not be negative"},
		{"bad_windows", "leak.windows [30m0s 10m0s 200h0m0s 1h0m0s 2h0m0s]: must list 1 to 4 windows"},
		{"bad_windows", "leak.windows[1] 10m0s: must hold at least 20 collection intervals (20m0s) and be at most 168h0m0s"},
		{"bad_windows", "leak.windows[1] 10m0s: must be longer than the window before it (30m0s)"},
		{"bad_windows", "leak.windows[2] 200h0m0s: must hold at least 20 collection intervals (20m0s) and be at most 168h0m0s"},
		{"bad_windows", "leak.windows[3] 1h0m0s: must be longer than the window before it (200h0m0s)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := confmap.Validate(loadConfig(t, tt.name))
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.wantMsg)
		})
	}
}

func TestTargetURL(t *testing.T) {
	tests := []struct {
		give string
		want string
	}{
		{"127.0.0.1:6060", "http://127.0.0.1:6060/debug/pprof/goroutine"},
		{"localhost:6060", "http://localhost:6060/debug/pprof/goroutine"},
		{"http://127.0.0.1:6060", "http://127.0.0.1:6060/debug/pprof/goroutine"},
		{"https://svc:8443/", "https://svc:8443/debug/pprof/goroutine"},
		{"http://svc:6060/internal/pprof/goroutine", "http://svc:6060/internal/pprof/goroutine"},
		{"http://svc:6060/debug/pprof/goroutine?seconds=1", "http://svc:6060/debug/pprof/goroutine?seconds=1"},
		{"[::1]:6060", "http://[::1]:6060/debug/pprof/goroutine"},
	}
	for _, tt := range tests {
		t.Run(tt.give, func(t *testing.T) {
			u, err := targetURL(tt.give)
			require.NoError(t, err)
			assert.Equal(t, tt.want, u.String())
		})
	}
}

func TestHostPort(t *testing.T) {
	tests := []struct {
		give     string
		wantHost string
		wantPort int64
	}{
		{"127.0.0.1:6060", "127.0.0.1", 6060},
		{"http://svc", "svc", 80},
		{"https://svc", "svc", 443},
		{"[::1]:6060", "::1", 6060},
	}
	for _, tt := range tests {
		u, err := targetURL(tt.give)
		require.NoError(t, err)
		host, port := hostPort(u)
		assert.Equal(t, tt.wantHost, host, tt.give)
		assert.Equal(t, tt.wantPort, port, tt.give)
	}
}

func TestConfigUnknownKey(t *testing.T) {
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)
	sub, err := cm.Sub(component.NewIDWithName(metadata.Type, "unknown_key").String())
	require.NoError(t, err)
	err = sub.Unmarshal(createDefaultConfig())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "max_group")
}

// TestUnknownKeys: a key the receiver does not know fails, wherever it is,
// and one written with its section in its name says where it belongs.
func TestUnknownKeys(t *testing.T) {
	tests := []struct {
		name string
		give map[string]any
		want string
	}{
		{"top level", map[string]any{"endpoint": "a:1", "max_group": 5}, "unknown keys: max_group"},
		{"in leak", map[string]any{"endpoint": "a:1", "leak": map[string]any{"windw": "1h"}}, "unknown keys: leak.windw"},
		{"in a target", map[string]any{"targets": []any{map[string]any{"endpoint": "a:1", "servce_name": "x"}}}, "unknown keys: targets[0].servce_name"},
		{"in user_code", map[string]any{"endpoint": "a:1", "user_code": map[string]any{"pakages": []any{"corp.example/x"}}}, "pakages"},
		{"in tls", map[string]any{"endpoint": "a:1", "tls": map[string]any{"insecure_skipverify": true}}, "insecure_skipverify"},
		{"in metrics", map[string]any{"endpoint": "a:1", "metrics": map[string]any{"go.goroutine.count": map[string]any{"enabeld": false}}}, "enabeld"},
		{"in resource_attributes", map[string]any{"endpoint": "a:1", "resource_attributes": map[string]any{"service.name": map[string]any{"enable": false}}}, "enable"},
		{
			"leak's key at the top",
			map[string]any{"endpoint": "a:1", "leak.window": "100s"},
			"unknown keys: leak.window (a key of the leak section: write it nested, leak: {window: ...})",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := confmap.NewFromStringMap(tt.give).Unmarshal(createDefaultConfig())
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}

// TestConfigConflicts: settings that contradict each other fail, naming
// the keys, where before one silently won.
func TestConfigConflicts(t *testing.T) {
	tests := []struct {
		name string
		give func(*Config)
		want string
	}{
		{
			"the same target twice",
			func(c *Config) {
				c.Endpoint = "127.0.0.1:6060"
				c.Targets = []TargetConfig{{Endpoint: "http://127.0.0.1:6060/debug/pprof/goroutine"}}
			},
			`targets[0].endpoint "http://127.0.0.1:6060/debug/pprof/goroutine": the same target as endpoint`,
		},
		{
			"two targets alike",
			func(c *Config) {
				c.Targets = []TargetConfig{{Endpoint: "a:1"}, {Endpoint: "b:1"}, {Endpoint: "http://a:1/"}}
			},
			`targets[2].endpoint "http://a:1/": the same target as targets[0]`,
		},
		{
			"both window keys",
			func(c *Config) {
				c.Endpoint = "a:1"
				c.Leak.Window, c.Leak.Windows = time.Hour, []time.Duration{30 * time.Minute, 5 * time.Hour}
			},
			"leak.window and leak.windows are both set",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := createDefaultConfig()
			tt.give(cfg)
			err := cfg.Validate()
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}

// TestDefaultsFollowTheInterval: left unset, the timeout and the horizons
// follow collection_interval, so that no interval a user sets fails at
// start; set, they are checked as given.
func TestDefaultsFollowTheInterval(t *testing.T) {
	tests := []struct {
		interval    time.Duration
		timeout     time.Duration // set, or 0
		wantTimeout time.Duration
		wantWindows []time.Duration
	}{
		{30 * time.Second, 0, 10 * time.Second, []time.Duration{30 * time.Minute, 5 * time.Hour, 48 * time.Hour}},
		{time.Second, 0, time.Second, []time.Duration{30 * time.Minute, 5 * time.Hour, 48 * time.Hour}},
		{5 * time.Second, 2 * time.Second, 2 * time.Second, []time.Duration{30 * time.Minute, 5 * time.Hour, 48 * time.Hour}},
		{2 * time.Minute, 0, 10 * time.Second, []time.Duration{40 * time.Minute, 5 * time.Hour, 48 * time.Hour}},
		{30 * time.Minute, 0, 10 * time.Second, []time.Duration{10 * time.Hour, 48 * time.Hour}},
		{3 * time.Hour, 0, 10 * time.Second, []time.Duration{60 * time.Hour}},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.interval), func(t *testing.T) {
			cfg := createDefaultConfig()
			cfg.Endpoint = "127.0.0.1:6060"
			cfg.CollectionInterval, cfg.Timeout = tt.interval, tt.timeout
			require.NoError(t, cfg.Validate())
			assert.Equal(t, tt.wantTimeout, cfg.timeout())
			assert.Equal(t, tt.wantWindows, cfg.windows())
		})
	}
}

func ptr[T any](v T) *T { return &v }
