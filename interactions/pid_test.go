package interactions

import (
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// gate builds p for independent uniform X1, X2 ∈ {0,1} and Y = f(X1, X2) ∈ [0, ny).
func gate(ny int, f func(a, b int) int) [][][]float64 {
	p := zeros(2, 2, ny)
	for a := 0; a < 2; a++ {
		for b := 0; b < 2; b++ {
			p[a][b][f(a, b)] += 0.25
		}
	}
	return p
}

func zeros(n1, n2, ny int) [][][]float64 {
	p := make([][][]float64, n1)
	for a := range p {
		p[a] = make([][]float64, n2)
		for b := range p[a] {
			p[a][b] = make([]float64, ny)
		}
	}
	return p
}

// rdnUnqXor is the RdnUnqXor distribution of Griffith & Koch (2014): r, a, b, c1, c2
// uniform bits, X1 = (r, a, c1), X2 = (r, b, c2), Y = (r, a, b, c1⊕c2). Its BROJA PID is
// one bit of each atom.
func rdnUnqXor() [][][]float64 {
	p := zeros(8, 8, 16)
	for v := 0; v < 32; v++ {
		r, a, b, c1, c2 := v&1, v>>1&1, v>>2&1, v>>3&1, v>>4&1
		x1 := r<<2 | a<<1 | c1
		x2 := r<<2 | b<<1 | c2
		y := r<<3 | a<<2 | b<<1 | (c1 ^ c2)
		p[x1][x2][y] += 1.0 / 32
	}
	return p
}

// h2 is the binary entropy in bits.
func h2(x float64) float64 {
	if x <= 0 || x >= 1 {
		return 0
	}
	return -x*math.Log2(x) - (1-x)*math.Log2(1-x)
}

func TestEstimateGolden(t *testing.T) {
	rAnd := h2(0.25) - 0.5 // I(X1;Y) for AND = 0.311278 bits (pid.md §3)
	log3 := math.Log2(3)
	// A ternary X1 (uniform), an independent uniform bit X2, Y = X1: only U1 = log2 3.
	tern := zeros(3, 2, 3)
	for a := 0; a < 3; a++ {
		for b := 0; b < 2; b++ {
			tern[a][b][a] = 1.0 / 6
		}
	}
	// AND with an unused third label (p(y=2) = 0) must not change anything.
	andPad := gate(3, func(a, b int) int { return a & b })
	cases := []struct {
		name         string
		p            [][][]float64
		r, u1, u2, s float64
	}{
		{"AND", gate(2, func(a, b int) int { return a & b }), rAnd, 0, 0, 0.5},
		{"OR", gate(2, func(a, b int) int { return a | b }), rAnd, 0, 0, 0.5},
		{"XOR", gate(2, func(a, b int) int { return a ^ b }), 0, 0, 0, 1},
		{"COPY1 (Y=X1)", gate(2, func(a, b int) int { return a }), 0, 1, 0, 0},
		{"COPY2 (Y=X2)", gate(2, func(a, b int) int { return b }), 0, 0, 1, 0},
		{"CAT Y=(X1,X2)", gate(4, func(a, b int) int { return 2*a + b }), 0, 1, 1, 0},
		{"giant bit X1=X2=Y", [][][]float64{{{0.5, 0}, {0, 0}}, {{0, 0}, {0, 0.5}}}, 1, 0, 0, 0},
		{"Y independent", [][][]float64{{{0.125, 0.125}, {0.125, 0.125}}, {{0.125, 0.125}, {0.125, 0.125}}}, 0, 0, 0, 0},
		{"AND, unused label", andPad, rAnd, 0, 0, 0.5},
		{"RdnUnqXor", rdnUnqXor(), 1, 1, 1, 1},
		{"ternary COPY1", tern, 0, log3, 0, 0},
		{"ternary COPY1 swapped", swap(tern), 0, 0, log3, 0},
	}
	const tol = 1e-6
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d, err := Estimate(c.p)
			if err != nil {
				t.Fatal(err)
			}
			got := []float64{d.R, d.U1, d.U2, d.S}
			want := []float64{c.r, c.u1, c.u2, c.s}
			for i, name := range []string{"R", "U1", "U2", "S"} {
				if math.Abs(got[i]-want[i]) > tol {
					t.Errorf("%s = %.9f, want %.9f", name, got[i], want[i])
				}
			}
			if d.Gap > 1e-9 {
				t.Errorf("certified gap %.3g bits", d.Gap)
			}
			t.Logf("%v", d)
		})
	}
}

