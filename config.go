package goroutinereceiver // import "github.com/goroutinewatch/goroutinereceiver"

import (
	"errors"
	"fmt"
	"math"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/confmap"

	"github.com/goroutinewatch/goroutinereceiver/internal/metadata"
	"github.com/goroutinewatch/goroutinereceiver/internal/signature"
	"github.com/goroutinewatch/goroutinereceiver/internal/trend"
)

const (
	defaultPath               = "/debug/pprof/goroutine"
	defaultCollectionInterval = 30 * time.Second
	defaultTimeout            = 10 * time.Second
	defaultMaxGroups          = 200
	defaultMaxConcurrency     = 32
	defaultMaxBodyBytes       = 16 << 20
	defaultMaxProfileBytes    = 64 << 20
	defaultMaxFrames          = 1024
	defaultMaxStringBytes     = 4096
	defaultMaxSamples         = 100_000
	defaultMaxLocations       = 250_000

	defaultLeakProfileInterval = 5 * time.Minute
	defaultEvidenceInterval    = 10 * time.Minute

	defaultLeakMinGrowth    = 0.1 // goroutines per minute: 6 an hour
	defaultLeakMinIncrease  = 10
	defaultLeakSignificance = 0.01
	defaultLeakMaxTracked   = 1000
	// minScrapesPerWindow: a window must hold enough scrapes that its half,
	// the least judged, has a third of the buckets filled.
	minScrapesPerWindow = 20
	// maxWindow is the longest horizon: a week of buckets still judges a
	// leak of a goroutine a day.
	maxWindow                       = 7 * 24 * time.Hour
	defaultDumpMaxGoroutines        = 3000
	defaultLeakProfileMaxGoroutines = 10000
)

// Config is the receiver's configuration.
//
// The HTTP client settings are squashed so that tls, headers, auth and
// proxy_url sit at the top level as in other scraping receivers, and with them
// come `endpoint` and `timeout`. The scraper controller's settings are not
// squashed, because its own `timeout` would collide with the client's: one
// `timeout` key bounds each target's whole scrape, and collection_interval and
// initial_delay are declared here.
type Config struct {
	confighttp.ClientConfig `mapstructure:",squash"`

	CollectionInterval time.Duration `mapstructure:"collection_interval"`
	InitialDelay       time.Duration `mapstructure:"initial_delay"`

	// ServiceName is Endpoint's service.name: a single-target receiver, as
	// receiver_creator starts one per discovered endpoint, names its service
	// here (a rule's config or a pod's annotation hint).
	ServiceName string `mapstructure:"service_name"`

	// Targets are scraped besides Endpoint, with the same client settings.
	Targets []TargetConfig `mapstructure:"targets"`

	// Signature is "function" (default) or "line".
	Signature string `mapstructure:"signature"`
	// Labels are the pprof label keys kept as goroutine.label.<key>.
	Labels []string `mapstructure:"labels"`
	// MaxGroups is the most group series per target per scrape.
	MaxGroups int `mapstructure:"max_groups"`
	// Ignore lists functions whose goroutines are counted but not grouped.
	Ignore []string `mapstructure:"ignore"`
	// UserCode says which packages are the target's own code where its
	// file paths cannot tell.
	UserCode UserCodeConfig `mapstructure:"user_code"`

	// MaxConcurrency is the most targets scraped at once.
	MaxConcurrency int `mapstructure:"max_concurrency"`
	// MaxBodyBytes bounds the response body as sent (gzip-compressed).
	MaxBodyBytes int64 `mapstructure:"max_body_bytes"`
	// MaxProfileBytes bounds the profile once decompressed: pprof sends gzip
	// without Content-Encoding, so no HTTP-level limit sees this size.
	MaxProfileBytes int64 `mapstructure:"max_profile_bytes"`
	// MaxFrames bounds each stack; deeper ones keep their innermost frames.
	MaxFrames int `mapstructure:"max_frames"`
	// MaxStringBytes truncates longer function names, file names and labels.
	MaxStringBytes int `mapstructure:"max_string_bytes"`
	// MaxSamples bounds the samples (distinct stacks and label sets) of a
	// profile; MaxLocations its locations, functions, mappings and strings
	// together. With the fixed limits on ratio and message size, the
	// defaults keep what any 64 KiB response can cost under 64 MiB.
	MaxSamples   int `mapstructure:"max_samples"`
	MaxLocations int `mapstructure:"max_locations"`

	// Mode is what every scrape fetches.
	Mode Mode `mapstructure:"mode"`
	// LeakProfile fetches /debug/pprof/goroutineleak every
	// LeakProfileInterval: each fetch runs a leak-detecting GC in the
	// target. Unset (nil), wherever the target's index lists it, or cannot
	// tell; true, of every target, learning from a 404; false, never but
	// as the evidence of a suspicion.
	LeakProfile         *bool         `mapstructure:"leak_profile"`
	LeakProfileInterval time.Duration `mapstructure:"leak_profile_interval"`
	// Evidence is when a target's dump and leak profile are fetched beside
	// the scrape, at most every EvidenceInterval.
	Evidence         Evidence      `mapstructure:"evidence"`
	EvidenceInterval time.Duration `mapstructure:"evidence_interval"`
	// DumpMaxGoroutines and LeakProfileMaxGoroutines are the ceilings of a
	// target's goroutines (at its last scrape) above which its dump and its
	// leak profile are not fetched as evidence; 0 for none.
	DumpMaxGoroutines        int64 `mapstructure:"dump_max_goroutines"`
	LeakProfileMaxGoroutines int64 `mapstructure:"leak_profile_max_goroutines"`

	// Leak holds the leak test's horizons and thresholds.
	Leak LeakConfig `mapstructure:"leak"`

	// Profiles is when a receiver in a profiles pipeline sends a target's
	// goroutine profile (profiles.go).
	Profiles ProfilesConfig `mapstructure:"profiles"`

	// Storage names the storage extension (file_storage, say) that keeps
	// each target's leak windows and evidence state across collector
	// restarts; nil keeps them in memory only.
	Storage *component.ID `mapstructure:"storage"`

	metadata.MetricsBuilderConfig `mapstructure:",squash"`
}

