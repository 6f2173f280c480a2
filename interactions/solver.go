package interactions

import (
	"math"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/gonum/lapack/lapack64"
)

// This file holds the BROJA optimiser. It works on the convex dual of
//
//	minimise  f(q) = Σ_{x1,x2,y} q(x1,x2,y) · ln q(y | x1,x2)        (= −H_q(Y|X1,X2), nats)
//	s.t.      Σ_{x2} q(x1,x2,y) = p(x1,y),  Σ_{x1} q(x1,x2,y) = p(x2,y),  q ≥ 0.
//
// Derivation. f is a sum over a = (x1,x2) of φ(v) = Σ_y v_y ln(v_y / Σ_y' v_y'), which is
// convex and positively homogeneous of degree one in the fibre v = q(a,·). With
// multipliers λ(x1,y), μ(x2,y) for the two marginal constraints, let
// c_a(y) = λ(x1,y) + μ(x2,y). Then inf_{v≥0} φ(v) − ⟨c_a,v⟩ is 0 when
// Σ_y exp c_a(y) ≤ 1 and −∞ otherwise (Gibbs' inequality). Hence the dual is
//
//	maximise  D(λ,μ) = Σ λ(x1,y) p(x1,y) + Σ μ(x2,y) p(x2,y)
//	s.t.      g_a(λ,μ) := 1 − Σ_y exp c_a(y) ≥ 0        for every pair a = (x1,x2),
//
// with only (|X1|+|X2|)|Y| variables and |X1||X2| smooth convex constraints. Weak duality
// f(q) ≥ D(λ,μ) holds for every feasible pair, and at the optimum
// q*(a,y) = q*(a)·exp c_a(y). Cells with p(x1,y) = 0 or p(x2,y) = 0 are forced to zero and
// dropped, so c_a only runs over the y with x1 ∈ supp p(·,y) and x2 ∈ supp p(·,y). One
// μ(x2,y) per y is fixed to zero because (λ(·,y)+k, μ(·,y)−k) leaves every c_a unchanged.
// This is the Lagrangian dual of the exponential-cone program that BROJA-2PID (Makkeh,
// Theis, Vicente, Entropy 2018) and pliang279/PID's CVXPY model hand to conic solvers.
//
// Method. Log-barrier path following (Boyd & Vandenberghe, "Convex Optimization", 2004,
// §11.3) on the dual: for increasing t, minimise
//
//	F_t(λ,μ) = −t·D(λ,μ) − Σ_a ln g_a(λ,μ)
//
// by damped Newton with Armijo backtracking, growing t by up to tGrowth per stage (less
// after a centring that needed many Newton steps). At a centre,
// q_t(a,y) = exp c_a(y) / (t·g_a) satisfies the marginal constraints up to ∇F_t / t, and
// D is within #pairs/t of optimal.
// The Newton system has the block form [A B; Bᵀ D] with A block-diagonal (one |Y|×|Y|
// block per x1), so it is reduced to a dense Schur complement over the μ variables (the
// smaller side; inputs are transposed internally when |X1| < |X2|), which is factorised
// with LAPACK's Cholesky (gonum), with a Jacobi scaling and a ridge fallback for the
// near-singular directions that cells of tiny mass produce.
//
// Stopping rule. After each centring the primal candidate q_t, and "purified" copies in
// which cells that are vanishing like 1/t are set to 0, are made exactly feasible by a
// Newton matrix scaling of every y-slice (polish.go); the best of them (smallest f) is
// kept. A dual point is also rebuilt from that primal by complementary slackness
// (dualFromPrimal), and the best strictly feasible dual point (largest D) is kept. The
// difference f(q) − D(λ,μ) is a certified duality gap: the f of the returned q exceeds
// the minimum by at most that much. The iteration stops once it is below gapTol, or when
// it has stopped improving (the rounding floor of the Newton systems, reached around
// t ≈ 1e12–1e14).

const (
	gapTol        = 1e-11 // nats; target certified duality gap
	gapAccept     = 1e-7  // nats; below this a run that cannot reach gapTol is still accepted
	maxNewton     = 600   // total Newton steps across all centrings
	maxCentreStep = 60    // Newton steps per centring
	centreTol     = 1e-9  // squared Newton decrement ending a centring
	tGrowth       = 50.0  // largest growth of the barrier parameter per centring
)

// problem is the supported, validated BROJA instance on a flat table p[(x1*n2+x2)*ny+y].
type problem struct {
	n1, n2, ny int
	p          []float64 // n1*n2*ny
	p1         []float64 // p(x1,y): n1*ny
	p2         []float64 // p(x2,y): n2*ny
	py         []float64 // p(y)
	// pairs with a non-empty set of admissible y; pairY[pairOff[k]:pairOff[k+1]].
	pairX1, pairX2 []int
	pairOff        []int
	pairY          []int
}

