package methods

import (
	"fmt"
	"math"

	"github.com/mmfusion/bench/bench"
	"github.com/mmfusion/bench/bench/data"
	"github.com/mmfusion/bench/bench/layers"
	"github.com/mmfusion/bench/bench/torchrt"
	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"
)

// DMI / DMIL, the seed paper (methods.md §10): a two-level information-theoretic decomposition of two
// modalities. The first level splits each modality's embedded feature into a task-relevant part T^m
// and a task-irrelevant part V^m; the second level splits the T's into redundancy R and uniqueness
// U^m, and builds synergy S from the V's; a per-sample gate mixes the four component heads. Training
// runs in three stages (§10.3–10.4), declared to the trainer through bench.Staged.
//
// Modality roles. The reference code names its first-level blocks IB_m1_* (visual) and IB_m2_*
// (audio), and its stage-1 coefficients differ per branch (visual 0.008 KL / 0.002 Rec, audio 0.04
// KL / 0.01 Rec). Each harness modality takes the coefficients of the reference branch with its
// declared role (data.Modality.Role): visual → 0.008/0.002, audio → 0.04/0.01, whatever the order
// (CREMA-D and KS put audio first). When only one modality has a visual or audio role, the other takes
// the other reference branch (UCF101: rgb visual, so flow gets audio's; MOSEI text+audio: text gets
// visual's). When neither has one (synthetic and Boolean data: no role; ROSMAP: omics), the position
// rule applies: the first modality takes the visual branch's coefficients, the second the audio
// branch's. Evaluation records the choice in Metrics.Extra (val and test, see dmiCoefKeys):
// s1coef_kl_1, s1coef_rec_1, s1coef_kl_2, s1coef_rec_2 (the coefficients used for modality 1 and 2;
// no kl in dmi-fc) and s1coef_by_role (1: chosen by role, 0: the position rule). No parameter
// overrides these coefficients.
//
// Variants sharing this code through dmiOptions (the DMI paper's ablations, as the harness defines
// them):
//
//   - dmi-fc: every variational bottleneck is replaced by a plain Linear_{in→d} (no log-variance, no
//     sampling, no KL terms; the alignment encoders VIB_Rm exist only for a KL and are dropped). The
//     architecture, reconstruction and classification terms, stages and freezing are unchanged.
//   - dmi-td: task-related decomposition only: the first level (T/V split, recon, h_T heads) with the
//     stage-1 loss in every epoch and the prediction ½(h_T^1 + h_T^2); no second level, no stages.
//   - dmi-cd: consistent decomposition only: no first level; the second level takes the embedded
//     features e^m in place of both μ_T^m (for R, U^m and the recon_T target) and V^m (for S). With no
//     first level to warm up there are no stages: everything, encoders included, trains from epoch 1
//     with the stage-2 loss of §10.3 (its coefficients; nothing frozen).

// Learning rates and schedule. The harness trains every method with one SGD optimiser, learning rate
// and epoch budget, so lr1..lr3 default to 0 = the run's --lr. The reference's per-stage rates are
// reproduced with --set dmi.lr1=4e-3,dmi.lr2=1e-3,dmi.lr3=1e-5 (and --epochs 70 for its budget). The
// stage switch (best checkpoint of the previous stage by validation accuracy, fresh optimiser) is the
// trainer's.
//
// Tuning (bench tune). Stage 1 runs at the trial's shared learning rate (lr1 is not searched), as every
// other method does; lr2 and lr3 are searched as multiples of it ("lrmult" search ranges): the
// reference's 4e-3 / 1e-3 / 1e-5 are multipliers 1, 0.25 and 0.0025 of stage 1, inside [0.01, 1] and
// [1e-4, 1]. stage2_epochs is at least 1, and the tuner samples only trials that are the full method
// (dmiPartial: stage1_epochs ≥ 1 and stage1_epochs + stage2_epochs < epochs, so stage 3 runs). A run
// whose stages do not all start (the defaults 10 + 5 under --epochs 15 or fewer, or stage1_epochs=0)
// is labelled with the stages it ran, e.g. "dmi (stage 1 only)".
//
// Stage 2 follows the reference code exactly: only the first-level modules are put in evaluation
// mode, while the model stays in training mode, so T and V are still sampled there (without
// gradients) and S is built from the sampled V^m; h_T (reported per modality) is applied to μ_T.

