package group

import (
	"fmt"
	"testing"

	"github.com/goroutinewatch/goroutinereceiver/internal/signature"
)

// TestIDTable holds the table to a map over profiles of several sizes, one
// table reused as a worker reuses it, ids that share their low bits or
// differ only in them among them (an unkeyed hash's weak spots), with a
// drawn seed and with seeds that a product alone would place badly.
func TestIDTable(t *testing.T) {
	tests := []struct {
		name string
		give func(i int) signature.ID
		n    int
	}{
		{"spread", func(i int) signature.ID { return signature.ID(uint64(i) * 0x9e3779b97f4a7c15) }, 1000},
		{"low bits alike", func(i int) signature.ID { return signature.ID(uint64(i) << 40) }, 5000},
		{"consecutive", func(i int) signature.ID { return signature.ID(i + 1) }, 300},
		{"one", func(int) signature.ID { return 7 }, 1},
	}
	for _, seed := range []uint64{0, 1, 1<<63 | 1} {
		testIDTable(t, seed, tests)
	}
}

func testIDTable(t *testing.T, seed uint64, tests []struct {
	name string
	give func(i int) signature.ID
	n    int
},
) {
	tab := idTable{seed: seed} // 0: drawn by reset
	for _, tt := range tests {
		t.Run(fmt.Sprintf("seed=%#x/%s", seed, tt.name), func(t *testing.T) {
			tab.reset(tt.n / 10) // and grows past it
			want := make(map[signature.ID]int32)
			for i := range tt.n {
				id := tt.give(i)
				tab.set(id, int32(i))
				want[id] = int32(i)
			}
			for id, pos := range want {
				if got, ok := tab.get(id); !ok || got != pos {
					t.Fatalf("get(%v) = %d, %t; want %d", id, got, ok, pos)
				}
			}
			if _, ok := tab.get(tt.give(tt.n) + 1<<20); ok {
				t.Error("an id never set is found")
			}
			if longest := tab.longestProbe(); longest > 64 {
				t.Errorf("a probe of %d slots for %d ids in %d: the ids pile up", longest, tt.n, len(tab.slots))
			}
		})
	}
}

// longestProbe is the most slots a get walks in t.
func (t *idTable) longestProbe() int {
	longest := 0
	mask := uint64(len(t.slots) - 1)
	for i, s := range t.slots {
		if s == 0 {
			continue
		}
		walk := int((uint64(i)-t.home(t.ids[i]))&mask) + 1
		longest = max(longest, walk)
	}
	return longest
}
