package methods

import (
	"fmt"
	"math"
	"runtime/debug"
	"strings"
	"sync/atomic"
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

// mbtTestTiny is the own streams' architecture in these tests: d = 8, 2 heads, L = 2.
var mbtTestTiny = map[string]string{"dim": "8", "heads": "2", "depth": "2", "mlp_ratio": "2", "bottlenecks": "3"}

// mbtTestBuild builds mbt (sets over mbtTestTiny) on one encoder per shape (encoder with encSets;
// mlp gives MBT's own streams), K = 3 classes, seeded, with a random head (the reference's zero head
// would give the streams no gradient). The model is freed when the test ends.
func mbtTestBuild(t *testing.T, encoder string, encSets map[string]string, shapes [][]int64, sets map[string]string) (*MBT, *nn.VarStore, *bench.Env) {
	t.Helper()
	benchtest.LockThread(t)
	all := map[string]string{}
	for k, v := range mbtTestTiny {
		all[k] = v
	}
	for k, v := range sets {
		all[k] = v
	}
	spec, params := benchtest.Method(t, "mbt", all)
	espec, err := bench.Encoders.Lookup(encoder)
	if err != nil {
		t.Fatal(err)
	}
	ep, err := bench.NewParams("encoder "+encoder, espec.Value.Params, encSets)
	if err != nil {
		t.Fatal(err)
	}
	torchrt.ManualSeed(3)
	vs := nn.NewVarStore(gotch.CPU)
	t.Cleanup(vs.Destroy)
	env := &bench.Env{Path: vs.Root().Sub("method"), NumClasses: 3, Params: params, Device: gotch.CPU}
	for i, sh := range shapes {
		mod := data.Modality{Name: fmt.Sprintf("m%d", i+1), Shape: sh}
		e, err := espec.Value.New(vs.Root().Sub(fmt.Sprintf("enc%d", i)), mod, ep)
		if err != nil {
			t.Fatal(err)
		}
		env.Encoders, env.Modalities = append(env.Encoders, e), append(env.Modalities, mod)
	}
	meth, err := spec.New(env)
	if err != nil {
		t.Fatal(err)
	}
	m := meth.(*MBT)
	mbtNormal(0.5).Set(m.head.W)
	mbtNormal(0.5).Set(m.head.B)
	return m, vs, env
}

// mbtTestBatch is a batch of B = 3 random inputs of the shapes, labels 0, 2, 1 (tensors owned by s).
func mbtTestBatch(s *torchrt.Scope, shapes [][]int64) *bench.Batch {
	b := &bench.Batch{Y: s.T(ts.MustOfSlice([]int64{0, 2, 1})), Index: []int64{0, 1, 2}, Epoch: 1}
	for _, sh := range shapes {
		b.X = append(b.X, s.T(ts.MustRandn(append([]int64{3}, sh...), gotch.Float, gotch.CPU)))
	}
	return b
}

// mbtTestCE is the mean cross-entropy of logits rows against y, in float64.
func mbtTestCE(logits [][]float64, y []int64) float64 {
	var ce float64
	for i, row := range logits {
		ce += mibGoLSE(row) - row[y[i]]
	}
	return ce / float64(len(logits))
}

func mbtTestNear(t *testing.T, what string, got, want [][]float64, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d rows, want %d", what, len(got), len(want))
	}
	for i := range want {
		for j := range want[i] {
			if !mibClose(got[i][j], want[i][j], tol) {
				t.Fatalf("%s [%d][%d]: %.8g, want %.8g", what, i, j, got[i][j], want[i][j])
			}
		}
	}
}

// mbtTestGradNorm is Σ|∂/∂x| of x's gradient (0 when it has none).
func mbtTestGradNorm(s *torchrt.Scope, x *ts.Tensor) float64 {
	g := s.T(x.MustGrad(false))
	if !g.MustDefined() {
		return 0
	}
	return s.T(g.MustAbs(false)).MustSum(gotch.Double, true).MustFloat64Value(nil)
}