// Effective loss coefficients of methods.md §10.3 (after the code's internal 0.1 and lamb = 0.2
// scalings). Index [b] is the reference's branch b (0: visual, IB_m1; 1: audio, IB_m2); each harness
// modality takes one branch's (see "Modality roles" above and dmiBranches).
var (
	dmiS1KL       = [2]float64{0.008, 0.04}                    // stage 1: KL(q(T^m)‖N) + KL(q(V^m)‖N)
	dmiS1Rec      = [2]float64{0.002, 0.01}                    // stage 1: Rec(e^m, recon_m)
	dmiBranchRole = [2]string{data.RoleVisual, data.RoleAudio} // the role of each reference branch
)

// dmiBranches returns, for each of the two harness modalities, the reference branch whose stage-1
// coefficients it takes, and whether declared roles decided (false: the position rule, modality m →
// branch m). See "Modality roles" above.
func dmiBranches(mods []data.Modality) (branch [2]int, byRole bool) {
	of := func(m int) int {
		if m < len(mods) {
			for b, r := range dmiBranchRole {
				if mods[m].Role == r {
					return b
				}
			}
		}
		return -1
	}
	b0, b1 := of(0), of(1)
	switch {
	case b0 >= 0 && b1 >= 0:
		return [2]int{b0, b1}, true
	case b0 >= 0:
		return [2]int{b0, 1 - b0}, true
	case b1 >= 0:
		return [2]int{1 - b1, b1}, true
	}
	return [2]int{0, 1}, false
}

// dmiCoefKeys name the Metrics.Extra entries that record the stage-1 coefficients used for harness
// modality 1 and 2, and whether roles chose them (1) or the position rule (0).
var dmiCoefKeys = struct {
	kl, rec [2]string
	byRole  string
}{[2]string{"s1coef_kl_1", "s1coef_kl_2"}, [2]string{"s1coef_rec_1", "s1coef_rec_2"}, "s1coef_by_role"}

// dmiPartial is the Partial hook of the staged variants: the stages a run of epochs epochs reaches,
// when not all three ("stage 1 only", "stages 1 and 2 only", "stages 2 and 3 only", "stage 2 only").
func dmiPartial(p bench.Params, epochs int) string {
	s1, s2 := p.Int("stage1_epochs"), p.Int("stage2_epochs")
	var ran []string
	for st, ok := range []bool{s1 > 0, epochs > s1, epochs > s1+s2} {
		if ok {
			ran = append(ran, fmt.Sprint(st+1))
		}
	}
	switch len(ran) {
	case 3:
		return ""
	case 1:
		return "stage " + ran[0] + " only"
	}
	return "stages " + ran[0] + " and " + ran[1] + " only"
}

const (
	dmiS2KL  = 0.02  // stage 2: KL(R‖N), Σ_m KL_align^m, Σ_m KL(U^m‖N)
	dmiS2Rec = 0.005 // stage 2: Σ_m Rec_T^m
	dmiS2Aux = 0.5   // stage 2: CE of h_S, h_R, h_U^1, h_U^2

	dmiS3UniCE = 0.5   // stage 3: CE of h_T^m on the sampled T^m
	dmiS3KL1   = 0.02  // stage 3: Σ_m [KL(T^m‖N) + KL(V^m‖N)]
	dmiS3Rec1  = 0.003 // stage 3: Σ_m Rec(e^m, recon_m)
	dmiS3KL2   = 0.008 // stage 3: KL(R‖N), Σ_m KL_align^m, Σ_m KL(U^m‖N)
	dmiS3Rec2  = 0.001 // stage 3: Σ_m Rec_T^m
	dmiS3Aux   = 0.8   // stage 3: CE of h_S, h_R, h_U^1, h_U^2
)

// Readout names (methods.md §10.5, our reading): per-component information estimates in bits and
// mean gate weights, averaged by the trainer into Metrics.Extra.
var (
	dmiBitsKeys    = [4]string{"dmi_U1_bits", "dmi_U2_bits", "dmi_R_bits", "dmi_S_bits"}
	dmiGateKeys    = [4]string{"dmi_gate_U1", "dmi_gate_U2", "dmi_gate_R", "dmi_gate_S"}
	dmiVariantList = []dmiOptions{
		{name: "dmi", variational: true, first: true, second: true,
			desc: "DMI/DMIL: two-level VIB decomposition into R/U/S + gate, three stages (methods.md §10)"},
		{name: "dmi-fc", variational: false, first: true, second: true,
			desc: "DMI ablation: plain linear layers instead of variational bottlenecks, no KL (methods.md §10)"},
		{name: "dmi-td", variational: true, first: true, second: false,
			desc: "DMI ablation: task-related (first-level T/V) decomposition only, ½(h_T^1+h_T^2) (methods.md §10)"},
		{name: "dmi-cd", variational: true, first: false, second: true,
			desc: "DMI ablation: consistent (second-level R/U/S) decomposition only, on the embedded features (methods.md §10)"},
	}
)

