package methods

import (
	"fmt"
	"math"
	"testing"

	"github.com/mmfusion/bench/bench"
	"github.com/mmfusion/bench/bench/benchtest"
	"github.com/mmfusion/bench/bench/layers"
	"github.com/mmfusion/bench/bench/torchrt"
	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"
)

// The gate L1 term: g = σ(a) for a = [[0, ln 3], [−ln 3, 0]] is [[½, ¾], [¼, ½]], mean ½; its
// gradient with respect to a is g(1−g)/4 = [[1/16, 3/64], [3/64, 1/16]].
func TestMMDynamicGatePenaltyByHand(t *testing.T) {
	s := torchrt.NewScope()
	defer s.Drop()
	a := s.T(s.T(pmrTestTensor([][]float64{{0, math.Log(3)}, {-math.Log(3), 0}})).MustSetRequiresGrad(true, false))
	g := s.T(a.MustSigmoid(false))
	pen := mmdynGatePenalty(s, g)
	if got := pen.MustFloat64Value(nil); !mibClose(got, 0.5, 1e-6) {
		t.Fatalf("mean gate %v, by hand 0.5", got)
	}
	pen.MustBackward()
	fuseCheck(t, "∂mean(g)/∂a", s.T(a.MustGrad(false)), [][]float64{{1.0 / 16, 3.0 / 64}, {3.0 / 64, 1.0 / 16}})
}

// The TCP target and the confidence MSE. ℓ = [[1, 2, 0], [0, 0, ln 2]], y = [1, 2]:
// p = [e²/(1+e+e²), 2/4]. With ĉ = [0.3, 0.9]: MSE = ((0.3−p₀)² + 0.4²)/2, ∂/∂ĉ_i = (ĉ_i−p_i),
// and, the target not detached (the code), ∂/∂ℓ_ik = −(ĉ_i−p_i)·p_i(δ_{k,y_i} − s_ik) with B = 2;
// detached, ℓ gets no gradient from the MSE and p does not require one.
func TestMMDynamicTCPTargetByHand(t *testing.T) {
	e := math.E
	p := []float64{e * e / (1 + e + e*e), 0.5}
	soft := [][]float64{{e / (1 + e + e*e), e * e / (1 + e + e*e), 1 / (1 + e + e*e)}, {0.25, 0.25, 0.5}}
	y := []int64{1, 2}
	c := []float64{0.3, 0.9}
	for _, detach := range []bool{false, true} {
		s := torchrt.NewScope()
		logits := s.T(s.T(pmrTestTensor([][]float64{{1, 2, 0}, {0, 0, math.Log(2)}})).MustSetRequiresGrad(true, false))
		conf := s.T(s.T(pmrTestTensor([][]float64{{c[0]}, {c[1]}})).MustSetRequiresGrad(true, false))
		yt := s.T(ts.MustOfSlice(y))
		tcp := mmdynTCP(s, logits, yt, detach)
		fuseCheck(t, "p = softmax(ℓ)[y]", tcp, [][]float64{p})
		if tcp.MustRequiresGrad() == detach {
			t.Fatalf("detach=%v: the target requires grad = %v", detach, tcp.MustRequiresGrad())
		}
		mse := mmdynConfidenceLoss(s, conf, tcp)
		want := (math.Pow(c[0]-p[0], 2) + math.Pow(c[1]-p[1], 2)) / 2
		if got := mse.MustFloat64Value(nil); !mibClose(got, want, 1e-6) {
			t.Fatalf("MSE %v, by hand %v", got, want)
		}
		mse.MustBackward()
		fuseCheck(t, "∂MSE/∂ĉ", s.T(conf.MustGrad(false)), [][]float64{{c[0] - p[0]}, {c[1] - p[1]}})
		g := fuseGrad(s, logits)
		if detach {
			if g != nil {
				t.Fatalf("detached target: ℓ has a gradient %v", mibGo(g))
			}
		} else {
			want := make([][]float64, 2)
			for i := range want {
				want[i] = make([]float64, 3)
				for k := range want[i] {
					d := -soft[i][k]
					if int64(k) == y[i] {
						d++
					}
					want[i][k] = -(c[i] - p[i]) * p[i] * d
				}
			}
			fuseCheck(t, "∂MSE/∂ℓ (target not detached)", g, want)
		}
		s.Drop()
	}
}

