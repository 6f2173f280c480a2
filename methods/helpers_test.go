package methods

import (
	"fmt"
	"math"
	"testing"

	"github.com/mmfusion/bench/bench"
	"github.com/mmfusion/bench/bench/benchtest"
	"github.com/mmfusion/bench/bench/data"
	"github.com/mmfusion/bench/bench/layers"
	"github.com/mmfusion/bench/bench/torchrt"
	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"
)

// Cells, sets, runs and batches of the method tests come from bench/benchtest; this file holds what
// the method tests share beyond it.

// tinyMix is the small synthetic set of the mechanism tests that look at one batch.
const tinyMix = "synthetic:mix=0.5R+0.5S,train=64,val=16,test=16"

// ogmTestSet is benchtest.Set with seed 1, kept for dmi_test.go (edited elsewhere); the other tests
// call benchtest.Set.
func ogmTestSet(t testing.TB, spec string) *data.Set {
	t.Helper()
	return benchtest.Set(t, spec, 1)
}

// A tiny fixed example for the hand-checked tests of joint and ensemble: B = 3 samples, K = 3
// classes, modality 1 of size 3 and modality 2 of size 2, each through a linear encoder
// z^m = A_m x^m + a_m (z¹ of size 2, z² of size 3) with the weights below.
var (
	fuseX = [][][]float64{
		{{1, 0, 2}, {0, 1, -1}, {2, 1, 0}},
		{{0.5, -1}, {1, 1}, {-1, 0.5}},
	}
	fuseY   = []int64{0, 2, 1}
	fuseEnc = []struct {
		w [][]float64
		b []float64
	}{
		{w: [][]float64{{0.5, -0.2, 0.1}, {0.3, 0.4, -0.6}}, b: []float64{0.05, -0.1}},
		{w: [][]float64{{-0.1, 0.2}, {0.4, -0.3}, {0.2, 0.5}}, b: []float64{0.1, 0.2, -0.05}},
	}
)

// fuseBuild builds method (sets over its defaults) on the example's two linear encoders, on the
// CPU, and returns it with the encoders' layers and the example's batch (tensors owned by s). The
// model is freed when the test ends.
func fuseBuild(t *testing.T, s *torchrt.Scope, method string, sets map[string]string) (bench.Method, []*layers.Linear, *bench.Batch) {
	t.Helper()
	benchtest.LockThread(t)
	spec, params := benchtest.Method(t, method, sets)
	vs := nn.NewVarStore(gotch.CPU)
	t.Cleanup(vs.Destroy)
	var encs []bench.Encoder
	var lins []*layers.Linear
	for m, e := range fuseEnc {
		out, in := int64(len(e.w)), int64(len(e.w[0]))
		l := layers.NewLinear(vs.Root().Sub(fmt.Sprintf("enc%d", m)), in, out)
		pmrTestSetTensor(l.W, pmrTestFlat(e.w), out, in)
		pmrTestSetTensor(l.B, e.b, out)
		encs = append(encs, &pmrTestLinearEnc{l})
		lins = append(lins, l)
	}
	meth, err := spec.New(&bench.Env{Path: vs.Root().Sub("method"), Encoders: encs, NumClasses: 3, Params: params, Device: gotch.CPU})
	if err != nil {
		t.Fatal(err)
	}
	b := &bench.Batch{Y: s.T(ts.MustOfSlice(fuseY)), Index: []int64{0, 1, 2}, Epoch: 1}
	for _, x := range fuseX {
		b.X = append(b.X, s.T(pmrTestTensor(x)))
	}
	return meth, lins, b
}

// fuseLin is x Wᵀ + b, row by row, in float64.
func fuseLin(x, w [][]float64, b []float64) [][]float64 {
	out := make([][]float64, len(x))
	for i, row := range x {
		out[i] = make([]float64, len(w))
		for k := range w {
			out[i][k] = b[k]
			for j, v := range row {
				out[i][k] += w[k][j] * v
			}
		}
	}
	return out
}

// fuseCEGrad is ∂CE/∂logits for the mean cross-entropy: (softmax(ℓ_i) − onehot(y_i)) / B.
func fuseCEGrad(logits [][]float64, y []int64) [][]float64 {
	out := make([][]float64, len(logits))
	for i, row := range logits {
		lse := mibGoLSE(row)
		out[i] = make([]float64, len(row))
		for k, v := range row {
			out[i][k] = math.Exp(v - lse)
			if int64(k) == y[i] {
				out[i][k]--
			}
			out[i][k] /= float64(len(logits))
		}
	}
	return out
}

// fuseLinGrad is the gradient of a loss through ℓ = x Wᵀ + b with respect to W, b and x, given
// g = ∂loss/∂ℓ.
func fuseLinGrad(g, x, w [][]float64) (gw [][]float64, gb []float64, gx [][]float64) {
	gw = make([][]float64, len(w))
	gb = make([]float64, len(w))
	for k := range w {
		gw[k] = make([]float64, len(w[k]))
		for i := range x {
			gb[k] += g[i][k]
			for j := range w[k] {
				gw[k][j] += g[i][k] * x[i][j]
			}
		}
	}
	gx = make([][]float64, len(x))
	for i := range x {
		gx[i] = make([]float64, len(x[i]))
		for j := range x[i] {
			for k := range w {
				gx[i][j] += g[i][k] * w[k][j]
			}
		}
	}
	return gw, gb, gx
}

// fuseCheck fails the test unless got (a tensor) equals want (rows, or one row for a 1-D tensor)
// to a relative 1e-5.
func fuseCheck(t *testing.T, what string, got *ts.Tensor, want [][]float64) {
	t.Helper()
	g := mibGo(got)
	if len(g) != len(want) {
		t.Fatalf("%s: %d rows, want %d", what, len(g), len(want))
	}
	for i := range want {
		if len(g[i]) != len(want[i]) {
			t.Fatalf("%s row %d: %d values, want %d", what, i, len(g[i]), len(want[i]))
		}
		for j := range want[i] {
			if !mibClose(g[i][j], want[i][j], 1e-5) {
				t.Fatalf("%s[%d][%d] = %v, want %v (by hand)", what, i, j, g[i][j], want[i][j])
			}
		}
	}
}

// fuseGrad is the gradient of the leaf x (nil when it has none).
func fuseGrad(s *torchrt.Scope, x *ts.Tensor) *ts.Tensor {
	g := s.T(x.MustGrad(false))
	if !g.MustDefined() {
		return nil
	}
	return g
}