// trend is the leak test every target's windows are judged by: the
// horizons and the threshold of the configuration, worked out once.
func (cfg *Config) trend() *trend.Config {
	return &trend.Config{
		Horizons: trend.Horizons(cfg.windows(), cfg.Leak.MinGrowth, cfg.Leak.MinIncrease),
		Z:        cfg.Leak.z(),
	}
}

// ProfilesConfig is the `profiles` section. A receiver in a profiles
// pipeline sends a target's goroutine profile whenever one of its groups
// turns suspected, and its goroutineleak profile whenever it is read.
type ProfilesConfig struct {
	// Every sends the goroutine profile every Every scrapes as well; 0,
	// only on suspicion.
	Every int `mapstructure:"every"`
}

// UserCodeConfig is the `user_code` section: import paths, each also
// naming the packages under it, that override what a frame's file path says
// of its code (signature.Code), the longer path winning where both match.
type UserCodeConfig struct {
	// Packages are the target's own code: a monorepo's services, say, or
	// a build whose file paths look like the module cache's.
	Packages []string `mapstructure:"packages"`
	// Libraries are not, though built from the target's own module: a
	// monorepo's shared packages, whose misuse is the caller's.
	Libraries []string `mapstructure:"libraries"`
}

// LeakConfig is the `leak` section.
type LeakConfig struct {
	// Windows are the horizons growth is judged over, shortest first: each
	// a window of fixed memory, judged with thresholds for its length.
	Windows []time.Duration `mapstructure:"windows"`
	// Window, when set, is a single horizon in place of Windows: the key
	// of one window that the receiver had before it had horizons.
	Window time.Duration `mapstructure:"window"`
	// MinGrowth is the least growth flagged, in goroutines per minute.
	MinGrowth float64 `mapstructure:"min_growth"`
	// MinIncrease is the least rise over the judged span, in goroutines.
	MinIncrease float64 `mapstructure:"min_increase"`
	// Significance is the Mann-Kendall test's one-sided level.
	Significance float64 `mapstructure:"significance"`
	// MaxTrackedGroups is the most groups per target with a window.
	MaxTrackedGroups int `mapstructure:"max_tracked_groups"`
}

// windows returns the horizons judged: leak.window alone, else
// leak.windows as set, else the default horizons fitted to the interval.
func (cfg *Config) windows() []time.Duration {
	switch l := &cfg.Leak; {
	case l.Window > 0:
		return []time.Duration{l.Window}
	case l.Windows != nil:
		return l.Windows
	}
	return fitWindows(trend.DefaultWindows(), cfg.CollectionInterval)
}

