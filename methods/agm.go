package methods

import (
	"math"
	"sort"

	"github.com/mmfusion/bench/bench"
	"github.com/mmfusion/bench/bench/layers"
	"github.com/mmfusion/bench/bench/torchrt"
	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"
)

func init() {
	bench.Methods.Register("agm", "AGM (Li et al., ICCV 2023): Shapley mono-modal outputs from zero-input passes, gradient scaled by κ_m = exp(α·min(r̄_m − r_m, 10)), conditional clipping (methods.md §5.1)", bench.MethodSpec{
		Params: []bench.ParamSpec{
			{Name: "alpha", Default: "1.5", Kind: "float", Range: "[0,inf)", Search: "lin:0.1:3",
				Help: "α of κ = exp(α·min(r̄ − r, 10)); argparse default 1.0, author's CREMA-D value (issue #3) and Kontras 1.5"},
			{Name: "modulation_start", Default: "1", Kind: "int", Range: "[1,inf)", Help: "first modulated epoch (1-based, inclusive, as the reference)"},
			{Name: "modulation_end", Default: "1500", Kind: "int", Range: "[1,inf)",
				Help: "last modulated epoch (1-based, inclusive); the author recommends modulating the whole training (end 1500)"},
			{Name: "clip_norm", Default: "1.0", Kind: "float", Range: "(0,inf)",
				Help: "global gradient-norm bound applied when any fusion-head weight gradient lies outside [−1, 1] (reference 1.0)"},
		},
		Needs:    bench.Needs{TwoModalities: true},
		Validate: validateWindow,
		New:      newAGM,
	})
}

// AGM is Adaptive Gradient Modulation (Li et al., ICCV 2023; methods.md §5.1) on the concat-linear
// fusion f(a, v) = W_a z^a + W_v z^v + b.
//
// Forward: F_av = f(a, v) with the encoders in training mode; then, with the encoders in eval mode
// (train = false) and WITH autograd, F_a0 = f(a, 0) and F_0v = f(0, v) (the other modality's input
// replaced by zeros). Shapley outputs m_a = ½(F_av − F_0v + F_a0), m_v = ½(F_av − F_a0 + F_0v), so
// m_a + m_v = F_av; prediction ŷ = GS(m_a, κ_a) + GS(m_v, κ_v); L = CE(ŷ, y). F_00 is unused in the
// two-modality formulas and is not computed (it only costs a pass in the reference).
//
// Coefficients (agmState.update), every training step, before backward: CE_m of the Shapley outputs
// (probabilities clamped at 1e-8), r_a = exp(CE_v − CE_a), r̄_a = exp(C̄_v − C̄_a), κ_a =
// exp(α·min(r̄_a − r_a, 10)) (mirror for v), then the cumulative means C̄_m over all training steps
// since the start are updated (every step, in or out of the window, as the reference).
//
// Window: inside [modulation_start, modulation_end] the fresh κ are applied. Outside it κ = 1.
// Deviation: the reference keeps the last κ outside the window (and also keeps the previous κ at the
// first step of each epoch); here κ is reset to 1 outside the window and used fresh at every step.
//
// AfterBackward: if any element of the fusion head's weight gradient is outside [−1, 1], the global
// gradient norm of all parameters is clipped to clip_norm (torch.nn.utils.clip_grad_norm_: scale by
// clip_norm/(norm + 1e-6) when that is < 1). The clip is applied at every step, inside the window or
// not, as in the reference training loop.
//
// PerModality reports the Shapley outputs m_a, m_v.
type AGM struct {
	enc   []bench.Encoder
	head  *layers.Linear
	dims  []int64
	alpha float64
	start int
	end   int
	clip  float64
	vars  []*ts.Tensor // every variable of the model, in name order, for the global clip
	state agmState
	kappa [2]float64 // κ applied at the last training step (1, 1 outside the window)
}

// agmState holds the cumulative mean cross-entropies C̄_m over all training steps and the count n.
type agmState struct {
	cbar [2]float64
	n    int
}

// update returns κ_a, κ_v for the step's CE_a, CE_v from the running means before the step, then
// folds the step into the running means (C̄ ← C̄·(n−1)/n + CE/n with n the new global step count).
func (st *agmState) update(ce [2]float64, alpha float64) [2]float64 {
	r := [2]float64{math.Exp(ce[1] - ce[0]), math.Exp(ce[0] - ce[1])}
	rbar := [2]float64{math.Exp(st.cbar[1] - st.cbar[0]), math.Exp(st.cbar[0] - st.cbar[1])}
	var kappa [2]float64
	for m := range kappa {
		kappa[m] = math.Exp(alpha * math.Min(rbar[m]-r[m], 10))
	}
	st.n++
	n := float64(st.n)
	for m := range st.cbar {
		st.cbar[m] = st.cbar[m]*(n-1)/n + ce[m]/n
	}
	return kappa
}