// The fusion input is [ĉ¹h¹; ĉ²h²], each row scaled by its own sample's confidence:
// h¹ = [[1, 2], [3, −1]], ĉ¹ = [½, −2]; h² = [[0, 1, 2], [1, 1, 1]], ĉ² = [1.5, ¼]. The gradient of
// its sum is Σ_j h^m_ij for ĉ^m_i and ĉ^m_i for every h^m_ij (the confidences are not detached).
func TestMMDynamicConfidenceWeightingByHand(t *testing.T) {
	s := torchrt.NewScope()
	defer s.Drop()
	leaf := func(rows [][]float64) *ts.Tensor {
		return s.T(s.T(pmrTestTensor(rows)).MustSetRequiresGrad(true, false))
	}
	h := []*ts.Tensor{leaf([][]float64{{1, 2}, {3, -1}}), leaf([][]float64{{0, 1, 2}, {1, 1, 1}})}
	c := []*ts.Tensor{leaf([][]float64{{0.5}, {-2}}), leaf([][]float64{{1.5}, {0.25}})}
	fused := mmdynFuse(s, h, c)
	fuseCheck(t, "[ĉ¹h¹; ĉ²h²]", fused, [][]float64{{0.5, 1, 0, 1.5, 3}, {-6, 2, 0.25, 0.25, 0.25}})
	s.T(fused.MustSum(gotch.Float, false)).MustBackward()
	fuseCheck(t, "∂Σ/∂ĉ¹", s.T(c[0].MustGrad(false)), [][]float64{{3}, {2}})
	fuseCheck(t, "∂Σ/∂ĉ²", s.T(c[1].MustGrad(false)), [][]float64{{3}, {3}})
	fuseCheck(t, "∂Σ/∂h¹", s.T(h[0].MustGrad(false)), [][]float64{{0.5, 0.5}, {-2, -2}})
	fuseCheck(t, "∂Σ/∂h²", s.T(h[1].MustGrad(false)), [][]float64{{1.5, 1.5, 1.5}, {0.25, 0.25, 0.25}})
}

// mmdynX3, mmdynEnc3: a third modality for the M = 3 tests (B = 3 as fuseX), size 2 through a linear
// encoder to size 2.
var (
	mmdynX3   = [][]float64{{1, -1}, {0.5, 2}, {-0.3, 0.7}}
	mmdynEnc3 = struct {
		w [][]float64
		b []float64
	}{w: [][]float64{{0.3, -0.5}, {0.2, 0.6}}, b: []float64{0.1, -0.2}}
)

// mmdynBuild builds mmdynamic (sets over its defaults) as fuseBuild builds a method on its example
// (M = 2: its two modalities; M = 3: and mmdynX3), with the cell noise that fuseBuild's Env lacks
// (dropout), and returns the method, the encoders' layers and the batch (tensors owned by s).
func mmdynBuild(t *testing.T, s *torchrt.Scope, sets map[string]string, M int) (*MMDynamic, []*layers.Linear, *bench.Batch) {
	t.Helper()
	benchtest.LockThread(t)
	_, params := benchtest.Method(t, "mmdynamic", sets)
	vs := nn.NewVarStore(gotch.CPU)
	t.Cleanup(vs.Destroy)
	encs := []struct {
		w [][]float64
		b []float64
	}{fuseEnc[0], fuseEnc[1], mmdynEnc3}[:M]
	xs := [][][]float64{fuseX[0], fuseX[1], mmdynX3}[:M]
	var benc []bench.Encoder
	var lins []*layers.Linear
	b := &bench.Batch{Y: s.T(ts.MustOfSlice(fuseY)), Index: []int64{0, 1, 2}, Epoch: 1}
	for m, e := range encs {
		out, in := int64(len(e.w)), int64(len(e.w[0]))
		l := layers.NewLinear(vs.Root().Sub(fmt.Sprintf("enc%d", m)), in, out)
		pmrTestSetTensor(l.W, pmrTestFlat(e.w), out, in)
		pmrTestSetTensor(l.B, e.b, out)
		benc = append(benc, &pmrTestLinearEnc{l})
		lins = append(lins, l)
		b.X = append(b.X, s.T(pmrTestTensor(xs[m])))
	}
	meth, err := newMMDynamic(&bench.Env{Path: vs.Root().Sub("method"), Encoders: benc, NumClasses: 3, Params: params,
		Device: gotch.CPU, Noise: bench.NewNoise(1, gotch.CPU)})
	if err != nil {
		t.Fatal(err)
	}
	return meth.(*MMDynamic), lins, b
}

