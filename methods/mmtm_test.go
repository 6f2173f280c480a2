package methods

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/mmfusion/bench/bench"
	"github.com/mmfusion/bench/bench/benchtest"
	"github.com/mmfusion/bench/bench/data"
	"github.com/mmfusion/bench/bench/layers"
	"github.com/mmfusion/bench/bench/store"
	"github.com/mmfusion/bench/bench/torchrt"
	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"
)

// Test-only encoders: one without stages, one whose three stages give (B, C, 2, 2) maps.
func init() {
	bench.Encoders.Register("mmtm-test-flat", "test only: one Linear, no stages", bench.EncoderSpec{
		New: func(p *nn.Path, mod data.Modality, _ bench.Params) (bench.Encoder, error) {
			return &mmtmTestFlat{l: layers.NewLinear(p.Sub("0"), int64(mod.Size()), 8)}, nil
		},
	})
	bench.Encoders.Register("mmtm-test-maps", "test only: three stages of (B, C, 2, 2) maps", bench.EncoderSpec{
		New: func(p *nn.Path, mod data.Modality, _ bench.Params) (bench.Encoder, error) {
			e := &mmtmTestMaps{ch: []int64{3, 4, 5}}
			in := int64(mod.Size())
			for i, c := range e.ch {
				e.l = append(e.l, layers.NewLinear(p.Sub(fmt.Sprint(i)), in, 4*c))
				in = 4 * c
			}
			return e, nil
		},
	})
}

type mmtmTestFlat struct{ l *layers.Linear }

func (e *mmtmTestFlat) Forward(s *torchrt.Scope, x *ts.Tensor, _ bool) *ts.Tensor {
	return s.T(e.l.Forward(s, x).MustRelu(false))
}
func (e *mmtmTestFlat) OutDim() int64 { return 8 }

type mmtmTestMaps struct {
	l  []*layers.Linear
	ch []int64
}

func (e *mmtmTestMaps) Forward(s *torchrt.Scope, x *ts.Tensor, train bool) *ts.Tensor {
	for i := range e.l {
		x = e.ForwardStage(s, i, x, train)
	}
	return e.Pool(s, x)
}
func (e *mmtmTestMaps) OutDim() int64             { return e.ch[len(e.ch)-1] }
func (e *mmtmTestMaps) NumStages() int            { return len(e.l) }
func (e *mmtmTestMaps) StageChannels(i int) int64 { return e.ch[i] }
func (e *mmtmTestMaps) ForwardStage(s *torchrt.Scope, i int, x *ts.Tensor, _ bool) *ts.Tensor {
	if x.Dim() != 2 {
		x = s.T(x.MustFlatten(1, -1, false))
	}
	h := s.T(e.l[i].Forward(s, x).MustRelu(false))
	return s.T(h.MustReshape([]int64{x.MustSize()[0], e.ch[i], 2, 2}, false))
}
func (e *mmtmTestMaps) Pool(s *torchrt.Scope, x *ts.Tensor) *ts.Tensor {
	return s.T(x.MustMeanDim([]int64{2, 3}, false, x.DType(), false))
}

func mmtmTensor(s *torchrt.Scope, v []float32, shape ...int64) *ts.Tensor {
	return s.T(s.T(ts.MustOfSlice(v)).MustReshape(shape, false))
}

