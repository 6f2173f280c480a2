package methods

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/mmfusion/bench/bench"
	"github.com/mmfusion/bench/bench/benchtest"
	"github.com/mmfusion/bench/bench/layers"
	"github.com/mmfusion/bench/bench/torchrt"
	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"
)

// pmrTestFeatures returns each modality's features (rows) for the training samples idx, with the
// encoders in eval mode, and the labels.
func pmrTestFeatures(s *torchrt.Scope, run *bench.Run, train *bench.SplitTensors, idx []int64) ([][][]float64, []int64) {
	var feats [][][]float64
	var ys []int64
	ts.NoGrad(func() {
		b := train.Batch(s, idx, gotch.CPU)
		ys = b.Y.Int64Values()
		for m, e := range run.Encoders {
			z := e.Forward(s, b.X[m], false)
			feats = append(feats, pmrTestRows(z))
		}
	})
	return feats, ys
}

func pmrTestRows(x *ts.Tensor) [][]float64 {
	sz := x.MustSize()
	v := x.Float64Values()
	rows := make([][]float64, sz[0])
	for i := range rows {
		rows[i] = v[int64(i)*sz[1] : int64(i+1)*sz[1]]
	}
	return rows
}

func pmrTestClassMeans(rows [][]float64, ys []int64, k int) [][]float64 {
	means := make([][]float64, k)
	counts := make([]float64, k)
	for c := range means {
		means[c] = make([]float64, len(rows[0]))
	}
	for i, r := range rows {
		counts[ys[i]]++
		for j, v := range r {
			means[ys[i]][j] += v
		}
	}
	for c := range means {
		for j := range means[c] {
			means[c][j] /= counts[c]
		}
	}
	return means
}

func pmrTestCheckProto(t *testing.T, name string, got *ts.Tensor, want [][]float64) {
	t.Helper()
	rows := pmrTestRows(got)
	if len(rows) != len(want) {
		t.Fatalf("%s: %d prototypes, want %d", name, len(rows), len(want))
	}
	for k := range want {
		for j := range want[k] {
			if math.Abs(rows[k][j]-want[k][j]) > 1e-5 {
				t.Fatalf("%s: prototype %d, dim %d = %.6f, want %.6f", name, k, j, rows[k][j], want[k][j])
			}
		}
	}
}

func pmrTestOrder(seed uint64, n int) []int64 {
	r := rand.New(rand.NewPCG(seed, 1))
	out := make([]int64, n)
	for i, v := range r.Perm(n) {
		out[i] = int64(v)
	}
	return out
}

// Prototypes at epoch 1 are the class means of the features of the first ⌊N_batches/10⌋ batches of
// the order; at epoch 2 too (the reference skips the blend after the first training epoch:
// calculate_prototype gets the 0-based epoch just trained and blends only when it is > 0,
// methods.md §4.1 as corrected); from epoch 3 they are 0.8·(new class means) + 0.2·(old prototypes).
func TestPMRPrototypesAreClassMeansWithMomentum(t *testing.T) {
	run, train := benchtest.Build(t, benchtest.Cell(t, "pmr", nil, 1, 1), benchtest.Set(t, ogmTestData, 1))
	s := torchrt.NewScope()
	defer s.Drop()
	p := run.Method.(*PMR)
	n := train.Len() // 240 samples, batch 8: 30 batches, the first 3 (24 samples) are used
	order1 := pmrTestOrder(7, n)
	p.EpochStart(&bench.EpochContext{Epoch: 1, Train: train, BatchSize: 8, Device: gotch.CPU, Order: order1})
	feats, ys := pmrTestFeatures(s, run, train, order1[:24])
	seen := map[int64]bool{}
	for _, y := range ys {
		seen[y] = true
	}
	if len(seen) != 4 {
		t.Fatalf("test setup: the first 24 samples of the order hold classes %v", seen)
	}
	old := make([][][]float64, 2)
	for m := range feats {
		old[m] = pmrTestClassMeans(feats[m], ys, 4)
		pmrTestCheckProto(t, "epoch 1", p.proto[m], old[m])
	}
	order2 := pmrTestOrder(8, n)
	p.EpochStart(&bench.EpochContext{Epoch: 2, Train: train, BatchSize: 8, Device: gotch.CPU, Order: order2})
	feats, ys = pmrTestFeatures(s, run, train, order2[:24])
	for m := range feats {
		old[m] = pmrTestClassMeans(feats[m], ys, 4)
		pmrTestCheckProto(t, "epoch 2 (no blend yet)", p.proto[m], old[m])
	}
	order3 := pmrTestOrder(9, n)
	p.EpochStart(&bench.EpochContext{Epoch: 3, Train: train, BatchSize: 8, Device: gotch.CPU, Order: order3})
	feats, ys = pmrTestFeatures(s, run, train, order3[:24])
	for m := range feats {
		want := pmrTestClassMeans(feats[m], ys, 4)
		for k := range want {
			for j := range want[k] {
				want[k][j] = 0.8*want[k][j] + 0.2*old[m][k][j]
			}
		}
		pmrTestCheckProto(t, "epoch 3 (momentum 0.2)", p.proto[m], want)
	}
	// Batch 32: 8 batches, ⌊8/10⌋ = 0, and the reference loop still processes one batch.
	p.EpochStart(&bench.EpochContext{Epoch: 1, Train: train, BatchSize: 32, Device: gotch.CPU, Order: order1})
	feats, ys = pmrTestFeatures(s, run, train, order1[:32])
	for m := range feats {
		pmrTestCheckProto(t, "one batch", p.proto[m], pmrTestClassMeans(feats[m], ys, 4))
	}
}