// mmdynHand is the method's forward pass and loss in float64 from its own weights, without dropout.
type mmdynHand struct {
	g, h, logits, conf [][][]float64 // per modality
	p                  [][]float64   // TCP target per modality
	fused              [][]float64
	loss               float64
}

func mmdynByHand(d *MMDynamic, lins []*layers.Linear, b *bench.Batch) mmdynHand {
	y := b.Y.Int64Values()
	var r mmdynHand
	var ht [][][]float64
	for m := range d.enc {
		z := mibGoLinear(mibGo(b.X[m]), lins[m])
		g := mibGoMap(mibGoLinear(z, d.gate[m]), func(v float64) float64 { return 1 / (1 + math.Exp(-v)) })
		xg := make([][]float64, len(z))
		for i := range z {
			for j := range z[i] {
				xg[i] = append(xg[i], z[i][j]*g[i][j])
			}
		}
		h := mibGoMap(mibGoLinear(xg, d.feat[m]), mibGoRelu)
		l := mibGoLinear(h, d.cls[m])
		c := mibGoLinear(h, d.conf[m])
		w := make([][]float64, len(h))
		p := make([]float64, len(h))
		for i := range h {
			for _, v := range h[i] {
				w[i] = append(w[i], v*c[i][0])
			}
			p[i] = math.Exp(l[i][y[i]] - mibGoLSE(l[i]))
		}
		r.g, r.h, r.logits, r.conf, r.p = append(r.g, g), append(r.h, h), append(r.logits, l), append(r.conf, c), append(r.p, p)
		ht = append(ht, w)
	}
	r.fused = mibGoLinear(mibGoConcat(ht...), d.fuse)
	r.loss = mibGoCE(r.fused, y)
	for m := range d.enc {
		var gm, mse float64
		for i := range r.g[m] {
			for _, v := range r.g[m][i] {
				gm += v
			}
			mse += math.Pow(r.conf[m][i][0]-r.p[m][i], 2)
		}
		gm /= float64(len(r.g[m]) * len(r.g[m][0]))
		mse /= float64(len(r.g[m]))
		r.loss += d.wGate*gm + d.wConf*mse + d.wUni*mibGoCE(r.logits[m], y)
	}
	return r
}

