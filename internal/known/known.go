// Package known names the goroutines that well-known libraries leave when
// they are misused, and their usual cause: a curated table, leaks.yaml,
// that is data and not code, so that a row is added without touching the
// matching.
package known // import "github.com/goroutinewatch/goroutinereceiver/internal/known"

import (
	_ "embed"
	"fmt"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

//go:embed leaks.yaml
var table []byte

// Leak is one row of the table.
type Leak struct {
	// ID is the row's stable name: "http-client-body-not-closed".
	ID string `yaml:"id"`
	// Library is the import path of the library whose goroutines these
	// are.
	Library string `yaml:"library"`
	// Entries are the functions the goroutines are started with; one
	// ending in "*" stands for the names it starts.
	Entries []string `yaml:"entries"`
	// Cause is the usual misuse, and its fix, in a sentence or three.
	Cause string `yaml:"cause"`
}

// Table looks leaks up by a group's entry function.
type Table struct {
	rows   []Leak
	exact  map[string]*Leak
	prefix []prefixed // longest first
}

type prefixed struct {
	prefix string
	leak   *Leak
}

// Default returns the table of leaks.yaml.
func Default() (*Table, error) { return Parse(table) }

// Parse reads a table in the form of leaks.yaml, refusing a row without an
// id, a library, an entry or a cause, and an entry in two rows.
func Parse(b []byte) (*Table, error) {
	var rows []Leak
	dec := yaml.NewDecoder(strings.NewReader(string(b)))
	dec.KnownFields(true)
	if err := dec.Decode(&rows); err != nil {
		return nil, fmt.Errorf("known leaks: %w", err)
	}
	t := &Table{rows: rows, exact: make(map[string]*Leak)}
	ids := make(map[string]bool)
	for i := range rows {
		l := &rows[i]
		if l.ID == "" || l.Library == "" || l.Cause == "" || len(l.Entries) == 0 {
			return nil, fmt.Errorf("known leaks: row %d (%q): id, library, entries and cause are all required", i, l.ID)
		}
		if ids[l.ID] {
			return nil, fmt.Errorf("known leaks: id %q twice", l.ID)
		}
		ids[l.ID] = true
		l.Cause = strings.TrimSpace(l.Cause)
		for _, e := range l.Entries {
			p, wild := strings.CutSuffix(e, "*")
			switch {
			case p == "" || strings.HasSuffix(p, "*"):
				return nil, fmt.Errorf("known leaks: %s: entry %q: a function, or a prefix ending in one *", l.ID, e)
			case wild:
				if t.lookup(p) != nil || slices.ContainsFunc(t.prefix, func(q prefixed) bool { return q.prefix == p }) {
					return nil, fmt.Errorf("known leaks: %s: entry %q: in another row", l.ID, e)
				}
				t.prefix = append(t.prefix, prefixed{p, l})
			default:
				if t.lookup(p) != nil {
					return nil, fmt.Errorf("known leaks: %s: entry %q: in another row", l.ID, e)
				}
				t.exact[p] = l
			}
		}
	}
	slices.SortFunc(t.prefix, func(a, b prefixed) int { return len(b.prefix) - len(a.prefix) })
	return t, nil
}

// Match returns the row whose entries hold entry, nil for none (and from a
// nil Table).
func (t *Table) Match(entry string) *Leak {
	if t == nil || entry == "" {
		return nil
	}
	return t.lookup(entry)
}

func (t *Table) lookup(entry string) *Leak {
	if l, ok := t.exact[entry]; ok {
		return l
	}
	for _, p := range t.prefix {
		if strings.HasPrefix(entry, p.prefix) {
			return p.leak
		}
	}
	return nil
}

// Rows returns the table's rows, in the file's order.
func (t *Table) Rows() []Leak { return t.rows }
