package interactions

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
)

// Interval is a two-sided percentile interval of one PID term.
type Interval struct{ Lo, Hi float64 }

// Contains reports whether v lies in [Lo, Hi] (with a margin for rounding).
func (iv Interval) Contains(v float64) bool { return v >= iv.Lo-1e-12 && v <= iv.Hi+1e-12 }

// Width is Hi − Lo.
func (iv Interval) Width() float64 { return iv.Hi - iv.Lo }

// BootstrapResult is the percentile bootstrap of a plug-in PID: the samples (x1, x2, y) are
// resampled with replacement Reps times, the PID is estimated on each resample, and the
// Level/2 and 1 − Level/2 percentiles of each term are reported, in bits and normalised to 100.
type BootstrapResult struct {
	Reps  int
	Level float64 // e.g. 0.95
	Seed  uint64
	// Bits and Norm: R, U1, U2, S in that order.
	Bits, Norm [4]Interval
	// Failed counts resamples whose solver did not certify convergence; their (best) estimate is
	// still used, as Estimate returns it.
	Failed int
}

// Bootstrap resamples the n samples (x1[i], x2[i], y[i]) with replacement reps times (a PCG
// stream seeded with seed) and returns the percentile interval at level (0.95 for a 95 %
// interval: the 2.5 and 97.5 percentiles, linear interpolation between order statistics).
// The categories are taken as given: for discretised data the clustering is not redone per
// resample, so the interval covers the sampling noise of the histogram only.
func Bootstrap(x1, x2, y []int, reps int, level float64, seed uint64) (BootstrapResult, error) {
	res := BootstrapResult{Reps: reps, Level: level, Seed: seed}
	if reps < 2 {
		return res, fmt.Errorf("interactions: bootstrap needs at least 2 resamples, got %d", reps)
	}
	if !(level > 0 && level < 1) {
		return res, fmt.Errorf("interactions: bootstrap level %v not in (0, 1)", level)
	}
	n := len(y)
	if n == 0 || len(x1) != n || len(x2) != n {
		return res, errors.New("interactions: bootstrap needs equal, non-empty columns")
	}
	r := rand.New(rand.NewPCG(seed, 0xb0075712a9))
	b1, b2, by := make([]int, n), make([]int, n), make([]int, n)
	var bits, norm [4][]float64
	for k := 0; k < reps; k++ {
		for i := 0; i < n; i++ {
			j := r.IntN(n)
			b1[i], b2[i], by[i] = x1[j], x2[j], y[j]
		}
		p, err := FromSamples(b1, b2, by)
		if err != nil {
			return res, err
		}
		d, err := Estimate(p)
		if err != nil {
			if !errors.Is(err, ErrNotConverged) {
				return res, fmt.Errorf("interactions: bootstrap resample %d: %w", k+1, err)
			}
			res.Failed++
		}
		for t, v := range [4]float64{d.R, d.U1, d.U2, d.S} {
			bits[t] = append(bits[t], v)
		}
		for t, v := range [4]float64{d.Norm.R, d.Norm.U1, d.Norm.U2, d.Norm.S} {
			norm[t] = append(norm[t], v)
		}
	}
	a := (1 - level) / 2
	for t := range bits {
		res.Bits[t] = Interval{Percentile(bits[t], a), Percentile(bits[t], 1-a)}
		res.Norm[t] = Interval{Percentile(norm[t], a), Percentile(norm[t], 1-a)}
	}
	return res, nil
}

// Percentile returns the q-quantile (0 ≤ q ≤ 1) of v by linear interpolation between the order
// statistics at positions q·(n−1) (the "type 7" definition of R and NumPy's default). v is not
// modified. NaN-free input is assumed; it returns 0 for empty v.
func Percentile(v []float64, q float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	pos := q * float64(len(s)-1)
	lo := int(pos)
	if lo >= len(s)-1 {
		return s[len(s)-1]
	}
	f := pos - float64(lo)
	return s[lo] + f*(s[lo+1]-s[lo])
}