// A class absent from the subset takes its mean over the whole training split at epoch 1.
func TestPMRMissingClassFallsBackToFullSplitMean(t *testing.T) {
	run, train := benchtest.Build(t, benchtest.Cell(t, "pmr", nil, 1, 1), benchtest.Set(t, ogmTestData, 1))
	s := torchrt.NewScope()
	defer s.Drop()
	p := run.Method.(*PMR)
	n := train.Len()
	all := make([]int64, n)
	for i := range all {
		all[i] = int64(i)
	}
	feats, ys := pmrTestFeatures(s, run, train, all)
	var order []int64 // class 3 last
	for pass := 0; pass < 2; pass++ {
		for i, y := range ys {
			if (y == 3) == (pass == 1) {
				order = append(order, int64(i))
			}
		}
	}
	p.EpochStart(&bench.EpochContext{Epoch: 1, Train: train, BatchSize: 8, Device: gotch.CPU, Order: order})
	sub, subY := pmrTestFeatures(s, run, train, order[:24])
	for m := range feats {
		want := pmrTestClassMeans(feats[m], ys, 4) // row 3: full-split mean
		sm := pmrTestClassMeans(sub[m], subY, 4)
		copy(want[:3], sm[:3])
		pmrTestCheckProto(t, "missing class", p.proto[m], want)
	}
}

func TestPMRBetaSwitchesToWeakerModality(t *testing.T) {
	if b := pmrBeta(30, 20, 1.5); b != [2]float64{0, 1.5} {
		t.Errorf("audio stronger: β = %v, want visual pushed (0, 1.5)", b)
	}
	if b := pmrBeta(20, 30, 1.5); b != [2]float64{1.5, 0} {
		t.Errorf("visual stronger: β = %v, want audio pushed (1.5, 0)", b)
	}
	if b := pmrBeta(20, 20, 1.5); b != [2]float64{0, 0} {
		t.Errorf("balanced: β = %v, want (0, 0)", b)
	}
}

// pmrTestNegDist is −‖z − c‖ per prototype.
func pmrTestNegDist(z []float64, protos [][]float64) []float64 {
	out := make([]float64, len(protos))
	for k, c := range protos {
		var sq float64
		for j := range z {
			sq += (z[j] - c[j]) * (z[j] - c[j])
		}
		out[k] = -math.Sqrt(sq)
	}
	return out
}

func pmrTestSoftmax(l []float64) []float64 {
	mx := math.Inf(-1)
	for _, v := range l {
		mx = math.Max(mx, v)
	}
	var z float64
	p := make([]float64, len(l))
	for k, v := range l {
		p[k] = math.Exp(v - mx)
		z += p[k]
	}
	for k := range p {
		p[k] /= z
	}
	return p
}

