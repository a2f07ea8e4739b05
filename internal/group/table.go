package group

import (
	"math/bits"
	"math/rand/v2"

	"github.com/goroutinewatch/goroutinereceiver/internal/signature"
)

// idTable maps a signature to the position of its newest group, for the
// lookup each sample of a profile makes: open addressing with linear
// probing, no map's bookkeeping, in a table kept at most half full and
// reused from one profile to the next. A signature is a hash already, but
// an unkeyed one whose low bits a crafted profile could make collide; the
// table places it by a mix of it with a random seed, so that no input known
// beforehand piles its ids into one run of slots.
type idTable struct {
	ids   []signature.ID
	slots []int32 // the position plus one; 0 is empty
	n     int
	shift uint   // 64 less the table's log2 size
	seed  uint64 // drawn on the first reset
}

// minTable is the fewest slots a table has.
const minTable = 64

// reset empties t for a profile of about n groups, in a prefix of its
// memory sized for them: a worker that read a large profile does not clear
// its whole table for each small one after.
func (t *idTable) reset(n int) {
	size := minTable
	for size < 2*n {
		size *= 2
	}
	if t.seed == 0 {
		t.seed = rand.Uint64() | 1 // not 0, the mark of a table not yet seeded
	}
	t.shift = uint(64 - bits.TrailingZeros(uint(size)))
	if cap(t.slots) < size {
		t.ids, t.slots = make([]signature.ID, size), make([]int32, size)
	} else {
		t.ids, t.slots = t.ids[:size], t.slots[:size]
		clear(t.slots)
	}
	t.n = 0
}

// home is the slot where id's probe starts: the high bits of id and the
// seed mixed by splitmix64's finalizer, in which every bit of the id moves
// every bit of the result (a product alone leaves ids that differ only in
// their high bits in few slots).
func (t *idTable) home(id signature.ID) uint64 {
	h := uint64(id) ^ t.seed
	h = (h ^ h>>30) * 0xbf58476d1ce4e5b9
	h = (h ^ h>>27) * 0x94d049bb133111eb
	return (h ^ h>>31) >> t.shift
}

// get returns the position set for id, and whether there is one.
func (t *idTable) get(id signature.ID) (int32, bool) {
	mask := uint64(len(t.slots) - 1)
	for i := t.home(id); ; i = (i + 1) & mask {
		s := t.slots[i]
		if s == 0 {
			return 0, false
		}
		if t.ids[i] == id {
			return s - 1, true
		}
	}
}

// set sets the position of id, growing the table past half full.
func (t *idTable) set(id signature.ID, pos int32) {
	if 2*(t.n+1) > len(t.slots) {
		t.grow()
	}
	mask := uint64(len(t.slots) - 1)
	i := t.home(id)
	for t.slots[i] != 0 && t.ids[i] != id {
		i = (i + 1) & mask
	}
	if t.slots[i] == 0 {
		t.n++
	}
	t.ids[i], t.slots[i] = id, pos+1
}

// grow doubles the table, placing each entry anew.
func (t *idTable) grow() {
	ids, slots := t.ids, t.slots
	t.ids, t.slots = make([]signature.ID, 2*len(slots)), make([]int32, 2*len(slots))
	t.n = 0
	t.shift--
	for i, s := range slots {
		if s != 0 {
			t.set(ids[i], s-1)
		}
	}
}