// Three token streams (transformer encoders, stage-wise, and MBT's own streams on vectors, one
// zero-padded): in a fusion block every stream's block runs on [X^m ; Z] with the same Z, X^m_{l+1}
// and Ẑ^m are the two parts of that block's output, and the new Z is the plain average of the three
// Ẑ^m, recomputed here in float64.
func TestMBTBottleneckIsTheMeanOfTheStreamUpdates(t *testing.T) {
	for _, c := range []struct {
		encoder string
		encSets map[string]string
		shapes  [][]int64
	}{
		{"transformer", map[string]string{"pool": "cls", "dim": "8", "heads": "2", "depth": "2"}, [][]int64{{4, 3}, {2, 5}, {3, 2}}},
		{"mlp", map[string]string{"hidden": "4"}, [][]int64{{10}, {8}, {5}}},
	} {
		t.Run(c.encoder, func(t *testing.T) {
			s := torchrt.NewScope()
			defer s.Drop()
			m, _, _ := mbtTestBuild(t, c.encoder, c.encSets, c.shapes, map[string]string{"chunk": "4"})
			if m.fusion != 0 || m.depth != 2 {
				t.Fatalf("L_f = %d, L = %d: want the default min(round(2·2/3), L−2) = 0 of 2", m.fusion, m.depth)
			}
			b := mbtTestBatch(s, c.shapes)
			x := make([]*ts.Tensor, len(m.streams))
			for i, st := range m.streams {
				x[i] = st.enc.Block(s, 0, st.tokens(s, b.X[i], true)) // block 0: unimodal
			}
			z := s.T(m.bottleneck.MustExpand([]int64{3, -1, -1}, false, false))
			next, zhat, znew := m.fuse(s, 1, x, z)
			want := make([][]float64, 0)
			for i := range zhat {
				for r, row := range mibGo(zhat[i]) {
					if i == 0 {
						want = append(want, make([]float64, len(row)))
					}
					for j, v := range row {
						want[r][j] += v / 3
					}
				}
			}
			mbtTestNear(t, "Z_{l+1}", mibGo(znew), want, 1e-6)
			for i, st := range m.streams {
				n := x[i].MustSize()[1]
				y := st.enc.Block(s, 1, s.T(ts.MustCat([]*ts.Tensor{x[i], z}, 1)))
				mbtTestNear(t, fmt.Sprintf("X^%d", i+1), mibGo(next[i]), mibGo(s.T(y.MustNarrow(1, 0, n, false))), 1e-6)
				mbtTestNear(t, fmt.Sprintf("Ẑ^%d", i+1), mibGo(zhat[i]), mibGo(s.T(y.MustNarrow(1, n, 3, false))), 1e-6)
			}
			if d := s.T(s.T(zhat[0].MustSub(zhat[1], false)).MustAbs(false)).MustMax(false).MustFloat64Value(nil); d == 0 {
				t.Fatal("two streams gave the same bottleneck update")
			}
		})
	}
}