// TestEstimateGoldenNats checks the nat values quoted in pid.md §3.
func TestEstimateGoldenNats(t *testing.T) {
	and, err := Estimate(gate(2, func(a, b int) int { return a & b }))
	if err != nil {
		t.Fatal(err)
	}
	xor, err := Estimate(gate(2, func(a, b int) int { return a ^ b }))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name      string
		bits, nat float64
	}{
		{"R_AND", and.R, 0.215762}, {"S_AND", and.S, 0.346574}, {"S_XOR", xor.S, 0.693147},
	} {
		if got := c.bits * math.Ln2; math.Abs(got-c.nat) > 1e-6 {
			t.Errorf("%s = %.7f nats, want %.6f", c.name, got, c.nat)
		}
	}
}

// TestEstimateNormalised checks the percentage shares and the clipping rule.
func TestEstimateNormalised(t *testing.T) {
	d, err := Estimate(gate(2, func(a, b int) int { return a & b }))
	if err != nil {
		t.Fatal(err)
	}
	want := Shares{R: 100 * (h2(0.25) - 0.5) / h2(0.25), S: 100 * 0.5 / h2(0.25)}
	if math.Abs(d.Norm.R-want.R) > 1e-6 || math.Abs(d.Norm.S-want.S) > 1e-6 || d.Norm.U1 != 0 || d.Norm.U2 != 0 {
		t.Errorf("Norm = %+v, want %+v", d.Norm, want)
	}
	if got := normalise(0.5, -1e-12, 0, 0.5); got != (Shares{R: 50, S: 50}) {
		t.Errorf("normalise with tiny negative = %+v", got)
	}
	if got := normalise(0, 0, 0, 0); got != (Shares{}) {
		t.Errorf("normalise of zero information = %+v, want zeros", got)
	}
	indep, err := Estimate([][][]float64{{{0.25, 0.25}}, {{0.25, 0.25}}})
	if err != nil {
		t.Fatal(err)
	}
	if indep.Norm != (Shares{}) {
		t.Errorf("no information: Norm = %+v, want zeros", indep.Norm)
	}
	if s := d.String(); !strings.Contains(s, "R=0.311278") || !strings.Contains(s, "S=0.500000") {
		t.Errorf("String() = %q", s)
	}
}

// binaryReference minimises I_q(X1,X2;Y) over Δp for binary X1, X2, Y with the
// one-parameter-per-slice form of pid.md §3 (t_y = q(0,0,y)) by nested golden-section
// search (the objective is jointly convex), independently of the solver. Returns bits.
func binaryReference(p [][][]float64) (r, u1, u2, s float64) {
	var p1, p2 [2][2]float64 // p(x1=0|1, y), p(x2, y)
	var py [2]float64
	for a := 0; a < 2; a++ {
		for b := 0; b < 2; b++ {
			for y := 0; y < 2; y++ {
				p1[a][y] += p[a][b][y]
				p2[b][y] += p[a][b][y]
				py[y] += p[a][b][y]
			}
		}
	}
	lo, hi := [2]float64{}, [2]float64{}
	for y := 0; y < 2; y++ {
		lo[y] = math.Max(0, p1[0][y]+p2[0][y]-py[y])
		hi[y] = math.Min(p1[0][y], p2[0][y])
	}
	q := func(t0, t1 float64) [][][]float64 {
		out := zeros(2, 2, 2)
		for y, ty := range []float64{t0, t1} {
			out[0][0][y] = ty
			out[0][1][y] = math.Max(0, p1[0][y]-ty)
			out[1][0][y] = math.Max(0, p2[0][y]-ty)
			out[1][1][y] = math.Max(0, py[y]-p1[0][y]-p2[0][y]+ty)
		}
		return out
	}
	miJoint := func(j [][][]float64) float64 {
		flat, _, _, ny, _ := validate(j)
		return mutualInfoPair(flat, 4, ny, py[:]) / math.Ln2
	}
	golden := func(a, b float64, f func(float64) float64) (float64, float64) {
		const g = 0.6180339887498949
		c, d := b-g*(b-a), a+g*(b-a)
		fc, fd := f(c), f(d)
		for i := 0; i < 200 && b-a > 1e-17; i++ {
			if fc <= fd {
				b, d, fd = d, c, fc
				c = b - g*(b-a)
				fc = f(c)
			} else {
				a, c, fc = c, d, fd
				d = a + g*(b-a)
				fd = f(d)
			}
		}
		// The minimum may sit on an end point, where the search only approaches it.
		x, fx := (a+b)/2, f((a+b)/2)
		for _, e := range []float64{a, b} {
			if fe := f(e); fe < fx {
				x, fx = e, fe
			}
		}
		return x, fx
	}
	inner := func(t0 float64) float64 {
		_, v := golden(lo[1], hi[1], func(t1 float64) float64 { return miJoint(q(t0, t1)) })
		return v
	}
	t0, _ := golden(lo[0], hi[0], inner)
	_, iq := golden(lo[1], hi[1], func(t1 float64) float64 { return miJoint(q(t0, t1)) })
	for _, e := range []float64{lo[0], hi[0]} {
		if v := inner(e); v < iq {
			iq = v
		}
	}
	flat, _, _, _, _ := validate(p)
	pr := newProblem(flat, 2, 2, 2)
	i1 := mutualInfoPair(pr.p1, 2, 2, pr.py) / math.Ln2
	i2 := mutualInfoPair(pr.p2, 2, 2, pr.py) / math.Ln2
	i12 := mutualInfoPair(flat, 4, 2, pr.py) / math.Ln2
	r = i1 + i2 - iq
	return r, i1 - r, i2 - r, i12 - iq
}