// pmrTestStats returns, for prototype logits −d over the batch, the mean CE, the score Σ p_y and the
// mean entropy of softmax(−d/tau).
func pmrTestStats(rows [][]float64, ys []int64, protos [][]float64, tau float64) (ce, score, ent float64) {
	for i, z := range rows {
		l := pmrTestNegDist(z, protos)
		p := pmrTestSoftmax(l)
		ce -= math.Log(p[ys[i]])
		score += p[ys[i]]
		for k := range l {
			l[k] /= tau
		}
		for _, q := range pmrTestSoftmax(l) {
			if q > 0 {
				ent -= q * math.Log(q)
			}
		}
	}
	n := float64(len(rows))
	return ce / n, score, ent / n
}

func pmrTestTensor(rows [][]float64) *ts.Tensor {
	var flat []float32
	for _, r := range rows {
		for _, v := range r {
			flat = append(flat, float32(v))
		}
	}
	return ts.MustOfSlice(flat).MustView([]int64{int64(len(rows)), int64(len(rows[0]))}, true)
}

// pmrTestSetup builds a run, takes a batch, and makes prototypes from its own features: modality
// strong gets the class means (informative), the other gets them with the classes rotated
// (misleading), so the other modality is the weaker one.
func pmrTestSetup(t *testing.T, method string, sets map[string]string) (run *bench.Run, train *bench.SplitTensors, idx []int64, feats [][][]float64, ys []int64, s *torchrt.Scope) {
	run, train = benchtest.Build(t, benchtest.Cell(t, method, sets, 1, 1), benchtest.Set(t, ogmTestData, 1))
	s = torchrt.NewScope()
	idx = make([]int64, 64)
	for i := range idx {
		idx[i] = int64(i)
	}
	feats, ys = pmrTestFeatures(s, run, train, idx)
	return
}

func pmrTestSetProtos(p *PMR, feats [][][]float64, ys []int64, strong int) [][][]float64 {
	protos := make([][][]float64, 2)
	for m := range protos {
		means := pmrTestClassMeans(feats[m], ys, 4)
		if m != strong {
			means = append(means[1:], means[0])
		}
		protos[m] = means
	}
	for _, old := range p.proto {
		old.MustDrop()
	}
	p.proto = []*ts.Tensor{pmrTestTensor(protos[0]), pmrTestTensor(protos[1])}
	return protos
}

// pmrTestCE is the mean CE of logits against labels, in Go.
func pmrTestCE(logits *ts.Tensor, ys []int64) float64 {
	var ce float64
	for i, r := range pmrTestRows(logits) {
		ce -= math.Log(pmrTestSoftmax(r)[ys[i]])
	}
	return ce / float64(len(ys))
}

// The loss is CE(fused) + α·L_PCE of the weaker modality only (by ρ = s_a/s_v), recomputed here from
// the features, the prototypes and the fused logits; outside the window it is CE(fused).
func TestPMRLossAddsPCEOfWeakerModalityOnly(t *testing.T) {
	run, train, idx, feats, ys, s := pmrTestSetup(t, "pmr", map[string]string{"alpha": "1.5", "modulation_end": "2"})
	defer run.VS.Destroy()
	defer train.Drop()
	defer s.Drop()
	p := run.Method.(*PMR)
	for strong := 0; strong < 2; strong++ {
		protos := pmrTestSetProtos(p, feats, ys, strong)
		var ce, score [2]float64
		for m := range protos {
			ce[m], score[m], _ = pmrTestStats(feats[m], ys, protos[m], 1)
		}
		weak := 1 - strong
		if !(score[strong] > score[weak]) {
			t.Fatalf("test setup: scores %v, modality %d should be stronger", score, strong)
		}
		b := train.Batch(s, idx, gotch.CPU)
		b.Epoch = 2
		loss, out := p.Forward(s, b, true)
		want := pmrTestCE(out.Fused, ys) + 1.5*ce[weak]
		if got := loss.MustFloat64Value(nil); math.Abs(got-want) > 1e-4 {
			t.Errorf("strong %d: loss %.6f, want CE(fused) + 1.5·PCE_%d = %.6f (PCE of the stronger: %.4f)", strong, got, weak, want, ce[strong])
		}
		if p.lastBeta[weak] != 1.5 || p.lastBeta[strong] != 0 {
			t.Errorf("strong %d: β = %v", strong, p.lastBeta)
		}
		b.Epoch = 3
		loss, out = p.Forward(s, b, true)
		if got, want := loss.MustFloat64Value(nil), pmrTestCE(out.Fused, ys); math.Abs(got-want) > 1e-5 {
			t.Errorf("outside the window: loss %.6f, want CE(fused) %.6f", got, want)
		}
	}
}

