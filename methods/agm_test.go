package methods

import (
	"math"
	"testing"

	"github.com/mmfusion/bench/bench"
	"github.com/mmfusion/bench/bench/benchtest"
	"github.com/mmfusion/bench/bench/torchrt"
	"github.com/sugarme/gotch/ts"
)

// κ and the running means for constructed CE values, against hand computation.
func TestAGMCoefficientsAndRunningMeans(t *testing.T) {
	near := func(name string, got, want float64) {
		t.Helper()
		if math.Abs(got-want) > 1e-6*math.Max(1, math.Abs(want)) {
			t.Errorf("%s: got %.8f, want %.8f", name, got, want)
		}
	}
	var st agmState
	// Step 1, C̄ = (0, 0): r_a = e^(2−1) = e, r̄_a = 1 → κ_a = exp(1 − e) = 0.17937408;
	// r_v = e^−1, r̄_v = 1 → κ_v = exp(1 − e^−1) = 1.88159639. Then C̄ = (1, 2).
	k := st.update([]float64{1, 2}, 1)
	near("step 1 kappa_a", k[0], 0.17937408)
	near("step 1 kappa_v", k[1], 1.88159639)
	near("step 1 cbar_a", st.cbar[0], 1)
	near("step 1 cbar_v", st.cbar[1], 2)
	// Step 2, CE = (1.5, 1): r_a = e^−0.5, r̄_a = e^(2−1) → κ_a = exp(e − e^−0.5) = 8.26269800;
	// r_v = e^0.5, r̄_v = e^−1 → κ_v = exp(e^−1 − e^0.5) = 0.27780334. C̄ = (1/2 + 1.5/2, 2/2 + 1/2) = (1.25, 1.5).
	k = st.update([]float64{1.5, 1}, 1)
	near("step 2 kappa_a", k[0], 8.26269800)
	near("step 2 kappa_v", k[1], 0.27780334)
	near("step 2 cbar_a", st.cbar[0], 1.25)
	near("step 2 cbar_v", st.cbar[1], 1.5)
	if st.n != 2 {
		t.Fatalf("n = %d after two steps", st.n)
	}
	// The exponent is clamped at 10 from above only: C̄ = (0, 5), CE = (1, 1), α = 0.5:
	// r̄_a − r_a = e^5 − 1 > 10 → κ_a = e^(0.5·10) = 148.41315910; κ_v = exp(0.5·(e^−5 − 1)) = 0.60857749.
	st = agmState{cbar: []float64{0, 5}, n: 9}
	k = st.update([]float64{1, 1}, 0.5)
	near("clamped kappa_a", k[0], 148.41315910)
	near("kappa_v", k[1], 0.60857749)
	near("cbar_v after 10 steps", st.cbar[1], 5*0.9+0.1)
}

// The Shapley outputs sum to the fused output F_av, and each equals its formula over passes with one
// modality's input zeroed, computed here independently from the encoders and the head weights.
func TestAGMShapleyOutputsSumToFused(t *testing.T) {
	run, train := benchtest.Build(t, benchtest.Cell(t, "agm", nil, 1, 1), benchtest.Set(t, ogmTestData, 1))
	s := torchrt.NewScope()
	defer s.Drop()
	a := run.Method.(*AGM)
	b := benchtest.Batch(s, train, 0, 50, 1)
	var out bench.Outputs
	ts.NoGrad(func() { _, out = a.Forward(s, b, false) })
	f := func(xa, xv *ts.Tensor, trainMode bool) *ts.Tensor {
		za := run.Encoders[0].Forward(s, xa, trainMode)
		zv := run.Encoders[1].Forward(s, xv, trainMode)
		return s.T(ts.MustLinear(s.T(ts.MustCat([]*ts.Tensor{za, zv}, 1)), a.head.W, a.head.B))
	}
	var fAV, fA0, f0V *ts.Tensor
	ts.NoGrad(func() {
		za0, zv0 := s.T(b.X[0].MustZerosLike(false)), s.T(b.X[1].MustZerosLike(false))
		fAV, fA0, f0V = f(b.X[0], b.X[1], true), f(b.X[0], zv0, false), f(za0, b.X[1], false)
	})
	ma, mv := out.PerModality[0], out.PerModality[1]
	if d := ogmTestMaxDiff(s, s.T(ma.MustAdd(mv, false)), fAV, 1); d > 1e-5 {
		t.Errorf("m_a + m_v differs from F_av by %g", d)
	}
	if d := ogmTestMaxDiff(s, out.Fused, fAV, 1); d > 1e-5 {
		t.Errorf("fused output differs from F_av by %g", d)
	}
	// m_a = ½(F_av − F_0v + F_a0)
	wantA := s.T(s.T(s.T(fAV.MustSub(f0V, false)).MustAdd(fA0, false)).MustMulScalar(ts.FloatScalar(0.5), false))
	if d := ogmTestMaxDiff(s, ma, wantA, 1); d > 1e-5 {
		t.Errorf("m_a differs from ½(F_av − F_0v + F_a0) by %g", d)
	}
	if d := ogmTestMaxDiff(s, ma, fAV, 1); d < 1e-3 {
		t.Errorf("test setup: m_a equals F_av (max diff %g), zero-input passes have no effect", d)
	}
}