// The module on a 4-D map A (B=1, C_A=2, 2×3) and a 3-D map B (B=1, C_B=3, 2): the squeeze is the
// mean over the non-channel dims and keeps the batch dim at B = 1, C_Z = ⌊2·5/4⌋ = 2, and the
// outputs are scale·σ(W_A ReLU(W_z[S_A;S_B]+b_z)+b_A) ⊙ A broadcast over space, recomputed in float64.
func TestMMTMModuleOnMaps(t *testing.T) {
	s := torchrt.NewScope()
	defer s.Drop()
	av := []float32{1, 2, 3, 4, 5, 6, -1, 0, 2, 2, 7, -3}
	bv := []float32{0.5, -0.5, 1, 3, -2, 4}
	a := mmtmTensor(s, av, 1, 2, 2, 3)
	b := mmtmTensor(s, bv, 1, 3, 2)
	sa, sb := mibGo(mmtmSqueeze(s, a)), mibGo(mmtmSqueeze(s, b))
	wantSA := []float64{(1 + 2 + 3 + 4 + 5 + 6) / 6.0, (-1 + 0 + 2 + 2 + 7 - 3) / 6.0}
	wantSB := []float64{0, 2, 1}
	if len(sa) != 1 || len(sa[0]) != 2 || len(sb) != 1 || len(sb[0]) != 3 {
		t.Fatalf("squeeze shapes %v %v, want (1, 2) and (1, 3)", a.MustSize(), b.MustSize())
	}
	for c := range wantSA {
		if !mibClose(sa[0][c], wantSA[c], 1e-6) {
			t.Fatalf("S_A = %v, want %v", sa[0], wantSA)
		}
	}
	for c := range wantSB {
		if !mibClose(sb[0][c], wantSB[c], 1e-6) {
			t.Fatalf("S_B = %v, want %v", sb[0], wantSB)
		}
	}
	vs := nn.NewVarStore(gotch.CPU)
	defer vs.Destroy()
	mod := newMMTMModule(vs.Root(), []int64{2, 3}, 4)
	if mod.squeeze.Out != 2 || mod.excite[0].Out != 2 || mod.excite[1].Out != 3 {
		t.Fatalf("C_Z = %d, excitations %d, %d", mod.squeeze.Out, mod.excite[0].Out, mod.excite[1].Out)
	}
	for _, scale := range []float64{1, 2} {
		outs := mod.forward(s, []*ts.Tensor{a, b}, scale)
		at, bt := outs[0], outs[1]
		z := mibGoMap(mibGoLinear(mibGoConcat(sa, sb), mod.squeeze), mibGoRelu)
		sig := func(v float64) float64 { return scale / (1 + math.Exp(-v)) }
		ga, gb := mibGoMap(mibGoLinear(z, mod.excite[0]), sig), mibGoMap(mibGoLinear(z, mod.excite[1]), sig)
		gotA, gotB := mibGo(s.T(at.MustFlatten(0, -1, false)))[0], mibGo(s.T(bt.MustFlatten(0, -1, false)))[0]
		for k, v := range av {
			if want := ga[0][k/6] * float64(v); !mibClose(gotA[k], want, 1e-5) {
				t.Fatalf("scale %v: Ã[%d] = %v, want %v", scale, k, gotA[k], want)
			}
		}
		for k, v := range bv {
			if want := gb[0][k/2] * float64(v); !mibClose(gotB[k], want, 1e-5) {
				t.Fatalf("scale %v: B̃[%d] = %v, want %v", scale, k, gotB[k], want)
			}
		}
		if sh := at.MustSize(); len(sh) != 4 || sh[0] != 1 || sh[1] != 2 {
			t.Fatalf("Ã shape %v", sh)
		}
	}
}

func mmtmBuild(t *testing.T, s *torchrt.Scope, encoder string, sets map[string]string) (*MMTM, *bench.Batch) {
	t.Helper()
	m, _, b := mmtmBuildRun(t, s, encoder, sets)
	return m, b
}

// mmtmBuildRun is mmtmBuild that also returns the run (its variables, for gradients).
func mmtmBuildRun(t *testing.T, s *torchrt.Scope, encoder string, sets map[string]string) (*MMTM, *bench.Run, *bench.Batch) {
	t.Helper()
	run, train := benchtest.Build(t, benchtest.CellOn(t, "mmtm", sets, encoder, nil, 3, 1), benchtest.Set(t, tinyMix, 1))
	return run.Method.(*MMTM), run, benchtest.Batch(s, train, 0, 12, 0)
}