// randomTable draws a random distribution; sparsity is the chance of a structural zero.
func randomTable(rng *rand.Rand, n1, n2, ny int, sparsity float64) [][][]float64 {
	for {
		p := zeros(n1, n2, ny)
		s := 0.0
		for a := range p {
			for b := range p[a] {
				for y := range p[a][b] {
					if rng.Float64() >= sparsity {
						p[a][b][y] = rng.ExpFloat64()
						s += p[a][b][y]
					}
				}
			}
		}
		if s == 0 {
			continue
		}
		for a := range p {
			for b := range p[a] {
				for y := range p[a][b] {
					p[a][b][y] /= s
				}
			}
		}
		return p
	}
}

func TestEstimateMatchesBinaryReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	for i := 0; i < 40; i++ {
		p := randomTable(rng, 2, 2, 2, []float64{0, 0.2, 0.4}[i%3])
		d, err := Estimate(p)
		if err != nil {
			t.Fatal(err)
		}
		r, u1, u2, s := binaryReference(p)
		got := []float64{d.R, d.U1, d.U2, d.S}
		want := []float64{r, u1, u2, s}
		for k, name := range []string{"R", "U1", "U2", "S"} {
			// The reference is a bracketing search; it can only be above the minimum
			// of I_q, so allow its own (tiny) inaccuracy.
			if math.Abs(got[k]-want[k]) > 1e-8 {
				t.Errorf("case %d %s = %.12f, reference %.12f (p=%v)", i, name, got[k], want[k], p)
			}
		}
	}
}

func swap(p [][][]float64) [][][]float64 {
	out := zeros(len(p[0]), len(p), len(p[0][0]))
	for a := range p {
		for b := range p[a] {
			copy(out[b][a], p[a][b])
		}
	}
	return out
}

// TestEstimateProperties checks the lattice identities, non-negativity, the marginals of
// q*, swap symmetry and the certified gap on random distributions.
func TestEstimateProperties(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	sizes := [][3]int{{2, 2, 2}, {3, 3, 2}, {2, 5, 3}, {4, 3, 4}, {6, 6, 3}, {10, 10, 4}, {7, 12, 5}, {20, 20, 10}}
	for i := 0; i < 120; i++ {
		sz := sizes[i%len(sizes)]
		if sz[0] >= 10 && i >= 2*len(sizes) {
			sz = [3]int{3, 4, 3}
		}
		p := randomTable(rng, sz[0], sz[1], sz[2], []float64{0, 0.3, 0.6}[i%3])
		d, err := Estimate(p)
		if err != nil {
			t.Fatalf("case %d %v: %v", i, sz, err)
		}
		const tol = 1e-9
		if e := d.R + d.U1 + d.U2 + d.S - d.I12; math.Abs(e) > tol {
			t.Errorf("case %d: R+U1+U2+S − I(X1,X2;Y) = %.3g", i, e)
		}
		if e := d.R + d.U1 - d.I1; math.Abs(e) > tol {
			t.Errorf("case %d: R+U1 − I(X1;Y) = %.3g", i, e)
		}
		if e := d.R + d.U2 - d.I2; math.Abs(e) > tol {
			t.Errorf("case %d: R+U2 − I(X2;Y) = %.3g", i, e)
		}
		for k, v := range []float64{d.R, d.U1, d.U2, d.S} {
			if v < -tol {
				t.Errorf("case %d: term %d = %.3g < 0", i, k, v)
			}
		}
		if d.Gap > 1e-9 {
			t.Errorf("case %d %v: certified gap %.3g bits", i, sz, d.Gap)
		}
		if m := marginalError(p, d.Q); m > tol {
			t.Errorf("case %d: q* marginals off by %.3g", i, m)
		}
		if n := d.Norm.R + d.Norm.U1 + d.Norm.U2 + d.Norm.S; math.Abs(n-100) > 1e-9 && d.I12 > 1e-9 {
			t.Errorf("case %d: shares sum to %v", i, n)
		}
		ds, err := Estimate(swap(p))
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range [][2]float64{{d.R, ds.R}, {d.U1, ds.U2}, {d.U2, ds.U1}, {d.S, ds.S}} {
			if math.Abs(c[0]-c[1]) > 1e-8 {
				t.Errorf("case %d: swapping modalities: %v vs %v", i, d, ds)
				break
			}
		}
	}
}

