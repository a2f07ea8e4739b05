package trend

import (
	"math"
	"slices"
)

// TheilSen returns the median of the slopes between every pair of points, per
// second. Unlike a least-squares fit, one burst moves it by at most one rank
// among n(n-1)/2 slopes: it takes a sustained change to move it.
// scratch is reused to hold the slopes.
func TheilSen(pts []Point, scratch []float64) (float64, []float64) {
	scratch = scratch[:0]
	for i := range pts {
		for j := i + 1; j < len(pts); j++ {
			if dt := pts[j].T - pts[i].T; dt > 0 {
				scratch = append(scratch, (pts[j].V-pts[i].V)/dt)
			}
		}
	}
	if len(scratch) == 0 {
		return 0, scratch
	}
	slices.Sort(scratch)
	m := len(scratch) / 2
	if len(scratch)%2 == 1 {
		return scratch[m], scratch
	}
	return (scratch[m-1] + scratch[m]) / 2, scratch
}

// MannKendall returns the Mann-Kendall trend statistic as a standard normal
// z score, with the correction for ties (bucket means of a flat integer series
// tie often) and for continuity. z above 2.326 rejects "no upward trend" at
// the 1% level; it is rank-based, so it asks that the series rise
// consistently, not by how much.
func MannKendall(pts []Point) float64 {
	z, _ := mannKendall(pts, nil)
	return z
}

// mannKendall is MannKendall with the values' sorted copy kept in vals.
func mannKendall(pts []Point, vals []float64) (float64, []float64) {
	n := len(pts)
	if n < 3 {
		return 0, vals
	}
	var s float64
	for i := range pts {
		for j := i + 1; j < n; j++ {
			switch d := pts[j].V - pts[i].V; {
			case d > tieEpsilon:
				s++
			case d < -tieEpsilon:
				s--
			}
		}
	}
	nf := float64(n)
	variance := nf * (nf - 1) * (2*nf + 5)
	// Tie groups: count equal values once, by sorting a copy of the values.
	vals = vals[:0]
	for _, p := range pts {
		vals = append(vals, p.V)
	}
	slices.Sort(vals)
	for i := 0; i < n; {
		j := i + 1
		for j < n && vals[j]-vals[i] <= tieEpsilon {
			j++
		}
		if t := float64(j - i); t > 1 {
			variance -= t * (t - 1) * (2*t + 5)
		}
		i = j
	}
	variance /= 18
	if variance <= 0 {
		return 0, vals
	}
	switch {
	case s > 0:
		return (s - 1) / math.Sqrt(variance), vals
	case s < 0:
		return (s + 1) / math.Sqrt(variance), vals
	}
	return 0, vals
}

// tieEpsilon treats bucket means closer than this as equal.
const tieEpsilon = 1e-9

// Drawdown returns the largest fall from a point to a later, lower one. A
// leak never gives goroutines back; load does. Bucket means are compared, not
// samples, so that goroutines passing through a leak's stack (a jitter of a
// few) average out while a load swing does not.
func Drawdown(pts []Point) float64 {
	var dd float64
	peak := math.Inf(-1)
	for _, p := range pts {
		peak = math.Max(peak, p.V)
		dd = math.Max(dd, peak-p.V)
	}
	return dd
}