// Placement and shapes: with three stages of 4-D maps MMTMs follow stages 1 and 2 only (C_Z =
// ⌊2(4+4)/4⌋ = 4 and ⌊2(5+5)/4⌋ = 5), with the 2-stage mlp encoder both stages; outputs are (B, K).
func TestMMTMPlacementAndShapes(t *testing.T) {
	s := torchrt.NewScope()
	defer s.Drop()
	m, b := mmtmBuild(t, s, "mmtm-test-maps", nil)
	if len(m.modules) != 3 || m.modules[0] != nil || m.modules[1] == nil || m.modules[2] == nil {
		t.Fatalf("modules per stage %v, want none after stage 0", m.modules)
	}
	if m.modules[1].squeeze.In != 8 || m.modules[1].squeeze.Out != 4 || m.modules[2].squeeze.Out != 5 || m.modules[2].excite[1].Out != 5 {
		t.Fatal("module sizes do not follow the stage channels")
	}
	_, out := m.Forward(s, b, true)
	for _, l := range append([]*ts.Tensor{out.Fused}, out.PerModality...) {
		if sh := l.MustSize(); len(sh) != 2 || sh[0] != 12 || sh[1] != 4 {
			t.Fatalf("output shape %v, want (12, 4)", sh)
		}
	}
	m2, _ := mmtmBuild(t, s, "mlp", nil)
	if len(m2.modules) != 2 || m2.modules[0] == nil || m2.modules[1] == nil {
		t.Fatalf("2-stage encoder: modules %v, want after both stages", m2.modules)
	}
	m3, _ := mmtmBuild(t, s, "mmtm-test-maps", map[string]string{"first_stage": "2"})
	if m3.modules[0] != nil || m3.modules[1] != nil || m3.modules[2] == nil {
		t.Fatalf("first_stage=2: modules %v", m3.modules)
	}
}

// The gates couple the streams: with gates forced to 1 modality 1's logits are head₁(φ₁(x¹)) and do
// not move when x² is perturbed; with the MMTMs they differ from that and do move. The fused logits
// are the mean of the two. (The loss: TestMMTMLossSumOfThreeCEsAndFusedVariant.)
func TestMMTMGatesCoupleStreams(t *testing.T) {
	for _, encoder := range []string{"mlp", "mmtm-test-maps"} {
		s := torchrt.NewScope()
		m, b := mmtmBuild(t, s, encoder, nil)
		perturbed := &bench.Batch{X: []*ts.Tensor{b.X[0], s.T(b.X[1].MustMulScalar(ts.FloatScalar(-3), false))}, Y: b.Y, Index: b.Index}
		plain := mibGo(m.heads[0].Forward(s, m.enc[0].Forward(s, b.X[0], false)))
		maxDiff := func(a, c [][]float64) float64 {
			var d float64
			for i := range a {
				for j := range a[i] {
					d = math.Max(d, math.Abs(a[i][j]-c[i][j]))
				}
			}
			return d
		}
		m.identityGates = true
		_, id := m.Forward(s, b, false)
		_, idP := m.Forward(s, perturbed, false)
		if d := maxDiff(mibGo(id.PerModality[0]), plain); d > 1e-5 {
			t.Fatalf("%s, identity gates: stream 1 differs from the plain encoder + head by %v", encoder, d)
		}
		if d := maxDiff(mibGo(idP.PerModality[0]), plain); d > 1e-5 {
			t.Fatalf("%s, identity gates: stream 1 moved by %v when x² changed", encoder, d)
		}
		m.identityGates = false
		_, g := m.Forward(s, b, false)
		_, gP := m.Forward(s, perturbed, false)
		if d := maxDiff(mibGo(g.PerModality[0]), plain); d < 1e-4 {
			t.Fatalf("%s: the gates did not change stream 1 (max diff %v)", encoder, d)
		}
		if d := maxDiff(mibGo(gP.PerModality[0]), mibGo(g.PerModality[0])); d < 1e-5 {
			t.Fatalf("%s: stream 1 ignores x² through the MMTMs (max diff %v)", encoder, d)
		}
		la, lb, fused := mibGo(g.PerModality[0]), mibGo(g.PerModality[1]), mibGo(g.Fused)
		avg := make([][]float64, len(la))
		for i := range la {
			for j := range la[i] {
				avg[i] = append(avg[i], (la[i][j]+lb[i][j])/2)
			}
		}
		if d := maxDiff(fused, avg); d > 1e-6 {
			t.Fatalf("%s: fused is not the mean of the logits (diff %v)", encoder, d)
		}
		s.Drop()
	}
}

