package interactions

import (
	"errors"
	"fmt"
	"math"
)

// NormTolerance is how far Σ p may be from 1 for [Estimate] to accept it. Accepted tables
// are rescaled to sum to exactly 1 before anything else is computed.
const NormTolerance = 1e-6

// ClipTolerance is the size below which a negative PID term is treated as rounding: such
// a term is reported as 0 (so the lattice identities then hold to within ClipTolerance
// rather than to rounding). Larger negative values are reported as they are, and only
// clipped to 0 in the normalised shares.
const ClipTolerance = 1e-9

// FlushBelow: after rescaling, entries of p below this are treated as exact zeros. They
// cannot change any reported quantity at double precision (their contribution is below
// 1e-147 bits), and keeping them would let products of probabilities underflow.
const FlushBelow = 1e-150

// ErrNotConverged is wrapped by [Estimate] when the optimiser could not certify a duality
// gap below 1e-7 nats (1.4e-7 bits). The returned PID is then the best feasible point found.
var ErrNotConverged = errors.New("interactions: BROJA optimisation did not reach the duality-gap tolerance")

// Shares are the four PID terms as percentages of their sum.
type Shares struct {
	R, U1, U2, S float64
}

// PID is the BROJA partial information decomposition of one joint distribution.
// All information quantities are in bits. Mathematically R, U1, U2, S ≥ 0; numerically a
// term whose true value is 0 can come out as a residual of order Gap or rounding, and
// residuals above −ClipTolerance are set to 0.
type PID struct {
	R  float64 // redundancy: I(X1;Y) + I(X2;Y) − I_{q*}(X1,X2;Y)
	U1 float64 // unique information of X1: I(X1;Y) − R = min_{q∈Δp} I_q(X1;Y|X2)
	U2 float64 // unique information of X2: I(X2;Y) − R = min_{q∈Δp} I_q(X2;Y|X1)
	S  float64 // synergy: I_p(X1,X2;Y) − I_{q*}(X1,X2;Y)

	I1  float64 // I_p(X1;Y)
	I2  float64 // I_p(X2;Y)
	I12 float64 // I_p(X1,X2;Y)

	// Norm holds R, U1, U2, S scaled to sum to 100. Negative terms are first clipped to
	// 0 (the optimiser leaves residuals of order Gap, far below ClipTolerance in practice).
	// When the clipped sum is 0 (no information about Y at all) every share is 0.
	Norm Shares

	// Q is the optimiser q*[x1][x2][y] ∈ Δp, the minimiser of I_q(X1,X2;Y).
	Q [][][]float64

	// Gap is the certified duality gap in bits: I_{q*}(X1,X2;Y) exceeds the true
	// minimum by at most Gap, so R and S are low by at most Gap and U1, U2 high by at
	// most Gap.
	Gap float64
	// NewtonSteps counts the interior-point Newton steps (0 when Δp is a single point).
	NewtonSteps int
}

// String formats the decomposition on one line (bits and shares).
func (d PID) String() string {
	return fmt.Sprintf("R=%.6f U1=%.6f U2=%.6f S=%.6f bits (R %.1f%% U1 %.1f%% U2 %.1f%% S %.1f%%); "+
		"I(X1;Y)=%.6f I(X2;Y)=%.6f I(X1,X2;Y)=%.6f; gap=%.1e",
		d.R, d.U1, d.U2, d.S, d.Norm.R, d.Norm.U1, d.Norm.U2, d.Norm.S, d.I1, d.I2, d.I12, d.Gap)
}