// marginalError is max |q(x1,y) − p(x1,y)|, |q(x2,y) − p(x2,y)|, also requiring q ≥ 0.
func marginalError(p, q [][][]float64) float64 {
	n1, n2, ny := len(p), len(p[0]), len(p[0][0])
	worst := 0.0
	for y := 0; y < ny; y++ {
		for a := 0; a < n1; a++ {
			s := 0.0
			for b := 0; b < n2; b++ {
				s += q[a][b][y] - p[a][b][y]
				if q[a][b][y] < 0 {
					return math.Inf(1)
				}
			}
			worst = math.Max(worst, math.Abs(s))
		}
		for b := 0; b < n2; b++ {
			s := 0.0
			for a := 0; a < n1; a++ {
				s += q[a][b][y] - p[a][b][y]
			}
			worst = math.Max(worst, math.Abs(s))
		}
	}
	return worst
}

// TestDualCertificate re-checks the optimality certificate from scratch: the returned
// (λ, μ) must satisfy every dual constraint Σ_y exp(λ(x1,y)+μ(x2,y)) ≤ 1, and its dual
// value must be within the reported gap of f(q*), which bounds the error in I_{q*}.
func TestDualCertificate(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for i := 0; i < 30; i++ {
		n1, n2, ny := 2+rng.IntN(6), 2+rng.IntN(6), 2+rng.IntN(4)
		p := randomTable(rng, n1, n2, ny, 0.4*rng.Float64())
		flat, _, _, _, err := validate(p)
		if err != nil {
			t.Fatal(err)
		}
		sol, err := solveFlat(flat, n1, n2, ny)
		if err != nil {
			t.Fatal(err)
		}
		if sol.trivial {
			continue // Δp is a single point: optimal by construction
		}
		pr := newProblem(flat, n1, n2, ny)
		d := 0.0
		for k, v := range sol.lam {
			d += v * pr.p1[k]
		}
		for k, v := range sol.mu {
			d += v * pr.p2[k]
		}
		for x1 := 0; x1 < n1; x1++ {
			for x2 := 0; x2 < n2; x2++ {
				s := 0.0
				for y := 0; y < ny; y++ {
					if pr.p1[x1*ny+y] > 0 && pr.p2[x2*ny+y] > 0 {
						s += math.Exp(sol.lam[x1*ny+y] + sol.mu[x2*ny+y])
					}
				}
				if s > 1+1e-12 {
					t.Errorf("case %d: dual constraint (%d,%d) violated: %.15g", i, x1, x2, s)
				}
			}
		}
		f := condEntropyObjective(sol.q, n1*n2, ny)
		if gap := f - d; gap < -1e-12 || gap > 1e-9 {
			t.Errorf("case %d: f − D = %.3g (reported %.3g)", i, gap, sol.gap)
		}
	}
}