// solution is the optimiser's output on the (possibly transposed) problem.
type solution struct {
	q       []float64 // q*(x1,x2,y), flat like problem.p
	lam     []float64 // λ(x1,y), 0 where p(x1,y) = 0
	mu      []float64 // μ(x2,y), 0 where p(x2,y) = 0 or gauge-fixed
	fval    float64   // f(q*) = −H_{q*}(Y|X1,X2), nats
	dual    float64   // D(λ,μ), nats (a lower bound on min f)
	gap     float64   // fval − dual, nats
	newton  int       // Newton steps taken
	trivial bool      // Δp is a single point (or |supp Y| ≤ 1): q* = q0 without optimisation
}

func newProblem(p []float64, n1, n2, ny int) *problem {
	pr := &problem{n1: n1, n2: n2, ny: ny, p: p,
		p1: make([]float64, n1*ny), p2: make([]float64, n2*ny), py: make([]float64, ny)}
	for x1 := 0; x1 < n1; x1++ {
		for x2 := 0; x2 < n2; x2++ {
			row := p[(x1*n2+x2)*ny : (x1*n2+x2+1)*ny]
			for y, v := range row {
				pr.p1[x1*ny+y] += v
				pr.p2[x2*ny+y] += v
				pr.py[y] += v
			}
		}
	}
	pr.pairOff = append(pr.pairOff, 0)
	for x1 := 0; x1 < n1; x1++ {
		for x2 := 0; x2 < n2; x2++ {
			k := len(pr.pairY)
			for y := 0; y < ny; y++ {
				if pr.p1[x1*ny+y] > 0 && pr.p2[x2*ny+y] > 0 {
					pr.pairY = append(pr.pairY, y)
				}
			}
			if len(pr.pairY) > k {
				pr.pairX1 = append(pr.pairX1, x1)
				pr.pairX2 = append(pr.pairX2, x2)
				pr.pairOff = append(pr.pairOff, len(pr.pairY))
			}
		}
	}
	return pr
}

// transpose returns the problem with X1 and X2 swapped.
func (pr *problem) transpose() *problem {
	t := make([]float64, len(pr.p))
	for x1 := 0; x1 < pr.n1; x1++ {
		for x2 := 0; x2 < pr.n2; x2++ {
			copy(t[(x2*pr.n1+x1)*pr.ny:(x2*pr.n1+x1+1)*pr.ny], pr.p[(x1*pr.n2+x2)*pr.ny:(x1*pr.n2+x2+1)*pr.ny])
		}
	}
	return newProblem(t, pr.n2, pr.n1, pr.ny)
}

// independentStart returns q0(x1,x2,y) = p(x1,y) p(x2,y) / p(y), a point of Δp that is
// strictly positive on every admissible cell.
func (pr *problem) independentStart() []float64 {
	q := make([]float64, len(pr.p))
	ny := pr.ny
	for k := range pr.pairX1 {
		x1, x2 := pr.pairX1[k], pr.pairX2[k]
		for _, y := range pr.pairY[pr.pairOff[k]:pr.pairOff[k+1]] {
			q[(x1*pr.n2+x2)*ny+y] = pr.p1[x1*ny+y] * (pr.p2[x2*ny+y] / pr.py[y])
		}
	}
	return q
}

// freeDims is dim Δp = Σ_y (|supp p(·,y) on X1| − 1)(|supp p(·,y) on X2| − 1), and the
// number of y with p(y) > 0.
func (pr *problem) freeDims() (dims, activeY int) {
	for y := 0; y < pr.ny; y++ {
		if pr.py[y] <= 0 {
			continue
		}
		activeY++
		a, b := 0, 0
		for x1 := 0; x1 < pr.n1; x1++ {
			if pr.p1[x1*pr.ny+y] > 0 {
				a++
			}
		}
		for x2 := 0; x2 < pr.n2; x2++ {
			if pr.p2[x2*pr.ny+y] > 0 {
				b++
			}
		}
		dims += (a - 1) * (b - 1)
	}
	return dims, activeY
}

// condEntropyObjective returns f(q) = Σ q(a,y) ln q(y|a) in nats (0 ln 0 = 0).
func condEntropyObjective(q []float64, na, ny int) float64 {
	f := 0.0
	for a := 0; a < na; a++ {
		row := q[a*ny : (a+1)*ny]
		s := 0.0
		for _, v := range row {
			s += v
		}
		if s <= 0 {
			continue
		}
		for _, v := range row {
			if v > 0 {
				f += v * (math.Log(v) - math.Log(s))
			}
		}
	}
	return f
}