// dmiOptions selects a variant.
type dmiOptions struct {
	name, desc  string
	variational bool // VIBs (true) or plain Linear layers (dmi-fc)
	first       bool // first level T/V split (false: dmi-cd)
	second      bool // second level R/U/S + gate (false: dmi-td)
}

// twoWhy is why the variant is bound to two modalities (methods-beyond.md §5.1), quoted when a plan
// refuses it on another count.
func (o dmiOptions) twoWhy() string {
	if !o.second {
		return "this is the DMI paper's ablation of the two-modality model (prediction ½(h_T^1 + h_T^2)); for M modalities run " + dmiTDMName + ", DMI-TD (our reading)"
	}
	return "R is defined pairwise, S is bilinear in two V's (methods-beyond.md §5.1); for M modalities run " + dmiTDMName + ", DMI-TD (our reading)"
}

// staged reports whether the variant runs the three-stage schedule (dmi, dmi-fc).
func (o dmiOptions) staged() bool { return o.first && o.second }

func init() {
	for _, o := range dmiVariantList {
		o := o
		params := dmiParams(o.staged())
		spec := bench.MethodSpec{
			Params: params,
			Needs:  bench.Needs{TwoModalities: true, TwoModalitiesWhy: o.twoWhy()},
			New:    func(env *bench.Env) (bench.Method, error) { return newDMI(env, o) },
		}
		if o.staged() {
			spec.Partial = dmiPartial
		}
		bench.Methods.Register(o.name, o.desc, spec)
	}
}

// dmiParams are the parameters of a DMI variant: embed_size, and for the staged ones (dmi, dmi-fc,
// dmi-tdm) the stage lengths and learning rates.
func dmiParams(staged bool) []bench.ParamSpec {
	params := []bench.ParamSpec{
		{Name: "embed_size", Default: "32", Kind: "int", Range: "[2,inf)", Help: "latent size d of every embedding and bottleneck (reference: 32 on CREMA-D; ≥ 2, the recon MLPs have d/2 hidden units)"},
	}
	if staged {
		params = append(params,
			bench.ParamSpec{Name: "stage1_epochs", Default: "10", Kind: "int", Range: "[0,inf)", Search: "int:1:12",
				Help: "epochs of stage 1 (intra-modality decomposition, the ensemble warm-up); reference 10; 0 = start in stage 2 on the untrained first level"},
			bench.ParamSpec{Name: "stage2_epochs", Default: "5", Kind: "int", Range: "[1,inf)", Search: "int:1:8",
				Help: "epochs of stage 2 (encoders and first level frozen); reference 5 (with 0 the reference stops after stage 1: run dmi-td for that)"},
			bench.ParamSpec{Name: "lr1", Default: "0", Kind: "float", Range: "[0,inf)", Help: "stage-1 learning rate; 0 = the run's --lr (reference 4e-3); not tuned: a trial's stage 1 runs at the trial's lr"},
			bench.ParamSpec{Name: "lr2", Default: "0", Kind: "float", Range: "[0,inf)", Search: "lrmult:1e-2:1", Help: "stage-2 learning rate; 0 = the run's --lr (reference 1e-3 = 0.25 × stage 1); tuned as 0.01–1 × the trial's lr"},
			bench.ParamSpec{Name: "lr3", Default: "0", Kind: "float", Range: "[0,inf)", Search: "lrmult:1e-4:1", Help: "stage-3 learning rate; 0 = the run's --lr (reference 1e-5 = 0.0025 × stage 1); tuned as 1e-4–1 × the trial's lr"},
		)
	}
	return params
}

