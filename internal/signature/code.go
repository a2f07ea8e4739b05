package signature

import "strings"

// Code tells the target's own code from the code it was built with: the
// standard library and its module dependencies. A goroutine that leaks in a
// library was started, one way or another, by a call of the user's; the
// innermost frame of the user's code on the way is what a reader can fix.
//
// A frame is a library's when, in this order:
//
//   - its package is under one of Library's package paths, or is the
//     user's under one of User's, the longer path deciding: configuration
//     for what file paths cannot tell (a monorepo's shared packages, a
//     build that rewrites paths);
//   - its file is in the module cache or a vendor directory:
//     "/root/go/pkg/mod/github.com/fsnotify/fsnotify@v1.10.1/fsnotify.go",
//     "/src/app/vendor/golang.org/x/net/http2/frame.go";
//   - its file is named module@version, as a -trimpath build names a
//     dependency's: "github.com/jellydator/ttlcache/v3@v3.4.1/cache.go";
//   - its package is the standard library's: a path whose first element
//     is one of the standard library's ("net/http", "database/sql",
//     "vendor/golang.org/x/net/http2/hpack"), whatever its file is named
//     ("/usr/local/go/src/net/http/server.go", or "net/http/server.go"
//     built with -trimpath).
//
// Everything else is the user's: package main, and the main module's
// packages, whose files are where the target was built
// ("/work/app/handlers/body.go") or, with -trimpath, under the main
// module's path without a version ("example.com/app/handlers/body.go").
type Code struct {
	User, Library []string // package path prefixes
}

// Users reports whether f is a frame of the target's own code.
func (c *Code) Users(f Frame) bool {
	pkg := packageOf(f.Function)
	if lib, user := longestPrefix(pkg, c.Library), longestPrefix(pkg, c.User); lib > 0 || user > 0 {
		return user > lib
	}
	if f.Function == "" || pkg == "main" {
		return pkg == "main"
	}
	file := f.File
	if strings.Contains(file, "/pkg/mod/") || strings.Contains(file, "/vendor/") || strings.HasPrefix(file, "vendor/") {
		return false
	}
	if versioned(file) {
		return false
	}
	return !standard(pkg)
}

// Innermost returns the innermost of frames that is the user's.
func (c *Code) Innermost(frames []Frame) (Frame, bool) {
	if i := c.Index(frames); i >= 0 {
		return frames[i], true
	}
	return Frame{}, false
}

// Index returns the position of the innermost of frames that is the
// user's, -1 for none.
func (c *Code) Index(frames []Frame) int {
	for i, f := range frames {
		if c.Users(f) {
			return i
		}
	}
	return -1
}

// versioned reports a -trimpath file name of a dependency: an element
// holding "@v" before the file's own name.
func versioned(file string) bool {
	dir := file[:max(strings.LastIndexByte(file, '/'), 0)]
	at := strings.Index(dir, "@v")
	return at > 0 && dir[at-1] != '/'
}

// standard reports a package of the standard library: its first path
// element is one of the standard library's, as `go list std` lists them
// (Go 1.26 and 1.27; TestStandardRoots checks the toolchain's). A file path
// cannot tell: with -trimpath, "net/http/server.go" and a main module named
// "app" ("app/main.go") look alike.
func standard(pkg string) bool {
	first, _, _ := strings.Cut(pkg, "/")
	return standardRoots[first]
}

var standardRoots = map[string]bool{
	"archive": true, "bufio": true, "bytes": true, "cmp": true, "compress": true, "container": true,
	"context": true, "crypto": true, "database": true, "debug": true, "embed": true, "encoding": true,
	"errors": true, "expvar": true, "flag": true, "fmt": true, "go": true, "hash": true, "html": true,
	"image": true, "index": true, "internal": true, "io": true, "iter": true, "log": true, "maps": true,
	"math": true, "mime": true, "net": true, "os": true, "path": true, "plugin": true, "reflect": true,
	"regexp": true, "runtime": true, "slices": true, "sort": true, "strconv": true, "strings": true,
	"structs": true, "sync": true, "syscall": true, "testing": true, "text": true, "time": true,
	"unicode": true, "unique": true, "unsafe": true, "uuid": true, "vendor": true, "weak": true,
}

// longestPrefix returns the length of the longest of prefixes that is pkg
// or a parent path of it, 0 for none.
func longestPrefix(pkg string, prefixes []string) int {
	n := 0
	for _, p := range prefixes {
		if pkg == p || strings.HasPrefix(pkg, p) && (strings.HasSuffix(p, "/") || pkg[len(p)] == '/') {
			n = max(n, len(p))
		}
	}
	return n
}
