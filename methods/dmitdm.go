package methods

import (
	"fmt"

	"github.com/mmfusion/bench/bench"
	"github.com/mmfusion/bench/bench/data"
	"github.com/mmfusion/bench/bench/layers"
	"github.com/mmfusion/bench/bench/torchrt"
	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"
)

// dmiTDMName is the registered name of DMI-TD for M modalities.
const dmiTDMName = "dmi-tdm"

func init() {
	bench.Methods.Register(dmiTDMName,
		"DMI-TD (our reading): DMI for M modalities, per-modality T/V bottlenecks, S = Linear([V^1..V^M; V^i⊙V^j]), gate over the M+1 heads, DMI's three stages (methods-beyond.md §5.1)",
		bench.MethodSpec{
			Params:  dmiParams(true),
			Needs:   bench.Needs{MinModalities: 2},
			Partial: dmiPartial,
			New:     newDMITDM,
		})
}

// DMITDM is "DMI-TD for M modalities" as methods-beyond.md §5.1 reads it (our reading: neither the
// seed nor the DMIL code defines it; DMI's R is pairwise and its S bilinear in two V's, so DMI itself
// is two-modality only). It is NOT the two-modality ablation dmi-td (first level only, no S, no gate,
// no stages), which keeps its name and behaviour.
//
//   - First level per modality m, as DMI's (methods.md §10.2): e^m = Linear(φ_m(x^m)), T^m, V^m VIBs on
//     e^m, recon^m([T^m; V^m]) → e^m, head h_T^m(T^m). Stage-1 coefficients per modality as DMI's (the
//     reference branch of its role; see dmiBranchesM).
//   - No consistency (R/U) decomposition. Components {T^1 … T^M, S} with
//     S = Linear_{(M + M(M−1)/2)·d → d}([V^1; …; V^M; V^i ⊙ V^j for i < j]) (for M = 2 the code's
//     synergy layer), head h_S.
//   - Gate g = softmax(MLP_{(M+1)d → d → M+1}([μ_T^1; …; μ_T^M; S])) (the T's enter as their means, as
//     DMI's second level takes μ_T); ŷ = Σ_m g_m·h_T^m + g_S·h_S, with h_T^m the first level's
//     logits (on μ_T^m in stage 2 and in evaluation, on the sample T^m in stage-3 training).
//   - Stages (bench.Staged, DMI's lengths and learning-rate parameters): 1, the TD warm-up, L =
//     Σ_m [CE(h_T^m) + c_KL^m (KL(T^m) + KL(V^m)) + c_Rec^m Rec^m], prediction (1/M) Σ_m h_T^m;
//     2, encoders and first level frozen, L = CE(ŷ) + 0.5·Σ_k CE(head_k) over the M+1 heads; 3,
//     everything trains, L = CE(ŷ) + 0.5·Σ_m CE(h_T^m) + 0.02·Σ_m [KL(T^m) + KL(V^m)] +
//     0.003·Σ_m Rec^m + 0.8·CE(h_S) (DMI's stage-3 weights: its h_T weight for the T heads, its
//     second-level head weight for h_S).
//
// Readouts (evaluation, stages 2 and 3): dmi_T<m>_bits, dmi_S_bits (dmiInfoBits) and the mean gate
// weights dmi_gate_T<m>, dmi_gate_S; always the stage-1 coefficients s1coef_kl_<m>, s1coef_rec_<m>,
// s1coef_by_role.
type DMITDM struct {
	enc   []bench.Encoder
	noise *bench.Noise
	d, k  int64

	embed, headT []*layers.Linear
	vibT, vibV   []*dmiBottleneck
	recon        []*layers.MLP
	syn, headS   *layers.Linear
	gate         *layers.MLP

	s1KL, s1Rec    []float64
	s1ByRole       bool
	stage1, stage2 int
	lr             [3]float64
	stage          int
	frozenVars     []*ts.Tensor
}

// dmiBranchesM is dmiBranches for M modalities: for two exactly dmiBranches; for more, a modality
// with a visual or audio role takes that reference branch's stage-1 coefficients and one without
// takes branch m mod 2 by position (byRole: some modality had such a role).
func dmiBranchesM(mods []data.Modality) ([]int, bool) {
	if len(mods) == 2 {
		b, byRole := dmiBranches(mods)
		return b[:], byRole
	}
	out := make([]int, len(mods))
	byRole := false
	for m, mod := range mods {
		out[m] = m % 2
		for b, r := range dmiBranchRole {
			if mod.Role == r {
				out[m], byRole = b, true
			}
		}
	}
	return out, byRole
}

