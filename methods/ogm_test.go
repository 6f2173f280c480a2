package methods

import (
	"math"
	"sort"
	"strings"
	"testing"

	"github.com/mmfusion/bench/bench"
	"github.com/mmfusion/bench/bench/benchtest"
	_ "github.com/mmfusion/bench/bench/encoders"
	"github.com/mmfusion/bench/bench/torchrt"
	_ "github.com/mmfusion/bench/datasets"
	"github.com/sugarme/gotch/ts"
)

// Numeric helpers shared by the method tests (prefixed ogm because they live here); cells, sets,
// runs and batches come from bench/benchtest.

const ogmTestData = "synthetic:mix=0.5R+0.5S,train=240,val=100,test=100"

// ogmTestZeroGrads zeroes every defined gradient of the model.
func ogmTestZeroGrads(run *bench.Run) {
	for _, v := range bench.Variables(run.VS, "") {
		g := v.MustGrad(false)
		if g.MustDefined() {
			g.MustZero_()
		}
		g.MustDrop()
	}
}

// ogmTestGrads copies every defined gradient, by variable name (the copies belong to s).
func ogmTestGrads(s *torchrt.Scope, run *bench.Run) map[string]*ts.Tensor {
	out := map[string]*ts.Tensor{}
	for name, v := range bench.Variables(run.VS, "") {
		g := s.T(v.MustGrad(false))
		if g.MustDefined() {
			out[name] = s.T(g.MustMulScalar(ts.FloatScalar(1), false))
		}
	}
	return out
}

func ogmTestMaxAbs(s *torchrt.Scope, x *ts.Tensor) float64 {
	return s.T(s.T(x.MustAbs(false)).MustMax(false)).MustFloat64Value(nil)
}

// ogmTestMaxDiff is max |a − c·b|.
func ogmTestMaxDiff(s *torchrt.Scope, a, b *ts.Tensor, c float64) float64 {
	return ogmTestMaxAbs(s, s.T(a.MustSub(s.T(b.MustMulScalar(ts.FloatScalar(c), false)), false)))
}

// ogmTestScores computes Σ_i softmax(ℓ_i)[y_i] in Go from the logits' values.
func ogmTestScores(l, y *ts.Tensor) float64 {
	sz := l.MustSize()
	vals := l.Float64Values()
	ys := y.Int64Values()
	var sum float64
	for i := int64(0); i < sz[0]; i++ {
		row := vals[i*sz[1] : (i+1)*sz[1]]
		mx := math.Inf(-1)
		for _, v := range row {
			mx = math.Max(mx, v)
		}
		var z float64
		for _, v := range row {
			z += math.Exp(v - mx)
		}
		sum += math.Exp(row[ys[i]]-mx) / z
	}
	return sum
}

func ogmTestSortedNames(m map[string]*ts.Tensor) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func TestOGMCoefficientsMatchHandComputation(t *testing.T) {
	near := func(name string, got, want, tol float64) {
		t.Helper()
		if math.Abs(got-want) > tol {
			t.Errorf("%s: got %.6f, want %.6f", name, got, want)
		}
	}
	// Visual just stronger (ρ_v = 1.0001 > 1): k_v = 1 − tanh(0.8·1.0001) ≈ 0.336 (the discontinuity).
	k := ogmCoefficients([]float64{5, 5.0005}, 0.8)
	near("k_a, rho_v just above 1", k[0], 1, 0)
	near("k_v, rho_v just above 1", k[1], 0.336, 1e-3)
	// Same with α = 0.1: 1 − tanh(0.1) ≈ 0.900.
	k = ogmCoefficients([]float64{5, 5.0005}, 0.1)
	near("k_v, alpha 0.1", k[1], 0.900, 1e-3)
	// Audio just stronger: audio is slowed.
	k = ogmCoefficients([]float64{5.0005, 5}, 0.8)
	near("k_a, rho_v just below 1", k[0], 0.336, 1e-3)
	near("k_v, rho_v just below 1", k[1], 1, 0)
	// Exact tie goes to the else branch of the reference: audio modulated with 1 − tanh(0.8) = 0.33596.
	k = ogmCoefficients([]float64{5, 5}, 0.8)
	near("k_a at tie", k[0], 0.33596, 1e-5)
	near("k_v at tie", k[1], 1, 0)
	// s_a = 10, s_v = 5: ρ_a = 2, k_a = 1 − tanh(1.6) = 1 − 0.921669 = 0.078331.
	k = ogmCoefficients([]float64{10, 5}, 0.8)
	near("k_a, rho_a 2", k[0], 0.078331, 1e-6)
	near("k_v, rho_a 2", k[1], 1, 0)
	// Three modalities, pairwise-averaged ratios: s = (3, 2, 1).
	// ρ_0 = (1.5 + 3)/2 = 2.25 → 1 − tanh(1.8) = 0.053194; ρ_1 = (2/3 + 2)/2 = 4/3 → 1 − tanh(1.066667) = 0.211798;
	// ρ_2 = (1/3 + 1/2)/2 < 1 → 1.
	k = ogmCoefficients([]float64{3, 2, 1}, 0.8)
	near("k_0 of 3", k[0], 0.053194, 1e-6)
	near("k_1 of 3", k[1], 0.211798, 1e-6)
	near("k_2 of 3", k[2], 1, 0)
}