// solve minimises f over Δp. See the comment at the top of this file.
func (pr *problem) solve() (*solution, error) {
	dims, activeY := pr.freeDims()
	if dims == 0 || activeY <= 1 {
		// Δp is the single point q0, or H(Y) = 0 and every q ∈ Δp is optimal: the gap is
		// 0 by construction. A dual point is still supplied when complementary slackness
		// yields one.
		q := pr.independentStart()
		f := condEntropyObjective(q, pr.n1*pr.n2, pr.ny)
		sol := &solution{q: q, fval: f, dual: f, trivial: true,
			lam: make([]float64, pr.n1*pr.ny), mu: make([]float64, pr.n2*pr.ny)}
		if lam, mu, _, ok := pr.dualFromPrimal(q, sol.lam, sol.mu); ok {
			sol.lam, sol.mu = lam, mu
		}
		return sol, nil
	}
	b := newBarrier(pr)
	return b.run()
}

// barrier holds the state of the dual log-barrier method.
type barrier struct {
	pr         *problem
	n1, n2, ny int
	m          int   // number of constraints (pairs)
	lamIdx     []int // (x1,y) -> λ variable index, or −1
	muIdx      []int // (x2,y) -> μ variable index, or −1 (unsupported or gauge)
	nl, nm     int
	rowsY      [][]int // for each x1, the y with p(x1,y) > 0
	lam, mu    []float64
	slack      []float64 // g_a at the current point
	s          []float64 // exp c_a(y) over pairY
	// Newton workspace
	gl, gm    []float64 // gradients (full n1*ny and variable nm)
	ablk      []float64 // n1*ny*ny
	lfac      []float64 // n1*ny*ny Cholesky factors of the A blocks
	bblk      []float64 // n1*ny*nm
	schur     []float64 // nm*nm
	schurCopy []float64 // nm*nm
	scale     []float64 // nm
	wt        []float64 // nm*nl: (L⁻¹B)ᵀ, one row per μ variable
	vall      []float64 // nl
	u         []float64 // nl
	rhs       []float64 // nm
	dl, dm    []float64 // directions, full n1*ny and n2*ny
	dmv       []float64 // nm
	hc        []float64 // ny*ny scratch
	cnew      []float64 // ny scratch
	slackNew  []float64 // m
	newtonIt  int
}

func newBarrier(pr *problem) *barrier {
	n1, n2, ny := pr.n1, pr.n2, pr.ny
	b := &barrier{pr: pr, n1: n1, n2: n2, ny: ny, m: len(pr.pairX1)}
	b.lamIdx = make([]int, n1*ny)
	b.muIdx = make([]int, n2*ny)
	b.rowsY = make([][]int, n1)
	for x1 := 0; x1 < n1; x1++ {
		for y := 0; y < ny; y++ {
			if pr.p1[x1*ny+y] > 0 {
				b.lamIdx[x1*ny+y] = b.nl
				b.nl++
				b.rowsY[x1] = append(b.rowsY[x1], y)
			} else {
				b.lamIdx[x1*ny+y] = -1
			}
		}
	}
	gauged := make([]bool, ny)
	for x2 := 0; x2 < n2; x2++ {
		for y := 0; y < ny; y++ {
			b.muIdx[x2*ny+y] = -1
			if pr.p2[x2*ny+y] > 0 {
				if !gauged[y] {
					gauged[y] = true // μ(x2,y) ≡ 0 for the first supported x2
					continue
				}
				b.muIdx[x2*ny+y] = b.nm
				b.nm++
			}
		}
	}
	_, activeY := pr.freeDims()
	c0 := -(math.Log(float64(activeY)) + 1) / 2
	b.lam = make([]float64, n1*ny)
	b.mu = make([]float64, n2*ny)
	for i := range b.lam {
		if b.lamIdx[i] >= 0 {
			b.lam[i] = c0
		}
	}
	for x2 := 0; x2 < n2; x2++ {
		for y := 0; y < ny; y++ {
			if pr.p2[x2*ny+y] > 0 {
				b.mu[x2*ny+y] = c0
				if b.muIdx[x2*ny+y] < 0 {
					b.mu[x2*ny+y] = 0
				}
			}
		}
	}
	// Shift λ(·,y) by the gauge value so that every c_a still equals 2·c0.
	for y := 0; y < ny; y++ {
		if gauged[y] {
			for x1 := 0; x1 < n1; x1++ {
				if b.lamIdx[x1*ny+y] >= 0 {
					b.lam[x1*ny+y] = 2 * c0
				}
			}
		}
	}
	b.slack = make([]float64, b.m)
	b.slackNew = make([]float64, b.m)
	b.s = make([]float64, len(pr.pairY))
	b.gl = make([]float64, n1*ny)
	b.gm = make([]float64, b.nm)
	b.ablk = make([]float64, n1*ny*ny)
	b.lfac = make([]float64, n1*ny*ny)
	b.bblk = make([]float64, n1*ny*b.nm)
	b.schur = make([]float64, b.nm*b.nm)
	b.schurCopy = make([]float64, b.nm*b.nm)
	b.scale = make([]float64, b.nm)
	b.wt = make([]float64, b.nl*b.nm)
	b.u = make([]float64, b.nl)
	b.vall = make([]float64, b.nl)
	b.rhs = make([]float64, b.nm)
	b.dl = make([]float64, n1*ny)
	b.dm = make([]float64, n2*ny)
	b.dmv = make([]float64, b.nm)
	b.hc = make([]float64, ny*ny)
	b.cnew = make([]float64, ny)
	return b
}

