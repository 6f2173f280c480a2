package methods

import (
	"fmt"
	"math"
	"math/bits"
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
// M modalities (the official UR-Funny/MOSEI code, methods.md §5.1 "M modalities"): the Shapley output
// of modality m is φ_m = Σ_{S ⊆ N∖{m}} |S|!(M−|S|−1)!/M! · [f(S ∪ {m}) − f(S)] over the 2^M − 1
// non-empty subsets S (f(S): the inputs of the modalities outside S zeroed, encoders in eval mode,
// with autograd; f(N) the training-mode pass; f(∅) dropped, as for two), so Σ_m φ_m = f(N). For
// M = 3: φ_a = ⅓[f(avt) − f(vt)] + ⅙[f(av) − f(v)] + ⅙[f(at) − f(t)] + ⅓ f(a). Coefficients:
// r_m = exp(M/(M−1)·(mean_k CE_k − CE_m)), r̄_m the same on the running means, κ_m =
// exp(α·min(r̄_m − r_m, 7)) (the 3-modality code's clamp; 10 for two). For M = 2 these are the
// formulas above, and that case keeps their exact arithmetic. The clip is unchanged (clip_norm; the
// BalanceBenchmark/Kontras 3-modality ports clip at 5).
//
// PerModality reports the Shapley outputs (m_a, m_v for two).
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
	kappa []float64 // κ applied at the last training step (all 1 outside the window)
}

// agmState holds the cumulative mean cross-entropies C̄_m over all training steps and the count n.
type agmState struct {
	cbar []float64
	n    int
}

// agmRatios is r_m: for two modalities r_a = exp(CE_v − CE_a), r_v = exp(CE_a − CE_v); for M,
// exp(M/(M−1)·(mean_k CE_k − CE_m)) (the same values for M = 2, computed the two-modality way).
func agmRatios(ce []float64) []float64 {
	if len(ce) == 2 {
		return []float64{math.Exp(ce[1] - ce[0]), math.Exp(ce[0] - ce[1])}
	}
	n := float64(len(ce))
	var mean float64
	for _, c := range ce {
		mean += c
	}
	mean /= n
	r := make([]float64, len(ce))
	for m, c := range ce {
		r[m] = math.Exp(n / (n - 1) * (mean - c))
	}
	return r
}