// dmiBottleneck is VIB(x) of §10.2: one Linear_{in→2d} whose output is split into (μ, log σ²); the
// sample is μ + exp(lv/2)·ε in training and μ in evaluation. In dmi-fc it is a plain Linear_{in→d}
// whose output is used as is (lv nil).
type dmiBottleneck struct {
	lin         *layers.Linear
	d           int64
	variational bool
}

func newDMIBottleneck(p *nn.Path, in, d int64, variational bool) *dmiBottleneck {
	out := d
	if variational {
		out = 2 * d
	}
	return &dmiBottleneck{lin: layers.NewLinear(p, in, out), d: d, variational: variational}
}

// dmiGauss is a bottleneck's output: mean, log-variance (nil when not variational) and sample.
type dmiGauss struct {
	mu, lv, z *ts.Tensor
}

func (v *dmiBottleneck) forward(s *torchrt.Scope, x *ts.Tensor, sample bool, noise *bench.Noise) dmiGauss {
	h := v.lin.Forward(s, x)
	if !v.variational {
		return dmiGauss{mu: h, z: h}
	}
	g := dmiGauss{mu: s.T(h.MustNarrow(1, 0, v.d, false)), lv: s.T(h.MustNarrow(1, v.d, v.d, false))}
	g.z = g.mu
	if sample {
		eps := noise.Randn(s, g.mu.MustSize())
		std := s.T(s.T(g.lv.MustMulScalar(s.Scalar(0.5), false)).MustExp(false))
		g.z = s.T(g.mu.MustAdd(s.T(std.MustMul(eps, false)), false))
	}
	return g
}

// dmiKL is KL(N(μq, e^{lvq}) ‖ N(μp, e^{lvp})) = ½·mean_{batch,dims}(−(lvq−lvp) + e^{lvq−lvp} +
// (μq−μp)²·e^{−lvp} − 1) (§10.2: a mean, not a sum, over dimensions). mp and lp nil mean the prior
// N(0, I). Gradients flow into both distributions.
func dmiKL(s *torchrt.Scope, mq, lq, mp, lp *ts.Tensor) *ts.Tensor {
	var t *ts.Tensor
	if mp == nil {
		// −lvq + e^{lvq} + μq² − 1
		t = s.T(s.T(lq.MustExp(false)).MustSub(lq, false))
		t = s.T(t.MustAdd(s.T(mq.MustSquare(false)), false))
	} else {
		dl := s.T(lq.MustSub(lp, false))
		t = s.T(s.T(dl.MustExp(false)).MustSub(dl, false))
		dm2 := s.T(s.T(mq.MustSub(mp, false)).MustSquare(false))
		t = s.T(t.MustAdd(s.T(dm2.MustMul(s.T(s.T(lp.MustNeg(false)).MustExp(false)), false)), false))
	}
	t = s.T(t.MustAddScalar(s.Scalar(-1), false))
	return s.T(s.T(t.MustMean(gotch.Float, false)).MustMulScalar(s.Scalar(0.5), false))
}

// dmiRec is Rec(x, x̂) = ‖x − x̂‖_F² / (B·d).
func dmiRec(s *torchrt.Scope, x, xhat *ts.Tensor) *ts.Tensor {
	return s.T(s.T(s.T(x.MustSub(xhat, false)).MustSquare(false)).MustMean(gotch.Float, false))
}

// dmiInfoBits is the per-sample readout of §10.5 (our reading), in bits:
// Î_c(i) = max(0, log K − CE(ℓ_i, y_i)) / ln 2, a pointwise lower bound on I(c; Y) for balanced
// classes. A head that puts all mass on the true class gives log₂ K; a uniform head gives 0.
func dmiInfoBits(s *torchrt.Scope, logits, y *ts.Tensor, k int64) *ts.Tensor {
	ce := s.T(logits.MustCrossEntropyLoss(y, ts.None, 0 /* none */, -100, 0, false))
	v := s.T(ce.MustMulScalar(s.Scalar(-1/math.Ln2), false))
	v = s.T(v.MustAddScalar(s.Scalar(math.Log2(float64(k))), false))
	return s.T(v.MustClampMin(s.Scalar(0), false))
}

// dmiNoGrad runs fn with gradient tracking off and then on again. It is only used inside training
// steps, where the trainer has gradients on. (gotch v0.9.1's MustGradSetEnabled cannot report the
// previous mode reliably: it reads a C int into a Go int, so the upper bytes are garbage; and ts.NoGrad
// always re-enables gradients, which would be wrong inside the trainer's no-grad evaluation.)
func dmiNoGrad(fn func()) {
	ts.MustGradSetEnabled(false)
	defer ts.MustGradSetEnabled(true)
	fn()
}