// Before L_f the streams do not exchange: the gradient of stream 2's CE with respect to stream 1's
// input is exactly zero with L_f = L (and stream 2's logits do not move when stream 1's input does),
// non-zero with L_f ≤ L−2. With L_f = L−1 it is zero too: the one fusion block's bottleneck update is
// dropped after it, so nothing written by stream 1 is ever read by stream 2 (the scenic encoder
// loop; two fusion blocks are needed for any exchange). With test_with_bottlenecks=false it is zero
// in evaluation only. L = 3 here.
func TestMBTNoCrossModalFlowBeforeFusion(t *testing.T) {
	shapes := [][]int64{{6}, {7}}
	for _, c := range []struct {
		sets  map[string]string
		train bool
		flow  bool
	}{
		{map[string]string{"fusion_layer": "3"}, true, false},
		{map[string]string{"fusion_layer": "2"}, true, false},
		{map[string]string{"fusion_layer": "1"}, true, true},
		{map[string]string{"fusion_layer": "0"}, true, true},
		{map[string]string{"fusion_layer": "1", "test_with_bottlenecks": "false"}, false, false},
		{map[string]string{"fusion_layer": "1", "test_with_bottlenecks": "false"}, true, true},
		{map[string]string{"fusion_layer": "1", "classifier": "gap"}, true, true},
		{map[string]string{"fusion_layer": "2", "classifier": "gap"}, true, false},
	} {
		t.Run(fmt.Sprint(c.sets, c.train), func(t *testing.T) {
			s := torchrt.NewScope()
			defer s.Drop()
			m, _, _ := mbtTestBuild(t, "mlp", map[string]string{"hidden": "4"}, shapes, mergeSets(c.sets, map[string]string{"chunk": "3", "depth": "3"}))
			b := mbtTestBatch(s, shapes)
			b.X[0] = s.T(b.X[0].MustSetRequiresGrad(true, false))
			var loss, l2 *ts.Tensor
			if m.token {
				l2 = m.streamLogits(s, m.run(s, b, c.train))[1]
				loss = layers.CrossEntropy(s, l2, b.Y)
			} else { // gap has one CE: its gradient reaches stream 1 only through the bottlenecks
				h := m.run(s, b, c.train)
				frozen := s.T(h[0].MustDetach(false)) // stream 1's own tokens cut off
				all := s.T(ts.MustCat([]*ts.Tensor{frozen, h[1]}, 1))
				loss = layers.CrossEntropy(s, m.head.Forward(s, s.T(all.MustMeanDim([]int64{1}, false, gotch.Float, false))), b.Y)
			}
			loss.MustBackward()
			g := mbtTestGradNorm(s, b.X[0])
			if c.flow != (g != 0) {
				t.Fatalf("Σ|∂CE(stream 2)/∂x¹| = %g, want flow %v", g, c.flow)
			}
			if !c.flow && l2 != nil {
				b2 := &bench.Batch{X: []*ts.Tensor{s.T(ts.MustRandn([]int64{3, 6}, gotch.Float, gotch.CPU)), b.X[1]}, Y: b.Y}
				other := m.streamLogits(s, m.run(s, b2, c.train))[1]
				if !other.MustEqual(l2, false) {
					t.Fatal("stream 2's logits changed with stream 1's input")
				}
			}
		})
	}
}

func mergeSets(a, b map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out
}