// lse returns ln Σ exp(c) for a non-empty c.
func lse(c []float64) float64 {
	mx := math.Inf(-1)
	for _, v := range c {
		mx = math.Max(mx, v)
	}
	s := 0.0
	for _, v := range c {
		s += math.Exp(v - mx)
	}
	// s ≥ 1; log1p(s−1) is exact for the dominant term.
	return mx + math.Log1p(s-1)
}

// evalSlack computes the slacks g_a = 1 − Σ_y exp c_a(y) (and, if soft is true, the
// exponentials exp c_a(y)) at (λ+α dλ, μ+α dμ) into gs. It returns false as soon as some
// g_a ≤ 0 (outside the barrier's domain). g_a = −expm1(LSE(c_a)) keeps full relative
// accuracy for small slacks as far as LSE itself is accurate.
func (b *barrier) evalSlack(alpha float64, gs []float64, soft bool) bool {
	pr, ny := b.pr, b.ny
	for k := 0; k < b.m; k++ {
		x1, x2 := pr.pairX1[k], pr.pairX2[k]
		ys := pr.pairY[pr.pairOff[k]:pr.pairOff[k+1]]
		c := b.cnew[:len(ys)]
		for i, y := range ys {
			c[i] = b.lam[x1*ny+y] + b.mu[x2*ny+y]
			if alpha != 0 {
				c[i] += alpha * (b.dl[x1*ny+y] + b.dm[x2*ny+y])
			}
		}
		g := -math.Expm1(lse(c))
		if !(g > 0) {
			return false
		}
		gs[k] = g
		if soft {
			s := b.s[pr.pairOff[k]:pr.pairOff[k+1]]
			for i := range c {
				s[i] = math.Exp(c[i])
			}
		}
	}
	return true
}

// dualValue is D(λ,μ).
func (b *barrier) dualValue() float64 {
	d := 0.0
	for i, v := range b.lam {
		d += v * b.pr.p1[i]
	}
	for i, v := range b.mu {
		d += v * b.pr.p2[i]
	}
	return d
}