// Estimate computes the BROJA partial information decomposition (Bertschinger, Rauh,
// Olbrich, Jost, Ay, "Quantifying unique information", Entropy 2014) of the joint
// distribution p[x1][x2][y] — the quantity that pliang279/PID's CVX estimator
// (synthetic/rus.py) approximates with CVXPY/SCS — but solved to a certified optimum:
//
//	q* = argmin_{q∈Δp} I_q(X1,X2;Y),  Δp = {q ≥ 0 : q(x1,y) = p(x1,y), q(x2,y) = p(x2,y)}
//	R  = I_p(X1;Y) + I_p(X2;Y) − I_{q*}(X1,X2;Y)
//	U1 = I_p(X1;Y) − R,  U2 = I_p(X2;Y) − R
//	S  = I_p(X1,X2;Y) − I_{q*}(X1,X2;Y)
//
// all in bits. Because H_q(Y) is constant on Δp, minimising I_q(X1,X2;Y) is minimising
// f(q) = Σ q ln q(y|x1,x2) (= −H_q(Y|X1,X2)), a convex problem over a product of
// transportation polytopes whose optimum usually has many zero cells.
//
// Method (details in solver.go): a log-barrier interior-point method (Boyd & Vandenberghe
// 2004, §11.3) on the convex Lagrangian dual
//
//	max Σ λ(x1,y) p(x1,y) + Σ μ(x2,y) p(x2,y)  s.t.  Σ_y exp(λ(x1,y)+μ(x2,y)) ≤ 1 ∀(x1,x2),
//
// which has only (|X1|+|X2|)|Y| variables (the primal optimum is
// q*(x1,x2,y) = q*(x1,x2)·exp(λ(x1,y)+μ(x2,y))). Newton systems are solved through a block
// Schur complement with gonum's BLAS/LAPACK. Primal candidates recovered from the
// barrier path (and copies with vanishing cells set to 0) are made exactly feasible by a
// Newton matrix scaling of each y-slice, and a dual point is also rebuilt from the best
// primal by complementary slackness. The iteration stops on the duality gap
// f(q) − D(λ,μ) between the best feasible primal and the best feasible dual point, which
// is returned as PID.Gap: a certificate that I_{q*}(X1,X2;Y) is within Gap of the true
// minimum. The target is 1e-11 nats; on typical tables the gap is 1e-12 bits or exactly
// 0 up to rounding (the golden cases of pid.md come out exact to ~1e-15); tables mixing
// masses below ~1e-8 with O(1) ones can stop at gaps up to ~1e-8 bits.
//
// p must be a non-empty rectangular |X1|×|X2|×|Y| array of finite non-negative numbers
// whose sum is within NormTolerance of 1 (it is rescaled to sum exactly to 1, and entries
// below FlushBelow are then set to 0). Values of y with p(y) = 0 and cells with
// p(x1,y) = 0 or p(x2,y) = 0 are handled (such cells are 0 in q*). Errors describe NaN,
// infinite, negative, empty, ragged or unnormalised input. If the gap cannot be certified
// below 1e-7 nats the best PID found is returned together with an error wrapping
// ErrNotConverged.
func Estimate(p [][][]float64) (PID, error) {
	flat, n1, n2, ny, err := validate(p)
	if err != nil {
		return PID{}, err
	}
	return estimateFlat(flat, n1, n2, ny)
}

// estimateFlat runs the decomposition on a validated, normalised flat table.
func estimateFlat(flat []float64, n1, n2, ny int) (PID, error) {
	sol, err := solveFlat(flat, n1, n2, ny)
	if sol == nil {
		return PID{}, err
	}
	pr := newProblem(flat, n1, n2, ny)
	i1 := mutualInfoPair(pr.p1, n1, ny, pr.py)
	i2 := mutualInfoPair(pr.p2, n2, ny, pr.py)
	i12 := mutualInfoPair(flat, n1*n2, ny, pr.py)
	iq := mutualInfoPair(sol.q, n1*n2, ny, pr.py)
	const ln2 = math.Ln2
	d := PID{
		I1: i1 / ln2, I2: i2 / ln2, I12: i12 / ln2,
		Gap:         math.Max(sol.gap, 0) / ln2,
		NewtonSteps: sol.newton,
	}
	// Read-out in nats, converted once, so that the lattice identities hold to rounding.
	r := i1 + i2 - iq
	d.R = clipTiny(r / ln2)
	d.U1 = clipTiny((i1 - r) / ln2)
	d.U2 = clipTiny((i2 - r) / ln2)
	d.S = clipTiny((i12 - iq) / ln2)
	d.Norm = normalise(d.R, d.U1, d.U2, d.S)
	d.Q = unflatten(sol.q, n1, n2, ny)
	if err != nil {
		err = fmt.Errorf("%w (certified gap %.3g bits after %d Newton steps)", err, d.Gap, d.NewtonSteps)
	}
	return d, err
}

