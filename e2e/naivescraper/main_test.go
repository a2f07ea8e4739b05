package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"

	"github.com/google/pprof/profile"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestScrapeGroupsByFunctions scrapes a profile captured from the example
// target: the naive scraper finds as many groups as the profile has
// distinct stacks of function names, and an error status is an error.
func TestScrapeGroupsByFunctions(t *testing.T) {
	body, err := os.ReadFile("../../testdata/profiles/leaktarget.pb.gz")
	require.NoError(t, err)
	p, err := profile.ParseData(body)
	require.NoError(t, err)
	want := map[string]bool{}
	for _, s := range p.Sample {
		var key string
		for _, loc := range s.Location {
			for _, l := range loc.Line {
				key += l.Function.Name + "\n"
			}
		}
		want[key] = true
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/debug/pprof/goroutine" {
			http.NotFound(w, r)
			return
		}
		assert.Equal(t, "naivescraper", r.UserAgent())
		_, _ = w.Write(body)
	}))
	t.Cleanup(srv.Close)

	n, err := scrape(context.Background(), srv.Client(), srv.URL+"/debug/pprof/goroutine")
	require.NoError(t, err)
	assert.Equal(t, len(want), n)
	_, err = scrape(context.Background(), srv.Client(), srv.URL+"/nothing")
	assert.ErrorContains(t, err, "404")
}
