package group

import (
	"bytes"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/goroutinewatch/goroutinereceiver/internal/decode"
	"github.com/goroutinewatch/goroutinereceiver/internal/dump"
	"github.com/goroutinewatch/goroutinereceiver/internal/signature"
)

// captured reads a captured file of testdata/dumps.
func captured(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile("../../testdata/dumps/" + name)
	require.NoError(tb, err, "run scripts/capture-dumps.sh")
	return b
}

// groupDump groups a captured dump.
func groupDump(tb testing.TB, name string, opts Options) Result {
	tb.Helper()
	var g Grouper
	res, err := g.OfDump(bytes.NewReader(captured(tb, name)), decode.Limits{MaxBytes: dump.MaxBytes}, opts)
	require.NoError(tb, err)
	return res
}

// groupProfile groups a captured profile.
func groupProfile(tb testing.TB, name string, opts Options) Result {
	tb.Helper()
	p, err := decode.Decode(bytes.NewReader(captured(tb, name)), decode.Limits{MaxBytes: 64 << 20})
	require.NoError(tb, err)
	res, err := Of(p, opts)
	require.NoError(tb, err)
	return res
}

// byEntry returns the groups whose goroutines were started with entry.
func byEntry(res *Result, entry string) []*Group {
	var out []*Group
	for i := range res.Groups {
		if res.Identity(i).Entry == entry {
			out = append(out, &res.Groups[i])
		}
	}
	return out
}

// TestGenericSignaturesJoin groups profiles and dumps of real processes
// running generic code: a profile names the type arguments' shapes, a dump
// elides them, and each generic group gets one id and one spelling in both.
func TestGenericSignaturesJoin(t *testing.T) {
	tests := []struct {
		profile, dump string
		entry         string
		wantCount     int64 // 0: the two were taken moments apart and differ
	}{
		// Queue[int] and Queue[string]: two shapes, two functions in
		// the profile, one spelling in the dump, and so one group.
		{profile: "ancestry.pb.gz", dump: "ancestry.txt", entry: "main.(*Queue[...]).drain", wantCount: 2},
		{profile: "ancestry.pb.gz", dump: "ancestry.txt", entry: "main.Map[...].func1", wantCount: 2},
		{profile: "libtarget.pb.gz", dump: "libtarget.txt", entry: "github.com/jellydator/ttlcache/v3.(*Cache[...]).Start"},
	}
	for _, tt := range tests {
		t.Run(tt.entry, func(t *testing.T) {
			fromProfile, fromDump := groupProfile(t, tt.profile, Options{}), groupDump(t, tt.dump, Options{})
			inProfile, inDump := byEntry(&fromProfile, tt.entry), byEntry(&fromDump, tt.entry)
			require.Len(t, inProfile, 1)
			require.Len(t, inDump, 1)
			assert.Equal(t, inProfile[0].ID, inDump[0].ID, "one id for one stack in either format")
			assert.Equal(t, inProfile[0].Identity.Stuck.Function, inDump[0].Identity.Stuck.Function)
			if tt.wantCount > 0 {
				assert.Equal(t, tt.wantCount, inProfile[0].Count)
				assert.Equal(t, tt.wantCount, inDump[0].Count)
			}
		})
	}
	// No shape is left anywhere in either.
	for _, res := range []Result{groupProfile(t, "libtarget.pb.gz", Options{}), groupProfile(t, "ancestry.pb.gz", Options{})} {
		for i := range res.Groups {
			for _, f := range res.Frames(i) {
				assert.NotContains(t, f.Function, "go.shape")
			}
		}
	}
}