// solveFlat runs the optimiser, transposing the problem so that the dense Schur complement
// is taken over the smaller modality, and returns q* in the caller's orientation.
func solveFlat(flat []float64, n1, n2, ny int) (*solution, error) {
	pr := newProblem(flat, n1, n2, ny)
	if count(pr.p1) < count(pr.p2) {
		sol, err := pr.transpose().solve()
		if sol == nil {
			return nil, err
		}
		q := make([]float64, len(flat))
		for x1 := 0; x1 < n1; x1++ {
			for x2 := 0; x2 < n2; x2++ {
				copy(q[(x1*n2+x2)*ny:(x1*n2+x2+1)*ny], sol.q[(x2*n1+x1)*ny:(x2*n1+x1+1)*ny])
			}
		}
		sol.q = q
		sol.lam, sol.mu = sol.mu, sol.lam
		return sol, err
	}
	return pr.solve()
}

func count(v []float64) int {
	n := 0
	for _, x := range v {
		if x > 0 {
			n++
		}
	}
	return n
}

// clipTiny maps rounding residuals in (−ClipTolerance, 0) to 0.
func clipTiny(v float64) float64 {
	if v < 0 && v > -ClipTolerance {
		return 0
	}
	return v
}

// normalise clips negatives to zero and scales to sum 100 (all zero if the sum is zero).
func normalise(r, u1, u2, s float64) Shares {
	c := func(v float64) float64 { return math.Max(v, 0) }
	r, u1, u2, s = c(r), c(u1), c(u2), c(s)
	tot := r + u1 + u2 + s
	if !(tot > ClipTolerance) {
		return Shares{}
	}
	return Shares{R: 100 * r / tot, U1: 100 * u1 / tot, U2: 100 * u2 / tot, S: 100 * s / tot}
}

// mutualInfoPair returns I(A;Y) in nats for a flat joint j[a*ny+y] with Y-marginal py.
func mutualInfoPair(j []float64, na, ny int, py []float64) float64 {
	mi := 0.0
	for a := 0; a < na; a++ {
		row := j[a*ny : (a+1)*ny]
		pa := 0.0
		for _, v := range row {
			pa += v
		}
		if pa <= 0 {
			continue
		}
		la := math.Log(pa)
		for y, v := range row {
			if v > 0 {
				mi += v * (math.Log(v) - la - math.Log(py[y]))
			}
		}
	}
	return mi
}

func unflatten(f []float64, n1, n2, ny int) [][][]float64 {
	out := make([][][]float64, n1)
	for x1 := range out {
		out[x1] = make([][]float64, n2)
		for x2 := range out[x1] {
			out[x1][x2] = append([]float64(nil), f[(x1*n2+x2)*ny:(x1*n2+x2+1)*ny]...)
		}
	}
	return out
}

// validate checks p and returns it flattened and rescaled to sum exactly 1.
func validate(p [][][]float64) (flat []float64, n1, n2, ny int, err error) {
	n1 = len(p)
	if n1 == 0 || len(p[0]) == 0 || len(p[0][0]) == 0 {
		return nil, 0, 0, 0, errors.New("interactions: empty distribution (need |X1|,|X2|,|Y| ≥ 1)")
	}
	n2, ny = len(p[0]), len(p[0][0])
	flat = make([]float64, 0, n1*n2*ny)
	sum := 0.0
	for x1, plane := range p {
		if len(plane) != n2 {
			return nil, 0, 0, 0, fmt.Errorf("interactions: ragged distribution: p[%d] has %d rows, want %d", x1, len(plane), n2)
		}
		for x2, row := range plane {
			if len(row) != ny {
				return nil, 0, 0, 0, fmt.Errorf("interactions: ragged distribution: p[%d][%d] has %d entries, want %d", x1, x2, len(row), ny)
			}
			for y, v := range row {
				switch {
				case math.IsNaN(v):
					return nil, 0, 0, 0, fmt.Errorf("interactions: p[%d][%d][%d] is NaN", x1, x2, y)
				case math.IsInf(v, 0):
					return nil, 0, 0, 0, fmt.Errorf("interactions: p[%d][%d][%d] is infinite", x1, x2, y)
				case v < 0:
					return nil, 0, 0, 0, fmt.Errorf("interactions: p[%d][%d][%d] = %g is negative", x1, x2, y, v)
				}
				sum += v
				flat = append(flat, v)
			}
		}
	}
	if math.Abs(sum-1) > NormTolerance {
		return nil, 0, 0, 0, fmt.Errorf("interactions: distribution sums to %.10g, not 1 (tolerance %g)", sum, NormTolerance)
	}
	for i := range flat {
		flat[i] /= sum
		if flat[i] < FlushBelow {
			flat[i] = 0
		}
	}
	return flat, n1, n2, ny, nil
}
