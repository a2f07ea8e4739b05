// Command benchguard reads benchstat's CSV comparison of the last
// release's benchmark figures with this tree's, and fails when a figure
// moved by more than a tenth, significantly, and the changelog's newest
// section does not name its benchmark: a figure that moves is a change a
// user reads about.
//
//	benchstat -format csv bench/v0.1.0.txt new.txt | benchguard -changelog CHANGELOG.md
//
// make bench-compare runs it (BENCHMARKS.md, section 6).
package main

import (
	"bufio"
	"encoding/csv"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

func main() {
	changelog := flag.String("changelog", "CHANGELOG.md", "the changelog whose newest section must name each benchmark that moved")
	limit := flag.Float64("limit", 10, "the change, in percent, beyond which a figure must be named")
	flag.Parse()
	if err := run(os.Stdin, os.Stdout, *changelog, *limit); err != nil {
		fmt.Fprintln(os.Stderr, "benchguard:", err)
		os.Exit(1)
	}
}

func run(in io.Reader, out io.Writer, changelog string, limit float64) error {
	moves, err := moved(in, limit)
	if err != nil {
		return err
	}
	text, err := os.ReadFile(changelog) //nolint:gosec // G304: the changelog the maintainer names on the command line.
	if err != nil {
		return err
	}
	section := newest(string(text))
	var unnamed []string
	for _, m := range moves {
		named := regexp.MustCompile(`\b` + regexp.QuoteMeta(m.benchmark()) + `\b`).MatchString(section)
		if _, err := fmt.Fprintf(out, "%-70s %-12s %8s  named in the changelog: %t\n", m.name, m.unit, m.delta, named); err != nil {
			return err
		}
		if !named && !slices.Contains(unnamed, m.benchmark()) {
			unnamed = append(unnamed, m.benchmark())
		}
	}
	if len(unnamed) > 0 {
		return fmt.Errorf("figures moved by more than %g %% and the newest section of %s does not name their benchmarks: %s", limit, changelog, strings.Join(unnamed, ", "))
	}
	_, err = fmt.Fprintf(out, "%d figures moved by more than %g %%, each named in %s\n", len(moves), limit, changelog)
	return err
}

// move is one row of benchstat's comparison that moved significantly.
type move struct {
	name, unit, delta string
}

// benchmark is the benchmark's name without its sub-benchmarks and
// GOMAXPROCS suffix, with the Benchmark prefix: "Scrape/targets=1-2" is
// "BenchmarkScrape".
func (m move) benchmark() string {
	name, _, _ := strings.Cut(m.name, "/")
	if i := strings.LastIndexByte(name, '-'); i > 0 {
		if _, err := strconv.Atoi(name[i+1:]); err == nil {
			name = name[:i]
		}
	}
	return "Benchmark" + name
}

// moved reads benchstat's CSV, tables of one unit each:
//
//	,bench/v0.1.0.txt,,new.txt,,,
//	,sec/op,CI,sec/op,CI,vs base,P
//	Scrape/targets=1-2,0.000449,16%,0.000429,23%,-4.43%,p=0.002 n=6
//	Scrape/targets=32-2,0.00698,26%,0.00741,16%,~,p=0.818 n=6
//	geomean,...
//
// and returns the rows whose change is significant ("~" is not) and
// larger than limit percent either way, or from zero ("?": benchstat has no
// ratio to a zero, as of 0 allocs/op). Geomeans are not figures.
func moved(in io.Reader, limit float64) ([]move, error) {
	r := csv.NewReader(bufio.NewReader(in))
	r.FieldsPerRecord = -1
	var (
		moves  []move
		unit   string
		tables int
	)
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		if len(rec) < 7 {
			continue // benchstat's goos:, pkg: and blank lines
		}
		if rec[0] == "" {
			if rec[len(rec)-2] == "vs base" {
				unit = rec[1]
				tables++
			}
			continue
		}
		if rec[0] == "geomean" || unit == "" {
			continue
		}
		delta := rec[len(rec)-2]
		if delta == "~" || delta == "" {
			continue
		}
		if delta == "?" {
			if rec[1] != rec[3] {
				moves = append(moves, move{name: rec[0], unit: unit, delta: "from 0"})
			}
			continue
		}
		pct, err := strconv.ParseFloat(strings.TrimSuffix(delta, "%"), 64)
		if err != nil {
			return nil, fmt.Errorf("%s (%s): change %q: %w", rec[0], unit, delta, err)
		}
		if pct > limit || pct < -limit {
			moves = append(moves, move{name: rec[0], unit: unit, delta: delta})
		}
	}
	if tables == 0 {
		return nil, errors.New("no comparison in the input: benchstat -format csv OLD NEW, two files")
	}
	return moves, nil
}

// newest returns the changelog's newest section: from its first "## "
// heading to its second.
func newest(changelog string) string {
	_, rest, ok := strings.Cut(changelog, "\n## ")
	if !ok {
		return ""
	}
	section, _, _ := strings.Cut(rest, "\n## ")
	return section
}