func newDMITDM(env *bench.Env) (bench.Method, error) {
	nmod := len(env.Encoders)
	if nmod < 2 {
		return nil, fmt.Errorf("%s needs at least two modalities, got %d", dmiTDMName, nmod)
	}
	d := int64(env.Params.Int("embed_size"))
	if d < 2 {
		return nil, fmt.Errorf("%s: embed_size=%d: want ≥ 2 (the recon MLPs have d/2 hidden units)", dmiTDMName, d)
	}
	m := &DMITDM{enc: env.Encoders, noise: env.Noise, d: d, k: env.NumClasses, stage: 1}
	branch, byRole := dmiBranchesM(env.Modalities)
	m.s1ByRole = byRole
	for _, b := range branch {
		m.s1KL, m.s1Rec = append(m.s1KL, dmiS1KL[b]), append(m.s1Rec, dmiS1Rec[b])
	}
	p := env.Path
	for i := 0; i < nmod; i++ {
		m.embed = append(m.embed, layers.NewLinear(p.Sub(fmt.Sprintf("embed%d", i)), env.Encoders[i].OutDim(), d))
		m.vibT = append(m.vibT, newDMIBottleneck(p.Sub(fmt.Sprintf("vib_t%d", i)), d, d, true))
		m.vibV = append(m.vibV, newDMIBottleneck(p.Sub(fmt.Sprintf("vib_v%d", i)), d, d, true))
		m.recon = append(m.recon, layers.NewMLP(p.Sub(fmt.Sprintf("recon%d", i)), 2*d, d/2, d))
		m.headT = append(m.headT, layers.NewLinear(p.Sub(fmt.Sprintf("head_t%d", i)), d, env.NumClasses))
	}
	pairs := int64(nmod * (nmod - 1) / 2)
	m.syn = layers.NewLinear(p.Sub("synergy"), (int64(nmod)+pairs)*d, d)
	m.headS = layers.NewLinear(p.Sub("head_s"), d, env.NumClasses)
	m.gate = layers.NewMLP(p.Sub("gate"), int64(nmod+1)*d, d, int64(nmod+1))
	m.stage1, m.stage2 = env.Params.Int("stage1_epochs"), env.Params.Int("stage2_epochs")
	if m.stage1 < 0 || m.stage2 < 1 {
		return nil, fmt.Errorf("%s: stage1_epochs=%d, stage2_epochs=%d: want stage1_epochs ≥ 0 and stage2_epochs ≥ 1", dmiTDMName, m.stage1, m.stage2)
	}
	for i, name := range []string{"lr1", "lr2", "lr3"} {
		if m.lr[i] = env.Params.Float(name); m.lr[i] < 0 {
			return nil, fmt.Errorf("%s: %s=%g: want ≥ 0 (0 = the run's learning rate)", dmiTDMName, name, m.lr[i])
		}
	}
	for _, vars := range env.EncoderVars {
		for _, v := range vars {
			if v.MustRequiresGrad() {
				m.frozenVars = append(m.frozenVars, v)
			}
		}
	}
	for i := 0; i < nmod; i++ {
		lins := append([]*layers.Linear{m.embed[i], m.vibT[i].lin, m.vibV[i].lin, m.headT[i]}, m.recon[i].Layers...)
		for _, l := range lins {
			m.frozenVars = append(m.frozenVars, l.W, l.B)
		}
	}
	return m, nil
}

// Stage implements bench.Staged (as DMI's).
func (m *DMITDM) Stage(epoch int) int {
	switch {
	case epoch <= m.stage1:
		return 1
	case epoch <= m.stage1+m.stage2:
		return 2
	default:
		return 3
	}
}

// EnterStage implements bench.Staged: stage 2 freezes the encoders and the first level (as DMI's).
func (m *DMITDM) EnterStage(stage int) float64 {
	m.stage = stage
	train := stage != 2
	for _, v := range m.frozenVars {
		v.MustSetRequiresGrad(train, false).MustDrop()
	}
	return m.lr[stage-1]
}

// dmiTDMFirst holds the first level's outputs per modality.
type dmiTDMFirst struct {
	e, xhat, logits []*ts.Tensor
	t, v            []dmiGauss
}

// firstLevel is DMI.firstLevel over M modalities.
func (m *DMITDM) firstLevel(s *torchrt.Scope, b *bench.Batch, encTrain, sample, onMean bool) dmiTDMFirst {
	n := len(m.enc)
	f := dmiTDMFirst{e: make([]*ts.Tensor, n), xhat: make([]*ts.Tensor, n), logits: make([]*ts.Tensor, n),
		t: make([]dmiGauss, n), v: make([]dmiGauss, n)}
	for i := 0; i < n; i++ {
		f.e[i] = m.embed[i].Forward(s, m.enc[i].Forward(s, b.X[i], encTrain))
		f.t[i] = m.vibT[i].forward(s, f.e[i], sample, m.noise)
		f.v[i] = m.vibV[i].forward(s, f.e[i], sample, m.noise)
		if onMean {
			f.logits[i] = m.headT[i].Forward(s, f.t[i].mu)
		} else {
			f.xhat[i] = m.recon[i].Forward(s, s.T(ts.MustCat([]*ts.Tensor{f.t[i].z, f.v[i].z}, 1)))
			f.logits[i] = m.headT[i].Forward(s, f.t[i].z)
		}
	}
	return f
}