// newtonStep computes the Newton direction of F_t at the current point (slack and s must
// be current) into dl, dm and returns the squared Newton decrement and the directional
// derivative of D along the step. ok is false if a factorisation failed.
func (b *barrier) newtonStep(t float64) (dec2, dD float64, ok bool) {
	pr, ny, nm := b.pr, b.ny, b.nm
	clear(b.gl)
	clear(b.gm)
	clear(b.ablk)
	clear(b.bblk)
	clear(b.schur)
	for i, v := range pr.p1 {
		if b.lamIdx[i] >= 0 {
			b.gl[i] = -t * v
		}
	}
	for i, v := range pr.p2 {
		if j := b.muIdx[i]; j >= 0 {
			b.gm[j] = -t * v
		}
	}
	for k := 0; k < b.m; k++ {
		x1, x2 := pr.pairX1[k], pr.pairX2[k]
		ys := pr.pairY[pr.pairOff[k]:pr.pairOff[k+1]]
		s := b.s[pr.pairOff[k]:pr.pairOff[k+1]]
		// Barrier −ln g, g = 1 − Σ e: gradient e/g, Hessian diag(e)/g + e eᵀ/g².
		inv := 1 / b.slack[k]
		beta := inv * inv
		n := len(ys)
		hc := b.hc[:n*n]
		for i := 0; i < n; i++ {
			for j := 0; j < n; j++ {
				hc[i*n+j] = beta * s[i] * s[j]
			}
			hc[i*n+i] += inv * s[i]
		}
		ab := b.ablk[x1*ny*ny : (x1+1)*ny*ny]
		bb := b.bblk[x1*ny*nm : (x1+1)*ny*nm]
		for i, yi := range ys {
			g := inv * s[i]
			b.gl[x1*ny+yi] += g
			mi := b.muIdx[x2*ny+yi]
			if mi >= 0 {
				b.gm[mi] += g
			}
			for j, yj := range ys {
				v := hc[i*n+j]
				ab[yi*ny+yj] += v
				mj := b.muIdx[x2*ny+yj]
				if mj >= 0 {
					bb[yi*nm+mj] += v
					if mi >= 0 {
						b.schur[mi*nm+mj] += v
					}
				}
			}
		}
	}
	// Eliminate λ block by block: W = L⁻¹B, v = L⁻¹gλ, S = D − WᵀW, rhs = −gμ + Wᵀv.
	// W is stored transposed (wt) so that the rank-k update is a row-dot-product Syrk.
	r := 0
	for x1 := 0; x1 < b.n1; x1++ {
		ys := b.rowsY[x1]
		n := len(ys)
		if n == 0 {
			continue
		}
		ab := b.ablk[x1*ny*ny : (x1+1)*ny*ny]
		bb := b.bblk[x1*ny*nm : (x1+1)*ny*nm]
		L := b.lfac[x1*ny*ny : x1*ny*ny+n*n]
		factored := false
		for ridge := 0.0; ridge <= 1e-2 && !factored; ridge = math.Max(ridge*100, 1e-14) {
			for i, yi := range ys {
				for j, yj := range ys {
					L[i*n+j] = ab[yi*ny+yj]
				}
				L[i*n+i] *= 1 + ridge
			}
			factored = cholInPlace(L, n)
		}
		if !factored {
			return 0, 0, false
		}
		nl := b.nl
		for c := 0; c < nm; c++ {
			w := b.wt[c*nl+r : c*nl+r+n]
			for i, yi := range ys {
				v := bb[yi*nm+c]
				for j := 0; j < i; j++ {
					v -= L[i*n+j] * w[j]
				}
				w[i] = v / L[i*n+i]
			}
		}
		for i, yi := range ys {
			v := b.gl[x1*ny+yi]
			for j := 0; j < i; j++ {
				v -= L[i*n+j] * b.vall[r+j]
			}
			b.vall[r+i] = v / L[i*n+i]
		}
		r += n
	}
	for i := range b.rhs {
		b.rhs[i] = -b.gm[i]
	}
	if nm > 0 {
		wt := blas64.General{Rows: nm, Cols: b.nl, Stride: b.nl, Data: b.wt}
		sch := blas64.Symmetric{N: nm, Stride: nm, Data: b.schur, Uplo: blas.Upper}
		for i := 0; i < nm; i++ {
			b.scale[i] = b.schur[i*nm+i] // diagonal of D before the Schur update
		}
		blas64.Syrk(blas.NoTrans, -1, wt, 1, sch)
		blas64.Gemv(blas.NoTrans, 1, wt, blas64.Vector{N: b.nl, Inc: 1, Data: b.vall}, 1,
			blas64.Vector{N: nm, Inc: 1, Data: b.rhs})
		if !b.solveSchur(nm) {
			return 0, 0, false
		}
		x := blas64.Vector{N: nm, Inc: 1, Data: b.dmv}
		// u = W dμ (one entry per λ variable).
		blas64.Gemv(blas.Trans, 1, wt, x, 0, blas64.Vector{N: b.nl, Inc: 1, Data: b.u})
	} else {
		clear(b.u)
	}
	// Back-substitute λ: dλ = L⁻ᵀ(−v − W dμ).
	clear(b.dl)
	clear(b.dm)
	for i, j := range b.muIdx {
		if j >= 0 {
			b.dm[i] = b.dmv[j]
		}
	}
	tmp := b.cnew
	r = 0
	for x1 := 0; x1 < b.n1; x1++ {
		ys := b.rowsY[x1]
		n := len(ys)
		if n == 0 {
			continue
		}
		L := b.lfac[x1*ny*ny : x1*ny*ny+n*n]
		for i := 0; i < n; i++ {
			tmp[i] = -b.vall[r+i] - b.u[r+i]
		}
		for i := n - 1; i >= 0; i-- {
			s := tmp[i]
			for j := i + 1; j < n; j++ {
				s -= L[j*n+i] * tmp[j]
			}
			tmp[i] = s / L[i*n+i]
		}
		for i, yi := range ys {
			b.dl[x1*ny+yi] = tmp[i]
		}
		r += n
	}
	// Newton decrement² = −∇F·d; dD = ⟨p, d⟩.
	for i, v := range b.dl {
		if b.lamIdx[i] >= 0 {
			dec2 -= b.gl[i] * v
			dD += pr.p1[i] * v
		}
	}
	for i, j := range b.muIdx {
		if j >= 0 {
			dec2 -= b.gm[j] * b.dm[i]
			dD += pr.p2[i] * b.dm[i]
		}
	}
	return dec2, dD, true
}