// The loss (methods.md §6.2 as corrected): by default (loss=sum) CE(fused) + CE(ℓ¹) + CE(ℓ²) with the
// per-branch logits ℓᵐ, recomputed here in float64 from the outputs; with loss=fused, CE(fused) alone.
// The per-branch terms reach the encoders: on the same weights and batch, the default's gradient of
// each encoder parameter is the fused variant's plus the gradient of CE(ℓ¹) + CE(ℓ²) (computed
// separately), and differs from the fused variant's.
func TestMMTMLossSumOfThreeCEsAndFusedVariant(t *testing.T) {
	benchtest.LockThread(t)
	for _, encoder := range []string{"mlp", "mmtm-test-maps"} {
		s := torchrt.NewScope()
		m, run, b := mmtmBuildRun(t, s, encoder, nil)
		if m.fusedOnly {
			t.Fatalf("%s: the default loss is fused-only, want sum", encoder)
		}
		y := b.Y.Int64Values()
		for _, train := range []bool{true, false} {
			loss, out := m.Forward(s, b, train)
			la, lb, fused := mibGo(out.PerModality[0]), mibGo(out.PerModality[1]), mibGo(out.Fused)
			want := mibGoCE(fused, y) + mibGoCE(la, y) + mibGoCE(lb, y)
			if got := loss.MustFloat64Value(nil); !mibClose(got, want, 1e-5) {
				t.Fatalf("%s, train %v: default loss %v, want CE(fused) + CE(ℓ¹) + CE(ℓ²) = %v", encoder, train, got, want)
			}
		}
		mf, _, bf := mmtmBuildRun(t, s, encoder, map[string]string{"loss": "fused"})
		loss, out := mf.Forward(s, bf, true)
		if got, want := loss.MustFloat64Value(nil), mibGoCE(mibGo(out.Fused), bf.Y.Int64Values()); !mibClose(got, want, 1e-5) {
			t.Fatalf("%s: loss=fused %v, want CE(fused) %v", encoder, got, want)
		}

		grads := func(fusedOnly, uniOnly bool) map[string]*ts.Tensor {
			m.fusedOnly = fusedOnly
			ogmTestZeroGrads(run)
			loss, out := m.Forward(s, b, true)
			if uniOnly {
				loss = s.T(layers.CrossEntropy(s, out.PerModality[0], b.Y).MustAdd(layers.CrossEntropy(s, out.PerModality[1], b.Y), false))
			}
			loss.MustBackward()
			return ogmTestGrads(s, run)
		}
		gSum, gFused, gUni := grads(false, false), grads(true, false), grads(true, true)
		m.fusedOnly = false
		checked := 0
		for _, name := range ogmTestSortedNames(gSum) {
			if !strings.HasPrefix(name, "enc") {
				continue
			}
			checked++
			sum := s.T(gFused[name].MustAdd(gUni[name], false))
			if d := ogmTestMaxDiff(s, gSum[name], sum, 1); d > 1e-5 {
				t.Errorf("%s: %s: default gradient − (fused-only + per-branch CEs) = %.3g", encoder, name, d)
			}
			if strings.HasSuffix(name, "weight") {
				if d, g := ogmTestMaxDiff(s, gSum[name], gFused[name], 1), ogmTestMaxAbs(s, gFused[name]); d < 1e-4 || d < 0.05*g {
					t.Errorf("%s: %s: the per-branch CEs change the gradient by %.3g only (fused-only gradient %.3g)", encoder, name, d, g)
				}
			}
		}
		if checked == 0 {
			t.Fatalf("%s: no encoder variables among %v", encoder, ogmTestSortedNames(gSum))
		}
		s.Drop()
	}
}