// synergy is S = Linear([V^1; …; V^M; V^i ⊙ V^j for i < j]).
func (m *DMITDM) synergy(s *torchrt.Scope, v []*ts.Tensor) *ts.Tensor {
	in := append([]*ts.Tensor(nil), v...)
	for i := range v {
		for j := i + 1; j < len(v); j++ {
			in = append(in, s.T(v[i].MustMul(v[j], false)))
		}
	}
	return m.syn.Forward(s, s.T(ts.MustCat(in, 1)))
}

func (m *DMITDM) coefReadout(s *torchrt.Scope, out *bench.Outputs, b *bench.Batch) {
	if out.Readout == nil {
		out.Readout = map[string]*ts.Tensor{}
	}
	ones := s.T(ts.MustOnes([]int64{b.Y.MustSize()[0]}, gotch.Double, b.Y.MustDevice()))
	put := func(key string, v float64) { out.Readout[key] = s.T(ones.MustMulScalar(s.Scalar(v), false)) }
	for i := range m.enc {
		put(fmt.Sprintf("s1coef_kl_%d", i+1), m.s1KL[i])
		put(fmt.Sprintf("s1coef_rec_%d", i+1), m.s1Rec[i])
	}
	byRole := 0.0
	if m.s1ByRole {
		byRole = 1
	}
	put(dmiCoefKeys.byRole, byRole)
}

// Forward implements bench.Method: the current stage's loss and prediction.
func (m *DMITDM) Forward(s *torchrt.Scope, b *bench.Batch, train bool) (*ts.Tensor, bench.Outputs) {
	stage, n := m.stage, len(m.enc)
	var f dmiTDMFirst
	switch {
	case stage == 2 && train: // frozen first level, sampled, h_T on μ_T (as DMI's stage 2)
		dmiNoGrad(func() { f = m.firstLevel(s, b, false, true, true) })
	case stage == 2:
		f = m.firstLevel(s, b, false, false, true)
	default:
		f = m.firstLevel(s, b, train, train, false)
	}
	loss := &dmiLoss{s: s}
	out := bench.Outputs{PerModality: f.logits}
	firstTerms := func(ce, kl float64, klCoef, recCoef []float64) {
		for i := 0; i < n; i++ {
			loss.add(ce, layers.CrossEntropy(s, f.logits[i], b.Y))
			c := kl
			if klCoef != nil {
				c = klCoef[i]
			}
			loss.add(c, dmiKL(s, f.t[i].mu, f.t[i].lv, nil, nil))
			loss.add(c, dmiKL(s, f.v[i].mu, f.v[i].lv, nil, nil))
			loss.add(recCoef[i], dmiRec(s, f.e[i], f.xhat[i]))
		}
	}
	if stage == 1 {
		firstTerms(1, 0, m.s1KL, m.s1Rec)
		sum := f.logits[0]
		for _, l := range f.logits[1:] {
			sum = s.T(sum.MustAdd(l, false))
		}
		out.Fused = s.T(sum.MustMulScalar(s.Scalar(1/float64(n)), false))
		if !train {
			m.coefReadout(s, &out, b)
		}
		return loss.sum, out
	}
	v := make([]*ts.Tensor, n)
	gin := make([]*ts.Tensor, 0, n+1)
	for i := 0; i < n; i++ {
		v[i] = f.v[i].z
		gin = append(gin, f.t[i].mu)
	}
	sv := m.synergy(s, v)
	heads := append(append([]*ts.Tensor(nil), f.logits...), m.headS.Forward(s, sv))
	gate := s.T(m.gate.Forward(s, s.T(ts.MustCat(append(gin, sv), 1))).MustSoftmax(1, gotch.Float, false))
	for c, h := range heads {
		term := s.T(h.MustMul(s.T(gate.MustNarrow(1, int64(c), 1, false)), false))
		if out.Fused == nil {
			out.Fused = term
		} else {
			out.Fused = s.T(out.Fused.MustAdd(term, false))
		}
	}
	loss.add(1, layers.CrossEntropy(s, out.Fused, b.Y))
	if stage == 2 {
		for _, h := range heads {
			loss.add(dmiS2Aux, layers.CrossEntropy(s, h, b.Y))
		}
	} else {
		rec := make([]float64, n)
		for i := range rec {
			rec[i] = dmiS3Rec1
		}
		firstTerms(dmiS3UniCE, dmiS3KL1, nil, rec)
		loss.add(dmiS3Aux, layers.CrossEntropy(s, heads[n], b.Y))
	}
	if !train {
		m.coefReadout(s, &out, b)
		for c, h := range heads {
			name := "S"
			if c < n {
				name = fmt.Sprintf("T%d", c+1)
			}
			out.Readout["dmi_"+name+"_bits"] = dmiInfoBits(s, h, b.Y, m.k)
			out.Readout["dmi_gate_"+name] = s.T(s.T(gate.MustNarrow(1, int64(c), 1, false)).MustSqueezeDim(1, false))
		}
	}
	return loss.sum, out
}