// fitWindows returns the default horizons each raised to hold at least
// minScrapesPerWindow intervals, without those it makes no longer than the
// one before: a collection_interval of 2m judges over 40m, 5h and 48h, one
// of 30m over 10h and 48h. A horizon never fails for an interval the user
// set while leaving the horizons unset.
func fitWindows(defaults []time.Duration, interval time.Duration) []time.Duration {
	var out []time.Duration
	for _, w := range defaults {
		w = max(w, minScrapesPerWindow*interval)
		if len(out) == 0 || w > out[len(out)-1] {
			out = append(out, w)
		}
	}
	return out
}

// timeout returns each target's deadline: timeout as set, else the
// default or the interval, whichever is shorter, as Prometheus takes its
// scrape_interval for a scrape_timeout longer than it.
func (cfg *Config) timeout() time.Duration {
	if cfg.Timeout > 0 {
		return cfg.Timeout
	}
	return min(defaultTimeout, cfg.CollectionInterval)
}

// z returns the standard normal quantile of 1-Significance.
func (l LeakConfig) z() float64 {
	return math.Sqrt2 * math.Erfinv(1-2*l.Significance)
}

// TargetConfig is one entry of `targets`.
type TargetConfig struct {
	Endpoint    string `mapstructure:"endpoint"`
	ServiceName string `mapstructure:"service_name"`
}

// Unmarshal is declared so that the squashed confighttp.ClientConfig's own
// Unmarshal is not promoted to Config: promoted, confmap would call it for the
// whole Config and decode the client's keys alone. Declared here, confmap
// re-enters with its top-level unmarshaler skipped, calls the client's on the
// client's fields and decodes the rest itself. It then ignores unknown keys
// in every section, however deep (open-telemetry/opentelemetry-collector#15907:
// a squashed struct with an Unmarshal of its own turns confmap's unused-key
// check off for the whole decode), so they are checked here: a misspelled
// key must fail, not vanish.
//
// The top level, `leak` and each of `targets` are checked key by key, so
// that the error lists every unknown key and a key written with its section
// in its name (`leak.window: 2m`, as a table spells it) is told where it
// belongs. Every other section (`user_code`, `tls`, `metrics`, ...) is
// checked by a strict decode into strictShape, Config with the client's
// fields in place of the client, whose unused keys confmap does report.
func (cfg *Config) Unmarshal(conf *confmap.Conf) error {
	if err := unknownKeys(conf); err != nil {
		return err
	}
	strict := reflect.New(strictShape(reflect.TypeFor[Config]()))
	if err := conf.Unmarshal(strict.Interface()); err != nil {
		return err
	}
	return conf.Unmarshal(cfg)
}

// strictShape returns struct type t with every squashed field whose type
// has an Unmarshal of its own replaced by that type's fields, recursively:
// a struct confmap decodes with its unused-key check on. It is for checking
// keys only; nothing is read from what it decodes.
func strictShape(t reflect.Type) reflect.Type {
	unmarshaler := reflect.TypeFor[confmap.Unmarshaler]()
	var fields []reflect.StructField
	var add func(t reflect.Type)
	add = func(t reflect.Type) {
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			_, opts, _ := strings.Cut(f.Tag.Get("mapstructure"), ",")
			if strings.Contains(opts, "squash") && reflect.PointerTo(f.Type).Implements(unmarshaler) {
				add(f.Type)
				continue
			}
			// Named, not embedded: a struct made by reflect cannot promote
			// an embedded field's methods.
			f.Anonymous, f.Index, f.Offset = false, nil, 0
			if f.Name == f.Type.Name() {
				f.Name += "Field"
			}
			fields = append(fields, f)
		}
	}
	add(t)
	return reflect.StructOf(fields)
}