// dmiLoss accumulates Σ c·term.
type dmiLoss struct {
	s   *torchrt.Scope
	sum *ts.Tensor
}

func (l *dmiLoss) add(c float64, t *ts.Tensor) {
	if c != 1 {
		t = l.s.T(t.MustMulScalar(l.s.Scalar(c), false))
	}
	if l.sum == nil {
		l.sum = t
	} else {
		l.sum = l.s.T(l.sum.MustAdd(t, false))
	}
}

// DMI is the model of §10.2 (or one of its ablations, see dmiOptions).
type DMI struct {
	opt   dmiOptions
	enc   []bench.Encoder
	noise *bench.Noise
	d, k  int64

	embed [2]*layers.Linear
	// First level (nil in dmi-cd).
	vibT, vibV [2]*dmiBottleneck
	recon      [2]*layers.MLP // 2d → d/2 → ReLU → d
	headT      [2]*layers.Linear
	// Second level (nil in dmi-td).
	vibR   *dmiBottleneck
	vibRm  [2]*dmiBottleneck // single-modality approximations q(R|T^m), only for the alignment KL (nil in dmi-fc)
	vibU   [2]*dmiBottleneck
	reconT [2]*layers.MLP
	syn    *layers.Linear // Linear_{3d→d}([V^1; V^2; V^1⊙V^2]), no activation
	headR  *layers.Linear
	headU  [2]*layers.Linear
	headS  *layers.Linear
	gate   *layers.MLP // 4d → d → ReLU → 4, then softmax

	// s1KL and s1Rec are the stage-1 coefficients of harness modality m (dmiBranches); s1ByRole says
	// whether declared roles chose them.
	s1KL, s1Rec    [2]float64
	s1ByRole       bool
	stage1, stage2 int
	lr             [3]float64
	stage          int // current stage 1..3 (dmi-td: always 1; dmi-cd: always 2's loss, nothing frozen)
	// frozenVars are the variables stage 2 freezes: every encoder parameter, the embeddings, the
	// first-level bottlenecks, recon and h_T (only those that required gradients when built).
	frozenVars []*ts.Tensor
}

// dmiStaged is DMI with the three-stage schedule (dmi, dmi-fc); the trainer sees bench.Staged only on
// these variants.
type dmiStaged struct{ *DMI }

