package methods

import (
	"math"
	"testing"

	"github.com/mmfusion/bench/bench/torchrt"
)

// fuseCat is [a; b] row by row.
func fuseCat(a, b [][]float64) [][]float64 {
	out := make([][]float64, len(a))
	for i := range a {
		out[i] = append(append([]float64(nil), a[i]...), b[i]...)
	}
	return out
}

// fuseCols is columns lo…hi−1 of w.
func fuseCols(w [][]float64, lo, hi int) [][]float64 {
	out := make([][]float64, len(w))
	for k := range w {
		out[k] = w[k][lo:hi]
	}
	return out
}

// Joint on the fixed example, by hand: ℓ = W[z¹; z²] + b is the fused output, the loss is CE(ℓ, y),
// the monitored unimodal logits are ℓ^m = W_m z^m + b/2 (summing to ℓ), and the gradients reaching
// the head and both encoders are those of CE(ℓ, y) through the concatenation head.
func TestJointLossIsCEOfConcatLinearHead(t *testing.T) {
	s := torchrt.NewScope()
	defer s.Drop()
	meth, encs, b := fuseBuild(t, s, "joint", nil)
	j := meth.(*Joint)
	w := [][]float64{{0.2, -0.1, 0.3, 0.05, -0.25}, {0.15, -0.3, 0.1, 0.4, 0.2}, {-0.2, 0.25, -0.15, 0.1, 0.3}}
	bias := []float64{0.01, -0.02, 0.03}
	pmrTestSetTensor(j.linear.W, pmrTestFlat(w), 3, 5)
	pmrTestSetTensor(j.linear.B, bias, 3)

	z1 := fuseLin(fuseX[0], fuseEnc[0].w, fuseEnc[0].b)
	z2 := fuseLin(fuseX[1], fuseEnc[1].w, fuseEnc[1].b)
	cat := fuseCat(z1, z2)
	logits := fuseLin(cat, w, bias)
	half := []float64{bias[0] / 2, bias[1] / 2, bias[2] / 2}
	for _, train := range []bool{false, true} {
		loss, out := j.Forward(s, b, train)
		if got, want := loss.MustFloat64Value(nil), mibGoCE(logits, fuseY); !mibClose(got, want, 1e-5) {
			t.Fatalf("train=%v: loss %v, want CE(W[z¹; z²] + b, y) = %v", train, got, want)
		}
		fuseCheck(t, "fused logits", out.Fused, logits)
		if len(out.PerModality) != 2 {
			t.Fatalf("%d unimodal logits, want 2", len(out.PerModality))
		}
		fuseCheck(t, "ℓ¹", out.PerModality[0], fuseLin(z1, fuseCols(w, 0, 2), half))
		fuseCheck(t, "ℓ²", out.PerModality[1], fuseLin(z2, fuseCols(w, 2, 5), half))
		if !train {
			continue
		}
		loss.MustBackward()
		gW, gb, gcat := fuseLinGrad(fuseCEGrad(logits, fuseY), cat, w)
		fuseCheck(t, "∂L/∂W", fuseGrad(s, j.linear.W), gW)
		fuseCheck(t, "∂L/∂b", fuseGrad(s, j.linear.B), [][]float64{gb})
		for m, z := range [][][]float64{z1, z2} {
			lo := []int{0, 2}[m]
			gz := fuseCols(gcat, lo, lo+len(z[0]))
			gA, ga, _ := fuseLinGrad(gz, fuseX[m], fuseEnc[m].w)
			fuseCheck(t, "∂L/∂A_m", fuseGrad(s, encs[m].W), gA)
			fuseCheck(t, "∂L/∂a_m", fuseGrad(s, encs[m].B), [][]float64{ga})
		}
	}
}

// With fusion=mlp the fused output is W₂ ReLU(W₁[z¹; z²] + b₁) + b₂ (weights as initialised), the
// loss is its CE, and no unimodal logits are reported (the head is not additive).
func TestJointMLPHead(t *testing.T) {
	s := torchrt.NewScope()
	defer s.Drop()
	meth, _, b := fuseBuild(t, s, "joint", map[string]string{"fusion": "mlp", "fusion_hidden": "4"})
	j := meth.(*Joint)
	if j.mlp == nil || len(j.mlp.Layers) != 2 || j.mlp.Layers[0].In != 5 || j.mlp.Layers[0].Out != 4 || j.mlp.Layers[1].Out != 3 {
		t.Fatalf("mlp head %+v, want 5 → 4 → 3", j.mlp)
	}
	cat := fuseCat(fuseLin(fuseX[0], fuseEnc[0].w, fuseEnc[0].b), fuseLin(fuseX[1], fuseEnc[1].w, fuseEnc[1].b))
	l0, l1 := j.mlp.Layers[0], j.mlp.Layers[1]
	h := fuseLin(cat, mibGo(l0.W), mibGo(l0.B)[0])
	for _, row := range h {
		for k := range row {
			row[k] = math.Max(row[k], 0)
		}
	}
	logits := fuseLin(h, mibGo(l1.W), mibGo(l1.B)[0])
	loss, out := j.Forward(s, b, true)
	fuseCheck(t, "fused logits", out.Fused, logits)
	if got, want := loss.MustFloat64Value(nil), mibGoCE(logits, fuseY); !mibClose(got, want, 1e-5) {
		t.Fatalf("loss %v, want CE of the mlp head's logits %v", got, want)
	}
	if out.PerModality != nil {
		t.Fatalf("mlp head reports unimodal logits %v", out.PerModality)
	}
}