// solveSchur solves S dμ = rhs (S in b.schur, upper triangle; b.scale holds the diagonal
// of D before the update) into b.dmv. Diagonal entries that cancelled to below 1e-14 of
// their pre-update value are floored there, and S is scaled to unit diagonal (Jacobi).
// If rounding has made it numerically indefinite (cells of tiny mass give directions of
// tiny curvature), a ridge ρ·I, ρ = 1e-14, 1e-12, …, 1e-2, is added to the scaled matrix
// until the factorisation succeeds: a regularised Newton direction, which is still a
// descent direction for the line search.
func (b *barrier) solveSchur(nm int) bool {
	d := b.scale[:nm]
	for i := 0; i < nm; i++ {
		v := b.schur[i*nm+i]
		if floor := 1e-14 * d[i]; !(v > floor) {
			v = floor
			b.schur[i*nm+i] = v
		}
		if !(v > 0) || math.IsInf(v, 0) {
			return false
		}
		d[i] = 1 / math.Sqrt(v)
	}
	for i := 0; i < nm; i++ {
		row := b.schur[i*nm+i : (i+1)*nm]
		for j := range row {
			row[j] *= d[i] * d[i+j]
		}
	}
	copy(b.schurCopy, b.schur)
	for ridge := 0.0; ridge <= 1e-2; ridge = math.Max(ridge*100, 1e-14) {
		if ridge > 0 {
			copy(b.schur, b.schurCopy)
			for i := 0; i < nm; i++ {
				b.schur[i*nm+i] += ridge
			}
		}
		sch := blas64.Symmetric{N: nm, Stride: nm, Data: b.schur, Uplo: blas.Upper}
		tri, ok := lapack64.Potrf(sch)
		if !ok {
			continue
		}
		for i := 0; i < nm; i++ {
			b.dmv[i] = b.rhs[i] * d[i]
		}
		x := blas64.Vector{N: nm, Inc: 1, Data: b.dmv}
		blas64.Trsv(blas.Trans, tri, x)
		blas64.Trsv(blas.NoTrans, tri, x)
		for i := 0; i < nm; i++ {
			b.dmv[i] *= d[i]
		}
		return true
	}
	return false
}

// cholInPlace overwrites the lower triangle of the n×n row-major a with its Cholesky
// factor. It reports whether a was numerically positive definite.
func cholInPlace(a []float64, n int) bool {
	for j := 0; j < n; j++ {
		d := a[j*n+j]
		for k := 0; k < j; k++ {
			d -= a[j*n+k] * a[j*n+k]
		}
		if !(d > 0) {
			return false
		}
		d = math.Sqrt(d)
		a[j*n+j] = d
		for i := j + 1; i < n; i++ {
			s := a[i*n+j]
			for k := 0; k < j; k++ {
				s -= a[i*n+k] * a[j*n+k]
			}
			a[i*n+j] = s / d
		}
	}
	return true
}

// centre runs damped Newton on F_t from the current point and returns the number of
// steps taken and whether the point is centred: the squared Newton decrement fell below
// centreTol, or it stopped shrinking while already small (the rounding floor of the
// Newton system). It gives up after maxCentreStep steps or when no step is accepted.
func (b *barrier) centre(t float64) (steps int, centred bool) {
	prev := math.Inf(1)
	for it := 0; it < maxCentreStep && b.newtonIt < maxNewton; it++ {
		dec2, dD, ok := b.newtonStep(t)
		if !ok || !(dec2 > 0) || math.IsNaN(dec2) {
			return steps, dec2 < 1e-2
		}
		b.newtonIt++
		steps++
		if dec2 < 1e-2 && dec2 > 0.1*prev {
			return steps, true // rounding floor: further steps are noise
		}
		prev = dec2
		// Backtracking line search (Armijo, c = 1/4) on ΔF = −tα dD − Σ ln(g_new/g_old),
		// computed as a difference to avoid cancellation at large t. Inside the region of
		// quadratic convergence (decrement² < 0.01) the full step is taken whenever it stays
		// in the domain, since ΔF itself is then below the rounding level of F.
		alpha := 1.0
		accepted := false
		for ls := 0; ls < 60; ls++ {
			if b.evalSlack(alpha, b.slackNew, false) {
				if dec2 < 0.01 {
					accepted = true
					break
				}
				df := -t * alpha * dD
				for k, gn := range b.slackNew {
					df -= math.Log(gn / b.slack[k])
				}
				if df <= -0.25*alpha*dec2 {
					accepted = true
					break
				}
			}
			alpha *= 0.5
		}
		if !accepted {
			return steps, dec2 < 1e-2
		}
		b.apply(alpha)
		if dec2 < centreTol {
			return steps, true
		}
	}
	return steps, false
}

