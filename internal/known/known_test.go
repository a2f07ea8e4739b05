package known

import (
	"bytes"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/goroutinewatch/goroutinereceiver/internal/decode"
	"github.com/goroutinewatch/goroutinereceiver/internal/dump"
	"github.com/goroutinewatch/goroutinereceiver/internal/group"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestMatch(t *testing.T) {
	tbl, err := Default()
	require.NoError(t, err)
	tests := []struct{ give, want string }{
		{give: "net/http.(*persistConn).readLoop", want: "http-client-body-not-closed"},
		{give: "database/sql.(*DB).connectionOpener", want: "sql-db-not-closed"},
		{give: "google.golang.org/grpc/internal/transport.NewHTTP2Client.func6", want: "grpc-client-conn-not-closed"},
		{give: "github.com/jellydator/ttlcache/v3.(*Cache[...]).Start", want: "ttlcache-not-stopped"},
		{give: "main.worker", want: ""},
		{give: "net/http.(*persistConn).readLoopX", want: ""},
		{give: "", want: ""},
	}
	for _, tt := range tests {
		got := tbl.Match(tt.give)
		if tt.want == "" {
			assert.Nil(t, got, tt.give)
			continue
		}
		require.NotNil(t, got, tt.give)
		assert.Equal(t, tt.want, got.ID)
	}
	var none *Table
	assert.Nil(t, none.Match("net/http.(*persistConn).readLoop"))
}

// TestRowsMatchRealProcesses groups the dump of cmd/libtarget, which
// misuses net/http, database/sql, gRPC, ttlcache and fsnotify: every row of
// those libraries matches a group of it, so no entry is a name the library
// does not have.
func TestRowsMatchRealProcesses(t *testing.T) {
	tbl, err := Default()
	require.NoError(t, err)
	b, err := os.ReadFile("../../testdata/dumps/libtarget.txt")
	require.NoError(t, err, "run scripts/capture-dumps.sh")
	var g group.Grouper
	res, err := g.OfDump(bytes.NewReader(b), decode.Limits{MaxBytes: dump.MaxBytes}, group.Options{})
	require.NoError(t, err)
	matched := map[string]bool{}
	for i := range res.Groups {
		if l := tbl.Match(res.Identity(i).Entry); l != nil {
			matched[l.ID] = true
		}
	}
	for _, row := range tbl.Rows() {
		if row.Library == "os/exec" {
			continue // cmd/libtarget runs no commands
		}
		assert.True(t, matched[row.ID], "no goroutine of cmd/libtarget matches %s", row.ID)
	}
}

func TestParseRefuses(t *testing.T) {
	tests := []struct{ name, give, wantErr string }{
		{"no cause", "- id: a\n  library: x\n  entries: [x.F]\n", "all required"},
		{"no entries", "- id: a\n  library: x\n  cause: c\n", "all required"},
		{"same id", "- {id: a, library: x, entries: [x.F], cause: c}\n- {id: a, library: x, entries: [x.G], cause: c}\n", `id "a" twice`},
		{"entry twice", "- {id: a, library: x, entries: [x.F], cause: c}\n- {id: b, library: x, entries: [x.F], cause: c}\n", "in another row"},
		{"only a star", "- {id: a, library: x, entries: ['*'], cause: c}\n", "ending in one *"},
		{"two stars", "- {id: a, library: x, entries: ['x.F**'], cause: c}\n", "ending in one *"},
		{"unknown key", "- {id: a, library: x, entries: [x.F], cause: c, fix: f}\n", "field fix not found"},
		{"not a list", "id: a\n", "cannot unmarshal"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.give))
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.wantErr)
		})
	}
}