// The GS operator scales the gradient reaching each encoder by its κ. For an MLP encoder the first
// layer's weight gets no gradient from the zero-input pass (its input is 0), so its gradient with
// modulation must be exactly κ_m times its gradient without (κ = 1, epoch outside the window).
// If the padded passes ran without autograd, both encoders would get ½(κ_a + κ_v) instead.
func TestAGMGradientReachingEachEncoderScaledByKappa(t *testing.T) {
	run, train := benchtest.Build(t, benchtest.Cell(t, "agm", map[string]string{"alpha": "0.3", "modulation_end": "2"}, 1, 1), benchtest.Set(t, ogmTestData, 1))
	s := torchrt.NewScope()
	defer s.Drop()
	a := run.Method.(*AGM)
	start := agmState{cbar: []float64{0.5, 2.5}, n: 10}
	step := func(epoch int) (map[string]*ts.Tensor, bench.Outputs) {
		a.state = agmState{cbar: append([]float64(nil), start.cbar...), n: start.n} // update writes cbar in place
		ogmTestZeroGrads(run)
		loss, out := a.Forward(s, benchtest.Batch(s, train, 0, 64, epoch), true)
		loss.MustBackward()
		return ogmTestGrads(s, run), out
	}
	ref, _ := step(3) // outside the window: κ = 1
	if a.kappa[0] != 1 || a.kappa[1] != 1 {
		t.Fatalf("κ outside the window = %v, want 1, 1", a.kappa)
	}
	mod, out := step(2)
	// κ by hand from the Shapley outputs and the running means set above.
	y := benchtest.Batch(s, train, 0, 64, 2).Y
	ceA := -math.Log(agmTestExpNegCE(out.PerModality[0], y))
	ceV := -math.Log(agmTestExpNegCE(out.PerModality[1], y))
	want := [2]float64{
		math.Exp(0.3 * math.Min(math.Exp(2.5-0.5)-math.Exp(ceV-ceA), 10)),
		math.Exp(0.3 * math.Min(math.Exp(0.5-2.5)-math.Exp(ceA-ceV), 10)),
	}
	if math.Abs(a.kappa[0]-want[0]) > 1e-4*want[0] || math.Abs(a.kappa[1]-want[1]) > 1e-4*want[1] {
		t.Fatalf("κ = %v, want %v", a.kappa, want)
	}
	if !(want[0] > 2 && want[1] < 0.9) {
		t.Fatalf("test setup: κ = %v not far enough from 1", want)
	}
	for m, name := range []string{"enc0.0.weight", "enc1.0.weight"} {
		if d := ogmTestMaxDiff(s, mod[name], ref[name], want[m]); d > 1e-5*want[m]*(1+ogmTestMaxAbs(s, ref[name])) {
			t.Errorf("%s: gradient is not κ_%d = %.4f × the unmodulated one (max diff %g)", name, m, want[m], d)
		}
	}
}

// agmTestExpNegCE is exp(−CE) where CE = mean_i −log max(softmax(ℓ_i)[y_i], 1e-8), in Go.
func agmTestExpNegCE(l, y *ts.Tensor) float64 {
	sz := l.MustSize()
	vals := l.Float64Values()
	ys := y.Int64Values()
	var ce float64
	for i := int64(0); i < sz[0]; i++ {
		row := vals[i*sz[1] : (i+1)*sz[1]]
		var z float64
		for _, v := range row {
			z += math.Exp(v)
		}
		ce -= math.Log(math.Max(math.Exp(row[ys[i]])/z, 1e-8))
	}
	return math.Exp(-ce / float64(sz[0]))
}

// The global clip to norm 1 happens only when a fusion-head weight gradient element is outside [−1, 1].
func TestAGMClipOnlyWhenHeadGradientLeavesUnitBox(t *testing.T) {
	run, train := benchtest.Build(t, benchtest.Cell(t, "agm", nil, 1, 1), benchtest.Set(t, ogmTestData, 1))
	s := torchrt.NewScope()
	defer s.Drop()
	a := run.Method.(*AGM)
	b := benchtest.Batch(s, train, 0, 32, 1)
	setGrads := func(head, other float64) {
		ogmTestZeroGrads(run)
		loss, _ := a.Forward(s, b, true)
		loss.MustBackward()
		for name, v := range bench.Variables(run.VS, "") {
			g := s.T(v.MustGrad(false))
			if name == "method.head.weight" {
				g.MustFill_(ts.FloatScalar(head))
			} else {
				g.MustFill_(ts.FloatScalar(other))
			}
		}
	}
	norm := func(grads map[string]*ts.Tensor) float64 {
		var sq float64
		for _, g := range grads {
			n := s.T(g.MustNorm(false)).MustFloat64Value(nil)
			sq += n * n
		}
		return math.Sqrt(sq)
	}
	// Head gradients inside [−1, 1], large elsewhere: no clip.
	setGrads(-1, 10)
	before := ogmTestGrads(s, run)
	a.AfterBackward(s, b)
	after := ogmTestGrads(s, run)
	for name, g := range before {
		if d := ogmTestMaxDiff(s, after[name], g, 1); d != 0 {
			t.Errorf("%s changed by %g although the head gradient is within [−1, 1]", name, d)
		}
	}
	if n := norm(after); n < 10 {
		t.Fatalf("test setup: global norm %g should be large", n)
	}
	// One head element at −1.5: every gradient is scaled so that the global norm is 1.
	setGrads(0.1, 0.2)
	head := s.T(a.head.W.MustGrad(false))
	s.T(s.T(head.MustNarrow(0, 1, 1, false)).MustNarrow(1, 2, 1, false)).MustFill_(ts.FloatScalar(-1.5))
	before = ogmTestGrads(s, run)
	total := norm(before)
	a.AfterBackward(s, b)
	after = ogmTestGrads(s, run)
	if n := norm(after); math.Abs(n-1) > 1e-4 {
		t.Errorf("global gradient norm after the clip is %g, want 1", n)
	}
	for name, g := range before {
		if d := ogmTestMaxDiff(s, after[name], g, 1/total); d > 1e-6 {
			t.Errorf("%s is not the pre-clip gradient scaled by 1/%g (max diff %g)", name, total, d)
		}
	}
}
