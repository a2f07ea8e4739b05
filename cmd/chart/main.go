// Command chart draws the README's picture: the example target's goroutine
// groups over a real run, as the collector's prometheus exporter served
// them. scripts/chart.sh records the run; this reads its recording, a
// series of /metrics snapshots each headed by the second it was taken:
//
//	# at 1700000000
//	go_goroutine_group_count{code_function_name="main.fanoutWorker",goroutine_label_pattern="fanout",...} 40
//	...
//
// and writes an SVG with two panels sharing the time axis: each pattern's
// goroutine count, and its growth per minute with the stretch where the
// receiver flagged it as a suspected leak drawn thick.
//
//	go run ./cmd/chart -in _build/chart/samples.txt -out docs/chart.svg
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "chart:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("chart", flag.ContinueOnError)
	in := fs.String("in", "", "recording of /metrics snapshots (scripts/chart.sh)")
	out := fs.String("out", "", "SVG to write")
	leaks := fs.String("leaks", "fanout,timeout,probe,janitor,mutex", "patterns that leak, drawn in warm colors")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *in == "" || *out == "" {
		return errors.New("-in and -out are required")
	}
	f, err := os.Open(*in)
	if err != nil {
		return err
	}
	rec, err := parse(f)
	_ = f.Close() // read only: nothing to lose
	if err != nil {
		return fmt.Errorf("%s: %w", *in, err)
	}
	svg := render(rec, strings.Split(*leaks, ","))
	return os.WriteFile(*out, []byte(svg), 0o644) //nolint:gosec // G306: a picture for the docs, readable by all.
}

// point is one pattern's values at one snapshot.
type point struct {
	at        float64 // seconds since the first snapshot
	count     float64
	growth    float64
	hasGrowth bool
	suspected bool
}

// recording is every pattern's points in time order, and the function
// each pattern's largest group is stuck in.
type recording struct {
	series map[string][]point
	stuck  map[string]string
	span   float64
}

var (
	atLine     = regexp.MustCompile(`^# at (\d+(?:\.\d+)?)$`)
	sampleLine = regexp.MustCompile(`^(go_goroutine_group_(?:count|growth_per_min|suspected_ratio))\{(.*)\} (\S+)$`)
	labelPair  = regexp.MustCompile(`(\w+)="((?:[^"\\]|\\.)*)"`)
)

// parse reads a recording. Of each snapshot it keeps, per pattern, the
// group with the most goroutines: a pattern's goroutines may sit in
// several groups, and the largest is the one the story is about. A pattern
// seen before but absent from a snapshot has no goroutines then: it gets a
// zero count, so that a burst that drained is drawn at zero, not bridged.
func parse(r io.Reader) (recording, error) {
	rec := recording{series: map[string][]point{}, stuck: map[string]string{}}
	type key struct{ pattern, signature string }
	var (
		first, at float64
		snap      = map[key]*point{}
		fns       = map[key]string{}
		snapshots int
	)
	flush := func() {
		best := map[string]key{}
		for k, p := range snap {
			if b, ok := best[k.pattern]; !ok || p.count > snap[b].count {
				best[k.pattern] = k
			}
		}
		for pattern, k := range best {
			rec.series[pattern] = append(rec.series[pattern], *snap[k])
			rec.stuck[pattern] = fns[k]
		}
		if snapshots > 0 {
			for pattern := range rec.series {
				if _, ok := best[pattern]; !ok {
					rec.series[pattern] = append(rec.series[pattern], point{at: at - first})
				}
			}
		}
		clear(snap)
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if m := atLine.FindStringSubmatch(line); m != nil {
			flush()
			t, _ := strconv.ParseFloat(m[1], 64)
			if snapshots == 0 {
				first = t
			}
			if t < at {
				return rec, fmt.Errorf("line %d: time goes back", n)
			}
			at = t
			snapshots++
			continue
		}
		m := sampleLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		if snapshots == 0 {
			return rec, fmt.Errorf("line %d: sample before the first \"# at\" line", n)
		}
		labels := map[string]string{}
		for _, l := range labelPair.FindAllStringSubmatch(m[2], -1) {
			labels[l[1]] = l[2]
		}
		pattern := labels["goroutine_label_pattern"]
		if pattern == "" {
			continue // the `other` group, and goroutines outside any pattern
		}
		v, err := strconv.ParseFloat(m[3], 64)
		if err != nil {
			return rec, fmt.Errorf("line %d: value %q: %w", n, m[3], err)
		}
		k := key{pattern, labels["goroutine_signature"]}
		p := snap[k]
		if p == nil {
			p = &point{at: at - first}
			snap[k] = p
		}
		switch m[1] {
		case "go_goroutine_group_count":
			p.count = v
			fns[k] = labels["code_function_name"]
		case "go_goroutine_group_growth_per_min":
			p.growth, p.hasGrowth = v, true
		case "go_goroutine_group_suspected_ratio":
			p.suspected = v == 1
		}
	}
	if err := sc.Err(); err != nil {
		return rec, err
	}
	flush()
	if len(rec.series) == 0 {
		return rec, errors.New("no goroutine group with a pattern label")
	}
	rec.span = at - first
	return rec, nil
}

