package signature

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestGeneric(t *testing.T) {
	tests := []struct{ give, want string }{
		{give: "github.com/jellydator/ttlcache/v3.(*Cache[go.shape.string,go.shape.string]).Start", want: "github.com/jellydator/ttlcache/v3.(*Cache[...]).Start"},
		{give: "github.com/jellydator/ttlcache/v3.(*Cache[...]).Start", want: "github.com/jellydator/ttlcache/v3.(*Cache[...]).Start"},
		{give: "main.Map[go.shape.[]uint8,go.shape.struct { A int; B map[string]int }].func1", want: "main.Map[...].func1"},
		{give: "main.Pair[go.shape.int,go.shape.*example.com/x.T].Swap[go.shape.int]", want: "main.Pair[...].Swap[...]"},
		{give: "main.F[...].G[go.shape.int]", want: "main.F[...].G[...]"},
		{give: "main.worker", want: "main.worker"},
		{give: "main.F[go.shape.int", want: "main.F[go.shape.int"},
		{give: "", want: ""},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, Generic(tt.give), tt.give)
	}
}

func TestGenericKeepsPlainNames(t *testing.T) {
	name := "net/http.(*persistConn).readLoop"
	assert.Zero(t, testing.AllocsPerRun(100, func() { _ = Generic(name) }))
}

func TestCodeUsers(t *testing.T) {
	tests := []struct {
		name string
		code Code
		give Frame
		want bool
	}{
		{name: "package main", give: Frame{Function: "main.(*app).leakBody", File: "/work/app/main.go"}, want: true},
		{name: "main with -trimpath", give: Frame{Function: "main.handle", File: "example.com/app/main.go"}, want: true},
		{name: "main module package", give: Frame{Function: "example.com/app/store.(*DB).Open", File: "/work/app/store/db.go"}, want: true},
		{name: "main module package, -trimpath", give: Frame{Function: "example.com/app/store.Open", File: "example.com/app/store/db.go"}, want: true},
		{name: "GOROOT", give: Frame{Function: "net/http.(*persistConn).readLoop", File: "/usr/local/go/src/net/http/transport.go"}, want: false},
		{name: "GOROOT, -trimpath", give: Frame{Function: "database/sql.(*DB).connectionOpener", File: "database/sql/sql.go"}, want: false},
		{name: "runtime", give: Frame{Function: "runtime.gopark", File: "runtime/proc.go"}, want: false},
		{name: "internal", give: Frame{Function: "internal/poll.runtime_pollWait", File: "/usr/local/go/src/runtime/netpoll.go"}, want: false},
		{name: "standard library's vendor", give: Frame{Function: "vendor/golang.org/x/net/http2/hpack.(*Decoder).Write", File: "/usr/local/go/src/vendor/golang.org/x/net/http2/hpack/hpack.go"}, want: false},
		{name: "module cache", give: Frame{Function: "github.com/fsnotify/fsnotify.(*inotify).readEvents", File: "/root/go/pkg/mod/github.com/fsnotify/fsnotify@v1.10.1/backend_inotify.go"}, want: false},
		{name: "module@version, -trimpath", give: Frame{Function: "github.com/jellydator/ttlcache/v3.(*Cache[...]).Start", File: "github.com/jellydator/ttlcache/v3@v3.4.1/cache.go"}, want: false},
		{name: "vendored dependency", give: Frame{Function: "google.golang.org/grpc.(*Server).Serve", File: "/src/app/vendor/google.golang.org/grpc/server.go"}, want: false},
		{name: "an undotted module outside GOROOT", give: Frame{Function: "leaktarget/store.Open", File: "/work/leaktarget/store/db.go"}, want: true},
		{name: "an undotted module, -trimpath", give: Frame{Function: "app.leak", File: "app/main.go"}, want: true},
		{name: "an email-like path is not a version", give: Frame{Function: "example.com/app.F", File: "/home/me@work/app/f.go"}, want: true},
		{
			name: "configured library", code: Code{Library: []string{"example.com/mono/platform"}},
			give: Frame{Function: "example.com/mono/platform/cache.(*C).run", File: "/src/mono/platform/cache/c.go"}, want: false,
		},
		{
			name: "configured library prefix is a path, not a string", code: Code{Library: []string{"example.com/mono/plat"}},
			give: Frame{Function: "example.com/mono/platform/cache.New", File: "/src/mono/platform/cache/c.go"}, want: true,
		},
		{
			name: "configured user code", code: Code{User: []string{"corp.internal/"}},
			give: Frame{Function: "corp.internal/svc.Handle", File: "corp.internal/svc@v1.2.0/h.go"}, want: true,
		},
		{
			name: "the longer path decides: library", code: Code{User: []string{"example.com/mono"}, Library: []string{"example.com/mono/lib"}},
			give: Frame{Function: "example.com/mono/lib.F", File: "/src/mono/lib/f.go"}, want: false,
		},
		{
			name: "the longer path decides: user", code: Code{User: []string{"example.com/mono/svc/"}, Library: []string{"example.com/mono"}},
			give: Frame{Function: "example.com/mono/svc/api.F", File: "/src/mono/svc/api/f.go"}, want: true,
		},
		{name: "no function", give: Frame{}, want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, tt.code.Users(tt.give))
		})
	}
}

// TestStandardRoots lists the standard library of the toolchain that runs
// the test: each package's first path element is known to standard.
func TestStandardRoots(t *testing.T) {
	out, err := exec.Command("go", "list", "std").Output()
	require.NoError(t, err)
	for _, pkg := range strings.Fields(string(out)) {
		assert.True(t, standard(pkg), "%s: its first element is not in standardRoots", pkg)
	}
	assert.False(t, standard("main"))
	assert.False(t, standard("example.com/app"))
}