// update returns κ_m for the step's CE_m from the running means before the step, then folds the step
// into the running means (C̄ ← C̄·(n−1)/n + CE/n with n the new global step count).
func (st *agmState) update(ce []float64, alpha float64) []float64 {
	if st.cbar == nil {
		st.cbar = make([]float64, len(ce))
	}
	clamp := 10.0
	if len(ce) > 2 {
		clamp = 7
	}
	r, rbar := agmRatios(ce), agmRatios(st.cbar)
	kappa := make([]float64, len(ce))
	for m := range kappa {
		kappa[m] = math.Exp(alpha * math.Min(rbar[m]-r[m], clamp))
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
		end: env.Params.Int("modulation_end"), clip: env.Params.Float("clip_norm")}
	if len(env.Encoders) < 2 {
		return nil, fmt.Errorf("agm needs at least two modalities")
	}
	a.kappa = agmOnes(len(env.Encoders))
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

// agmOnes is κ = 1 for n modalities.
func agmOnes(n int) []float64 {
	k := make([]float64, n)
	for m := range k {
		k[m] = 1
	}
	return k
}

// agmShapleyM returns the Shapley outputs φ_m of M modalities from the subset outputs f[S] (S a
// bit mask over the modalities, 1 ≤ S ≤ 2^M − 1; f(∅) is dropped): φ_m = Σ_{S ∌ m} w(|S|)·[f(S∪{m})
// − f(S)] with w(s) = s!(M−s−1)!/M! and f(∅) = 0.
func agmShapleyM(s *torchrt.Scope, f []*ts.Tensor, nmod int) []*ts.Tensor {
	fact := func(n int) float64 {
		v := 1.0
		for i := 2; i <= n; i++ {
			v *= float64(i)
		}
		return v
	}
	out := make([]*ts.Tensor, nmod)
	for m := 0; m < nmod; m++ {
		bit := 1 << m
		for set := 0; set < 1<<nmod; set++ {
			if set&bit != 0 {
				continue
			}
			size := bits.OnesCount(uint(set))
			w := fact(size) * fact(nmod-size-1) / fact(nmod)
			term := f[set|bit]
			if set != 0 {
				term = s.T(term.MustSub(f[set], false))
			}
			term = s.T(term.MustMulScalar(s.Scalar(w), false))
			if out[m] == nil {
				out[m] = term
			} else {
				out[m] = s.T(out[m].MustAdd(term, false))
			}
		}
	}
	return out
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

func (a *AGM) fuse(s *torchrt.Scope, z ...*ts.Tensor) *ts.Tensor {
	return a.head.Forward(s, s.T(ts.MustCat(z, 1)))
}

func (a *AGM) inWindow(epoch int) bool { return a.start <= epoch && epoch <= a.end }

// shapley returns the Shapley outputs of the batch: the training-mode pass, then the zero-input passes
// (encoders in eval mode, graph kept).
func (a *AGM) shapley(s *torchrt.Scope, b *bench.Batch, train bool) []*ts.Tensor {
	z := encodeAll(s, a.enc, b, train)
	fAll := a.fuse(s, z...)
	if len(z) == 2 {
		// Padded passes: encoders in eval mode, inputs of the other modality zeroed, graph kept.
		za := a.enc[0].Forward(s, b.X[0], false)
		zv := a.enc[1].Forward(s, b.X[1], false)
		za0 := a.enc[0].Forward(s, s.T(b.X[0].MustZerosLike(false)), false)
		zv0 := a.enc[1].Forward(s, s.T(b.X[1].MustZerosLike(false)), false)
		fA0 := a.fuse(s, za, zv0)
		f0V := a.fuse(s, za0, zv)
		ma, mv := agmShapley(s, fAll, fA0, f0V)
		return []*ts.Tensor{ma, mv}
	}
	nmod := len(z)
	zEval, zZero := make([]*ts.Tensor, nmod), make([]*ts.Tensor, nmod)
	for m, e := range a.enc {
		zEval[m] = e.Forward(s, b.X[m], false)
		zZero[m] = e.Forward(s, s.T(b.X[m].MustZerosLike(false)), false)
	}
	full := 1<<nmod - 1
	f := make([]*ts.Tensor, 1<<nmod)
	f[full] = fAll
	for set := 1; set < full; set++ {
		parts := make([]*ts.Tensor, nmod)
		for m := range parts {
			if set&(1<<m) != 0 {
				parts[m] = zEval[m]
			} else {
				parts[m] = zZero[m]
			}
		}
		f[set] = a.fuse(s, parts...)
	}
	return agmShapleyM(s, f, nmod)
}

// Forward implements bench.Method.
func (a *AGM) Forward(s *torchrt.Scope, b *bench.Batch, train bool) (*ts.Tensor, bench.Outputs) {
	phi := a.shapley(s, b, train)
	out := bench.Outputs{PerModality: phi}
	if train {
		ce := make([]float64, len(phi))
		for m, p := range phi {
			ce[m] = agmClampedCE(s, p, b.Y)
		}
		kappa := a.state.update(ce, a.alpha)
		if !a.inWindow(b.Epoch) {
			kappa = agmOnes(len(phi))
		}
		a.kappa = kappa
		for m, p := range phi {
			g := agmGradScale(s, p, kappa[m])
			if m == 0 {
				out.Fused = g
			} else {
				out.Fused = s.T(out.Fused.MustAdd(g, false))
			}
		}
	} else {
		out.Fused = phi[0]
		for _, p := range phi[1:] {
			out.Fused = s.T(out.Fused.MustAdd(p, false))
		}
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