// PER: pmr-per subtracts μ·H of the dominant modality's prototype distribution softmax(−d/τ) in
// epochs 1..early_epochs, and nothing afterwards; τ is the temperature parameter (default 0.1).
func TestPMRPERSubtractsDominantEntropyEarly(t *testing.T) {
	// Closed form on constructed logits: uniform over 4 classes → log 4; a near one-hot row → ≈ 0.
	s0 := torchrt.NewScope()
	defer s0.Drop()
	uni := s0.T(ts.MustZeros([]int64{3, 4}, gotch.Float, gotch.CPU))
	if h := pmrEntropy(s0, uni).MustFloat64Value(nil); math.Abs(h-math.Log(4)) > 1e-6 {
		t.Errorf("entropy of uniform rows %.6f, want log 4", h)
	}
	peaked := s0.T(ts.MustOfSlice([]float32{0, -50, -50, -50}).MustView([]int64{1, 4}, true))
	if h := pmrEntropy(s0, peaked).MustFloat64Value(nil); h > 1e-6 || h < 0 {
		t.Errorf("entropy of a one-hot row %.3g, want ≈ 0", h)
	}

	for _, tau := range []float64{0.1, 1} {
		sets := map[string]string{"alpha": "1.5", "mu": "0.5", "early_epochs": "2"}
		if tau != 0.1 {
			sets["temperature"] = fmt.Sprint(tau)
		}
		run, train, idx, feats, ys, s := pmrTestSetup(t, "pmr-per", sets)
		p := run.Method.(*PMR)
		for strong := 0; strong < 2; strong++ {
			protos := pmrTestSetProtos(p, feats, ys, strong)
			var ce, ent [2]float64
			for m := range protos {
				ce[m], _, ent[m] = pmrTestStats(feats[m], ys, protos[m], tau)
			}
			b := train.Batch(s, idx, gotch.CPU)
			for _, epoch := range []int{2, 3} {
				b.Epoch = epoch
				loss, out := p.Forward(s, b, true)
				want := pmrTestCE(out.Fused, ys) + 1.5*ce[1-strong]
				if epoch <= 2 {
					want -= 0.5 * ent[strong]
				}
				if got := loss.MustFloat64Value(nil); math.Abs(got-want) > 1e-4 {
					t.Errorf("τ %v, strong %d, epoch %d: loss %.6f, want %.6f (H_dom %.4f)", tau, strong, epoch, got, want, ent[strong])
				}
			}
			if ent[strong] < 0.05 {
				t.Fatalf("test setup: τ %v: dominant entropy %.4f too small to tell the PER term apart", tau, ent[strong])
			}
		}
		s.Drop()
		train.Drop()
		run.VS.Destroy()
	}
}

// pmrTestLinearEnc is a test encoder z = W x + b (no non-linearity), so the PER gradient can be
// written out by hand.
type pmrTestLinearEnc struct{ l *layers.Linear }

func (e *pmrTestLinearEnc) Forward(s *torchrt.Scope, x *ts.Tensor, _ bool) *ts.Tensor {
	return e.l.Forward(s, x)
}
func (e *pmrTestLinearEnc) OutDim() int64 { return e.l.Out }

// pmrTestSetTensor copies vals into the leaf tensor x (grad disabled).
func pmrTestSetTensor(x *ts.Tensor, vals []float64, shape ...int64) {
	ts.NoGrad(func() {
		f := make([]float32, len(vals))
		for i, v := range vals {
			f[i] = float32(v)
		}
		src := ts.MustOfSlice(f).MustView(shape, true)
		x.Copy_(src)
		src.MustDrop()
	})
}