// classifier=token on three streams: each ℓ^m is the shared head on stream m's CLS after the shared
// final LayerNorm (recomputed here from the tokens), the training loss is the mean of the three
// per-stream CEs (not the CE of the mean), evaluation predicts the mean of the three logits, and
// the evaluation loss is the same mean of CEs.
func TestMBTLossAndPredictionAreMeansOverStreams(t *testing.T) {
	shapes := [][]int64{{4, 3}, {2, 5}, {3, 2}}
	s := torchrt.NewScope()
	defer s.Drop()
	m, _, _ := mbtTestBuild(t, "transformer", map[string]string{"dim": "8", "heads": "2", "depth": "2"}, shapes, nil)
	if m.streams[0].cls == nil {
		t.Fatal("a transformer with pool=mean has no class token: MBT should add its own")
	}
	b := mbtTestBatch(s, shapes)
	y := []int64{0, 2, 1}
	w, bias := mibGo(m.head.W), mibGo(m.head.B)[0]
	h := m.run(s, b, true)
	for _, train := range []bool{true, false} {
		loss, out := m.Forward(s, b, train)
		if len(out.PerModality) != 3 {
			t.Fatalf("%d per-stream logits, want 3", len(out.PerModality))
		}
		var mean [][]float64
		var ce float64
		for i, l := range out.PerModality {
			got := mibGo(l)
			cls := mibGo(s.T(h[i].MustSelect(1, 0, false)))
			mbtTestNear(t, fmt.Sprintf("ℓ^%d", i+1), got, fuseLin(cls, w, bias), 1e-5)
			ce += mbtTestCE(got, y) / 3
			if mean == nil {
				mean = make([][]float64, len(got))
				for r := range got {
					mean[r] = make([]float64, len(got[r]))
				}
			}
			for r := range got {
				for k := range got[r] {
					mean[r][k] += got[r][k] / 3
				}
			}
		}
		if got := loss.MustFloat64Value(nil); !mibClose(got, ce, 1e-6) {
			t.Fatalf("train=%v: loss %.8g, want the mean of the per-stream CEs %.8g", train, got, ce)
		}
		if ceOfMean := mbtTestCE(mean, y); mibClose(ce, ceOfMean, 1e-6) {
			t.Fatalf("the mean of the CEs equals the CE of the mean (%g): the test cannot tell them apart", ce)
		}
		mbtTestNear(t, "fused logits", mibGo(out.Fused), mean, 1e-6)
	}
	// The final LayerNorm is one, shared: stream m's H^m is LN(X^m_L) with the same weights.
	x := make([]*ts.Tensor, 3)
	for i, st := range m.streams {
		x[i] = st.tokens(s, b.X[i], true)
	}
	z := s.T(m.bottleneck.MustExpand([]int64{3, -1, -1}, false, false))
	for l := range m.depth {
		if l < m.fusion {
			for i, st := range m.streams {
				x[i] = st.enc.Block(s, l, x[i])
			}
		} else {
			x, _, z = m.fuse(s, l, x, z)
		}
	}
	for i := range x {
		want := mibGo(s.T(ts.MustLayerNorm(x[i], []int64{8}, m.normW, m.normB, 1e-5, true)))
		mbtTestNear(t, fmt.Sprintf("H^%d", i+1), mibGo(h[i]), want, 1e-6)
	}
}

// Each stream's CE term changes the gradient: the gradient of the loss is the sum of the gradients
// of the (1/M)·CE(ℓ^m) terms, and every term's own gradient is non-zero (so dropping any term
// changes the gradient), on the shared head and on its own stream's tokeniser.
func TestMBTEveryStreamTermChangesTheGradient(t *testing.T) {
	shapes := [][]int64{{6}, {5}, {4}}
	s := torchrt.NewScope()
	defer s.Drop()
	m, vs, _ := mbtTestBuild(t, "mlp", map[string]string{"hidden": "4"}, shapes, map[string]string{"chunk": "2"})
	b := mbtTestBatch(s, shapes)
	zero := func() {
		for _, v := range vs.Variables() {
			g := v.MustGrad(false)
			if g.MustDefined() {
				g.MustZero_()
			}
			g.MustDrop()
		}
	}
	grads := func() map[string][]float64 {
		out := map[string][]float64{}
		for name, v := range vs.Variables() {
			g := s.T(v.MustGrad(false))
			if g.MustDefined() {
				d := s.T(s.T(g.MustFlatten(0, -1, false)).MustTotype(gotch.Double, false))
				vals := make([]float64, d.Numel())
				d.MustCopyData(vals, d.Numel())
				out[name] = vals
			}
		}
		return out
	}
	zero()
	loss, _ := m.Forward(s, b, true)
	loss.MustBackward()
	total := grads()
	sum := map[string][]float64{}
	for k := range m.streams {
		zero()
		per := m.streamLogits(s, m.run(s, b, true))
		mibMulScalar(s, layers.CrossEntropy(s, per[k], b.Y), 1.0/3).MustBackward()
		g := grads()
		for _, name := range []string{"method.head.weight", fmt.Sprintf("method.stream%d.proj.weight", k)} {
			var norm float64
			for _, v := range g[name] {
				norm += math.Abs(v)
			}
			if norm == 0 {
				t.Errorf("term %d: no gradient on %s", k+1, name)
			}
		}
		for name, vals := range g {
			if sum[name] == nil {
				sum[name] = make([]float64, len(vals))
			}
			for i, v := range vals {
				sum[name][i] += v
			}
		}
	}
	if len(total) == 0 {
		t.Fatal("no gradients")
	}
	for name, vals := range total {
		for i, v := range vals {
			if !mibClose(sum[name][i], v, 1e-4) {
				t.Fatalf("%s[%d]: Σ of the term gradients %.8g, gradient of the loss %.8g", name, i, sum[name][i], v)
			}
		}
	}
}

