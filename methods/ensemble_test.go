package methods

import (
	"slices"
	"testing"

	"github.com/mmfusion/bench/bench"
	"github.com/mmfusion/bench/bench/layers"
	"github.com/mmfusion/bench/bench/torchrt"
	"github.com/sugarme/gotch/ts"
)

// The ensemble's unimodal heads on the fixed example: H_1 on z¹ (size 2), H_2 on z² (size 3).
var ensembleHeads = []struct {
	w [][]float64
	b []float64
}{
	{w: [][]float64{{0.3, -0.2}, {-0.1, 0.4}, {0.25, 0.15}}, b: []float64{0.02, -0.01, 0.03}},
	{w: [][]float64{{0.2, -0.3, 0.1}, {0.05, 0.25, -0.2}, {-0.15, 0.1, 0.35}}, b: []float64{-0.02, 0.04, 0.01}},
}

// ensembleBuild is fuseBuild for ensemble with the heads above; x2, when not nil, replaces modality
// 2's input.
func ensembleBuild(t *testing.T, s *torchrt.Scope, x2 [][]float64) (*Ensemble, []*layers.Linear, *bench.Batch) {
	t.Helper()
	meth, encs, b := fuseBuild(t, s, "ensemble", nil)
	e := meth.(*Ensemble)
	for m, h := range ensembleHeads {
		out, in := int64(len(h.w)), int64(len(h.w[0]))
		pmrTestSetTensor(e.heads[m].W, pmrTestFlat(h.w), out, in)
		pmrTestSetTensor(e.heads[m].B, h.b, out)
	}
	if x2 != nil {
		b.X[1] = s.T(pmrTestTensor(x2))
	}
	return e, encs, b
}

// Ensemble on the fixed example, by hand: the unimodal logits are ℓ^m = H_m z^m + c_m, the fused
// output is their mean, the loss is CE(ℓ¹, y) + CE(ℓ², y), and each branch's encoder and head get
// exactly the gradient of their own CE.
func TestEnsembleLossAndMeanLogits(t *testing.T) {
	s := torchrt.NewScope()
	defer s.Drop()
	e, encs, b := ensembleBuild(t, s, nil)
	var z, l [][][]float64
	for m := range fuseX {
		z = append(z, fuseLin(fuseX[m], fuseEnc[m].w, fuseEnc[m].b))
		l = append(l, fuseLin(z[m], ensembleHeads[m].w, ensembleHeads[m].b))
	}
	mean := make([][]float64, len(l[0]))
	for i := range mean {
		for k := range l[0][i] {
			mean[i] = append(mean[i], (l[0][i][k]+l[1][i][k])/2)
		}
	}
	loss, out := e.Forward(s, b, true)
	if got, want := loss.MustFloat64Value(nil), mibGoCE(l[0], fuseY)+mibGoCE(l[1], fuseY); !mibClose(got, want, 1e-5) {
		t.Fatalf("loss %v, want CE(ℓ¹) + CE(ℓ²) = %v", got, want)
	}
	if len(out.PerModality) != 2 {
		t.Fatalf("%d unimodal logits, want 2", len(out.PerModality))
	}
	for m := range l {
		fuseCheck(t, "ℓ^m", out.PerModality[m], l[m])
	}
	fuseCheck(t, "fused logits", out.Fused, mean)
	loss.MustBackward()
	for m := range l {
		gH, gc, gz := fuseLinGrad(fuseCEGrad(l[m], fuseY), z[m], ensembleHeads[m].w)
		gA, ga, _ := fuseLinGrad(gz, fuseX[m], fuseEnc[m].w)
		fuseCheck(t, "∂L/∂H_m", fuseGrad(s, e.heads[m].W), gH)
		fuseCheck(t, "∂L/∂c_m", fuseGrad(s, e.heads[m].B), [][]float64{gc})
		fuseCheck(t, "∂L/∂A_m", fuseGrad(s, encs[m].W), gA)
		fuseCheck(t, "∂L/∂a_m", fuseGrad(s, encs[m].B), [][]float64{ga})
	}
}

// No gradient flows between the branches: changing modality 2's input changes the gradients of
// branch 2 (its encoder and head) and leaves those of branch 1 bit-identical.
func TestEnsembleBranchesShareNoGradient(t *testing.T) {
	grads := func(x2 [][]float64) [][]float64 {
		s := torchrt.NewScope()
		defer s.Drop()
		e, encs, b := ensembleBuild(t, s, x2)
		loss, _ := e.Forward(s, b, true)
		loss.MustBackward()
		var out [][]float64
		for _, v := range []*ts.Tensor{encs[0].W, encs[0].B, e.heads[0].W, e.heads[0].B, encs[1].W, encs[1].B, e.heads[1].W, e.heads[1].B} {
			out = append(out, fuseGrad(s, v).Float64Values())
		}
		return out
	}
	base := grads(nil)
	moved := grads([][]float64{{-2, 1.5}, {0.3, -0.7}, {1, 2}})
	for i := 0; i < 4; i++ {
		if !slices.Equal(base[i], moved[i]) {
			t.Errorf("branch 1 gradient %d changed with modality 2's input: %v → %v", i, base[i], moved[i])
		}
	}
	for i := 4; i < 8; i++ {
		if slices.Equal(base[i], moved[i]) {
			t.Errorf("branch 2 gradient %d did not change with its own input", i-4)
		}
	}
}
