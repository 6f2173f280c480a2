package reports

import (
	"fmt"
	"math"
	"sort"

	"gonum.org/v1/gonum/stat"
	"gonum.org/v1/gonum/stat/distuv"
)

// Mean returns the arithmetic mean of x, or NaN when x is empty.
func Mean(x []float64) float64 {
	if len(x) == 0 {
		return math.NaN()
	}
	return stat.Mean(x, nil)
}

// StdDev returns the sample standard deviation of x,
//
//	s = sqrt( Σ (xᵢ − x̄)² / (n − 1) ),
//
// (Bessel's correction, the n−1 denominator). It is NaN for n < 2, where the spread of the
// population cannot be estimated. Note that MMSA reports the population std (n denominator); ours
// is larger by a factor sqrt(n/(n−1)).
func StdDev(x []float64) float64 {
	if len(x) < 2 {
		return math.NaN()
	}
	return stat.StdDev(x, nil)
}

// StdErr returns the standard error of the mean, s/√n with s the sample standard deviation; NaN for n < 2.
func StdErr(x []float64) float64 {
	if len(x) < 2 {
		return math.NaN()
	}
	return stat.StdErr(stat.StdDev(x, nil), float64(len(x)))
}

// TTest is the outcome of a paired t-test.
type TTest struct {
	N        int     // number of pairs
	DF       int     // degrees of freedom, N − 1
	MeanDiff float64 // mean of the differences xᵢ − yᵢ (NaN when N = 0)
	SDDiff   float64 // sample std of the differences (NaN when N < 2)
	T        float64 // t statistic; NaN when the test is undefined
	P        float64 // two-sided p-value; NaN when the test is undefined
}

// Defined reports whether the test produced a p-value (it needs at least two pairs).
func (t TTest) Defined() bool { return !math.IsNaN(t.P) }

// PairedTTest runs Student's paired t-test of H₀: E[x − y] = 0 on the pairs (xᵢ, yᵢ). With
// dᵢ = xᵢ − yᵢ, d̄ their mean and s_d their sample std,
//
//	t = d̄ / (s_d / √n),   ν = n − 1,   p = 2 · F_ν(−|t|),
//
// where F_ν is the CDF of Student's t distribution with ν degrees of freedom (distuv.StudentsT).
//
// Edge cases, chosen explicitly rather than left to 0/0:
//   - n < 2: there are no degrees of freedom, so no test is possible: T and P are NaN and
//     Defined reports false. Callers must not read this as "no difference".
//   - s_d = 0 and d̄ = 0 (the two samples are identical pair by pair): T = 0, P = 1; there is
//     no evidence of any difference.
//   - s_d = 0 and d̄ ≠ 0 (a perfectly consistent shift): T = ±Inf, P = 0; this is the limit of
//     the statistic as s_d → 0 and matches scipy.stats.ttest_rel.
//
// It returns an error only when x and y differ in length.
func PairedTTest(x, y []float64) (TTest, error) {
	if len(x) != len(y) {
		return TTest{}, fmt.Errorf("paired t-test: %d values against %d; the samples must be paired", len(x), len(y))
	}
	n := len(x)
	res := TTest{N: n, DF: n - 1, MeanDiff: math.NaN(), SDDiff: math.NaN(), T: math.NaN(), P: math.NaN()}
	if n == 0 {
		res.DF = 0
		return res, nil
	}
	d := make([]float64, n)
	for i := range x {
		d[i] = x[i] - y[i]
	}
	res.MeanDiff = stat.Mean(d, nil)
	if n < 2 {
		return res, nil
	}
	res.SDDiff = stat.StdDev(d, nil)
	switch {
	case res.SDDiff == 0 && res.MeanDiff == 0:
		res.T, res.P = 0, 1
	case res.SDDiff == 0:
		res.T, res.P = math.Copysign(math.Inf(1), res.MeanDiff), 0
	default:
		res.T = res.MeanDiff / (res.SDDiff / math.Sqrt(float64(n)))
		tdist := distuv.StudentsT{Mu: 0, Sigma: 1, Nu: float64(res.DF)}
		res.P = math.Min(1, 2*tdist.CDF(-math.Abs(res.T)))
	}
	return res, nil
}

// AverageRanks ranks the rows of scores (rows × columns, higher is better, NaN = missing) within
// each column and returns each row's mean rank over the columns (1 = best), following Demšar
// (2006, JMLR 7:1–30). Tied scores share the mean of the ranks they span (fractional ranking:
// two rows tied for first both get 1.5).
//
// Only complete rows (no NaN) take part: ranks are computed among them, and a row with any
// missing column gets NaN rather than an average around the hole, since ranks over different
// sets of columns or competitors are not comparable. It returns nil when scores is empty.
func AverageRanks(scores [][]float64) []float64 {
	if len(scores) == 0 {
		return nil
	}
	cols := len(scores[0])
	out := make([]float64, len(scores))
	var complete []int
	for i, row := range scores {
		ok := len(row) == cols && cols > 0
		for _, v := range row {
			if math.IsNaN(v) {
				ok = false
			}
		}
		if ok {
			complete = append(complete, i)
		} else {
			out[i] = math.NaN()
		}
	}
	for j := 0; j < cols; j++ {
		idx := append([]int(nil), complete...)
		sort.SliceStable(idx, func(a, b int) bool { return scores[idx[a]][j] > scores[idx[b]][j] })
		for k := 0; k < len(idx); {
			e := k + 1
			for e < len(idx) && scores[idx[e]][j] == scores[idx[k]][j] {
				e++
			}
			// positions k..e-1 (ranks k+1..e) are tied; each gets their mean (k+1+e)/2.
			r := float64(k+1+e) / 2
			for _, i := range idx[k:e] {
				out[i] += r
			}
			k = e
		}
	}
	for _, i := range complete {
		out[i] /= float64(cols)
	}
	return out
}