func TestEstimateErrors(t *testing.T) {
	nan, inf := math.NaN(), math.Inf(1)
	cases := []struct {
		name string
		p    [][][]float64
		want string
	}{
		{"nil", nil, "empty"},
		{"no x2", [][][]float64{{}}, "empty"},
		{"no y", [][][]float64{{{}}}, "empty"},
		{"NaN", [][][]float64{{{0.5, nan}}, {{0.5, 0}}}, "NaN"},
		{"Inf", [][][]float64{{{0.5, inf}}, {{0.5, 0}}}, "infinite"},
		{"negative", [][][]float64{{{0.6, -0.1}}, {{0.5, 0}}}, "negative"},
		{"unnormalised", [][][]float64{{{0.25, 0.25}}, {{0.25, 0.2}}}, "sums to"},
		{"all zero", [][][]float64{{{0, 0}}, {{0, 0}}}, "sums to"},
		{"ragged x2", [][][]float64{{{0.5}, {0.25}}, {{0.25}}}, "ragged"},
		{"ragged y", [][][]float64{{{0.5, 0}}, {{0.5}}}, "ragged"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Estimate(c.p)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("err = %v, want one mentioning %q", err, c.want)
			}
		})
	}
	// Within NormTolerance the table is accepted and rescaled.
	p := gate(2, func(a, b int) int { return a ^ b })
	p[0][0][0] += 1e-9
	d, err := Estimate(p)
	if err != nil || math.Abs(d.S-1) > 1e-6 {
		t.Errorf("nearly normalised XOR: %v, %v", d, err)
	}
	if errors.Is(err, ErrNotConverged) {
		t.Error("unexpected ErrNotConverged")
	}
}

// TestEstimateDegenerate covers tables whose Δp is a single point or has no label
// information, and tiny masses next to large ones.
func TestEstimateDegenerate(t *testing.T) {
	for _, p := range [][][][]float64{
		{{{1}}},
		{{{0.3, 0.7}}},
		{{{0.5}}, {{0.5}}},
		{{{0.2, 0}, {0, 0.3}}, {{0, 0}, {0.5, 0}}},
		{{{0.5 - 1e-12, 0}, {0, 1e-12}}, {{0, 1e-12}, {0, 0.5 - 1e-12}}},
		{{{0, 0.32784841658431213, 0.2255442736933989}, {0, 0, 0}}, {{0, 2.5649548649453225e-09, 0}, {0, 0, 0.4466073071573341}}},
	} {
		renormalise(p)
		d, err := Estimate(p)
		if err != nil {
			t.Fatalf("%v: %v", p, err)
		}
		for _, v := range []float64{d.R, d.U1, d.U2, d.S} {
			if v < -1e-9 || math.IsNaN(v) {
				t.Errorf("%v: %v", p, d)
			}
		}
		if e := d.R + d.U1 + d.U2 + d.S - d.I12; math.Abs(e) > 1e-9 {
			t.Errorf("%v: identity off by %.3g", p, e)
		}
		if m := marginalError(p, d.Q); m > 1e-9 {
			t.Errorf("%v: marginals off by %.3g", p, m)
		}
	}
}

func renormalise(p [][][]float64) {
	s := 0.0
	for a := range p {
		for b := range p[a] {
			for _, v := range p[a][b] {
				s += v
			}
		}
	}
	for a := range p {
		for b := range p[a] {
			for y := range p[a][b] {
				p[a][b][y] /= s
			}
		}
	}
}

// TestEstimateTinyMasses mixes cells of mass down to ~1e-9 with O(1) ones, the hardest
// case for the interior-point solver (near-singular Newton systems). The certificate may
// then be looser than 1e-9, but must stay far below the 1e-6 accuracy target.
func TestEstimateTinyMasses(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 9))
	worst := 0.0
	for i := 0; i < 400; i++ {
		n1, n2, ny := 1+rng.IntN(6), 1+rng.IntN(6), 1+rng.IntN(5)
		p := randomTable(rng, n1, n2, ny, 0.8*rng.Float64())
		for a := range p {
			for b := range p[a] {
				for y := range p[a][b] {
					if rng.IntN(3) == 0 {
						p[a][b][y] *= math.Pow(10, -float64(rng.IntN(9)))
					}
				}
			}
		}
		renormalise(p)
		d, err := Estimate(p)
		if err != nil {
			t.Fatalf("case %d: %v (%v)", i, err, p)
		}
		worst = math.Max(worst, d.Gap)
		if d.Gap > 1e-7 {
			t.Errorf("case %d: gap %.3g bits", i, d.Gap)
		}
		for _, v := range []float64{d.R, d.U1, d.U2, d.S} {
			if v < -1e-7 {
				t.Errorf("case %d: negative term: %v", i, d)
			}
		}
		if e := d.R + d.U1 + d.U2 + d.S - d.I12; math.Abs(e) > 1e-9 {
			t.Errorf("case %d: identity off by %.3g", i, e)
		}
		if m := marginalError(p, d.Q); m > 1e-9 {
			t.Errorf("case %d: marginals off by %.3g", i, m)
		}
	}
	t.Logf("worst certified gap %.3g bits", worst)
}