// The trainer refuses mmtm on an encoder without stages, before training.
func TestMMTMRefusesEncoderWithoutStages(t *testing.T) {
	set := benchtest.Set(t, "synthetic:mix=R,train=32,val=16,test=16", 1)
	_, err := bench.Build(benchtest.CellOn(t, "mmtm", nil, "mmtm-test-flat", nil, 1, 1), set, gotch.CPU)
	if err == nil || !strings.Contains(err.Error(), "stages") {
		t.Fatalf("Build with a stage-less encoder: err = %v", err)
	}
}

// altValues reads t (a variable or a gradient) exactly, as float32; nil for an undefined gradient.
func altValues(t *ts.Tensor) []float32 {
	if !t.MustDefined() {
		return nil
	}
	c := t.MustDetach(false)
	defer c.MustDrop()
	out := make([]float32, c.Numel())
	c.MustCopyData(out, c.Numel())
	return out
}

// altState is every variable's values and gradients (nil: undefined), by name.
type altState struct{ vals, grads map[string][]float32 }

func altRead(vars map[string]*ts.Tensor) altState {
	st := altState{vals: map[string][]float32{}, grads: map[string][]float32{}}
	for n, v := range vars {
		st.vals[n] = altValues(v)
		g := v.MustGrad(false)
		st.grads[n] = altValues(g)
		g.MustDrop()
	}
	return st
}

// altHook records the model's state at each sub-step's AfterBackward (after its backward, before
// its optimiser step).
type altHook struct {
	vars  map[string]*ts.Tensor
	calls []altState
}

func (h *altHook) AfterBackward(*torchrt.Scope, *bench.Batch) {
	h.calls = append(h.calls, altRead(h.vars))
}

// altSet writes vals into the variable v.
func altSet(v *ts.Tensor, vals []float32) {
	src := ts.MustOfSlice(vals)
	defer src.MustDrop()
	shaped := src.MustReshape(v.MustSize(), false)
	defer shaped.MustDrop()
	torchrt.NoGrad(func() { v.Copy_(shaped) })
}