// The whole forward pass against the float64 re-computation above, for M = 2 and M = 3: fused
// logits from the confidence-weighted features, TCP logits as the per-modality outputs, the loss
// CE(ℓ) + Σ_m [mean(g^m) + MSE(ĉ^m, p^m) + CE(ℓ^m)] (weights 1), and the evaluation readouts. With
// dropout 0.5 evaluation is dropout-free (same values); training with dropout differs.
func TestMMDynamicForwardByHand(t *testing.T) {
	{ // the defaults are the reference's: H 1000, dropout 0.5, every weight 1, target not detached
		s := torchrt.NewScope()
		d, _, _ := mmdynBuild(t, s, nil, 2)
		if d.feat[0].Out != 1000 || d.p != 0.5 || d.wGate != 1 || d.wConf != 1 || d.wUni != 1 || d.detach || d.fuse.In != 2000 {
			t.Fatalf("defaults: H %d, dropout %v, weights %v %v %v, detach %v, fusion input %d", d.feat[0].Out, d.p, d.wGate, d.wConf, d.wUni, d.detach, d.fuse.In)
		}
		s.Drop()
	}
	for _, M := range []int{2, 3} {
		for _, p := range []string{"0", "0.5"} {
			s := torchrt.NewScope()
			d, lins, b := mmdynBuild(t, s, map[string]string{"hidden": "4", "dropout": p}, M)
			want := mmdynByHand(d, lins, b)
			for _, train := range []bool{true, false} {
				loss, out := d.Forward(s, b, train)
				if train && p != "0" {
					if mibClose(loss.MustFloat64Value(nil), want.loss, 1e-6) {
						t.Errorf("M=%d: training with dropout %s gave the dropout-free loss", M, p)
					}
					continue
				}
				what := fmt.Sprintf("M=%d dropout=%s train=%v", M, p, train)
				fuseCheck(t, what+": fused", out.Fused, want.fused)
				if len(out.PerModality) != M {
					t.Fatalf("%s: %d per-modality outputs", what, len(out.PerModality))
				}
				for m := range out.PerModality {
					fuseCheck(t, fmt.Sprintf("%s: ℓ^%d", what, m+1), out.PerModality[m], want.logits[m])
				}
				if got := loss.MustFloat64Value(nil); !mibClose(got, want.loss, 1e-5) {
					t.Fatalf("%s: loss %v, by hand %v", what, got, want.loss)
				}
				if train {
					if out.Readout != nil {
						t.Fatalf("%s: readouts in training", what)
					}
					continue
				}
				if len(out.Readout) != 3*M {
					t.Fatalf("%s: readouts %v", what, out.Readout)
				}
				for m := 0; m < M; m++ {
					var gate, conf, neg []float64
					for i := range want.g[m] {
						gate = append(gate, mibGoMean(want.g[m][i]))
						c := want.conf[m][i][0]
						conf = append(conf, c)
						neg = append(neg, map[bool]float64{true: 1, false: 0}[c < 0])
					}
					fuseCheck(t, what+": gate readout", out.Readout[fmt.Sprintf("mmdyn_gate_%d", m+1)], [][]float64{gate})
					fuseCheck(t, what+": confidence readout", out.Readout[fmt.Sprintf("mmdyn_conf_%d", m+1)], [][]float64{conf})
					fuseCheck(t, what+": negative-confidence readout", out.Readout[fmt.Sprintf("mmdyn_conf_neg_%d", m+1)], [][]float64{neg})
				}
			}
			s.Drop()
		}
	}
}

// mmdynGrads runs a training forward and backward of d on b and returns the gradients of the
// method's biases (gate, TCP classifier, confidence per modality; fusion), zeroing every gradient
// of d and the encoders first.
func mmdynGrads(t *testing.T, s *torchrt.Scope, d *MMDynamic, lins []*layers.Linear, b *bench.Batch) (gate, cls, conf [][]float64, fuse []float64) {
	t.Helper()
	var all []*ts.Tensor
	for _, l := range append(append(append(append(append([]*layers.Linear{d.fuse}, lins...), d.gate...), d.feat...), d.cls...), d.conf...) {
		all = append(all, l.W, l.B)
	}
	for _, v := range all {
		if g := v.MustGrad(false); g.MustDefined() {
			g.MustZero_()
			g.MustDrop()
		}
	}
	loss, _ := d.Forward(s, b, true)
	loss.MustBackward()
	grad := func(l *layers.Linear) []float64 { return mibGo(s.T(l.B.MustGrad(false)))[0] }
	for m := range d.enc {
		gate, cls, conf = append(gate, grad(d.gate[m])), append(cls, grad(d.cls[m])), append(conf, grad(d.conf[m]))
	}
	return gate, cls, conf, grad(d.fuse)
}