func newDMI(env *bench.Env, o dmiOptions) (bench.Method, error) {
	if len(env.Encoders) != 2 {
		return nil, fmt.Errorf("%s is defined for two modalities, got %d", o.name, len(env.Encoders))
	}
	d := int64(env.Params.Int("embed_size"))
	if d < 2 {
		return nil, fmt.Errorf("%s: embed_size=%d: want ≥ 2 (the recon MLPs have d/2 hidden units)", o.name, d)
	}
	m := &DMI{opt: o, enc: env.Encoders, noise: env.Noise, d: d, k: env.NumClasses, stage: 1}
	branch, byRole := dmiBranches(env.Modalities)
	m.s1ByRole = byRole
	for i, b := range branch {
		m.s1KL[i], m.s1Rec[i] = dmiS1KL[b], dmiS1Rec[b]
	}
	p := env.Path
	for i := 0; i < 2; i++ {
		m.embed[i] = layers.NewLinear(p.Sub(fmt.Sprintf("embed%d", i)), env.Encoders[i].OutDim(), d)
		if o.first {
			m.vibT[i] = newDMIBottleneck(p.Sub(fmt.Sprintf("vib_t%d", i)), d, d, o.variational)
			m.vibV[i] = newDMIBottleneck(p.Sub(fmt.Sprintf("vib_v%d", i)), d, d, o.variational)
			m.recon[i] = layers.NewMLP(p.Sub(fmt.Sprintf("recon%d", i)), 2*d, d/2, d)
			m.headT[i] = layers.NewLinear(p.Sub(fmt.Sprintf("head_t%d", i)), d, env.NumClasses)
		}
	}
	if o.second {
		m.vibR = newDMIBottleneck(p.Sub("vib_r"), 2*d, d, o.variational)
		for i := 0; i < 2; i++ {
			if o.variational {
				m.vibRm[i] = newDMIBottleneck(p.Sub(fmt.Sprintf("vib_r%d", i)), d, d, true)
			}
			m.vibU[i] = newDMIBottleneck(p.Sub(fmt.Sprintf("vib_u%d", i)), d, d, o.variational)
			m.reconT[i] = layers.NewMLP(p.Sub(fmt.Sprintf("recon_t%d", i)), 2*d, d/2, d)
			m.headU[i] = layers.NewLinear(p.Sub(fmt.Sprintf("head_u%d", i)), d, env.NumClasses)
		}
		m.syn = layers.NewLinear(p.Sub("synergy"), 3*d, d)
		m.headR = layers.NewLinear(p.Sub("head_r"), d, env.NumClasses)
		m.headS = layers.NewLinear(p.Sub("head_s"), d, env.NumClasses)
		m.gate = layers.NewMLP(p.Sub("gate"), 4*d, d, 4)
	}
	if !o.staged() {
		if !o.first {
			m.stage = 2 // dmi-cd: the stage-2 loss throughout, nothing frozen (see the variant notes)
		}
		return m, nil
	}
	m.stage1, m.stage2 = env.Params.Int("stage1_epochs"), env.Params.Int("stage2_epochs")
	if m.stage1 < 0 || m.stage2 < 1 {
		return nil, fmt.Errorf("%s: stage1_epochs=%d, stage2_epochs=%d: want stage1_epochs ≥ 0 and stage2_epochs ≥ 1", o.name, m.stage1, m.stage2)
	}
	for i, name := range []string{"lr1", "lr2", "lr3"} {
		if m.lr[i] = env.Params.Float(name); m.lr[i] < 0 {
			return nil, fmt.Errorf("%s: %s=%g: want ≥ 0 (0 = the run's learning rate)", o.name, name, m.lr[i])
		}
	}
	for _, vars := range env.EncoderVars {
		for _, v := range vars {
			if v.MustRequiresGrad() {
				m.frozenVars = append(m.frozenVars, v)
			}
		}
	}
	var lins []*layers.Linear
	for i := 0; i < 2; i++ {
		lins = append(lins, m.embed[i], m.vibT[i].lin, m.vibV[i].lin, m.headT[i])
		lins = append(lins, m.recon[i].Layers...)
	}
	for _, l := range lins {
		m.frozenVars = append(m.frozenVars, l.W, l.B)
	}
	return dmiStaged{m}, nil
}

// Stage implements bench.Staged: epochs 1..stage1 are stage 1, the next stage2 (≥ 1) epochs stage 2,
// the rest stage 3. A budget that ends before stage 3 is labelled (dmiPartial).
func (m dmiStaged) Stage(epoch int) int {
	switch {
	case epoch <= m.stage1:
		return 1
	case epoch <= m.stage1+m.stage2:
		return 2
	default:
		return 3
	}
}

// EnterStage implements bench.Staged. Stage 2 stops gradients into the encoders, embeddings, first
// level, recon and h_T (requires_grad false; Forward also computes them under no-grad and runs the
// encoders in evaluation mode, so BatchNorm statistics stay fixed); stages 1 and 3 train everything.
// It returns the stage's learning rate (0: the run's). The trainer has already restored the previous
// stage's best checkpoint and builds a fresh optimiser; libtorch's SGD skips parameters whose gradient
// is undefined, and zero_grad sets gradients to undefined (libtorch ≥ 2.0), so momentum and weight
// decay do not touch frozen variables (both tested).
func (m dmiStaged) EnterStage(stage int) float64 {
	m.stage = stage
	train := stage != 2
	for _, v := range m.frozenVars {
		v.MustSetRequiresGrad(train, false).MustDrop() // in place on the variable; drop the extra handle
	}
	return m.lr[stage-1]
}

// dmiFirst holds the first level's outputs for both modalities.
type dmiFirst struct {
	e      [2]*ts.Tensor // embedded features
	t, v   [2]dmiGauss   // task-relevant / task-irrelevant parts (first level only)
	xhat   [2]*ts.Tensor // recon_m([T; V])
	logits [2]*ts.Tensor // h_T^m(T^m)
}