func newAGM(env *bench.Env) (bench.Method, error) {
	a := &AGM{enc: env.Encoders, alpha: env.Params.Float("alpha"), start: env.Params.Int("modulation_start"),
		end: env.Params.Int("modulation_end"), clip: env.Params.Float("clip_norm"), kappa: [2]float64{1, 1}}
	var total int64
	for _, e := range env.Encoders {
		a.dims = append(a.dims, e.OutDim())
		total += e.OutDim()
	}
	a.head = layers.NewLinear(env.Path.Sub("head"), total, env.NumClasses)
	vars := env.Vars()
	names := make([]string, 0, len(vars))
	for name, v := range vars {
		if v.MustRequiresGrad() {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	for _, n := range names {
		a.vars = append(a.vars, vars[n])
	}
	return a, nil
}

// agmShapley returns the two-modality Shapley outputs m_a = ½(F_av − F_0v + F_a0) and
// m_v = ½(F_av − F_a0 + F_0v).
func agmShapley(s *torchrt.Scope, fAV, fA0, f0V *ts.Tensor) (ma, mv *ts.Tensor) {
	half := s.Scalar(0.5)
	d := s.T(fA0.MustSub(f0V, false)) // F_a0 − F_0v
	ma = s.T(s.T(fAV.MustAdd(d, false)).MustMulScalar(half, false))
	mv = s.T(s.T(fAV.MustSub(d, false)).MustMulScalar(half, false))
	return ma, mv
}

// agmGradScale is GS(x, k) = k·x + (1−k)·sg(x): the value of x, gradient scaled by k.
func agmGradScale(s *torchrt.Scope, x *ts.Tensor, k float64) *ts.Tensor {
	if k == 1 {
		return x
	}
	kx := s.T(x.MustMulScalar(s.Scalar(k), false))
	sg := s.T(s.T(x.MustDetach(false)).MustMulScalar(s.Scalar(1-k), false))
	return s.T(kx.MustAdd(sg, false))
}

// agmClampedCE is mean_i −log max(softmax(ℓ_i)[y_i], 1e-8), without gradient.
func agmClampedCE(s *torchrt.Scope, logits, y *ts.Tensor) float64 {
	d := s.T(logits.MustDetach(false))
	p := s.T(d.MustSoftmax(1, gotch.Float, false))
	py := s.T(p.MustGather(1, s.T(y.MustUnsqueeze(1, false)), false, false))
	lp := s.T(s.T(py.MustClampMin(s.Scalar(1e-8), false)).MustLog(false))
	return -s.T(lp.MustMean(gotch.Double, false)).MustFloat64Value(nil)
}

func (a *AGM) fuse(s *torchrt.Scope, za, zv *ts.Tensor) *ts.Tensor {
	return a.head.Forward(s, s.T(ts.MustCat([]*ts.Tensor{za, zv}, 1)))
}

func (a *AGM) inWindow(epoch int) bool { return a.start <= epoch && epoch <= a.end }

// Forward implements bench.Method.
func (a *AGM) Forward(s *torchrt.Scope, b *bench.Batch, train bool) (*ts.Tensor, bench.Outputs) {
	z := encodeAll(s, a.enc, b, train)
	fAV := a.fuse(s, z[0], z[1])
	// Padded passes: encoders in eval mode, inputs of the other modality zeroed, graph kept.
	za := a.enc[0].Forward(s, b.X[0], false)
	zv := a.enc[1].Forward(s, b.X[1], false)
	za0 := a.enc[0].Forward(s, s.T(b.X[0].MustZerosLike(false)), false)
	zv0 := a.enc[1].Forward(s, s.T(b.X[1].MustZerosLike(false)), false)
	fA0 := a.fuse(s, za, zv0)
	f0V := a.fuse(s, za0, zv)
	ma, mv := agmShapley(s, fAV, fA0, f0V)
	out := bench.Outputs{PerModality: []*ts.Tensor{ma, mv}}
	if train {
		kappa := a.state.update([2]float64{agmClampedCE(s, ma, b.Y), agmClampedCE(s, mv, b.Y)}, a.alpha)
		if !a.inWindow(b.Epoch) {
			kappa = [2]float64{1, 1}
		}
		a.kappa = kappa
		out.Fused = s.T(agmGradScale(s, ma, kappa[0]).MustAdd(agmGradScale(s, mv, kappa[1]), false))
	} else {
		out.Fused = s.T(ma.MustAdd(mv, false))
	}
	return layers.CrossEntropy(s, out.Fused, b.Y), out
}

// AfterBackward implements bench.AfterBackwarder: the conditional global clip.
func (a *AGM) AfterBackward(s *torchrt.Scope, b *bench.Batch) {
	g := s.T(a.head.W.MustGrad(false))
	if !g.MustDefined() || s.T(s.T(g.MustAbs(false)).MustMax(false)).MustFloat64Value(nil) <= 1 {
		return
	}
	agmClipGradNorm(s, a.vars, a.clip)
}

// agmClipGradNorm scales every gradient of vars by maxNorm/(‖g‖₂ + 1e-6) when that is below 1, with
// ‖g‖₂ the norm of all gradients together (as torch.nn.utils.clip_grad_norm_).
func agmClipGradNorm(s *torchrt.Scope, vars []*ts.Tensor, maxNorm float64) {
	var grads []*ts.Tensor
	var sq float64
	for _, v := range vars {
		g := s.T(v.MustGrad(false))
		if !g.MustDefined() {
			continue
		}
		grads = append(grads, g)
		n := s.T(g.MustNorm(false)).MustFloat64Value(nil)
		sq += n * n
	}
	coef := maxNorm / (math.Sqrt(sq) + 1e-6)
	if coef >= 1 {
		return
	}
	for _, g := range grads {
		g.MustMulScalar_(s.Scalar(coef))
	}
}
