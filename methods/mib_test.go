package methods

import (
	"math"
	"testing"

	"github.com/mmfusion/bench/bench"
	"github.com/mmfusion/bench/bench/benchtest"
	_ "github.com/mmfusion/bench/bench/encoders"
	"github.com/mmfusion/bench/bench/layers"
	"github.com/mmfusion/bench/bench/torchrt"
	_ "github.com/mmfusion/bench/datasets"
	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"
)

// Helpers shared by the mib, qmf, mmml, mmtm and unimodal tests: float64 re-implementations of the
// layers (so expected values do not go through the code under test).

// mibGo copies a 1-D or 2-D tensor into float64 rows (a 1-D tensor gives one row).
func mibGo(t *ts.Tensor) [][]float64 {
	c := t.MustDetach(false)
	defer c.MustDrop()
	d := c.MustTotype(gotch.Double, false)
	defer d.MustDrop()
	flat := make([]float64, d.Numel())
	d.MustCopyData(flat, d.Numel())
	shape := d.MustSize()
	cols := shape[len(shape)-1]
	var out [][]float64
	for i := 0; i < len(flat); i += int(cols) {
		out = append(out, flat[i:i+int(cols)])
	}
	return out
}

func mibGoLinear(x [][]float64, l *layers.Linear) [][]float64 {
	w, b := mibGo(l.W), mibGo(l.B)[0]
	out := make([][]float64, len(x))
	for i, row := range x {
		out[i] = make([]float64, len(w))
		for o := range w {
			v := b[o]
			for k, xk := range row {
				v += w[o][k] * xk
			}
			out[i][o] = v
		}
	}
	return out
}

func mibGoMap(x [][]float64, f func(float64) float64) [][]float64 {
	out := make([][]float64, len(x))
	for i, row := range x {
		out[i] = make([]float64, len(row))
		for j, v := range row {
			out[i][j] = f(v)
		}
	}
	return out
}

func mibGoRelu(v float64) float64 { return math.Max(v, 0) }

func mibGoConcat(parts ...[][]float64) [][]float64 {
	out := make([][]float64, len(parts[0]))
	for i := range out {
		for _, p := range parts {
			out[i] = append(out[i], p[i]...)
		}
	}
	return out
}

func mibGoLSE(row []float64) float64 {
	mx := math.Inf(-1)
	for _, v := range row {
		mx = math.Max(mx, v)
	}
	var s float64
	for _, v := range row {
		s += math.Exp(v - mx)
	}
	return mx + math.Log(s)
}

// mibGoCEs is the per-sample softmax cross-entropy.
func mibGoCEs(logits [][]float64, y []int64) []float64 {
	out := make([]float64, len(y))
	for i, row := range logits {
		out[i] = mibGoLSE(row) - row[y[i]]
	}
	return out
}

func mibGoMean(v []float64) float64 {
	var s float64
	for _, x := range v {
		s += x
	}
	return s / float64(len(v))
}

func mibGoCE(logits [][]float64, y []int64) float64 { return mibGoMean(mibGoCEs(logits, y)) }

func mibClose(a, b, tol float64) bool { return math.Abs(a-b) <= tol*(1+math.Abs(b)) }

// KL against its closed form 0.5·mean(μ² + σ² − 2 ln σ − 1) on constructed μ, σ; zero at the prior.
func TestMIBKLClosedForm(t *testing.T) {
	s := torchrt.NewScope()
	defer s.Drop()
	mu := []float32{0.5, -1, 2, 0, 0.1, -0.3}
	sigma := []float32{1, 0.5, 2, 0.01, 1.5, 0.9}
	var want float64
	for i := range mu {
		m, sg := float64(mu[i]), float64(sigma[i])
		want += m*m + sg*sg - 2*math.Log(sg) - 1
	}
	want = 0.5 * want / float64(len(mu))
	muT := s.T(s.T(ts.MustOfSlice(mu)).MustView([]int64{2, 3}, false))
	sgT := s.T(s.T(ts.MustOfSlice(sigma)).MustView([]int64{2, 3}, false))
	if got := mibKL(s, muT, sgT, s.T(sgT.MustLog(false))).MustFloat64Value(nil); !mibClose(got, want, 1e-5) {
		t.Fatalf("KL = %v, closed form %v", got, want)
	}
	zero := s.T(ts.MustZeros([]int64{2, 3}, gotch.Float, gotch.CPU))
	one := s.T(zero.MustAddScalar(ts.FloatScalar(1), false))
	if got := mibKL(s, zero, one, zero).MustFloat64Value(nil); math.Abs(got) > 1e-7 {
		t.Fatalf("KL(N(0,1) ‖ N(0,1)) = %v, want 0", got)
	}
}

