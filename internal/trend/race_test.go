//go:build race

package trend

// raceEnabled is set in a race build: the single-goroutine property tests
// run fewer histories there, where the detector multiplies their time by
// ten and has no goroutines to watch.
const raceEnabled = true