const (
	width    = 960
	panelH   = 230
	top      = 40
	gap      = 60
	left     = 60
	plotW    = 560
	legendX  = left + plotW + 30
	fontSize = 12
)

var (
	warm = []string{"#d62728", "#ff7f0e", "#8c564b", "#e377c2", "#bcbd22"}
	cool = []string{"#1f77b4", "#2ca02c", "#17becf", "#9467bd", "#7f7f7f"}
)

// render draws the two panels and a legend naming each pattern, whether it
// leaks, and where its goroutines are stuck.
func render(rec recording, leaks []string) string {
	names := make([]string, 0, len(rec.series))
	for name := range rec.series {
		names = append(names, name)
	}
	// Leaks first, then the healthy patterns, each alphabetically.
	slices.SortFunc(names, func(a, b string) int {
		la, lb := slices.Contains(leaks, a), slices.Contains(leaks, b)
		if la != lb {
			if la {
				return -1
			}
			return 1
		}
		return strings.Compare(a, b)
	})
	color := map[string]string{}
	var w, c int
	for _, name := range names {
		if slices.Contains(leaks, name) {
			color[name] = warm[w%len(warm)]
			w++
		} else {
			color[name] = cool[c%len(cool)]
			c++
		}
	}

	var maxCount, minGrowth, maxGrowth float64
	for _, ps := range rec.series {
		for _, p := range ps {
			maxCount = math.Max(maxCount, p.count)
			if p.hasGrowth {
				minGrowth, maxGrowth = math.Min(minGrowth, p.growth), math.Max(maxGrowth, p.growth)
			}
		}
	}
	maxCount, maxGrowth = niceCeil(maxCount), niceCeil(maxGrowth)
	if minGrowth < 0 {
		minGrowth = -niceCeil(-minGrowth)
	}
	span := math.Max(rec.span, 1)
	x := func(at float64) float64 { return left + at/span*plotW }

	var b strings.Builder
	height := top + 2*panelH + gap + 50
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="%d">`+"\n", width, height, width, height, fontSize)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")

	type panel struct {
		title  string
		y0     float64
		lo, hi float64
		value  func(point) (float64, bool)
	}
	panels := []panel{
		{"goroutines per group (go_goroutine_group_count)", top, 0, maxCount, func(p point) (float64, bool) { return p.count, true }},
		{"growth per minute over the leak window (go_goroutine_group_growth_per_min); thick: suspected leak", top + panelH + gap, minGrowth, maxGrowth, func(p point) (float64, bool) { return p.growth, p.hasGrowth }},
	}
	for _, pn := range panels {
		h := float64(panelH)
		y := func(v float64) float64 {
			if pn.hi == pn.lo {
				return pn.y0 + h
			}
			return pn.y0 + h - (v-pn.lo)/(pn.hi-pn.lo)*h
		}
		fmt.Fprintf(&b, `<text x="%d" y="%.0f" font-weight="bold">%s</text>`+"\n", left, pn.y0-12, esc(pn.title))
		for _, v := range ticks(pn.lo, pn.hi) {
			fmt.Fprintf(&b, `<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#ddd"/>`+"\n", left, left+plotW, y(v), y(v))
			fmt.Fprintf(&b, `<text x="%d" y="%.1f" text-anchor="end" dy="4">%s</text>`+"\n", left-6, y(v), strconv.FormatFloat(v, 'f', -1, 64))
		}
		fmt.Fprintf(&b, `<rect x="%d" y="%.0f" width="%d" height="%d" fill="none" stroke="#999"/>`+"\n", left, pn.y0, plotW, panelH)
		for _, name := range names {
			var line, thick []string
			for _, p := range rec.series[name] {
				v, ok := pn.value(p)
				if !ok {
					continue
				}
				xy := fmt.Sprintf("%.1f,%.1f", x(p.at), y(v))
				line = append(line, xy)
				if pn.y0 != top && p.suspected {
					thick = append(thick, xy)
				} else if len(thick) > 0 {
					writeLine(&b, thick, color[name], 4)
					thick = nil
				}
			}
			writeLine(&b, line, color[name], 1.5)
			writeLine(&b, thick, color[name], 4)
		}
	}
	// Time axis under the second panel.
	axisY := float64(top + 2*panelH + gap)
	for _, s := range clockTicks(span) {
		fmt.Fprintf(&b, `<text x="%.1f" y="%.0f" text-anchor="middle">%s</text>`+"\n", x(s), axisY+16, clock(s))
	}
	fmt.Fprintf(&b, `<text x="%d" y="%.0f" text-anchor="middle">time since the example target started (min:s)</text>`+"\n", left+plotW/2, axisY+36)

	ly := float64(top)
	fmt.Fprintf(&b, `<text x="%d" y="%.0f" font-weight="bold">pattern · where it is stuck</text>`+"\n", legendX, ly-12)
	for _, name := range names {
		kind := "healthy"
		if slices.Contains(leaks, name) {
			kind = "leak"
		}
		fmt.Fprintf(&b, `<line x1="%d" x2="%d" y1="%.0f" y2="%.0f" stroke="%s" stroke-width="3"/>`+"\n", legendX, legendX+18, ly, ly, color[name])
		fmt.Fprintf(&b, `<text x="%d" y="%.0f" dy="4">%s (%s) · %s</text>`+"\n", legendX+24, ly, esc(name), kind, esc(rec.stuck[name]))
		ly += 20
	}
	b.WriteString("</svg>\n")
	return b.String()
}