// pmrTestPERGrad is the gradient of −μ·H with respect to W and b of the encoder z = W x + b, by hand:
// ℓ_ik = −d_ik/τ, d_ik = sqrt(‖z_i − c_k‖² + ε), p_i = softmax(ℓ_i), H = (1/B) Σ_i H_i with
// H_i = −Σ_k p_ik log p_ik. ∂(−μH)/∂ℓ_ik = (μ/B)·p_ik·(log p_ik + H_i); ∂ℓ_ik/∂z_i = −(z_i − c_k)/(τ d_ik);
// ∂/∂W = Σ_i g_i x_iᵀ, ∂/∂b = Σ_i g_i with g_i = ∂(−μH)/∂z_i. It also returns H.
func pmrTestPERGrad(w [][]float64, bias []float64, xs [][]float64, protos [][]float64, mu, tau float64) (gw [][]float64, gb []float64, h float64) {
	n := float64(len(xs))
	gw = make([][]float64, len(w))
	for r := range gw {
		gw[r] = make([]float64, len(w[0]))
	}
	gb = make([]float64, len(w))
	for _, x := range xs {
		z := make([]float64, len(w))
		for r := range w {
			z[r] = bias[r]
			for c := range x {
				z[r] += w[r][c] * x[c]
			}
		}
		d := make([]float64, len(protos))
		l := make([]float64, len(protos))
		for k, c := range protos {
			var sq float64
			for j := range z {
				sq += (z[j] - c[j]) * (z[j] - c[j])
			}
			d[k] = math.Sqrt(sq + pmrEps)
			l[k] = -d[k] / tau
		}
		p := pmrTestSoftmax(l)
		var hi float64
		for _, q := range p {
			hi -= q * math.Log(q)
		}
		h += hi / n
		g := make([]float64, len(z))
		for k, c := range protos {
			gl := mu / n * p[k] * (math.Log(p[k]) + hi)
			for j := range z {
				g[j] += gl * -(z[j] - c[j]) / (tau * d[k])
			}
		}
		for r := range g {
			gb[r] += g[r]
			for c := range x {
				gw[r][c] += g[r] * x[c]
			}
		}
	}
	return gw, gb, h
}

// pmrTestFlat flattens rows.
func pmrTestFlat(rows [][]float64) []float64 {
	var out []float64
	for _, r := range rows {
		out = append(out, r...)
	}
	return out
}