// TestOrigins finds the user's code behind the library goroutines that
// cmd/libtarget's misuses leave, in its dump with ancestry
// (tracebackancestors=5, built with -trimpath) and without (a plain build).
func TestOrigins(t *testing.T) {
	tests := []struct {
		dump, entry string
		want        Origin // Count is not compared
	}{
		// An unclosed body: readLoop is two goroutines from the handler
		// (its dialer's, and the handler's, which started the dialer).
		{
			dump: "libtarget.txt", entry: "net/http.(*persistConn).readLoop",
			want: Origin{Frame: signature.Frame{Function: "main.(*app).leakBody"}, Source: SourceAncestry, Generation: 2},
		},
		{
			dump: "libtarget.txt", entry: "net/http.(*persistConn).writeLoop",
			want: Origin{Frame: signature.Frame{Function: "main.(*app).leakBody"}, Source: SourceAncestry, Generation: 2},
		},
		{
			dump: "libtarget.txt", entry: "database/sql.(*DB).connectionOpener",
			want: Origin{Frame: signature.Frame{Function: "main.(*app).leakDB"}, Source: SourceAncestry, Generation: 1},
		},
		{
			dump: "libtarget.txt", entry: "google.golang.org/grpc/internal/transport.(*http2Client).reader",
			want: Origin{Frame: signature.Frame{Function: "main.(*app).leakGRPC"}, Source: SourceAncestry, Generation: 3},
		},
		{
			dump: "libtarget.txt", entry: "github.com/fsnotify/fsnotify.(*inotify).readEvents",
			want: Origin{Frame: signature.Frame{Function: "main.(*app).leakWatch"}, Source: SourceAncestry, Generation: 1},
		},
		// The handler started the janitor itself: its creator says so.
		{
			dump: "libtarget.txt", entry: "github.com/jellydator/ttlcache/v3.(*Cache[...]).Start",
			want: Origin{Frame: signature.Frame{Function: "main.(*app).leakCache"}, Source: SourceCreator, Generation: 1},
		},
		{
			dump: "libtarget-plain.txt", entry: "github.com/jellydator/ttlcache/v3.(*Cache[...]).Start",
			want: Origin{Frame: signature.Frame{Function: "main.(*app).leakCache"}, Source: SourceCreator, Generation: 1},
		},
		// Without ancestry, a library's goroutine started by a library's
		// go statement says what would find its origin.
		{dump: "libtarget-plain.txt", entry: "net/http.(*persistConn).readLoop", want: Origin{Missing: NoAncestry}},
		{dump: "libtarget-plain.txt", entry: "database/sql.(*DB).connectionOpener", want: Origin{Missing: NoAncestry}},
		{dump: "libtarget-plain.txt", entry: "github.com/fsnotify/fsnotify.(*inotify).readEvents", want: Origin{Missing: NoAncestry}},
	}
	for _, tt := range tests {
		t.Run(tt.dump+"/"+tt.entry, func(t *testing.T) {
			res := groupDump(t, tt.dump, Options{})
			groups := byEntry(&res, tt.entry)
			require.NotEmpty(t, groups)
			var all []Origin
			for _, g := range groups {
				for _, o := range g.Identity.Origins {
					assert.Positive(t, o.Count)
					if o.Function == tt.want.Function && o.Missing == tt.want.Missing {
						assert.Equal(t, tt.want.Source, o.Source)
						assert.Equal(t, tt.want.Generation, o.Generation)
						if o.Function != "" {
							assert.True(t, strings.HasSuffix(o.File, "main.go"), o.File)
							assert.Positive(t, o.Line)
						}
						return
					}
					all = append(all, o)
				}
			}
			t.Fatalf("no origin %+v among %+v", tt.want, all)
		})
	}
}

