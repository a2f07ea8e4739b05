package decode

// interner turns string-table bytes into strings, allocating each string
// only the first time it is seen: a target's next profile repeats nearly
// all of its strings. It remembers the strings of the last profile decoded
// and of the one under way only, each bounded by max_profile_bytes and
// max_locations, on every path: a profile that fails is forgotten
// (abandon) as one that decodes is (forget), so a target that sends new
// strings every time, decoding or not, costs no more than two profiles'
// worth.
type interner struct {
	cur, prev map[string]string
}

func (in *interner) intern(b []byte) string {
	if s, ok := in.cur[string(b)]; ok {
		return s
	}
	s, ok := in.prev[string(b)]
	if !ok {
		s = string(b)
	}
	if in.cur == nil {
		in.cur = make(map[string]string)
	}
	in.cur[s] = s
	return s
}

// forget ends a profile: what it did not use is dropped.
func (in *interner) forget() {
	clear(in.prev)
	in.prev, in.cur = in.cur, in.prev
}

// abandon ends a profile that failed: its strings are dropped, and those of
// the last profile decoded stay for the next.
func (in *interner) abandon() { clear(in.cur) }
