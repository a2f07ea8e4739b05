package decode

import (
	"bytes"
	"os"
	"testing"
)

// FuzzDecode feeds arbitrary bytes, seeded with the captured profiles, and
// requires an error or a profile whose every reference resolved: never a
// panic, never a position outside its table.
//
//	go test ./internal/decode -run '^$' -fuzz FuzzDecode -fuzztime 10m
func FuzzDecode(f *testing.F) {
	for _, path := range fixtures(f) {
		b, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{})
	f.Add([]byte("<html></html>"))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := Decode(bytes.NewReader(b), Limits{MaxBytes: 1 << 20, MaxFrames: 64})
		if err != nil {
			return
		}
		for _, s := range p.Sample {
			if len(s.Location) > 64 {
				t.Fatalf("%d locations kept, limit 64", len(s.Location))
			}
			if len(s.Value) != len(p.SampleType) {
				t.Fatalf("%d values for %d sample types", len(s.Value), len(p.SampleType))
			}
			for _, l := range s.Location {
				for _, ln := range p.Location[l].Line {
					_ = p.Function[ln.Function] // in range, or the test panics
				}
			}
		}
	})
}