// firstLevel runs the encoders, the embeddings and (where present) the first level. encTrain selects
// the encoders' training behaviour (BatchNorm batch statistics); sample selects VIB sampling. h_T is
// applied to μ_T when onMean is set (stage 2, as the reference's v_out/a_out there), else to the
// sample T^m (which is μ_T in evaluation).
func (m *DMI) firstLevel(s *torchrt.Scope, b *bench.Batch, encTrain, sample, onMean bool) dmiFirst {
	var f dmiFirst
	for i := 0; i < 2; i++ {
		f.e[i] = m.embed[i].Forward(s, m.enc[i].Forward(s, b.X[i], encTrain))
		if !m.opt.first {
			continue
		}
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

// dmiSecond holds the second level's outputs.
type dmiSecond struct {
	tIn     [2]*ts.Tensor // the second level's T inputs (μ_T^m; dmi-cd: e^m)
	r       dmiGauss
	rm      [2]dmiGauss
	u       [2]dmiGauss
	tHat    [2]*ts.Tensor // recon_T^m([R; U^m])
	sv      *ts.Tensor    // S
	logits  [4]*ts.Tensor // h_U^1, h_U^2, h_R, h_S (gate order)
	gate    *ts.Tensor    // (B, 4)
	predict *ts.Tensor    // ŷ = Σ_c g_c h_c
}

// secondLevel takes the means of T (tIn) and the samples of V (vIn).
func (m *DMI) secondLevel(s *torchrt.Scope, tIn, vIn [2]*ts.Tensor, train bool) dmiSecond {
	o := dmiSecond{tIn: tIn}
	o.r = m.vibR.forward(s, s.T(ts.MustCat([]*ts.Tensor{tIn[0], tIn[1]}, 1)), train, m.noise)
	for i := 0; i < 2; i++ {
		if m.vibRm[i] != nil {
			o.rm[i] = m.vibRm[i].forward(s, tIn[i], train, m.noise)
		}
		o.u[i] = m.vibU[i].forward(s, tIn[i], train, m.noise)
		o.tHat[i] = m.reconT[i].Forward(s, s.T(ts.MustCat([]*ts.Tensor{o.r.z, o.u[i].z}, 1)))
		o.logits[i] = m.headU[i].Forward(s, o.u[i].z)
	}
	prod := s.T(vIn[0].MustMul(vIn[1], false))
	o.sv = m.syn.Forward(s, s.T(ts.MustCat([]*ts.Tensor{vIn[0], vIn[1], prod}, 1)))
	o.logits[2] = m.headR.Forward(s, o.r.z)
	o.logits[3] = m.headS.Forward(s, o.sv)
	gin := s.T(ts.MustCat([]*ts.Tensor{o.u[0].z, o.u[1].z, o.r.z, o.sv}, 1))
	o.gate = s.T(m.gate.Forward(s, gin).MustSoftmax(1, gotch.Float, false))
	for c := 0; c < 4; c++ {
		gc := s.T(o.gate.MustNarrow(1, int64(c), 1, false))
		term := s.T(o.logits[c].MustMul(gc, false))
		if o.predict == nil {
			o.predict = term
		} else {
			o.predict = s.T(o.predict.MustAdd(term, false))
		}
	}
	return o
}

// coefReadout adds to out, per sample, the stage-1 coefficients used and whether roles chose them
// (dmiCoefKeys), so that evaluation records them in Metrics.Extra; a variant without a first level
// (dmi-cd) uses none and records none. The values are constants, so their means are exact.
func (m *DMI) coefReadout(s *torchrt.Scope, out *bench.Outputs, b *bench.Batch) {
	if out.Readout == nil {
		out.Readout = map[string]*ts.Tensor{}
	}
	if !m.opt.first {
		return
	}
	ones := s.T(ts.MustOnes([]int64{b.Y.MustSize()[0]}, gotch.Double, b.Y.MustDevice()))
	put := func(key string, v float64) { out.Readout[key] = s.T(ones.MustMulScalar(s.Scalar(v), false)) }
	for i := 0; i < 2; i++ {
		if m.opt.variational {
			put(dmiCoefKeys.kl[i], m.s1KL[i])
		}
		put(dmiCoefKeys.rec[i], m.s1Rec[i])
	}
	byRole := 0.0
	if m.s1ByRole {
		byRole = 1
	}
	put(dmiCoefKeys.byRole, byRole)
}

// Forward implements bench.Method: the current stage's loss (§10.3) and prediction.
func (m *DMI) Forward(s *torchrt.Scope, b *bench.Batch, train bool) (*ts.Tensor, bench.Outputs) {
	stage := m.stage
	var f dmiFirst
	if stage == 2 && m.opt.first {
		// Frozen: the encoders run in evaluation mode (BatchNorm statistics fixed) and the whole first
		// level without gradients. As in the reference, the frozen modules are in eval mode (which only
		// matters for the encoders' BatchNorm) while the model itself stays in training mode, so T and
		// V are still sampled (V^m enters S as a sample); h_T is applied to μ_T. In evaluation the
		// trainer already runs without gradients.
		if train {
			dmiNoGrad(func() { f = m.firstLevel(s, b, false, true, true) })
		} else {
			f = m.firstLevel(s, b, false, false, true)
		}
	} else {
		f = m.firstLevel(s, b, train, train, false)
	}
	loss := &dmiLoss{s: s}
	var out bench.Outputs
	if m.opt.first {
		out.PerModality = []*ts.Tensor{f.logits[0], f.logits[1]}
	}
	// Stage 1 (and dmi-td throughout).
	if stage == 1 {
		for i := 0; i < 2; i++ {
			loss.add(1, layers.CrossEntropy(s, f.logits[i], b.Y))
			if m.opt.variational {
				loss.add(m.s1KL[i], dmiKL(s, f.t[i].mu, f.t[i].lv, nil, nil))
				loss.add(m.s1KL[i], dmiKL(s, f.v[i].mu, f.v[i].lv, nil, nil))
			}
			loss.add(m.s1Rec[i], dmiRec(s, f.e[i], f.xhat[i]))
		}
		out.Fused = s.T(s.T(f.logits[0].MustAdd(f.logits[1], false)).MustMulScalar(s.Scalar(0.5), false))
		if !train {
			m.coefReadout(s, &out, b)
		}
		return loss.sum, out
	}
	// Stages 2 and 3: the second level on the means μ_T and the samples V (dmi-cd: e for both).
	tIn, vIn := f.e, f.e
	if m.opt.first {
		tIn = [2]*ts.Tensor{f.t[0].mu, f.t[1].mu}
		vIn = [2]*ts.Tensor{f.v[0].z, f.v[1].z}
	}
	sec := m.secondLevel(s, tIn, vIn, train)
	out.Fused = sec.predict
	if !m.opt.first {
		out.PerModality = []*ts.Tensor{sec.logits[0], sec.logits[1]} // h_U^m: the only unimodal heads
	}
	kl2, rec2, aux := dmiS2KL, dmiS2Rec, dmiS2Aux
	if stage == 3 {
		kl2, rec2, aux = dmiS3KL2, dmiS3Rec2, dmiS3Aux
		for i := 0; i < 2; i++ {
			loss.add(dmiS3UniCE, layers.CrossEntropy(s, f.logits[i], b.Y))
			if m.opt.variational {
				loss.add(dmiS3KL1, dmiKL(s, f.t[i].mu, f.t[i].lv, nil, nil))
				loss.add(dmiS3KL1, dmiKL(s, f.v[i].mu, f.v[i].lv, nil, nil))
			}
			loss.add(dmiS3Rec1, dmiRec(s, f.e[i], f.xhat[i]))
		}
	}
	loss.add(1, layers.CrossEntropy(s, sec.predict, b.Y))
	if m.opt.variational {
		loss.add(kl2, dmiKL(s, sec.r.mu, sec.r.lv, nil, nil))
		for i := 0; i < 2; i++ {
			loss.add(kl2, dmiKL(s, sec.r.mu, sec.r.lv, sec.rm[i].mu, sec.rm[i].lv))
			loss.add(kl2, dmiKL(s, sec.u[i].mu, sec.u[i].lv, nil, nil))
		}
	}
	for i := 0; i < 2; i++ {
		loss.add(rec2, dmiRec(s, sec.tIn[i], sec.tHat[i]))
	}
	for c := 0; c < 4; c++ {
		loss.add(aux, layers.CrossEntropy(s, sec.logits[c], b.Y))
	}
	if !train {
		m.coefReadout(s, &out, b)
		for c := 0; c < 4; c++ {
			out.Readout[dmiBitsKeys[c]] = dmiInfoBits(s, sec.logits[c], b.Y, m.k)
			out.Readout[dmiGateKeys[c]] = s.T(s.T(sec.gate.MustNarrow(1, int64(c), 1, false)).MustSqueezeDim(1, false))
		}
	}
	return loss.sum, out
}
