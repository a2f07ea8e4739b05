package goroutinereceiver // import "github.com/goroutinewatch/goroutinereceiver"

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/connector"
	"go.opentelemetry.io/collector/connector/xconnector"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pprofile"
	"go.opentelemetry.io/collector/receiver"
	"go.uber.org/zap"

	"github.com/goroutinewatch/goroutinereceiver/internal/decode"
	"github.com/goroutinewatch/goroutinereceiver/internal/evidence"
	"github.com/goroutinewatch/goroutinereceiver/internal/limit"
	"github.com/goroutinewatch/goroutinereceiver/internal/metadata"
	"github.com/goroutinewatch/goroutinereceiver/internal/otlpprofile"
	"github.com/goroutinewatch/goroutinereceiver/internal/state"
	"github.com/goroutinewatch/goroutinereceiver/internal/trend"
)

// ConnectorStability is the goroutine connector's: the profiles signal it
// reads is in development.
const ConnectorStability = component.StabilityLevelDevelopment

// ConnectorConfig configures the goroutine connector: the receiver's
// judgment of goroutine profiles some other component sent, without its
// scraping. Its keys are the receiver's, and mean the same.
type ConnectorConfig struct {
	// Interval is how often each sender's goroutine profile arrives (its
	// sender's collection_interval): the leak windows hold at least 20.
	Interval time.Duration `mapstructure:"interval"`
	// MaxSources is the most sources (resources) judged at once; a
	// sender unseen for forgetAfter intervals is forgotten.
	MaxSources int `mapstructure:"max_sources"`

	MaxGroups       int            `mapstructure:"max_groups"`
	Signature       string         `mapstructure:"signature"`
	Labels          []string       `mapstructure:"labels"`
	Ignore          []string       `mapstructure:"ignore"`
	UserCode        UserCodeConfig `mapstructure:"user_code"`
	MaxProfileBytes int64          `mapstructure:"max_profile_bytes"`
	MaxFrames       int            `mapstructure:"max_frames"`
	MaxStringBytes  int            `mapstructure:"max_string_bytes"`
	MaxSamples      int            `mapstructure:"max_samples"`
	MaxLocations    int            `mapstructure:"max_locations"`
	Leak            LeakConfig     `mapstructure:"leak"`
	// Storage names the storage extension that keeps each source's leak
	// windows across restarts of the gateway, as the receiver's.
	Storage *component.ID `mapstructure:"storage"`

	metadata.MetricsBuilderConfig `mapstructure:",squash"`
}

const defaultMaxSources = 1000

func createDefaultConnectorConfig() *ConnectorConfig {
	d := createDefaultConfig()
	return &ConnectorConfig{
		Interval: d.CollectionInterval, MaxSources: defaultMaxSources,
		MaxGroups: d.MaxGroups, Signature: d.Signature,
		MaxProfileBytes: d.MaxProfileBytes, MaxFrames: d.MaxFrames, MaxStringBytes: d.MaxStringBytes,
		MaxSamples: d.MaxSamples, MaxLocations: d.MaxLocations,
		Leak: d.Leak, MetricsBuilderConfig: d.MetricsBuilderConfig,
	}
}

// receiverConfig is the receiver's configuration the connector judges
// with: its keys, no evidence fetched (there is no target to fetch from).
func (c *ConnectorConfig) receiverConfig() *Config {
	cfg := createDefaultConfig()
	cfg.Endpoint = connectorEndpoint
	cfg.CollectionInterval, cfg.MaxGroups, cfg.Signature = c.Interval, c.MaxGroups, c.Signature
	cfg.Labels, cfg.Ignore, cfg.UserCode = c.Labels, c.Ignore, c.UserCode
	cfg.MaxProfileBytes, cfg.MaxFrames, cfg.MaxStringBytes = c.MaxProfileBytes, c.MaxFrames, c.MaxStringBytes
	cfg.MaxSamples, cfg.MaxLocations = c.MaxSamples, c.MaxLocations
	cfg.Leak, cfg.MetricsBuilderConfig, cfg.Storage = c.Leak, c.MetricsBuilderConfig, c.Storage
	cfg.LeakProfile, cfg.Evidence = new(bool), evidenceNone
	return cfg
}

// connectorEndpoint stands for the target a receiver's configuration must
// name; the connector reads none.
const connectorEndpoint = "http://connector.invalid/"

