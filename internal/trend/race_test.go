//go:build race

package trend

// raceEnabled is set in a race build: the property tests, whose trackers
// each belong to one goroutine, run fewer histories there, where the
// detector multiplies their time by ten and has no shared memory to watch.
const raceEnabled = true