// TestOriginOf reads a goroutine's origin from its stack, its creator and
// its ancestry, in that order, and says why when there is none.
func TestOriginOf(t *testing.T) {
	lib := func(fn string) signature.Frame {
		return signature.Frame{Function: fn, File: "/root/go/pkg/mod/example.com/lib@v1.0.0/lib.go", Line: 7}
	}
	user := func(fn string) signature.Frame {
		return signature.Frame{Function: fn, File: "/src/app/main.go", Line: 42}
	}
	tests := []struct {
		name string
		give dump.Goroutine
		want Origin
	}{
		{
			name: "in its stack",
			give: dump.Goroutine{Frames: []signature.Frame{lib("example.com/lib.wait"), user("main.worker")}, CreatedBy: user("main.main")},
			want: Origin{Frame: user("main.worker"), Source: SourceStack},
		},
		{
			name: "its creator",
			give: dump.Goroutine{Frames: []signature.Frame{lib("example.com/lib.loop")}, CreatedBy: user("main.handle")},
			want: Origin{Frame: user("main.handle"), Source: SourceCreator, Generation: 1},
		},
		{
			name: "its creator's stack",
			give: dump.Goroutine{
				Frames: []signature.Frame{lib("example.com/lib.loop")}, CreatedBy: lib("example.com/lib.New"),
				Ancestors: []dump.Ancestor{{Frames: []signature.Frame{lib("example.com/lib.New"), user("main.handle")}, CreatedBy: lib("net/http.(*Server).Serve")}},
			},
			want: Origin{Frame: user("main.handle"), Source: SourceAncestry, Generation: 1, AfterCall: true},
		},
		{
			name: "the go statement that started its creator",
			give: dump.Goroutine{
				Frames: []signature.Frame{lib("example.com/lib.loop")}, CreatedBy: lib("example.com/lib.New"),
				Ancestors: []dump.Ancestor{{Frames: []signature.Frame{lib("example.com/lib.New")}, CreatedBy: user("main.start")}},
			},
			want: Origin{Frame: user("main.start"), Source: SourceAncestry, Generation: 2},
		},
		{
			name: "no ancestry printed",
			give: dump.Goroutine{Frames: []signature.Frame{lib("example.com/lib.loop")}, CreatedBy: lib("example.com/lib.New")},
			want: Origin{Missing: NoAncestry},
		},
		{
			name: "ancestry shorter than the chain",
			give: dump.Goroutine{
				Frames: []signature.Frame{lib("example.com/lib.loop")}, CreatedBy: lib("example.com/lib.New"),
				Ancestors: []dump.Ancestor{{Frames: []signature.Frame{lib("example.com/lib.New")}, CreatedBy: lib("example.com/lib.spawn")}},
			},
			want: Origin{Missing: AncestryTooShort},
		},
		{
			name: "started by the library at init",
			give: dump.Goroutine{
				Frames: []signature.Frame{lib("example.com/lib.loop")}, CreatedBy: lib("example.com/lib.init.0"),
				Ancestors: []dump.Ancestor{{Frames: []signature.Frame{lib("example.com/lib.init.0")}}},
			},
			want: Origin{Missing: StartedByLibrary},
		},
		{
			name: "no creator",
			give: dump.Goroutine{Frames: []signature.Frame{lib("example.com/lib.loop")}},
			want: Origin{Missing: StartedByLibrary},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.want.Count = 1
			assert.Equal(t, tt.want, originOf(&tt.give, &signature.Code{}))
		})
	}
}

// TestOriginsKeepTheCommon counts more distinct origins than there are
// slots: one seen often keeps its slot and its count, whatever came first.
func TestOriginsKeepTheCommon(t *testing.T) {
	var os origins
	origin := func(fn string) Origin {
		return Origin{Frame: signature.Frame{Function: fn}, Source: SourceStack, Count: 1}
	}
	for i := range 3 * MaxOrigins {
		os.add(origin(string(rune('a' + i))))
	}
	for range 10 {
		os.add(origin("leak"))
	}
	got := os.sorted()
	require.Len(t, got, MaxOrigins)
	assert.Equal(t, "leak", got[0].Function)
	// Over by at most the least count when it took its slot: three, for
	// twelve origins seen once over four slots.
	assert.GreaterOrEqual(t, got[0].Count, int64(10))
	assert.LessOrEqual(t, got[0].Count, int64(10+3))
}
