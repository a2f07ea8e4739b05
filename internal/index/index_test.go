package index

import (
	"bytes"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestParseCaptured reads the pages of real processes (scripts/capture-index.sh):
// the leak profile is listed by Go 1.27, and by Go 1.26 only with the
// experiment; the goroutine count is the process's.
func TestParseCaptured(t *testing.T) {
	tests := []struct {
		file     string
		wantLeak bool
	}{
		{"go1.26.html", false},
		{"go1.26-leakprofile.html", true},
		{"go1.27.html", true},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			b, err := os.ReadFile("testdata/" + tt.file)
			require.NoError(t, err, "run scripts/capture-index.sh")
			x, err := Parse(bytes.NewReader(b))
			require.NoError(t, err)
			assert.Equal(t, tt.wantLeak, x.Serves("goroutineleak"))
			for _, name := range []string{"goroutine", "heap", "allocs", "block", "mutex", "threadcreate"} {
				assert.True(t, x.Serves(name), name)
			}
			assert.Positive(t, x.Profiles["goroutine"], "the process's goroutines")
		})
	}
}

// TestParseRefuses feeds pages that are not an index, or hostile ones:
// each is refused, naming the cause, and none is read past MaxBytes.
func TestParseRefuses(t *testing.T) {
	good, err := os.ReadFile("testdata/go1.27.html")
	require.NoError(t, err)
	row := "<tr><td>1</td><td><a href='p?debug=1'>p</a></td></tr>\n"
	tests := []struct {
		name string
		give io.Reader
		want string
	}{
		{"a login page", strings.NewReader("<html><body>login</body></html>"), "no profile listed"},
		{"empty", strings.NewReader(""), "no profile listed"},
		{"a count not a number", strings.NewReader("<tr><td>many</td><td><a href='goroutine?debug=1'>goroutine</a></td></tr>"), "count"},
		{"a negative count", strings.NewReader("<tr><td>-5</td><td><a href='goroutine?debug=1'>goroutine</a></td></tr>"), "count"},
		{"a count past int64", strings.NewReader("<tr><td>99999999999999999999</td><td><a href='goroutine?debug=1'>goroutine</a></td></tr>"), "count"},
		{"a link that is not its name", strings.NewReader("<tr><td>1</td><td><a href='heap?debug=1'>goroutineleak</a></td></tr>"), "row"},
		{"a row cut short", strings.NewReader("<tr><td>1</td><td><a href='goroutine"), "row"},
		{"a thousand rows", strings.NewReader(strings.Repeat(row, 1000)), "more than 64 profiles"},
		{"an endless page", io.MultiReader(bytes.NewReader(good), endless{}), "longer than"},
		{"one endless line", endless{}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(tt.give)
			require.ErrorIs(t, err, ErrMalformed)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}

// endless is a body that never ends, of spaces.
type endless struct{}

func (endless) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = ' '
	}
	return len(p), nil
}

// FuzzParse: no page crashes Parse, and what it accepts lists a profile.
func FuzzParse(f *testing.F) {
	for _, name := range []string{"go1.26.html", "go1.27.html"} {
		b, err := os.ReadFile("testdata/" + name)
		require.NoError(f, err)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		x, err := Parse(bytes.NewReader(b))
		if err == nil {
			assert.NotEmpty(t, x.Profiles)
		}
	})
}
