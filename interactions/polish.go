package interactions

import "math"

// polish rescales every y-slice of q (in place) to the marginals p(x1,y), p(x2,y):
// q(x1,x2,y) ← q(x1,x2,y)·exp(α(x1)+β(x2)), zero cells staying zero. This is the matrix
// scaling (Sinkhorn) problem; instead of Sinkhorn's alternating updates, which crawl when
// the support is nearly disconnected, α and β are found by damped Newton on the convex
// scaling potential
//
//	Φ(α,β) = Σ_{x1,x2} q(x1,x2,y)·exp(α(x1)+β(x2)) − Σ p(x1,y)·α(x1) − Σ p(x2,y)·β(x2),
//
// whose gradient is the marginal residual. The Newton matrix [diag(r) Q; Qᵀ diag(c)] is
// positive semi-definite with one null direction per connected component of the support;
// these are removed by a Cholesky factorisation that drops numerically dependent pivots.
// polish returns the largest remaining absolute marginal violation (over all slices).
func (pr *problem) polish(q []float64, maxIter int) float64 {
	n1, n2, ny := pr.n1, pr.n2, pr.ny
	rows := make([]int, 0, n1)
	cols := make([]int, 0, n2)
	worst := 0.0
	var jac, rhs, step, trial []float64
	for y := 0; y < ny; y++ {
		if pr.py[y] <= 0 {
			continue
		}
		rows, cols = rows[:0], cols[:0]
		for x1 := 0; x1 < n1; x1++ {
			if pr.p1[x1*ny+y] > 0 {
				rows = append(rows, x1)
			}
		}
		for x2 := 0; x2 < n2; x2++ {
			if pr.p2[x2*ny+y] > 0 {
				cols = append(cols, x2)
			}
		}
		nr, nc := len(rows), len(cols)
		k := nr + nc
		jac = grow(jac, k*k)
		rhs = grow(rhs, k)
		step = grow(step, k)
		cell := func(i, j int) *float64 { return &q[(rows[i]*n2+cols[j])*ny+y] }
		// residual fills rhs with (target − current) marginals and returns max |·|.
		residual := func() float64 {
			clear(rhs)
			for i := 0; i < nr; i++ {
				for j := 0; j < nc; j++ {
					v := *cell(i, j)
					rhs[i] += v
					rhs[nr+j] += v
				}
			}
			res := 0.0
			for i := 0; i < nr; i++ {
				rhs[i] = pr.p1[rows[i]*ny+y] - rhs[i]
				res = math.Max(res, math.Abs(rhs[i]))
			}
			for j := 0; j < nc; j++ {
				rhs[nr+j] = pr.p2[cols[j]*ny+y] - rhs[nr+j]
				res = math.Max(res, math.Abs(rhs[nr+j]))
			}
			return res
		}
		res := residual()
		for it := 0; it < maxIter && res > 1e-17; it++ {
			clear(jac)
			for i := 0; i < nr; i++ {
				for j := 0; j < nc; j++ {
					v := *cell(i, j)
					jac[i*k+i] += v
					jac[(nr+j)*k+nr+j] += v
					jac[i*k+nr+j] = v
					jac[(nr+j)*k+i] = v
				}
			}
			copy(step, rhs)
			if !solvePSD(jac, step, k) {
				break
			}
			// Backtrack on Φ (Armijo). ΔΦ(s) = Σ q·(exp(s(α_i+β_j)) − 1) − s·⟨target,(α,β)⟩ and
			// ∇Φ·(α,β) = −⟨rhs,(α,β)⟩. Small steps (|α_i+β_j| < 1e-3) are taken in full: Newton
			// is then in its quadratic regime and ΔΦ would drown in rounding.
			trial = grow(trial, nr*nc)
			lin, slope, big := 0.0, 0.0, 0.0
			for i := 0; i < nr; i++ {
				lin += pr.p1[rows[i]*ny+y] * step[i]
			}
			for j := 0; j < nc; j++ {
				lin += pr.p2[cols[j]*ny+y] * step[nr+j]
			}
			for i := 0; i < k; i++ {
				slope -= rhs[i] * step[i]
				big = math.Max(big, math.Abs(step[i]))
			}
			sc := 1.0
			accepted := false
			for ls := 0; ls < 50; ls++ {
				d := -sc * lin
				for i := 0; i < nr; i++ {
					for j := 0; j < nc; j++ {
						v := *cell(i, j)
						w := 0.0
						if v != 0 {
							w = v * math.Exp(sc*(step[i]+step[nr+j]))
						}
						trial[i*nc+j] = w
						d += w - v
					}
				}
				if 2*big < 1e-3 || d <= 1e-4*sc*slope {
					accepted = true
					break
				}
				sc *= 0.5
			}
			if !accepted {
				break
			}
			for i := 0; i < nr; i++ {
				for j := 0; j < nc; j++ {
					*cell(i, j) = trial[i*nc+j]
				}
			}
			prev := res
			res = residual()
			if res <= 1e-14 && res > 0.5*prev {
				break // rounding floor
			}
		}
		worst = math.Max(worst, res)
	}
	return worst
}

func grow(s []float64, n int) []float64 {
	if cap(s) < n {
		return make([]float64, n)
	}
	return s[:n]
}

// solvePSD solves the consistent symmetric positive semi-definite system a x = b (a is
// k×k row-major, overwritten; b is overwritten by x) by Cholesky with dropping: a pivot
// below 1e-13 of its original diagonal marks a dependent variable, which is set to 0.
func solvePSD(a, b []float64, k int) bool {
	dep := make([]bool, k)
	for j := 0; j < k; j++ {
		orig := a[j*k+j]
		d := orig
		for m := 0; m < j; m++ {
			d -= a[j*k+m] * a[j*k+m]
		}
		if !(d > 1e-13*orig) {
			dep[j] = true
			for i := j; i < k; i++ {
				a[i*k+j] = 0
			}
			continue
		}
		d = math.Sqrt(d)
		a[j*k+j] = d
		for i := j + 1; i < k; i++ {
			s := a[i*k+j]
			for m := 0; m < j; m++ {
				s -= a[i*k+m] * a[j*k+m]
			}
			a[i*k+j] = s / d
		}
	}
	for i := 0; i < k; i++ {
		if dep[i] {
			b[i] = 0
			continue
		}
		s := b[i]
		for m := 0; m < i; m++ {
			s -= a[i*k+m] * b[m]
		}
		b[i] = s / a[i*k+i]
	}
	for i := k - 1; i >= 0; i-- {
		if dep[i] {
			b[i] = 0
			continue
		}
		s := b[i]
		for m := i + 1; m < k; m++ {
			s -= a[m*k+i] * b[m]
		}
		b[i] = s / a[i*k+i]
	}
	for _, v := range b[:k] {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return false
		}
	}
	return true
}