// unknownKeys checks the keys of the top level, of `leak` and of each of
// `targets`.
func unknownKeys(conf *confmap.Conf) error {
	known, leak, target := map[string]bool{}, map[string]bool{}, map[string]bool{}
	mapstructureKeys(reflect.TypeFor[Config](), known)
	mapstructureKeys(reflect.TypeFor[LeakConfig](), leak)
	mapstructureKeys(reflect.TypeFor[TargetConfig](), target)
	var unknown []string
	add := func(k string) {
		if !slices.Contains(unknown, k) {
			unknown = append(unknown, k)
		}
	}
	for _, k := range conf.AllKeys() {
		top, rest, _ := strings.Cut(k, confmap.KeyDelimiter)
		switch sub, _, _ := strings.Cut(rest, confmap.KeyDelimiter); {
		case !known[top]:
			if section, key, ok := strings.Cut(top, "."); ok && section == "leak" && leak[key] {
				add(fmt.Sprintf("%s (a key of the leak section: write it nested, leak: {%s: ...})", top, key))
			} else {
				add(top)
			}
		case top == "leak" && rest != "" && !leak[sub]:
			add("leak." + sub)
		}
	}
	if targets, ok := conf.Get("targets").([]any); ok {
		for i, t := range targets {
			entry, _ := t.(map[string]any)
			for k := range entry {
				if !target[k] {
					add(fmt.Sprintf("targets[%d].%s", i, k))
				}
			}
		}
	}
	if len(unknown) > 0 {
		slices.Sort(unknown)
		return fmt.Errorf("unknown keys: %s", strings.Join(unknown, ", "))
	}
	return nil
}

// mapstructureKeys adds the keys a struct decodes, squashed structs included.
func mapstructureKeys(t reflect.Type, into map[string]bool) {
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, opts, _ := strings.Cut(f.Tag.Get("mapstructure"), ",")
		if strings.Contains(opts, "squash") {
			mapstructureKeys(f.Type, into)
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		if name != "-" {
			into[name] = true
		}
	}
}

func createDefaultConfig() *Config {
	// The timeout is left unset: it follows the interval (timeout()).
	client := confighttp.NewDefaultClientConfig()
	client.Timeout = 0
	// Each target is fetched every interval: its connection is worth
	// keeping, and the 100 idle connections http.DefaultTransport keeps for
	// all hosts together made a collector of 1,000 targets dial 900 of them
	// anew at every scrape (8 % of its CPU). No cap on the total; at most
	// two a target (max_idle_conns_per_host).
	client.MaxIdleConns = 0 //nolint:staticcheck // SA1019: deprecated, but ToClient reads it while the PrioritizeNewKeepalive gate is off.
	if ka := client.Keepalive.Get(); ka != nil {
		ka.MaxIdleConns = 0
	}
	return &Config{
		ClientConfig:        client,
		CollectionInterval:  defaultCollectionInterval,
		InitialDelay:        time.Second,
		Signature:           signature.ByFunction.String(),
		MaxGroups:           defaultMaxGroups,
		MaxConcurrency:      defaultMaxConcurrency,
		MaxBodyBytes:        defaultMaxBodyBytes,
		MaxProfileBytes:     defaultMaxProfileBytes,
		MaxFrames:           defaultMaxFrames,
		MaxStringBytes:      defaultMaxStringBytes,
		MaxSamples:          defaultMaxSamples,
		MaxLocations:        defaultMaxLocations,
		Mode:                modeProfile,
		LeakProfileInterval: defaultLeakProfileInterval,
		// Under the ceilings below, a suspicion's evidence is worth its cost.
		Evidence:         evidenceOnSuspect,
		EvidenceInterval: defaultEvidenceInterval,
		// Both keep a fetch's pause of a Go 1.27 target under half a
		// second, wherever its goroutines wait (BENCHMARKS.md, section 3).
		DumpMaxGoroutines:        defaultDumpMaxGoroutines,
		LeakProfileMaxGoroutines: defaultLeakProfileMaxGoroutines,
		Leak: LeakConfig{
			// Unset: the default horizons, fitted to the interval (windows()).
			Windows:          nil,
			MinGrowth:        defaultLeakMinGrowth,
			MinIncrease:      defaultLeakMinIncrease,
			Significance:     defaultLeakSignificance,
			MaxTrackedGroups: defaultLeakMaxTracked,
		},
		MetricsBuilderConfig: metadata.NewDefaultMetricsBuilderConfig(),
	}
}

var (
	errNoTargets = errors.New("no target: set endpoint or targets")
	errEndpoint  = errors.New("invalid endpoint")
)