// The gradient PER adds, on a fixed example (3 samples, 2 classes, linear encoders z = W x + b with
// fixed weights, fixed prototypes, fixed head): pmr and pmr-per built from their registered defaults
// (μ = 0.1, τ = 0.1) and run on the same batch differ in the encoder gradients by exactly the hand
// gradient of −μ·H^dom (pmrTestPERGrad) on the dominant modality's encoder, and by nothing on the
// other encoder and on the head; and again with temperature=1 (§4.3 as written, the behaviour before
// the temperature), where the hand gradient is more than ten times smaller: the code before τ fails
// the first check.
func TestPMRPERGradientMatchesHandComputation(t *testing.T) {
	runtime.LockOSThread()
	ts.MustGradSetEnabled(true)
	xs := [][][]float64{
		{{1, 0, 2}, {0, 1, -1}, {2, 1, 0}},
		{{0.5, -1, 1}, {1, 1, 1}, {-1, 0.5, 2}},
	}
	ys := []int64{0, 1, 0}
	ws := [][][]float64{
		{{0.5, -0.2, 0.1}, {0.3, 0.4, -0.6}},
		{{-0.1, 0.2, 0.3}, {0.4, -0.3, 0.2}},
	}
	bs := [][]float64{{0.05, -0.1}, {0.1, 0.2}}
	// z⁰ = (0.75, −1), (−0.25, 0.9), (0.85, 0.9); z¹ = (0.15, 0.9), (0.5, 0.5), (0.9, 0.05). The prototypes
	// are close together, as on the harness's features: the distances to the two differ by 0.1–0.2, so
	// softmax(−d) is within 1 % of uniform entropy (H⁰ = 0.689, log 2 = 0.693). Scores Σ p_y: 1.58 for
	// modality 0 and 1.50 for modality 1, so modality 0 is dominant (PER) and modality 1 weaker (PCE, in
	// both methods).
	protos := [][][]float64{
		{{0.35, 0}, {0.25, 0.2}},
		{{0.3, 0.5}, {0.35, 0.3}},
	}
	headW := []float64{0.2, -0.1, 0.3, 0.05, -0.25, 0.15, -0.3, 0.1}
	headB := []float64{0.01, -0.02}

	grads := func(method string, sets map[string]string) (map[string][]float64, int) {
		spec, params := benchtest.Method(t, method, sets)
		vs := nn.NewVarStore(gotch.CPU)
		t.Cleanup(vs.Destroy)
		var encs []bench.Encoder
		for m := range ws {
			l := layers.NewLinear(vs.Root().Sub(fmt.Sprintf("enc%d", m)), 3, 2)
			pmrTestSetTensor(l.W, pmrTestFlat(ws[m]), 2, 3)
			pmrTestSetTensor(l.B, bs[m], 2)
			encs = append(encs, &pmrTestLinearEnc{l})
		}
		meth, err := spec.New(&bench.Env{Path: vs.Root().Sub("method"), Encoders: encs, NumClasses: 2, Params: params, Device: gotch.CPU})
		if err != nil {
			t.Fatal(err)
		}
		p := meth.(*PMR)
		t.Cleanup(p.Close)
		pmrTestSetTensor(p.head.W, headW, 2, 4)
		pmrTestSetTensor(p.head.B, headB, 2)
		p.proto = []*ts.Tensor{pmrTestTensor(protos[0]), pmrTestTensor(protos[1])}
		s := torchrt.NewScope()
		defer s.Drop()
		b := &bench.Batch{Y: s.T(ts.MustOfSlice(ys)), Epoch: 1}
		for m := range xs {
			b.X = append(b.X, s.T(pmrTestTensor(xs[m])))
		}
		loss, _ := p.Forward(s, b, true)
		loss.MustBackward()
		out := map[string][]float64{}
		for name, v := range map[string]*ts.Tensor{"W0": encs[0].(*pmrTestLinearEnc).l.W, "b0": encs[0].(*pmrTestLinearEnc).l.B,
			"W1": encs[1].(*pmrTestLinearEnc).l.W, "b1": encs[1].(*pmrTestLinearEnc).l.B, "headW": p.head.W, "headB": p.head.B} {
			g := s.T(v.MustGrad(false))
			out[name] = g.Float64Values()
		}
		return out, p.lastDomin
	}
	maxAbs := func(v []float64) (m float64) {
		for _, x := range v {
			m = math.Max(m, math.Abs(x))
		}
		return m
	}
	base, _ := grads("pmr", nil)
	for _, tau := range []float64{0.1, 1} { // the default first: the code before τ fails there
		var sets map[string]string
		if tau != 0.1 {
			sets = map[string]string{"temperature": fmt.Sprint(tau)}
		}
		per, dom := grads("pmr-per", sets)
		if dom != 0 {
			t.Fatalf("test setup: dominant modality %d, want 0", dom)
		}
		gw, gb, h := pmrTestPERGrad(ws[0], bs[0], xs[0], protos[0], 0.1, tau)
		if tau == 0.1 {
			if h < 0.05 || h > math.Log(2)-0.05 {
				t.Fatalf("test setup: H^dom = %.4f at τ = 0.1, want clear of 0 and log 2", h)
			}
			gw1, gb1, h1 := pmrTestPERGrad(ws[0], bs[0], xs[0], protos[0], 0.1, 1)
			if g, g1 := maxAbs(append(pmrTestFlat(gw), gb...)), maxAbs(append(pmrTestFlat(gw1), gb1...)); g < 1e-3 || g1 > g/10 {
				t.Fatalf("test setup: PER gradient %.3g at τ = 0.1, %.3g at τ = 1 (H = %.5f, log 2 = %.5f): want ≥ 1e-3 and 10× apart", g, g1, h1, math.Log(2))
			}
		}
		want := map[string][]float64{"W0": pmrTestFlat(gw), "b0": gb,
			"W1": make([]float64, 6), "b1": make([]float64, 2), "headW": make([]float64, 8), "headB": make([]float64, 2)}
		for _, name := range []string{"W0", "b0", "W1", "b1", "headW", "headB"} {
			for i := range want[name] {
				if got := per[name][i] - base[name][i]; math.Abs(got-want[name][i]) > 1e-5 {
					t.Errorf("τ %v: %s[%d]: ∂(pmr-per) − ∂(pmr) = %.6g, want the hand PER gradient %.6g (pmr %.6g)", tau, name, i, got, want[name][i], base[name][i])
				}
			}
		}
	}
}
