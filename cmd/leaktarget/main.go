// Command leaktarget is the example target: a Go service that serves
// net/http/pprof and runs, selectable by flag, the goroutine leaks told by the
// articles this receiver was built for, next to healthy patterns that also look
// like growth at first sight.
//
// Every pattern runs under a pprof label pattern=<name>, so a receiver with
// `labels: [pattern]` can tell them apart without reading stacks.
//
//	leaktarget -addr 127.0.0.1:6060 -patterns fanout,timeout,pool,burst -rate 10
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	_ "net/http/pprof" //nolint:gosec // serving pprof is this program's purpose.
	"os"
	"os/signal"
	"runtime/pprof"
	"sort"
	"strings"
	"syscall"
	"time"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "leaktarget:", err)
		os.Exit(2)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("leaktarget", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:6060", "address to serve /debug/pprof on")
	list := fs.String("patterns", "all", "comma-separated patterns to run, or all; known: "+strings.Join(patternNames(), ","))
	rate := fs.Float64("rate", 5, "how many times a second each leaking pattern's request runs")
	requests := fs.Int("requests", 0, "stop each pattern's requests after this many (0: never), so its count plateaus at a known value")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *rate <= 0 {
		return fmt.Errorf("-rate must be positive, got %v", *rate)
	}
	if *requests < 0 {
		return fmt.Errorf("-requests must not be negative, got %d", *requests)
	}
	selected, err := selectPatterns(*list)
	if err != nil {
		return err
	}

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	pc := pace{every: time.Duration(float64(time.Second) / *rate), limit: *requests}
	for _, name := range selected {
		p := patterns[name]
		go pprof.Do(ctx, pprof.Labels("pattern", name), func(ctx context.Context) { p(ctx, pc) })
	}

	srv := &http.Server{Handler: http.DefaultServeMux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	// The line tests and scripts wait for: the real address, also when :0 was asked.
	fmt.Printf("leaktarget serving http://%s/debug/pprof/ patterns=%s\n", ln.Addr(), strings.Join(selected, ","))
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func selectPatterns(list string) ([]string, error) {
	if list == "all" {
		return patternNames(), nil
	}
	var out []string
	for name := range strings.SplitSeq(list, ",") {
		name = strings.TrimSpace(name)
		if name == "" {
			continue
		}
		if _, ok := patterns[name]; !ok {
			return nil, fmt.Errorf("unknown pattern %q; known: %s", name, strings.Join(patternNames(), ","))
		}
		out = append(out, name)
	}
	if len(out) == 0 {
		return nil, errors.New("no pattern selected")
	}
	return out, nil
}

func patternNames() []string {
	names := make([]string, 0, len(patterns))
	for name := range patterns {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

// pace is how often a pattern's request runs, and how many run at most.
type pace struct {
	every time.Duration
	limit int // 0: no limit
}

// tick calls fn at p's pace until ctx ends or p.limit calls were made.
func tick(ctx context.Context, p pace, fn func()) {
	t := time.NewTicker(p.every)
	defer t.Stop()
	for n := 0; p.limit == 0 || n < p.limit; n++ {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			fn()
		}
	}
	<-ctx.Done()
}