// One alternating Step (the official NTU code's step(0), step(1), under --recipe reference) checked
// against the state it recorded: sub-step 0 takes the gradients of CE(ℓ¹) alone at the initial
// weights and moves encoder 0, head 0 and every MMTM by a first Adam step (lr·g'/(|g'|+ε), g' = g +
// wd·p) while encoder 1 and head 1 stay bit-identical; sub-step 1 takes a fresh forward at the
// updated weights, the gradients of CE(ℓ²) alone (nothing accumulated from sub-step 0), and moves
// encoder 1, head 1 and the MMTMs by a FIRST Adam step again (branch 1's optimiser has its own state
// for the MMTMs) while encoder 0 and head 0 keep their sub-step-0 values bit for bit.
func TestMMTMAlternatingStepByHand(t *testing.T) {
	s := torchrt.NewScope()
	defer s.Drop()
	_, run, b := mmtmBuildRun(t, s, "mmtm-test-maps", nil)
	const lr, wd = 1e-3, 1e-4
	cfg := store.TrainConfig{Optimizer: "adam", WeightDecay: wd}
	opt, err := bench.NewOptimizer(cfg, run.VS, lr)
	if err != nil {
		t.Fatal(err)
	}
	defer opt.Drop()
	if err := run.StartAlternating(cfg, 1); err != nil {
		t.Fatal(err)
	}
	defer run.StopAlternating()
	run.SetBranchLR(lr) // the rate Train sets each epoch

	vars := bench.Variables(run.VS, "")
	branch := map[string]int{} // 0, 1: that branch only; 2: both (MMTM modules)
	for n := range vars {
		switch {
		case strings.HasPrefix(n, "enc0.") || strings.HasPrefix(n, "method.head0."):
			branch[n] = 0
		case strings.HasPrefix(n, "enc1.") || strings.HasPrefix(n, "method.head1."):
			branch[n] = 1
		case strings.HasPrefix(n, "method.mmtm"):
			branch[n] = 2
		default:
			t.Fatalf("variable %s belongs to no branch", n)
		}
	}
	if c := strings.Count(fmt.Sprint(branch), ":2"); c != 12 { // 2 modules × 3 linears × (W, b)
		t.Fatalf("%d MMTM variables, want 12: %v", c, branch)
	}

	p0 := altRead(vars).vals
	h := &altHook{vars: vars}
	lv := run.Step(s, b, opt, h)
	pEnd := altRead(vars).vals
	if len(h.calls) != 2 {
		t.Fatalf("%d sub-steps, want 2", len(h.calls))
	}
	p1, g0, g1 := h.calls[1].vals, h.calls[0].grads, h.calls[1].grads

	same := func(what string, got, want []float32) {
		t.Helper()
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("%s: element %d is %v, want %v bit for bit", what, i, got[i], want[i])
			}
		}
	}
	// adam checks a first Adam step; a variable that the sub-step's loss does not reach (no gradient:
	// the last MMTM's gate of the other stream) is not stepped.
	adam := func(what string, got, p, g []float32) bool {
		t.Helper()
		if g == nil {
			same(what+" (no gradient)", got, p)
			return false
		}
		moved := false
		for i := range p {
			gp := float64(g[i]) + wd*float64(p[i])
			want := float64(p[i]) - lr*gp/(math.Abs(gp)+1e-8)
			if math.Abs(float64(got[i])-want) > 1e-6 {
				t.Fatalf("%s: element %d is %v, want %v (a first Adam step from %v, gradient %v)", what, i, got[i], want, p[i], g[i])
			}
			moved = moved || got[i] != p[i]
		}
		if !moved {
			t.Fatalf("%s did not move", what)
		}
		return true
	}
	var movedMMTM [2]int
	for n, k := range branch {
		same(n+" before sub-step 0's step", h.calls[0].vals[n], p0[n])
		if k == 1 {
			same(n+" after sub-step 0 (branch 1 only)", p1[n], p0[n])
		} else if adam(n+" in sub-step 0", p1[n], p0[n], g0[n]) && k == 2 {
			movedMMTM[0]++
		}
		if k == 0 {
			same(n+" after sub-step 1 (branch 0 only)", pEnd[n], p1[n])
		} else if adam(n+" in sub-step 1 (first step of branch 1's own Adam)", pEnd[n], p1[n], g1[n]) && k == 2 {
			movedMMTM[1]++
		}
	}
	// Every MMTM variable but the last module's gate of the other stream (W, b) moves in each sub-step.
	if movedMMTM != [2]int{10, 10} {
		t.Fatalf("MMTM variables moved in sub-steps 0, 1: %v, want 10 of 12 in each", movedMMTM)
	}
	if g0["method.head1.weight"] != nil || g1["method.head0.weight"] != nil {
		t.Fatal("a head got a gradient from the other branch's loss")
	}

	// The gradients each sub-step used are those of its branch's loss alone at its weights: recompute
	// them from zeroed gradients at p0 and at p1.
	var losses [2]float64
	for k, at := range []map[string][]float32{p0, p1} {
		for n, v := range vars {
			altSet(v, at[n])
		}
		opt.MustZeroGrad()
		loss := run.Method.(bench.Alternating).BranchLoss(s, b, k)
		losses[k] = loss.MustFloat64Value(nil)
		loss.MustBackward()
		fresh := altRead(vars).grads
		for n := range vars {
			want, got := fresh[n], h.calls[k].grads[n]
			if (want == nil) != (got == nil) {
				t.Fatalf("sub-step %d, %s: gradient defined %v, want %v", k, n, got != nil, want != nil)
			}
			same(fmt.Sprintf("sub-step %d gradient of %s", k, n), got, want)
		}
	}
	if want := (losses[0] + losses[1]) / 2; math.Abs(lv-want) > 1e-6 {
		t.Fatalf("Step returned %v, want the mean of CE(ℓ¹) at p0 and CE(ℓ²) at p1 = %v", lv, want)
	}
}