// log σ = log softplus(a) matches the direct formula where that is finite and stays finite (≈ a)
// where softplus underflows, with gradient ≈ 1 there.
func TestMIBLogSoftplus(t *testing.T) {
	s := torchrt.NewScope()
	defer s.Drop()
	in := []float32{-300, -120, -20, -14, -5, 0, 3, 30}
	a := s.T(s.T(ts.MustOfSlice(in)).MustSetRequiresGrad(true, false))
	l := mibLogSoftplus(s, a)
	got := mibGo(l)[0]
	for i, v := range in {
		want := math.Log(math.Log1p(math.Exp(float64(v))))
		if math.IsInf(want, -1) {
			want = float64(v) // the asymptote: log softplus(a) = a + O(e^a)
		}
		if !mibClose(got[i], want, 1e-5) {
			t.Errorf("log softplus(%v) = %v, want %v", v, got[i], want)
		}
	}
	s.T(l.MustSum(gotch.Float, false)).MustBackward()
	grad := mibGo(s.T(a.MustGrad(false)))[0]
	for i, v := range in {
		// d/da log softplus(a) = sigmoid(a)/softplus(a)
		x := float64(v)
		want := 1.0
		if x > -30 {
			want = 1 / (1 + math.Exp(-x)) / math.Log1p(math.Exp(x))
		}
		if math.IsNaN(grad[i]) || !mibClose(grad[i], want, 1e-3) {
			t.Errorf("gradient at %v = %v, want %v", v, grad[i], want)
		}
	}
}

// The VIB gives z = μ at evaluation, and z = μ + σ⊙ε with ε from the cell's noise in training;
// σ = softplus(Linear(h) − 5) starts near softplus(−5) ≈ 0.0067.
func TestMIBVIBSampling(t *testing.T) {
	s := torchrt.NewScope()
	defer s.Drop()
	run, train := benchtest.Build(t, benchtest.Cell(t, "mib", map[string]string{"hidden": "32", "d": "8"}, 3, 1), benchtest.Set(t, tinyMix, 1))
	b := benchtest.Batch(s, train, 0, 16, 1)
	m := run.Method.(*MIB)
	x := run.Encoders[0].Forward(s, b.X[0], false)
	v := m.vibs[0]
	p := v.forward(s, x, m.noise, false)
	mu, sigma := p.mu, p.sigma
	if p.z != mu {
		t.Fatal("evaluation: z is not μ")
	}
	// σ from the weights, in float64.
	h := mibGoMap(mibGoLinear(mibGo(x), v.enc), mibGoRelu)
	wantSigma := mibGoMap(mibGoLinear(h, v.std), func(a float64) float64 { return math.Log1p(math.Exp(a - 5)) })
	wantMu := mibGoLinear(h, v.mu)
	gotSigma, gotMu := mibGo(sigma), mibGo(mu)
	for i := range wantSigma {
		for j := range wantSigma[i] {
			if !mibClose(gotSigma[i][j], wantSigma[i][j], 1e-4) || !mibClose(gotMu[i][j], wantMu[i][j], 1e-4) {
				t.Fatalf("[%d,%d]: σ %v want %v, μ %v want %v", i, j, gotSigma[i][j], wantSigma[i][j], gotMu[i][j], wantMu[i][j])
			}
			if gotSigma[i][j] > 0.05 {
				t.Fatalf("σ at initialisation %v; want ≈ softplus(−5)", gotSigma[i][j])
			}
		}
	}
	// Training: replay the same generator to get ε.
	m.noise = bench.NewNoise(11, gotch.CPU)
	eps := mibGo(bench.NewNoise(11, gotch.CPU).Randn(s, mu.MustSize()))
	got := mibGo(v.forward(s, x, m.noise, true).z)
	for i := range got {
		for j := range got[i] {
			want := wantMu[i][j] + wantSigma[i][j]*eps[i][j]
			if !mibClose(got[i][j], want, 1e-4) {
				t.Fatalf("training z[%d,%d] = %v, want μ+σε = %v", i, j, got[i][j], want)
			}
		}
	}
}

