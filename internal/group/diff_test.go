package group

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/pprof/profile"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/goroutinewatch/goroutinereceiver/internal/decode"
	"github.com/goroutinewatch/goroutinereceiver/internal/signature"
)

// diffOptions are the grouping options the receiver's path is held to
// google/pprof's under.
var diffOptions = []Options{
	{},
	{Mode: signature.ByLine},
	{Labels: []string{"pattern", "route", "tenant"}},
	{Ignore: []string{"main.fanoutWorker", "main.d3"}},
}

// diffProfiles are the captured profiles and the smaller benchmark
// profiles, with and without labels.
func diffProfiles(tb testing.TB) map[string][]byte {
	paths, err := filepath.Glob("../../testdata/profiles/*.pb.gz")
	require.NoError(tb, err)
	require.NotEmpty(tb, paths, "run scripts/capture-profiles.sh")
	out := make(map[string][]byte)
	for _, path := range paths {
		b, err := os.ReadFile(path)
		require.NoError(tb, err)
		out[filepath.Base(path)] = b
	}
	for _, s := range []benchSpec{{10, 10, true}, {1000, 40, true}, {1000, 10, false}} {
		out[s.file()] = fixture(tb, s)
	}
	return out
}

// TestGroupMatchesPprof requires the receiver's path (its decoder, its
// joined chains, its identities worked out on demand) to give exactly the groups that
// google/pprof's parser and the obvious grouping give, on every profile,
// under every option, scrape after scrape with one Grouper.
func TestGroupMatchesPprof(t *testing.T) {
	profiles := diffProfiles(t)
	for _, opts := range diffOptions {
		var (
			d decode.Decoder // reused across profiles, as a worker's in the scraper
			g Grouper        // one per option set, as one per target
		)
		for round := range 2 {
			for name, b := range profiles {
				want, err := profile.ParseData(b)
				require.NoError(t, err)
				got, _, err := g.Group(&d, bytes.NewReader(b), decode.Limits{MaxBytes: 1 << 30}, opts)
				require.NoError(t, err)
				requireSameGroups(t, pprofGroups(want, opts), got, "%s, %+v, round %d", name, opts, round)
			}
		}
	}
}

func requireSameGroups(tb testing.TB, want map[Key]refGroup, got Result, msgAndArgs ...any) {
	tb.Helper()
	require.Len(tb, got.Groups, len(want), msgAndArgs...)
	var total int64
	for i, g := range got.Groups {
		w, ok := want[g.Key]
		require.True(tb, ok, "group %v not in pprof's: %v", g.Key, msgAndArgs)
		require.Equal(tb, w.Frames, got.Frames(i), msgAndArgs...)
		require.Equal(tb, w.Identity, *got.Identity(i), msgAndArgs...)
		require.Equal(tb, w.Count, g.Count, msgAndArgs...)
		total += g.Count
	}
	assert.Equal(tb, got.Total, total+got.Ignored+got.Frameless, msgAndArgs...)
}

// FuzzGroupMatchesPprof feeds arbitrary bytes to both paths, seeded with
// the profiles uncompressed (a mutated gzip stream only fails its checksum,
// in both). Where both accept them, they must group them identically. Each
// also refuses some bytes the other accepts: this path has limits and
// requires the string table to start with ""; pprof refuses a known field of
// the wrong wire type, which this path skips.
//
//	go test ./internal/group -run '^$' -fuzz FuzzGroupMatchesPprof -fuzztime 1000000x
func FuzzGroupMatchesPprof(f *testing.F) {
	for name, b := range diffProfiles(f) {
		if len(b) < 64<<10 {
			f.Add(gunzipped(f, b), strings.HasPrefix(name, "10-"))
		}
	}
	f.Fuzz(func(t *testing.T, b []byte, labels bool) {
		opts := Options{}
		if labels {
			opts.Labels = []string{"pattern", "route"}
		}
		var (
			d decode.Decoder
			g Grouper
		)
		got, _, err := g.Group(&d, bytes.NewReader(b), decode.Limits{MaxBytes: 8 << 20, MaxFrames: 1 << 20}, opts)
		if err != nil {
			return
		}
		want, err := profile.ParseData(b)
		if err != nil {
			return
		}
		requireSameGroups(t, pprofGroups(want, opts), got)
	})
}