// classifier=gap: no class tokens, and the prediction is the head on the mean of every token of every
// stream after the shared LayerNorm (modalities weighted by their token counts), the loss its CE; no
// per-modality logits.
func TestMBTGapHeadOnTheMeanOfAllTokens(t *testing.T) {
	shapes := [][]int64{{9}, {4}}
	s := torchrt.NewScope()
	defer s.Drop()
	m, _, _ := mbtTestBuild(t, "mlp", map[string]string{"hidden": "4"}, shapes, map[string]string{"classifier": "gap", "chunk": "3"})
	b := mbtTestBatch(s, shapes)
	h := m.run(s, b, true)
	if n1, n2 := h[0].MustSize()[1], h[1].MustSize()[1]; n1 != 3 || n2 != 2 {
		t.Fatalf("%d and %d tokens, want 3 and 2 (⌈9/3⌉, ⌈4/3⌉, no class tokens)", n1, n2)
	}
	var mean [][]float64 // (B, d): the mean over the 5 tokens
	for i := range h {
		rows := mibGo(h[i]) // (B·N_i, d)
		n := len(rows) / 3
		for r, row := range rows {
			if mean == nil {
				mean = make([][]float64, 3)
			}
			bi := r / n
			if mean[bi] == nil {
				mean[bi] = make([]float64, len(row))
			}
			for j, v := range row {
				mean[bi][j] += v / 5
			}
		}
	}
	loss, out := m.Forward(s, b, true)
	want := fuseLin(mean, mibGo(m.head.W), mibGo(m.head.B)[0])
	mbtTestNear(t, "gap logits", mibGo(out.Fused), want, 1e-5)
	if got, ce := loss.MustFloat64Value(nil), mbtTestCE(want, []int64{0, 2, 1}); !mibClose(got, ce, 1e-5) {
		t.Fatalf("loss %.8g, want %.8g", got, ce)
	}
	if out.PerModality != nil {
		t.Fatal("gap has no per-modality logits")
	}
}