// mibGoVIB recomputes a VIB in float64: z (with eps, or μ when eps is nil) and the KL.
func mibGoVIB(x [][]float64, v *mibVIB, eps [][]float64) (z [][]float64, kl float64) {
	h := mibGoMap(mibGoLinear(x, v.enc), mibGoRelu)
	mu := mibGoLinear(h, v.mu)
	sg := mibGoMap(mibGoLinear(h, v.std), func(a float64) float64 { return math.Log1p(math.Exp(a - 5)) })
	z = make([][]float64, len(mu))
	var n int
	for i := range mu {
		z[i] = make([]float64, len(mu[i]))
		for j := range mu[i] {
			z[i][j] = mu[i][j]
			if eps != nil {
				z[i][j] += sg[i][j] * eps[i][j]
			}
			kl += mu[i][j]*mu[i][j] + sg[i][j]*sg[i][j] - 2*math.Log(sg[i][j]) - 1
			n++
		}
	}
	return z, 0.5 * kl / float64(n)
}

// The loss of every variant equals the sum of its terms recomputed in float64 from the weights, in
// evaluation (z = μ) and in training (ε replayed from the same generator), with β and the fused task
// weight away from their defaults so that each term's coefficient is checked.
func TestMIBLossEqualsSumOfTerms(t *testing.T) {
	const beta, fw = 0.3, 1.7
	for _, method := range []string{"mib", "mib-early", "mib-late"} {
		for _, train := range []bool{false, true} {
			s := torchrt.NewScope()
			run, split := benchtest.Build(t, benchtest.Cell(t, method, map[string]string{"hidden": "32", "d": "8", "beta": "0.3", "fused_task_weight": "1.7"}, 3, 1), benchtest.Set(t, tinyMix, 1))
			b := benchtest.Batch(s, split, 0, 16, 1)
			m := run.Method.(*MIB)
			m.noise = bench.NewNoise(5, gotch.CPU)
			replay := bench.NewNoise(5, gotch.CPU)
			draw := func(n, d int) [][]float64 {
				if !train {
					return nil
				}
				return mibGo(replay.Randn(s, []int64{int64(n), int64(d)}))
			}
			y := b.Y.Int64Values()
			// Encoders are deterministic (no dropout/BN in the mlp encoder), so the float64 recomputation
			// starts from their outputs.
			var feats [][][]float64
			for i, e := range run.Encoders {
				feats = append(feats, mibGo(e.Forward(s, b.X[i], false)))
			}
			loss, out := m.Forward(s, b, train)
			var want float64
			var zs [][][]float64
			var uniCE []float64
			if method != "mib-early" {
				for i := range feats {
					z, kl := mibGoVIB(feats[i], m.vibs[i], draw(len(y), 8))
					ce := mibGoCE(mibGoLinear(z, m.decs[i]), y)
					uniCE = append(uniCE, ce)
					want += ce + beta*kl
					zs = append(zs, z)
				}
			} else {
				zs = feats
			}
			f := mibGoMap(mibGoLinear(mibGoConcat(zs...), m.fuse), mibGoRelu)
			if method != "mib-late" {
				z, kl := mibGoVIB(f, m.fusedVIB, draw(len(y), 8))
				want += beta * kl
				f = z
			}
			want += fw * mibGoCE(mibGoLinear(f, m.dec), y)
			if got := loss.MustFloat64Value(nil); !mibClose(got, want, 1e-4) {
				t.Errorf("%s train=%v: loss %v, recomputed %v", method, train, got, want)
			}
			if method == "mib-early" {
				if out.PerModality != nil {
					t.Errorf("E-MIB has no unimodal decoders but reports %v", out.PerModality)
				}
			} else {
				for i, l := range out.PerModality {
					if got := layers.CrossEntropy(s, l, b.Y).MustFloat64Value(nil); !mibClose(got, uniCE[i], 1e-4) {
						t.Errorf("%s: PerModality[%d] CE %v, want the decoder's %v", method, i, got, uniCE[i])
					}
				}
			}
			s.Drop()
		}
	}
}