// Validate reports every invalid key at once, each naming the key and value.
func (cfg *Config) Validate() error {
	var errs []error
	if cfg.Endpoint == "" && len(cfg.Targets) == 0 {
		errs = append(errs, errNoTargets)
	}
	// Two entries of one target would share its saved state and emit
	// resources no backend could tell apart: the URL as the storage key
	// and url.full spell it (redacted) must be each target's own.
	seen := map[string]string{}
	check := func(key, endpoint string) {
		u, err := targetURL(endpoint)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s %q: %w", key, endpoint, err))
			return
		}
		if first, ok := seen[u.Redacted()]; ok {
			errs = append(errs, fmt.Errorf("%s %q: the same target as %s (%s)", key, endpoint, first, u.Redacted()))
			return
		}
		seen[u.Redacted()] = key
	}
	if cfg.Endpoint != "" {
		check("endpoint", cfg.Endpoint)
	}
	for i, t := range cfg.Targets {
		check(fmt.Sprintf("targets[%d].endpoint", i), t.Endpoint)
	}
	if cfg.CollectionInterval <= 0 {
		errs = append(errs, fmt.Errorf("collection_interval %v: must be positive", cfg.CollectionInterval))
	}
	if cfg.InitialDelay < 0 {
		errs = append(errs, fmt.Errorf("initial_delay %v: must not be negative", cfg.InitialDelay))
	}
	if cfg.Timeout < 0 || cfg.Timeout > cfg.CollectionInterval {
		errs = append(errs, fmt.Errorf("timeout %v: must not be negative nor longer than collection_interval %v (leave it unset to follow the interval)", cfg.Timeout, cfg.CollectionInterval))
	}
	if _, ok := signature.ParseMode(cfg.Signature); !ok {
		errs = append(errs, fmt.Errorf("signature %q: must be function or line", cfg.Signature))
	}
	for i, l := range cfg.Labels {
		if l == "" {
			errs = append(errs, fmt.Errorf("labels[%d]: must not be empty", i))
		}
	}
	for i, fn := range cfg.Ignore {
		if fn == "" {
			errs = append(errs, fmt.Errorf("ignore[%d]: must not be empty", i))
		}
	}
	for _, paths := range []struct {
		key string
		val []string
	}{{"user_code::packages", cfg.UserCode.Packages}, {"user_code::libraries", cfg.UserCode.Libraries}} {
		for i, p := range paths.val {
			if p == "" || strings.ContainsAny(p, " \t") {
				errs = append(errs, fmt.Errorf("%s[%d] %q: must be an import path", paths.key, i, p))
			}
		}
	}
	positive := []struct {
		key string
		val int64
	}{
		{"max_groups", int64(cfg.MaxGroups)},
		{"max_concurrency", int64(cfg.MaxConcurrency)},
		{"max_body_bytes", cfg.MaxBodyBytes},
		{"max_profile_bytes", cfg.MaxProfileBytes},
		{"max_frames", int64(cfg.MaxFrames)},
		{"max_string_bytes", int64(cfg.MaxStringBytes)},
		{"max_samples", int64(cfg.MaxSamples)},
		{"max_locations", int64(cfg.MaxLocations)},
	}
	for _, p := range positive {
		if p.val <= 0 {
			errs = append(errs, fmt.Errorf("%s %d: must be positive", p.key, p.val))
		}
	}
	if cfg.Mode != modeProfile && cfg.Mode != modeDump {
		errs = append(errs, fmt.Errorf("mode %q: must be %s or %s", cfg.Mode, modeProfile, modeDump))
	}
	if cfg.Evidence != evidenceNone && cfg.Evidence != evidenceOnSuspect {
		errs = append(errs, fmt.Errorf("evidence %q: must be %s or %s", cfg.Evidence, evidenceNone, evidenceOnSuspect))
	}
	if cfg.LeakProfileInterval <= 0 {
		errs = append(errs, fmt.Errorf("leak_profile_interval %v: must be positive", cfg.LeakProfileInterval))
	}
	if cfg.Profiles.Every < 0 {
		errs = append(errs, fmt.Errorf("profiles.every %d: must not be negative", cfg.Profiles.Every))
	}
	if cfg.EvidenceInterval <= 0 {
		errs = append(errs, fmt.Errorf("evidence_interval %v: must be positive", cfg.EvidenceInterval))
	}
	if cfg.DumpMaxGoroutines < 0 {
		errs = append(errs, fmt.Errorf("dump_max_goroutines %d: must not be negative (0: no ceiling)", cfg.DumpMaxGoroutines))
	}
	if cfg.LeakProfileMaxGoroutines < 0 {
		errs = append(errs, fmt.Errorf("leak_profile_max_goroutines %d: must not be negative (0: no ceiling)", cfg.LeakProfileMaxGoroutines))
	}
	errs = append(errs, cfg.Leak.validate(cfg.CollectionInterval, cfg.MaxGroups, cfg.windows())...)
	return errors.Join(errs...)
}