// ogmTestModulatedStep runs the same batch twice: once with a plain backward (reference gradients)
// and once with backward + AfterBackward. It returns both gradient sets and the coefficients
// computed in the test from the unimodal logits.
func ogmTestModulatedStep(t *testing.T, s *torchrt.Scope, run *bench.Run, b *bench.Batch, alpha float64) (ref, mod map[string]*ts.Tensor, k []float64) {
	t.Helper()
	o := run.Method.(*OGM)
	ogmTestZeroGrads(run)
	loss, out := o.Forward(s, b, true)
	loss.MustBackward()
	ref = ogmTestGrads(s, run)
	sa, sv := ogmTestScores(out.PerModality[0], b.Y), ogmTestScores(out.PerModality[1], b.Y)
	k = []float64{1, 1}
	if sv/sa > 1 {
		k[1] = 1 - math.Tanh(alpha*sv/sa)
	} else {
		k[0] = 1 - math.Tanh(alpha*sa/sv)
	}
	ogmTestZeroGrads(run)
	loss, _ = o.Forward(s, b, true)
	loss.MustBackward()
	o.AfterBackward(s, b)
	mod = ogmTestGrads(s, run)
	return ref, mod, k
}

// ogmTestModality is the modality index of an encoder variable name (enc0., enc1.), or -1.
func ogmTestModality(name string) int {
	switch {
	case strings.HasPrefix(name, "enc0."):
		return 0
	case strings.HasPrefix(name, "enc1."):
		return 1
	}
	return -1
}

// Plain OGM: only the encoder weight gradients are scaled, each by its modality's k (the stronger
// modality's by k < 1); biases and the whole fusion head keep their gradients; outside the window
// nothing changes.
func TestOGMScalesOnlyEncoderWeightGradients(t *testing.T) {
	run, train := benchtest.Build(t, benchtest.Cell(t, "ogm", map[string]string{"ge": "false", "modulation_end": "3"}, 1, 1), benchtest.Set(t, ogmTestData, 1))
	s := torchrt.NewScope()
	defer s.Drop()
	ref, mod, k := ogmTestModulatedStep(t, s, run, benchtest.Batch(s, train, 0, 64, 2), 0.8)
	if !(math.Min(k[0], k[1]) < 0.5) || math.Max(k[0], k[1]) != 1 {
		t.Fatalf("test setup: expected one modality slowed, k = %v", k)
	}
	var scaled, kept int
	for _, name := range ogmTestSortedNames(ref) {
		r, g := ref[name], mod[name]
		want := 1.0
		if m := ogmTestModality(name); m >= 0 && r.Dim() >= 2 {
			want = k[m]
			scaled++
		} else {
			kept++
		}
		if d := ogmTestMaxDiff(s, g, r, want); d > 1e-6*(1+ogmTestMaxAbs(s, r)) {
			t.Errorf("%s: gradient differs from %.4f × reference by %g", name, want, d)
		}
	}
	if scaled != 4 || kept != 6 { // 2 encoders × 2 layers: 4 weights, 4 biases; head weight + bias
		t.Fatalf("scaled %d and kept %d gradients; want 4 and 6", scaled, kept)
	}
	// Outside the window (epoch 4 > modulation_end 3): AfterBackward changes nothing.
	ref, mod, _ = ogmTestModulatedStep(t, s, run, benchtest.Batch(s, train, 0, 64, 4), 0.8)
	for name, r := range ref {
		if d := ogmTestMaxDiff(s, mod[name], r, 1); d != 0 {
			t.Errorf("%s modified outside the modulation window (max diff %g)", name, d)
		}
	}
}

// OGM-GE: the modulated gradient is k·g + ε with ε of std σ = std(g) + 1e-8, for both modalities
// (the k = 1 one included); biases and the head are untouched.
func TestOGMGENoiseHasGradientStd(t *testing.T) {
	run, train := benchtest.Build(t, benchtest.Cell(t, "ogm", nil, 1, 1), benchtest.Set(t, ogmTestData, 1))
	s := torchrt.NewScope()
	defer s.Drop()
	ref, mod, k := ogmTestModulatedStep(t, s, run, benchtest.Batch(s, train, 0, 64, 1), 0.8)
	noisy := 0
	for _, name := range ogmTestSortedNames(ref) {
		r, g := ref[name], mod[name]
		m := ogmTestModality(name)
		if m < 0 || r.Dim() < 2 {
			if d := ogmTestMaxDiff(s, g, r, 1); d != 0 {
				t.Errorf("%s: gradient changed by %g; only encoder weights may be modulated", name, d)
			}
			continue
		}
		eps := s.T(g.MustSub(s.T(r.MustMulScalar(ts.FloatScalar(k[m]), false)), false))
		vals := eps.Float64Values()
		var mean, sq float64
		for _, v := range vals {
			mean += v
		}
		mean /= float64(len(vals))
		for _, v := range vals {
			sq += (v - mean) * (v - mean)
		}
		got := math.Sqrt(sq / float64(len(vals)-1))
		want := s.T(r.MustStd(true, false)).MustFloat64Value(nil) + 1e-8
		if math.Abs(got-want) > 0.1*want {
			t.Errorf("%s (k=%.3f): noise std %.4g, want σ = std(g)+1e-8 = %.4g", name, k[m], got, want)
		}
		if math.Abs(mean) > 0.2*want {
			t.Errorf("%s: noise mean %.4g is not near 0 (σ %.4g)", name, mean, want)
		}
		noisy++
	}
	if noisy != 4 {
		t.Fatalf("%d noisy gradients, want 4 (both modalities' weights)", noisy)
	}
}
