package methods

import (
	"math"
	"strings"
	"testing"

	"github.com/mmfusion/bench/bench/benchtest"
	"github.com/mmfusion/bench/bench/torchrt"
	"github.com/sugarme/gotch/ts"
)

func TestMLBCoefficientsMatchHandComputation(t *testing.T) {
	near := func(name string, got, want float64) {
		t.Helper()
		if math.Abs(got-want) > 1e-6 {
			t.Errorf("%s: got %.7f, want %.7f", name, got, want)
		}
	}
	// s = (0.4, 0.5): ρ_a = 0.5/0.4 = 1.25 → 1 + tanh(0.2) = 1.1973753; ρ_v = 0.8 → 1 + tanh(−0.16) = 0.8413515.
	k := mlbCoefficients([]float64{0.4, 0.5}, 0.8)
	near("k_a (weaker, sped up)", k[0], 1.1973753)
	near("k_v (stronger, slowed)", k[1], 0.8413515)
	// Balanced: k = 1.
	k = mlbCoefficients([]float64{0.3, 0.3}, 0.8)
	near("balanced", k[0], 1)
	// Three modalities s = (0.6, 0.3, 0.3): ρ_0 = (0.5 + 0.5)/2 = 0.5 → 1 + tanh(−0.4) = 0.6200510;
	// ρ_1 = (2 + 1)/2 = 1.5 → 1 + tanh(0.4) = 1.3799490.
	k = mlbCoefficients([]float64{0.6, 0.3, 0.3}, 0.8)
	near("k_0 of 3", k[0], 0.6200510)
	near("k_1 of 3", k[1], 1.3799490)
	near("k_2 of 3", k[2], 1.3799490)
}

// After backward, every gradient of encoder m, of its head H_m and of the fusion block W_m is k_m times
// the unmodulated one; the fusion bias is untouched.
func TestMLBScalesEncoderHeadAndFusionBlock(t *testing.T) {
	run, train := benchtest.Build(t, benchtest.Cell(t, "mlb", nil, 1, 1), benchtest.Set(t, ogmTestData, 1))
	s := torchrt.NewScope()
	defer s.Drop()
	o := run.Method.(*MLB)
	b := benchtest.Batch(s, train, 0, 64, 1)
	ogmTestZeroGrads(run)
	loss, out := o.Forward(s, b, true)
	loss.MustBackward()
	ref := ogmTestGrads(s, run)
	sa, sv := ogmTestScores(out.PerModality[0], b.Y), ogmTestScores(out.PerModality[1], b.Y)
	k := []float64{1 + math.Tanh(0.8*(sv/sa-1)), 1 + math.Tanh(0.8*(sa/sv-1))}
	if math.Abs(k[0]-1) < 1e-3 {
		t.Fatalf("test setup: k = %v too close to 1", k)
	}
	ogmTestZeroGrads(run)
	loss, _ = o.Forward(s, b, true)
	loss.MustBackward()
	o.AfterBackward(s, b)
	mod := ogmTestGrads(s, run)
	check := func(name string, got, want *ts.Tensor, c float64) {
		t.Helper()
		if d := ogmTestMaxDiff(s, got, want, c); d > 1e-6*(1+ogmTestMaxAbs(s, want)) {
			t.Errorf("%s: gradient differs from %.4f × reference by %g", name, c, d)
		}
	}
	for _, name := range ogmTestSortedNames(ref) {
		switch {
		case name == "method.fusion.weight":
			d := o.dims[0]
			check(name+"[:, a]", s.T(mod[name].MustNarrow(1, 0, d, false)), s.T(ref[name].MustNarrow(1, 0, d, false)), k[0])
			check(name+"[:, v]", s.T(mod[name].MustNarrow(1, d, o.dims[1], false)), s.T(ref[name].MustNarrow(1, d, o.dims[1], false)), k[1])
		case name == "method.fusion.bias":
			check(name, mod[name], ref[name], 1)
		case ogmTestModality(name) >= 0:
			check(name, mod[name], ref[name], k[ogmTestModality(name)])
		case strings.HasPrefix(name, "method.head0."):
			check(name, mod[name], ref[name], k[0])
		case strings.HasPrefix(name, "method.head1."):
			check(name, mod[name], ref[name], k[1])
		default:
			t.Errorf("unexpected variable %s", name)
		}
	}
}