func writeLine(b *strings.Builder, pts []string, color string, w float64) {
	if len(pts) == 0 {
		return
	}
	if len(pts) == 1 { // a lone point still shows
		pts = append(pts, pts[0])
	}
	fmt.Fprintf(b, `<polyline fill="none" stroke="%s" stroke-width="%g" points="%s"/>`+"\n", color, w, strings.Join(pts, " "))
}

// niceCeil rounds v up to 1, 2 or 5 times a power of ten.
func niceCeil(v float64) float64 {
	if v <= 0 {
		return 0
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= v {
			return m * p
		}
	}
	return 10 * p
}

// ticks returns about five round values from lo to hi.
func ticks(lo, hi float64) []float64 {
	if hi <= lo {
		return []float64{lo}
	}
	step := niceCeil((hi - lo) / 5)
	var out []float64
	for v := math.Ceil(lo/step) * step; v <= hi+step/1e6; v += step {
		out = append(out, math.Round(v/step)*step)
	}
	return out
}

// clockTicks returns round times from 0 to span: steps of 10 s to 1 h,
// the smallest giving at most eight ticks.
func clockTicks(span float64) []float64 {
	step := 3600.0
	for _, s := range []float64{10, 15, 30, 60, 120, 300, 600, 900, 1800} {
		if span/s <= 8 {
			step = s
			break
		}
	}
	var out []float64
	for v := 0.0; v <= span; v += step {
		out = append(out, v)
	}
	return out
}

func clock(s float64) string {
	return fmt.Sprintf("%d:%02d", int(s)/60, int(s)%60)
}

func esc(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;").Replace(s)
}
