// Command naivescraper is the yardstick of the collector's CPU in
// BenchmarkCollectorScale: what anyone would write first to group many
// targets' goroutines. Every interval it fetches each target's goroutine
// profile (debug=0), parses it with google/pprof's profile.Parse, and groups
// the samples by the function names of their stacks in a map, 32 targets at
// a time (the receiver's default max_concurrency). It prints one line per
// round of every target, so that the benchmark can count rounds beside its
// CPU time.
//
//	naivescraper -targets targets.txt -interval 5s
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/google/pprof/profile"
)

func main() {
	list := flag.String("targets", "", "a file of target URLs, one a line")
	interval := flag.Duration("interval", 5*time.Second, "how often every target is scraped")
	concurrency := flag.Int("concurrency", 32, "targets scraped at once")
	flag.Parse()
	b, err := os.ReadFile(*list)
	if err != nil {
		log.Fatal(err)
	}
	targets := strings.Fields(string(b))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	client := &http.Client{Timeout: *interval}
	tick := time.NewTicker(*interval)
	defer tick.Stop()
	for round := 1; ; round++ {
		var (
			wg     sync.WaitGroup
			slots  = make(chan struct{}, *concurrency)
			mu     sync.Mutex
			groups int
			failed int
		)
		for _, u := range targets {
			slots <- struct{}{}
			wg.Go(func() {
				defer func() { <-slots }()
				n, err := scrape(ctx, client, u)
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					failed++
					return
				}
				groups += n
			})
		}
		wg.Wait()
		fmt.Printf("round %d: %d targets, %d groups, %d failed\n", round, len(targets), groups, failed)
		select {
		case <-tick.C:
		case <-ctx.Done():
			return
		}
	}
}

// scrape fetches one target's profile and groups its goroutines by the
// function names of their stacks, returning how many groups it found.
func scrape(ctx context.Context, client *http.Client, u string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, http.NoBody)
	if err != nil {
		return 0, err
	}
	req.Header.Set("User-Agent", "naivescraper")
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("%s: %s", u, resp.Status)
	}
	p, err := profile.Parse(resp.Body)
	if err != nil {
		return 0, err
	}
	groups := map[string]int64{}
	var key strings.Builder
	for _, s := range p.Sample {
		key.Reset()
		for _, loc := range s.Location {
			for _, line := range loc.Line {
				key.WriteString(line.Function.Name)
				key.WriteByte('\n')
			}
		}
		groups[key.String()] += s.Value[0]
	}
	return len(groups), nil
}