// Validate checks the keys as the receiver does, interval as
// collection_interval.
func (c *ConnectorConfig) Validate() error {
	var errs []error
	if c.MaxSources <= 0 {
		errs = append(errs, fmt.Errorf("max_sources %d: must be positive", c.MaxSources))
	}
	if c.Interval <= 0 {
		errs = append(errs, fmt.Errorf("interval %v: must be positive", c.Interval))
	} else if err := c.receiverConfig().Validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// NewConnectorFactory returns the factory of the goroutine connector,
// profiles to metrics: the package connector/goroutineconnector's
// NewFactory, which an ocb manifest names.
func NewConnectorFactory() connector.Factory {
	return xconnector.NewFactory(
		metadata.Type,
		func() component.Config { return createDefaultConnectorConfig() },
		xconnector.WithProfilesToMetrics(createProfilesToMetrics, ConnectorStability),
	)
}

func createProfilesToMetrics(_ context.Context, set connector.Settings, cfg component.Config, next consumer.Metrics) (xconnector.Profiles, error) {
	return newProfilesConnector(cfg.(*ConnectorConfig), set, next, time.Now)
}

// profilesConnector judges the goroutine profiles of many sources, each
// resource a sender, as the receiver judges its targets: a target of the
// receiver's for each, fed what arrives rather than what it fetches. One
// request is judged at a time, in one worker.
type profilesConnector struct {
	cfg     *Config
	set     receiver.Settings
	next    consumer.Metrics
	now     func() time.Time
	leak    *trend.Config
	reader  *reader
	max     int
	started pcommon.Timestamp

	mu      sync.Mutex
	worker  *worker
	sources map[string]*sender
	full    bool // the log said max_sources was reached
	// store keeps the sources' state with `storage`, nil without; saved
	// are the keys of the records it holds, each a source's: those of the
	// sources judged, and, until forgetAfter intervals after the start,
	// those of the sources from before it that have not come back.
	store   *state.Store
	saved   map[string]bool
	waiting map[string]bool // of saved, the keys from before the start
	// dirty is set when saved changed since the index was last written:
	// it is written once a request.
	dirty bool
}

// storageTimeout bounds each storage call the connector makes while it
// judges: a storage that hangs delays requests by that much, not forever.
const storageTimeout = 5 * time.Second

// sender is one resource's target and when its last profile was taken and
// arrived.
type sender struct {
	t        *target
	resource pcommon.Resource
	last     time.Time
	seen     time.Time
}

func newProfilesConnector(c *ConnectorConfig, set connector.Settings, next consumer.Metrics, now func() time.Time) (*profilesConnector, error) {
	cfg := c.receiverConfig()
	rs := receiver.Settings{ID: set.ID, TelemetrySettings: set.TelemetrySettings, BuildInfo: set.BuildInfo}
	s, err := newScraper(cfg, rs, now)
	if err != nil {
		return nil, err
	}
	pc := &profilesConnector{
		cfg: cfg, set: rs, next: next, now: now, reader: s.reader, max: c.MaxSources,
		leak:    cfg.trend(),
		sources: map[string]*sender{},
		saved:   map[string]bool{},
		waiting: map[string]bool{},
	}
	pc.started = pcommon.NewTimestampFromTime(now())
	pc.worker = &worker{emitter: newEmitter(cfg, rs, pc.started, s.known)}
	return pc, nil
}

// Start opens the storage, with `storage`: the records of the sources
// from before the restart wait for their sources' first profiles.
func (pc *profilesConnector) Start(ctx context.Context, host component.Host) error {
	if pc.cfg.Storage == nil {
		return nil
	}
	id := *pc.cfg.Storage
	se, err := storageOf(host, id)
	if err != nil {
		return err
	}
	client, err := se.GetClient(ctx, component.KindConnector, pc.set.ID, "")
	if err != nil {
		pc.set.Logger.Warn("the storage failed; the sources' leak state is kept in memory only until the collector restarts",
			zap.String("storage", id.String()), zap.Error(err))
		return nil
	}
	store, keys, err := state.Attach(ctx, client)
	if err != nil {
		pc.set.Logger.Warn("reading the storage's index of saved sources failed; their records may stay behind", zap.String("storage", id.String()), zap.Error(err))
	}
	pc.mu.Lock()
	defer pc.mu.Unlock()
	pc.store = store
	for _, k := range keys {
		pc.saved[k], pc.waiting[k] = true, true
	}
	return nil
}

// Shutdown saves every source's state and closes the storage.
func (pc *profilesConnector) Shutdown(ctx context.Context) error {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	if pc.store == nil {
		return nil
	}
	at := pc.now()
	var keys []string
	var records [][]byte
	for _, src := range pc.sources {
		keys = append(keys, src.t.saves.key)
		records = append(records, src.t.appendState(nil, at))
		pc.saved[src.t.saves.key] = true
	}
	err := errors.Join(pc.store.SaveAll(ctx, keys, records), pc.writeIndex(ctx), pc.store.Close(ctx))
	pc.store = nil
	return err
}

// writeIndex writes the keys of the records kept as the storage's index.
func (pc *profilesConnector) writeIndex(ctx context.Context) error {
	pc.dirty = false
	keys := make([]string, 0, len(pc.saved))
	for k := range pc.saved {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return pc.store.WriteIndex(ctx, keys)
}

func (*profilesConnector) Capabilities() consumer.Capabilities {
	return consumer.Capabilities{MutatesData: false}
}

// ConsumeProfiles judges each resource's goroutine profile, with the
// goroutineleak profile beside it in the same request as its proof, and
// sends the metrics of every source judged in one request, the lock let go
// first: a slow exporter must not hold the other senders' requests.
func (pc *profilesConnector) ConsumeProfiles(ctx context.Context, pd pprofile.Profiles) error {
	out := pc.judgeAll(pd)
	if out.ResourceMetrics().Len() == 0 {
		return nil
	}
	return pc.next.ConsumeMetrics(ctx, out)
}

func (pc *profilesConnector) judgeAll(pd pprofile.Profiles) pmetric.Metrics {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	now := pc.now()
	pc.forget(now)
	out := pmetric.NewMetrics()
	dict := pd.Dictionary()
	rps := pd.ResourceProfiles()
	for i := range rps.Len() {
		rp := rps.At(i)
		main, leak, ok := profilesOf(dict, rp)
		if !ok {
			continue
		}
		at := main.Time().AsTime()
		if !pc.timely(at, now) {
			continue
		}
		src := pc.senderOf(rp.Resource(), now)
		if src == nil || !at.After(src.last) {
			// None judged beyond max_sources; a profile sent again, or
			// overtaken by a later one, the windows have already.
			continue
		}
		src.last, src.seen = at, now
		pc.judge(src, at, dict, main, leak, out.ResourceMetrics())
	}
	if pc.store != nil && pc.dirty {
		ctx, cancel := context.WithTimeout(context.Background(), storageTimeout)
		defer cancel()
		if err := pc.writeIndex(ctx); err != nil {
			pc.set.Logger.Warn("writing the storage's index of saved sources failed", zap.Error(err))
		}
	}
	return out
}

// timely reports whether a profile taken at at, arriving at now, is judged:
// not from the future (a step of the sender's clock would hold its later
// profiles back as stale) nor older than a source is remembered.
func (pc *profilesConnector) timely(at, now time.Time) bool {
	interval := pc.cfg.CollectionInterval
	return !at.After(now.Add(interval)) && !at.Before(now.Add(-forgetAfter*interval))
}

// profilesOf returns a resource's goroutine profile and its goroutineleak
// profile, by their sample type, the last of each; ok is false when it has
// no goroutine profile (a goroutineleak profile alone proves nothing the
// windows can cap, and is left).
func profilesOf(dict pprofile.ProfilesDictionary, rp pprofile.ResourceProfiles) (main pprofile.Profile, leak maybe[pprofile.Profile], ok bool) {
	gname, _ := otlpprofile.Goroutine.Type()
	lname, _ := otlpprofile.GoroutineLeak.Type()
	sps := rp.ScopeProfiles()
	for i := range sps.Len() {
		ps := sps.At(i).Profiles()
		for j := range ps.Len() {
			p := ps.At(j)
			ti := p.SampleType().TypeStrindex()
			if ti < 0 || int(ti) >= dict.StringTable().Len() {
				continue
			}
			switch dict.StringTable().At(int(ti)) {
			case gname:
				main, ok = p, true
			case lname:
				leak = some(p)
			}
		}
	}
	return main, leak, ok
}

// senderOf returns the sender of resource res, made on its first profile;
// nil when max_sources are judged already, which the log says once.
func (pc *profilesConnector) senderOf(res pcommon.Resource, now time.Time) *sender {
	key := resourceKey(res)
	if s, ok := pc.sources[key]; ok {
		return s
	}
	if len(pc.sources) >= pc.max {
		if !pc.full {
			pc.full = true
			pc.set.Logger.Warn("max_sources reached: the profiles of new sources are not judged until others go quiet", zap.Int("max_sources", pc.max))
		}
		return nil
	}
	u, service := sourceURL(res, key)
	s := &sender{t: newTarget(u, service, pc.cfg, pc.leak, pc.set.Logger), resource: pcommon.NewResource(), seen: now}
	// Two resources may share a url.full: the record is the resource's.
	s.t.saves.key = recordKey(key)
	res.CopyTo(s.resource)
	pc.sources[key] = s
	if pc.store != nil {
		ctx, cancel := context.WithTimeout(context.Background(), storageTimeout)
		defer cancel()
		b, err := pc.store.Load(ctx, s.t.saves.key)
		if s.t.restore(now, b, err) {
			pc.drop(s.t.saves.key)
		}
		delete(pc.waiting, s.t.saves.key)
	}
	return s
}

// drop deletes a source's record, and its key from the index; a key whose
// record could not be deleted stays listed, to be deleted again.
func (pc *profilesConnector) drop(key string) {
	ctx, cancel := context.WithTimeout(context.Background(), storageTimeout)
	defer cancel()
	if err := pc.store.Delete(ctx, key); err != nil {
		pc.set.Logger.Warn("deleting a source's saved state failed", zap.String("key", key), zap.Error(err))
		return
	}
	if pc.saved[key] {
		pc.dirty = true
	}
	delete(pc.saved, key)
	delete(pc.waiting, key)
}

// recordKey is the storage key of a source's record: a SHA-256 of its
// resource's key, which a crafted resource cannot make another's.
func recordKey(key string) string {
	sum := sha256.Sum256([]byte(key))
	return "source " + hex.EncodeToString(sum[:16])
}

// forget drops the sources whose last profile arrived more than
// forgetAfter intervals ago: the sources judged are at most max_sources,
// and those that stopped sending go, as a target's windows go after
// forgetAfter failures.
func (pc *profilesConnector) forget(now time.Time) {
	quiet := forgetAfter * pc.cfg.CollectionInterval
	for k, s := range pc.sources {
		if now.Sub(s.seen) > quiet {
			delete(pc.sources, k)
			pc.full = false
			if pc.store != nil {
				pc.drop(s.t.saves.key)
			}
		}
	}
	// The records of sources from before the start that have not come
	// back within as long: the storage holds at most max_sources records
	// beyond that.
	if pc.store != nil && len(pc.waiting) > 0 && now.Sub(pc.started.AsTime()) > quiet {
		for k := range pc.waiting {
			pc.drop(k)
		}
	}
}

// resourceKey spells a resource's attributes, in key order, each key and
// value length-prefixed with the value's type: two resources have the same
// key only when they are the same (a hash could be made to collide, and
// would judge one sender in another's windows).
func resourceKey(res pcommon.Resource) string {
	attrs := res.Attributes()
	keys := make([]string, 0, attrs.Len())
	for k := range attrs.All() {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	for _, k := range keys {
		v, _ := attrs.Get(k)
		s := v.AsString()
		_, _ = fmt.Fprintf(&b, "%d:%s%s %d:%s", len(k), k, v.Type(), len(s), s)
	}
	return b.String()
}

// sourceURL is the URL a sender's target is known by: its url.full, as the
// receiver that sent it scraped it, or one made of its key.
func sourceURL(res pcommon.Resource, key string) (*url.URL, string) {
	var service string
	if v, ok := res.Attributes().Get("service.name"); ok {
		service = v.AsString()
	}
	if v, ok := res.Attributes().Get("url.full"); ok {
		if u, err := url.Parse(v.AsString()); err == nil && u.Host != "" {
			return u, service
		}
	}
	return &url.URL{Scheme: "otlp", Host: "source-" + strconv.FormatUint(hashOf(key), 16)}, service
}

// hashOf is FNV-1a of a source's key, to name it in a URL and a record.
func hashOf(key string) uint64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte(key))
	return h.Sum64()
}

// judge runs one source's profile through the receiver's stages: decoded
// and grouped under the receiver's limits, observed, its proof applied,
// emitted under the source's own resource. A panic is the source's internal
// error, as a target's in the receiver: what the source learned is
// forgotten, the worker's memory dropped, the other sources judged on.
func (pc *profilesConnector) judge(src *sender, at time.Time, dict pprofile.ProfilesDictionary, main pprofile.Profile, leak maybe[pprofile.Profile], out pmetric.ResourceMetricsSlice) {
	t, w := src.t, pc.worker
	var r result
	doing := "reading the profile"
	_, err := contained(&doing, func() error {
		o, err := pc.observation(w, dict, main)
		if err != nil {
			t.failed(err, &r)
			return nil
		}
		doing = "observing the groups"
		p := t.observe(at, &o, evidence.Policy{}, profilePolicy{}, &w.scratch, &r)
		var f found
		if leak.ok {
			doing = "reading the goroutineleak profile"
			p.fetch.Leak = true
			f.leakErr = pc.leakFound(w, dict, leak.v, &f)
		}
		doing = "applying the proof"
		t.apply(at, p, &f, &r)
		t.health.scraped(&o, nil)
		return nil
	})
	if err != nil {
		w.forget()
		t.forgetState()
		r = result{}
		t.failed(err, &r)
	}
	if pc.store != nil && r.err == nil && t.saveDue(at) {
		ctx, cancel := context.WithTimeout(context.Background(), storageTimeout)
		w.state = t.appendState(w.state[:0], at)
		t.saved(len(w.state), pc.store.Save(ctx, t.saves.key, w.state))
		cancel()
		if !pc.saved[t.saves.key] {
			pc.saved[t.saves.key], pc.dirty = true, true
		}
	}
	r.resource, r.health = &t.resource, t.health
	rms := pmetric.NewResourceMetricsSlice()
	w.emitter.emit(pcommon.NewTimestampFromTime(at), &r, rms, plog.NewResourceLogsSlice())
	for i := range rms.Len() {
		src.resource.CopyTo(rms.At(i).Resource())
	}
	rms.MoveAndAppendTo(out)
}

// observation decodes and groups a goroutine profile as the receiver's
// sender does a body, after refusing, by the receiver's limits, a profile
// whose tables or samples are too many to read.
func (pc *profilesConnector) observation(w *worker, dict pprofile.ProfilesDictionary, p pprofile.Profile) (observation, error) {
	dp, err := pc.decode(w, dict, p)
	if err != nil {
		return observation{}, err
	}
	o := observation{}
	if o.groups, err = w.grouper.Of(dp, pc.reader.opts); err != nil {
		return observation{}, err
	}
	o.instance, o.stringsCut = dp.Instance(), dp.StringsCut
	return o, nil
}

func (pc *profilesConnector) leakFound(w *worker, dict pprofile.ProfilesDictionary, p pprofile.Profile, f *found) error {
	dp, err := pc.decode(w, dict, p)
	if err != nil {
		return err
	}
	return pc.reader.leakGroups(w, dp, f)
}

// decode turns an OTLP profile into the decoder's, through pprof's
// encoding, so that every limit of the receiver's decoder applies; what
// reading it would build is bounded first (otlpprofile.Check), since a
// request's shared stacks multiply once read.
func (pc *profilesConnector) decode(w *worker, dict pprofile.ProfilesDictionary, p pprofile.Profile) (*decode.Profile, error) {
	lim := pc.reader.limits
	err := otlpprofile.Check(dict, p, otlpprofile.Limits{
		MaxSamples: lim.MaxSamples, MaxEntries: lim.MaxLocations, MaxFrames: lim.MaxFrames,
		// A frame read is a pointer: max_profile_bytes of them at most.
		MaxRead: int(lim.MaxBytes / 8),
	})
	if err != nil {
		return nil, err
	}
	pp, err := otlpprofile.ProfileToPprof(dict, p, otlpprofile.Options{MaxFrames: lim.MaxFrames, LabelPrefix: labelAttrPrefix})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", decode.ErrMalformed, err)
	}
	buf := boundedBuffer{max: lim.MaxBytes}
	if err := pp.WriteUncompressed(&buf); err != nil {
		return nil, err
	}
	return pc.reader.decode(&w.decoder, &buf.Buffer, lim)
}

// boundedBuffer is a bytes.Buffer that refuses to grow past max bytes, as
// max_profile_bytes refuses a profile.
type boundedBuffer struct {
	bytes.Buffer
	max int64
}

func (b *boundedBuffer) Write(p []byte) (int, error) {
	if int64(b.Len()+len(p)) > b.max {
		return 0, limit.Exceeded(limit.MaxProfileBytes, b.max)
	}
	return b.Buffer.Write(p)
}