// Each loss term changes the gradient, by exactly its own gradient computed by hand (B = 3, M = 2
// and 3, dropout 0): removing
//   - the gate term moves ∂/∂b_g^m by Σ_i g_ij(1−g_ij)/(B·D_m) and leaves every head's gradient (the
//     other terms reach b_g^m through h^m, so only this change is computed by hand);
//   - the confidence MSE moves ∂/∂b_t^m by (2/B)Σ_i(ĉ_i−p_i) and, the target not detached,
//     ∂/∂b_c^m by −(2/B)Σ_i(ĉ_i−p_i)p_i(δ_{k,y_i}−s_ik);
//   - the TCP classifiers' CE moves ∂/∂b_c^m by Σ_i(s_ik−δ_{k,y_i})/B;
//   - detaching the target (tcp_detach) moves only ∂/∂b_c^m, by the MSE's part above.
//
// The fusion head's bias gradient is the fused CE's alone, Σ_i(softmax(ℓ)_ik−δ_{k,y_i})/B, in every
// configuration.
func TestMMDynamicEachTermChangesTheGradient(t *testing.T) {
	for _, M := range []int{2, 3} {
		s := torchrt.NewScope()
		d, lins, b := mmdynBuild(t, s, map[string]string{"hidden": "4", "dropout": "0"}, M)
		hand := mmdynByHand(d, lins, b)
		y := b.Y.Int64Values()
		B := float64(len(y))
		gate0, cls0, conf0, fuse0 := mmdynGrads(t, s, d, lins, b)
		var fuseWant []float64
		for _, row := range fuseCEGrad(hand.fused, y) {
			if fuseWant == nil {
				fuseWant = make([]float64, len(row))
			}
			for k, v := range row {
				fuseWant[k] += v
			}
		}
		checkVec := func(what string, got, want []float64) {
			t.Helper()
			for k := range want {
				if math.Abs(got[k]-want[k]) > 1e-5*(1+math.Abs(want[k])) {
					t.Fatalf("M=%d %s = %v, by hand %v", M, what, got, want)
				}
			}
		}
		sub := func(a, c []float64) []float64 {
			out := make([]float64, len(a))
			for i := range a {
				out[i] = a[i] - c[i]
			}
			return out
		}
		zeros := func(n int) []float64 { return make([]float64, n) }
		checkVec("∂/∂b_fusion", fuse0, fuseWant)
		// The MSE's and the CE's gradients for b_c^m and b_t^m, by hand.
		mseCls, mseConf, ceCls := make([][]float64, M), make([]float64, M), make([][]float64, M)
		for m := 0; m < M; m++ {
			mseCls[m], ceCls[m] = zeros(3), zeros(3)
			for i := range y {
				r := hand.conf[m][i][0] - hand.p[m][i]
				mseConf[m] += 2 * r / B
				for k := 0; k < 3; k++ {
					sk := math.Exp(hand.logits[m][i][k] - mibGoLSE(hand.logits[m][i]))
					delta := 0.0
					if int64(k) == y[i] {
						delta = 1
					}
					mseCls[m][k] += -2 * r / B * hand.p[m][i] * (delta - sk)
					ceCls[m][k] += (sk - delta) / B
				}
			}
		}
		for _, c := range []struct {
			name string
			set  func(on bool)
		}{
			{"gate term", func(on bool) { d.wGate = map[bool]float64{true: 1, false: 0}[on] }},
			{"confidence MSE", func(on bool) { d.wConf = map[bool]float64{true: 1, false: 0}[on] }},
			{"TCP classifier CE", func(on bool) { d.wUni = map[bool]float64{true: 1, false: 0}[on] }},
			{"non-detached target", func(on bool) { d.detach = !on }},
		} {
			c.set(false)
			gate, cls, conf, fuse := mmdynGrads(t, s, d, lins, b)
			c.set(true)
			checkVec(c.name+" removed: ∂/∂b_fusion", fuse, fuseWant)
			var changed float64
			for m := 0; m < M; m++ {
				dGate, dCls, dConf := sub(gate0[m], gate[m]), sub(cls0[m], cls[m]), []float64{conf0[m][0] - conf[m][0]}
				for _, v := range append(append(append([]float64(nil), dGate...), dCls...), dConf...) {
					changed += math.Abs(v)
				}
				wantGate, wantCls, wantConf := zeros(len(dGate)), zeros(3), []float64{0}
				switch c.name {
				case "gate term":
					for j := range wantGate {
						for i := range y {
							g := hand.g[m][i][j]
							wantGate[j] += g * (1 - g) / (B * float64(len(wantGate)))
						}
					}
				case "confidence MSE":
					wantCls, wantConf = mseCls[m], []float64{mseConf[m]}
				case "TCP classifier CE":
					wantCls = ceCls[m]
				case "non-detached target":
					wantCls = mseCls[m]
				}
				if c.name == "gate term" { // the other terms reach the gates through h^m
					checkVec(fmt.Sprintf("%s: change of ∂/∂b_g^%d", c.name, m+1), dGate, wantGate)
				}
				checkVec(fmt.Sprintf("%s: change of ∂/∂b_c^%d", c.name, m+1), dCls, wantCls)
				checkVec(fmt.Sprintf("%s: change of ∂/∂b_t^%d", c.name, m+1), dConf, wantConf)
			}
			if !(changed > 1e-4) {
				t.Fatalf("M=%d: removing the %s left the gradients unchanged (Σ|Δ| = %v)", M, c.name, changed)
			}
		}
		s.Drop()
	}
}