// Mode is what every scrape fetches: the value of `mode`.
type Mode string

const (
	// modeProfile fetches the debug=0 profile, whose cost to the target does
	// not grow with its goroutines (the default).
	modeProfile Mode = "profile"
	// modeDump fetches the debug=2 dump: creators and wait ages on every
	// scrape, at the cost of stopping the target's world for the whole dump.
	modeDump Mode = "dump"
)

// Evidence is when a target's dump and leak profile are fetched beside the
// scrape: the value of `evidence`.
type Evidence string

const (
	// evidenceNone fetches them only as leak_profile says (the default).
	evidenceNone Evidence = "none"
	// evidenceOnSuspect fetches them when one of the target's groups turns
	// suspected.
	evidenceOnSuspect Evidence = "on_suspect"
)

func (l LeakConfig) validate(interval time.Duration, maxGroups int, windows []time.Duration) []error {
	var errs []error
	errs = append(errs, l.validateWindows(interval, windows)...)
	if l.MinGrowth < 0 {
		errs = append(errs, fmt.Errorf("leak.min_growth %v: must not be negative", l.MinGrowth))
	}
	if l.MinIncrease < 0 {
		errs = append(errs, fmt.Errorf("leak.min_increase %v: must not be negative", l.MinIncrease))
	}
	if l.Significance <= 0 || l.Significance >= 0.5 {
		errs = append(errs, fmt.Errorf("leak.significance %v: must be above 0 and below 0.5", l.Significance))
	}
	if l.MaxTrackedGroups < maxGroups {
		errs = append(errs, fmt.Errorf("leak.max_tracked_groups %d: must be at least max_groups %d", l.MaxTrackedGroups, maxGroups))
	}
	return errs
}

// validateWindows checks the horizons judged, windows: each long enough for
// the interval and at most a week, distinct and shortest first, and no more
// than the leak test judges. Left unset, they are fitted to the interval
// and fail only past a week.
func (l LeakConfig) validateWindows(interval time.Duration, windows []time.Duration) []error {
	least := minScrapesPerWindow * interval
	if l.Window != 0 && l.Windows != nil {
		return []error{fmt.Errorf("leak.window and leak.windows are both set: set leak.windows (leak.window is the older key of a single window, leak.windows: [%v])", l.Window)}
	}
	if l.Window != 0 {
		if l.Window < least || l.Window > maxWindow {
			return []error{fmt.Errorf("leak.window %v: must hold at least %d collection intervals (%v) and be at most %v", l.Window, minScrapesPerWindow, least, maxWindow)}
		}
		return nil
	}
	var errs []error
	if len(windows) == 0 || len(windows) > trend.MaxHorizons {
		errs = append(errs, fmt.Errorf("leak.windows %v: must list 1 to %d windows", windows, trend.MaxHorizons))
	}
	for i, w := range windows {
		if w < least || w > maxWindow {
			errs = append(errs, fmt.Errorf("leak.windows[%d] %v: must hold at least %d collection intervals (%v) and be at most %v", i, w, minScrapesPerWindow, least, maxWindow))
		}
		if i > 0 && w <= windows[i-1] {
			errs = append(errs, fmt.Errorf("leak.windows[%d] %v: must be longer than the window before it (%v)", i, w, windows[i-1]))
		}
	}
	return errs
}

// targetURL completes an endpoint as receiver_creator or a user writes it:
// a bare host:port gets http:// and a missing path the goroutine profile's.
func targetURL(endpoint string) (*url.URL, error) {
	if endpoint == "" {
		return nil, fmt.Errorf("%w: empty", errEndpoint)
	}
	raw := endpoint
	if !strings.Contains(raw, "://") {
		raw = "http://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errEndpoint, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("%w: scheme %q is not http or https", errEndpoint, u.Scheme)
	}
	if u.Hostname() == "" {
		return nil, fmt.Errorf("%w: no host", errEndpoint)
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return nil, fmt.Errorf("%w: port %q", errEndpoint, p)
		}
	}
	if u.Path == "" || u.Path == "/" {
		u.Path = defaultPath
	}
	return u, nil
}
