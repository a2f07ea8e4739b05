package goroutinereceiver

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/goroutinewatch/goroutinereceiver/internal/group"
	"github.com/goroutinewatch/goroutinereceiver/internal/known"
	"github.com/goroutinewatch/goroutinereceiver/internal/signature"
)

// TestRecordNamesUserCode writes the record of a suspected library
// goroutine as each source tells its user code: a dump's ancestry, a
// dump without ancestry, a stack of the user's, a profile alone.
func TestRecordNamesUserCode(t *testing.T) {
	table, err := known.Default()
	require.NoError(t, err)
	readLoop := signature.Info{
		ID: 7, Wait: signature.WaitIO, Entry: "net/http.(*persistConn).readLoop",
		Stuck: signature.Frame{Function: "net.(*netFD).Read", File: "net/fd_posix.go", Line: 68},
	}
	handler := signature.Frame{Function: "main.(*app).leakBody", File: "example.com/app/main.go", Line: 254}
	pooled := signature.Frame{Function: "main.get", File: "example.com/app/main.go", Line: 203}
	worker := signature.Frame{Function: "main.worker", File: "example.com/app/worker.go", Line: 30}

	tests := []struct {
		name      string
		id        group.Identity
		origins   []group.Origin
		wantAttrs map[string]any
		wantBody  []string
	}{
		{
			name: "ancestry",
			id:   group.Identity{Info: readLoop},
			origins: []group.Origin{
				{Frame: handler, Source: group.SourceAncestry, Generation: 2, Count: 40},
				{Missing: group.AncestryTooShort, Count: 8},
				{Frame: pooled, Source: group.SourceAncestry, Generation: 2, Count: 4},
			},
			wantAttrs: map[string]any{
				"goroutine.user.function": "main.(*app).leakBody", "goroutine.user.file": "example.com/app/main.go",
				"goroutine.user.line": int64(254), "goroutine.user.source": "ancestry", "goroutine.user.generation": int64(2),
				"goroutine.user.goroutines": int64(40),
				"goroutine.known_leak.id":   "http-client-body-not-closed", "goroutine.known_leak.library": "net/http",
			},
			wantBody: []string{
				"the user's code behind it (in its ancestry, 2 goroutines up, 40 of the 52 goroutines in the dump):\nmain.(*app).leakBody\n\texample.com/app/main.go:254\n",
				"and (in its ancestry, 2 goroutines up, 4 of the 52 goroutines in the dump):\nmain.get\n\texample.com/app/main.go:203\n",
				"known leak of net/http (http-client-body-not-closed): HTTP client connections",
			},
		},
		{
			name:    "no ancestry",
			id:      group.Identity{Info: readLoop, Creator: signature.Frame{Function: "net/http.(*Transport).dialConn"}},
			origins: []group.Origin{{Missing: group.NoAncestry, Count: 52}},
			wantAttrs: map[string]any{
				"goroutine.user.missing":       missingText(group.NoAncestry, "net/http.(*Transport).dialConn"),
				"goroutine.known_leak.library": "net/http",
			},
			wantBody: []string{"the user's code behind it is unknown: the stack is library code and so is its creator (net/http.(*Transport).dialConn); run the target with GODEBUG=tracebackancestors=5"},
		},
		{
			name: "the user's stack, from a profile",
			id:   group.Identity{Info: signature.Info{ID: 8, Wait: signature.WaitChanSend, Entry: "main.worker", Stuck: worker}, User: worker},
			wantAttrs: map[string]any{
				"goroutine.user.function": "main.worker", "goroutine.user.source": "stack", "goroutine.user.generation": int64(0),
			},
			wantBody: []string{"the user's code behind it (in its own stack):\nmain.worker\n\texample.com/app/worker.go:30"},
		},
		{
			name:      "a library's goroutine, from a profile",
			id:        group.Identity{Info: readLoop},
			wantAttrs: map[string]any{"goroutine.user.missing": missingText(group.NoDump, ""), "goroutine.known_leak.library": "net/http"},
			wantBody:  []string{"the user's code behind it is unknown: only the profile was read, which names no creator"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := newRecord(eventSuspected, &tt.id, 52)
			rec.origins, rec.growth, rec.horizon = tt.origins, some(3.0), 0
			lr := plog.NewLogRecord()
			writeRecord(1, &rec, table.Match(tt.id.Entry), nil, []string{"30m"}, lr)
			got := lr.Attributes().AsRaw()
			for k, v := range tt.wantAttrs {
				assert.Equal(t, v, got[k], k)
			}
			if _, ok := tt.wantAttrs["goroutine.user.missing"]; ok {
				assert.NotContains(t, got, "goroutine.user.function")
			} else {
				assert.NotContains(t, got, "goroutine.user.missing")
			}
			if _, ok := tt.wantAttrs["goroutine.known_leak.library"]; !ok {
				assert.NotContains(t, got, "goroutine.known_leak.id", "a group of no known leak is reported as before")
			}
			for _, want := range tt.wantBody {
				assert.Contains(t, lr.Body().Str(), want)
			}
		})
	}
}