// MBT's own streams tokenise every kind of modality: a vector in chunks (the last zero-padded), a
// feature sequence per step, an image in 2-D patches (automatic side min(4, H, W), 16 from 64×64
// up), a clip in per-frame patches; the run's token encoders are used as they are (no own streams);
// the default L_f; and what is refused.
func TestMBTTokenisesAndRefuses(t *testing.T) {
	s := torchrt.NewScope()
	defer s.Drop()
	shapes := [][]int64{{10}, {5, 3}, {1, 8, 12}, {3, 2, 8, 8}, {1, 64, 80}}
	m, _, _ := mbtTestBuild(t, "mlp", map[string]string{"hidden": "4"}, shapes, map[string]string{"chunk": "4"})
	b := mbtTestBatch(s, shapes)
	h := m.run(s, b, true)
	for i, want := range []int64{1 + 3, 1 + 5, 1 + 2*3, 1 + 2*4, 1 + 4*5} {
		if got := h[i].MustSize(); got[1] != want || got[2] != 8 {
			t.Errorf("modality %v: tokens %v, want (3, %d, 8)", shapes[i], got, want)
		}
	}
	if _, out := m.Forward(s, b, false); len(out.PerModality) != 5 {
		t.Errorf("%d per-stream logits for 5 modalities", len(out.PerModality))
	}

	vit, vs, env := mbtTestBuild(t, "vit", map[string]string{"dim": "8", "heads": "2", "depth": "3"}, [][]int64{{1, 8, 8}, {2, 8, 8}}, nil)
	for i, st := range vit.streams {
		if st.enc != env.Encoders[i].(mbtTokens) || st.cls != nil {
			t.Errorf("stream %d is not the run's vit encoder run stage-wise", i)
		}
	}
	for name := range vs.Variables() {
		if strings.HasPrefix(name, "method.stream") {
			t.Errorf("own stream variable %s beside the run's token encoders", name)
		}
	}
	if vit.fusion != 1 {
		t.Errorf("L = 3: L_f = %d, want min(round(2), L−2) = 1", vit.fusion)
	}

	for _, c := range []struct {
		depth, lf int
	}{{1, 0}, {2, 0}, {3, 1}, {4, 2}, {6, 4}, {12, 8}} {
		mm, _, _ := mbtTestBuild(t, "mlp", map[string]string{"hidden": "4"}, [][]int64{{4}, {4}}, map[string]string{"depth": fmt.Sprint(c.depth)})
		if mm.fusion != c.lf {
			t.Errorf("L = %d: default L_f = %d, want %d", c.depth, mm.fusion, c.lf)
		}
	}

	refuse := func(shapes [][]int64, sets map[string]string, want string) {
		t.Helper()
		spec, params := benchtest.Method(t, "mbt", mergeSets(mbtTestTiny, sets))
		vs := nn.NewVarStore(gotch.CPU)
		defer vs.Destroy()
		env := &bench.Env{Path: vs.Root().Sub("method"), NumClasses: 3, Params: params, Device: gotch.CPU}
		for i, sh := range shapes {
			env.Encoders = append(env.Encoders, &mmtmTestFlat{l: layers.NewLinear(vs.Root().Sub(fmt.Sprint(i)), 1, 8)})
			env.Modalities = append(env.Modalities, data.Modality{Name: fmt.Sprintf("m%d", i+1), Shape: sh})
		}
		if _, err := spec.New(env); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%v %v: error %v, want one with %q", shapes, sets, err, want)
		}
	}
	refuse([][]int64{{1, 8, 8}, {4}}, map[string]string{"patch": "16"}, "patch=16 is larger")
	refuse([][]int64{{4}, {4}}, map[string]string{"fusion_layer": "3"}, "fusion_layer=3: the streams have 2 blocks")
	refuse([][]int64{{4}, {1, 2, 3, 4, 5}}, nil, "MBT tokenises vectors")
	spec, params := benchtest.Method(t, "mbt", map[string]string{"heads": "3"})
	if err := (bench.MethodSpec{Validate: spec.Validate}).CheckParams(params, 10); err == nil || !strings.Contains(err.Error(), "heads=3 does not divide dim=64") {
		t.Errorf("heads=3: %v", err)
	}
}

// A cell of mbt (own streams on the synthetic vectors) frees every tensor and scalar it made, and
// beats chance on a redundant mixture in a few epochs.
func TestMBTCellTrainsAndFreesEverything(t *testing.T) {
	benchtest.LockThread(t)
	set := benchtest.Set(t, "synthetic:mix=R,train=128,val=64,test=64", 1)
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	tensors, scalars := atomic.LoadInt64(&ts.LiveTensors), atomic.LoadInt64(&ts.LiveScalars)
	c := benchtest.Cell(t, "mbt", nil, 1, 4)
	c.Train.LR = 0.02
	rec := benchtest.Train(t, c, set)
	if dt, dsc := atomic.LoadInt64(&ts.LiveTensors)-tensors, atomic.LoadInt64(&ts.LiveScalars)-scalars; dt != 0 || dsc != 0 {
		t.Errorf("a cell left %d tensors and %d scalars alive", dt, dsc)
	}
	if rec.Test.Acc < 0.5 || len(rec.Test.PerModality) != 2 {
		t.Errorf("test acc %.3f (chance 0.25), per modality %v", rec.Test.Acc, rec.Test.PerModality)
	}
}