// apply moves the point by α·d and refreshes the slacks and exponentials.
func (b *barrier) apply(alpha float64) {
	for i := range b.lam {
		b.lam[i] += alpha * b.dl[i]
	}
	for i := range b.mu {
		b.mu[i] += alpha * b.dm[i]
	}
	b.evalSlack(0, b.slack, true)
}

// primal recovers q_t from the current dual point.
func (b *barrier) primal(t float64) []float64 {
	pr, ny := b.pr, b.ny
	q := make([]float64, len(pr.p))
	for k := 0; k < b.m; k++ {
		x1, x2 := pr.pairX1[k], pr.pairX2[k]
		w := 1 / (t * b.slack[k])
		s := b.s[pr.pairOff[k]:pr.pairOff[k+1]]
		for i, y := range pr.pairY[pr.pairOff[k]:pr.pairOff[k+1]] {
			q[(x1*pr.n2+x2)*ny+y] = w * s[i]
		}
	}
	return q
}

func (b *barrier) run() (*solution, error) {
	pr := b.pr
	na := pr.n1 * pr.n2
	b.evalSlack(0, b.slack, true)
	// Best primal (smallest f over feasible q) and best dual (largest D over strictly
	// feasible (λ,μ)) are tracked separately: each is a valid bound on its own.
	best := &solution{q: pr.independentStart()}
	best.fval = condEntropyObjective(best.q, na, pr.ny)
	best.dual = b.dualValue()
	best.lam = append([]float64(nil), b.lam...)
	best.mu = append([]float64(nil), b.mu...)
	best.gap = best.fval - best.dual
	t := float64(b.m) / math.Max(best.gap, 1e-3)
	stalls := 0
	var qprev []float64
	tryPrimal := func(q []float64) {
		res := pr.polish(q, 60)
		if !(res <= 1e-13) {
			return
		}
		if f := condEntropyObjective(q, na, pr.ny); f < best.fval {
			best.fval, best.q = f, q
		}
	}
	growth := 0.0 // factor by which t grew before the current centring (0: first)
	for b.newtonIt < maxNewton {
		steps, centred := b.centre(t)
		before := best.fval - best.dual
		qt := b.primal(t)
		if d := b.dualValue(); d > best.dual {
			best.dual = d
			copy(best.lam, b.lam)
			copy(best.mu, b.mu)
		}
		if best.fval-best.dual < 1e-5 {
			// Purification: cells that vanish at the optimum carry O(1/t) mass in q_t, so
			// they shrink in proportion to 1/t from one centring to the next, while the
			// others converge. Zeroing them and re-scaling often lands exactly on the
			// optimal face. Every candidate is judged only by its objective value.
			if qprev != nil && growth > 1 {
				qz := append([]float64(nil), qt...)
				for i, v := range qz {
					if v < qprev[i]*(4/growth) {
						qz[i] = 0
					}
				}
				tryPrimal(qz)
			}
			for _, k := range []float64{1e4, 1e2, 1} {
				tau := math.Min(k/t, 1e-7)
				qz := append([]float64(nil), qt...)
				for i, v := range qz {
					if v < tau {
						qz[i] = 0
					}
				}
				tryPrimal(qz)
			}
		}
		qprev = append(qprev[:0], qt...)
		tryPrimal(qt)
		if best.fval-best.dual < 1e-5 {
			if lam, mu, d, ok := pr.dualFromPrimal(best.q, b.lam, b.mu); ok && d > best.dual {
				best.lam, best.mu, best.dual = lam, mu, d
			}
		}
		best.gap = best.fval - best.dual
		if best.gap <= gapTol {
			break
		}
		if best.gap < 0.5*before {
			stalls = 0
		} else if stalls++; stalls >= 3 {
			break
		}
		// Past this point g_a ≈ 1/(t·q(a)) drowns in rounding.
		if t > 1e15 {
			break
		}
		// Adaptive long steps: grow t a lot after an easy centring, less after a hard one
		// (the Newton work of a centring grows with the growth factor), and not at all if
		// the point is not yet centred.
		switch {
		case !centred:
			growth = 1
		case steps <= 8:
			growth = tGrowth
		case steps <= 16:
			growth = tGrowth / 5
		default:
			growth = tGrowth / 25
		}
		t *= growth
	}
	best.newton = b.newtonIt
	if !(best.gap <= gapAccept) {
		return best, ErrNotConverged
	}
	return best, nil
}

// dualFromPrimal builds a dual point from a (purified) primal q: on every cell with
// q(a,y) > 0 complementary slackness asks λ(x1,y) + μ(x2,y) = ln q(y|a). These equations
// are solved along a spanning forest of the positive cells of each y-slice; each tree's
// free offset (λ+δ, μ−δ) is fitted to the barrier point (lam0, mu0). The point is then
// made feasible by lowering every λ by the largest constraint violation ε (which lowers D
// by exactly ε), so the returned D is a valid lower bound whatever q was. When q is the
// exact optimum and the dual optimum is attained, D equals f(q) up to rounding.
func (pr *problem) dualFromPrimal(q, lam0, mu0 []float64) (lam, mu []float64, d float64, ok bool) {
	n1, n2, ny := pr.n1, pr.n2, pr.ny
	lam = make([]float64, n1*ny)
	mu = make([]float64, n2*ny)
	qa := make([]float64, n1*n2)
	for a := range qa {
		for _, v := range q[a*ny : (a+1)*ny] {
			qa[a] += v
		}
	}
	seen1 := make([]bool, n1)
	seen2 := make([]bool, n2)
	var comp1, comp2, queue []int // queue holds x1 as x1, x2 as n1+x2
	for y := 0; y < ny; y++ {
		if pr.py[y] <= 0 {
			continue
		}
		clear(seen1)
		clear(seen2)
		for root := 0; root < n1; root++ {
			if seen1[root] || pr.p1[root*ny+y] <= 0 {
				continue
			}
			comp1, comp2 = comp1[:0], comp2[:0]
			seen1[root] = true
			lam[root*ny+y] = 0
			queue = append(queue[:0], root)
			for len(queue) > 0 {
				v := queue[0]
				queue = queue[1:]
				if v < n1 {
					x1 := v
					comp1 = append(comp1, x1)
					for x2 := 0; x2 < n2; x2++ {
						c := q[(x1*n2+x2)*ny+y]
						if c > 0 && !seen2[x2] {
							seen2[x2] = true
							mu[x2*ny+y] = math.Log(c/qa[x1*n2+x2]) - lam[x1*ny+y]
							queue = append(queue, n1+x2)
						}
					}
				} else {
					x2 := v - n1
					comp2 = append(comp2, x2)
					for x1 := 0; x1 < n1; x1++ {
						c := q[(x1*n2+x2)*ny+y]
						if c > 0 && !seen1[x1] {
							seen1[x1] = true
							lam[x1*ny+y] = math.Log(c/qa[x1*n2+x2]) - mu[x2*ny+y]
							queue = append(queue, x1)
						}
					}
				}
			}
			delta := 0.0
			for _, x1 := range comp1 {
				delta += lam0[x1*ny+y] - lam[x1*ny+y]
			}
			for _, x2 := range comp2 {
				delta += mu[x2*ny+y] - mu0[x2*ny+y]
			}
			delta /= float64(len(comp1) + len(comp2))
			for _, x1 := range comp1 {
				lam[x1*ny+y] += delta
			}
			for _, x2 := range comp2 {
				mu[x2*ny+y] -= delta
			}
		}
		// Every supported x2 must have been reached (it has a positive cell).
		for x2 := 0; x2 < n2; x2++ {
			if pr.p2[x2*ny+y] > 0 && !seen2[x2] {
				return nil, nil, 0, false
			}
		}
	}
	eps := math.Inf(-1)
	c := make([]float64, ny)
	for k := range pr.pairX1 {
		x1, x2 := pr.pairX1[k], pr.pairX2[k]
		ys := pr.pairY[pr.pairOff[k]:pr.pairOff[k+1]]
		for i, y := range ys {
			c[i] = lam[x1*ny+y] + mu[x2*ny+y]
		}
		eps = math.Max(eps, lse(c[:len(ys)]))
	}
	if math.IsNaN(eps) || math.IsInf(eps, 0) {
		return nil, nil, 0, false
	}
	// Lower by ε plus a rounding margin so that every LSE is ≤ 0 as evaluated.
	eps += 4e-16 * (1 + math.Abs(eps))
	for i := range lam {
		if pr.p1[i] > 0 {
			lam[i] -= eps
			d += lam[i] * pr.p1[i]
		}
	}
	for i := range mu {
		d += mu[i] * pr.p2[i]
	}
	return lam, mu, d, !math.IsNaN(d)
}
