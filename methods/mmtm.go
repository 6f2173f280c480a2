package methods

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/mmfusion/bench/bench"
	"github.com/mmfusion/bench/bench/layers"
	"github.com/mmfusion/bench/bench/torchrt"
	"github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"
)

func init() {
	bench.Methods.Register("mmtm", "multimodal transfer modules (squeeze-excitation across streams) between encoder stages, averaged logits (MMTM, methods.md §6)", bench.MethodSpec{
		Params: []bench.ParamSpec{
			{Name: "ratio", Default: "4", Kind: "int", Range: "[1,inf)", Help: "reduction ratio: C_Z = ⌊2(C_A+C_B)/ratio⌋ (reference 4; M modalities: ⌊2·Σ_m C_m/ratio⌋)"},
			{Name: "gate_scale", Default: "1", Kind: "enum:1|2", Help: "gate = scale·σ(E): 1 as in all public code (default), 2 as in the paper"},
			{Name: "loss", Default: "sum", Kind: "enum:sum|fused",
				Help: "sum: CE(fused) + CE(ℓ¹) + CE(ℓ²) with ℓᵐ the per-branch logits, one optimiser (default; QMF's RGBD training, methods.md §6.2); fused: CE(fused) only, a declared variant that no public code trains (ignored under alternating per-branch steps, --recipe reference, whose losses are CE(ℓ¹) and CE(ℓ²) in turn)"},
			{Name: "first_stage", Default: "-1", Kind: "int", Range: "[-1,inf)",
				Help: "fuse after every stage ≥ this one (0-based, below the encoder's stage count, checked when built); -1: after every stage but the first when the encoder has ≥ 3 stages, after every stage otherwise"},
		},
		Needs: bench.Needs{EncoderStages: true},
		New:   newMMTM,
	})
}

// mmtmModule is one MMTM (methods.md §6.1) between feature maps A (B, C_A, …) and B (B, C_B, …):
//
//	S = mean over the non-channel dims; Z = ReLU(W_z [S_A; S_B] + b_z)
//	Ã = g·σ(W_A Z + b_A) ⊙ A, B̃ = g·σ(W_B Z + b_B) ⊙ B   (gates broadcast over the non-channel dims)
//
// With M modalities (the paper's general form, methods-beyond.md §5.1): one joint squeeze
// Z = ReLU(W_z [S_1; …; S_M] + b_z), C_Z = ⌊2·Σ_m C_m/ratio⌋, and one excitation per modality,
// X̃_m = g·σ(W_m Z + b_m) ⊙ X_m.
type mmtmModule struct {
	squeeze *layers.Linear
	excite  []*layers.Linear // one per modality: excite_a, excite_b, excite_c, …
}

func newMMTMModule(p *nn.Path, ch []int64, ratio int) *mmtmModule {
	var sum int64
	for _, c := range ch {
		sum += c
	}
	cz := max(2*sum/int64(ratio), 1)
	m := &mmtmModule{squeeze: layers.NewLinear(p.Sub("squeeze"), sum, cz)}
	for i, c := range ch {
		m.excite = append(m.excite, layers.NewLinear(p.Sub(fmt.Sprintf("excite_%c", 'a'+i)), cz, c))
	}
	return m
}

// mmtmSqueeze averages x (B, C, …) over every dimension after the channel one, giving (B, C); it
// never touches the batch dimension (the reference's .squeeze() drops it when B = 1).
func mmtmSqueeze(s *torchrt.Scope, x *ts.Tensor) *ts.Tensor {
	if x.Dim() == 2 {
		return x
	}
	dims := make([]int64, 0, x.Dim()-2)
	for d := int64(2); d < int64(x.Dim()); d++ {
		dims = append(dims, d)
	}
	return s.T(x.MustMeanDim(dims, false, x.DType(), false))
}

// mmtmGate multiplies x (B, C, …) by gate (B, C), broadcast over the non-channel dims.
func mmtmGate(s *torchrt.Scope, x, gate *ts.Tensor) *ts.Tensor {
	if x.Dim() > 2 {
		shape := x.MustSize()
		view := []int64{shape[0], shape[1]}
		for range shape[2:] {
			view = append(view, 1)
		}
		gate = s.T(gate.MustReshape(view, false))
	}
	return s.T(x.MustMul(gate, false))
}

// gates returns one gate (B, C_m) per map xs[m].
func (m *mmtmModule) gates(s *torchrt.Scope, xs []*ts.Tensor, scale float64) []*ts.Tensor {
	sqs := make([]*ts.Tensor, len(xs))
	for i, x := range xs {
		sqs[i] = mmtmSqueeze(s, x)
	}
	sq := s.T(ts.MustCat(sqs, 1))
	z := s.T(m.squeeze.Forward(s, sq).MustRelu(false))
	g := make([]*ts.Tensor, len(xs))
	for i, e := range m.excite {
		g[i] = s.T(e.Forward(s, z).MustSigmoid(false))
		if scale != 1 {
			g[i] = mibMulScalar(s, g[i], scale)
		}
	}
	return g
}

func (m *mmtmModule) forward(s *torchrt.Scope, xs []*ts.Tensor, scale float64) []*ts.Tensor {
	g := m.gates(s, xs, scale)
	out := make([]*ts.Tensor, len(xs))
	for i, x := range xs {
		out[i] = mmtmGate(s, x, g[i])
	}
	return out
}

// MMTM runs the two staged encoders in lockstep and recalibrates both streams with an MMTM after the
// chosen stages (methods.md §6.2); the last stage's (recalibrated) maps are pooled, each stream has a
// linear head, and the fused prediction is the average of the two logits. Loss (methods.md §6.2 as
// corrected): CE(fused) + CE(ℓ¹) + CE(ℓ²) with the per-branch logits ℓᵐ (loss=sum, the default, as
// QMF's RGBD training, one optimiser); loss=fused is CE(fused) alone, a declared variant. Under a
// recipe with store.TrainConfig.Alternate (the reference recipe: the official NTU code's training)
// the trainer instead alternates per-branch steps through the bench.Alternating methods below:
// CE(ℓ¹) stepping one optimiser over encoder 1, head 1 and the MMTMs, then a fresh forward and
// CE(ℓ²) stepping another over encoder 2, head 2 and the MMTMs.
//
// M modalities: the M streams run in lockstep with one M-way module per fusion point; the fused
// prediction is the mean of the M logits, the loss CE(fused) + Σ_m CE(ℓᵐ), and the alternating
// recipe has M branches.
//
// Placement: the reference fuses after ResNet-18's layer2, layer3 and layer4, i.e. after every stage
// but the stem and layer1. A StagedEncoder here does not say which stage is which, so the default
// (first_stage = -1) fuses after every stage except the first when there are ≥ 3 stages and after
// every stage when there are ≤ 2 (the 2-layer mlp encoder: after both layers); first_stage = k fuses
// after stages k … n−1 (k = 2 reproduces the reference on a stem/layer1/…/layer4 encoder).
type MMTM struct {
	enc       []bench.StagedEncoder
	modules   []*mmtmModule // per stage, nil where no MMTM follows
	heads     []*layers.Linear
	gateScale float64
	fusedOnly bool // loss=fused: CE(fused) only
	// identityGates replaces every gate by 1 (tests: the streams then run independently).
	identityGates bool
	// branchVars[k]: encoder k, head k and every MMTM module (BranchVars), in name order.
	branchVars [][]*ts.Tensor
}

func newMMTM(env *bench.Env) (bench.Method, error) {
	if len(env.Encoders) < 2 {
		return nil, fmt.Errorf("mmtm needs at least two modalities, got %d", len(env.Encoders))
	}
	nmod := len(env.Encoders)
	m := &MMTM{gateScale: 1, fusedOnly: env.Params.String("loss") == "fused",
		enc: make([]bench.StagedEncoder, nmod), heads: make([]*layers.Linear, nmod), branchVars: make([][]*ts.Tensor, nmod)}
	if env.Params.String("gate_scale") == "2" {
		m.gateScale = 2
	}
	for i, e := range env.Encoders {
		se, ok := e.(bench.StagedEncoder)
		if !ok {
			return nil, fmt.Errorf("mmtm needs staged encoders; modality %d's encoder has no stages", i)
		}
		m.enc[i] = se
		m.heads[i] = layers.NewLinear(env.Path.Sub(fmt.Sprintf("head%d", i)), e.OutDim(), env.NumClasses)
	}
	n := m.enc[0].NumStages()
	for i, e := range m.enc[1:] {
		if e.NumStages() != n {
			if nmod == 2 {
				return nil, fmt.Errorf("mmtm runs the encoders in lockstep, but they have %d and %d stages", n, e.NumStages())
			}
			return nil, fmt.Errorf("mmtm runs the encoders in lockstep, but modality 1's has %d stages and modality %d's %d", n, i+2, e.NumStages())
		}
	}
	ratio := env.Params.Int("ratio")
	if ratio < 1 {
		return nil, fmt.Errorf("ratio=%d: want ≥ 1", ratio)
	}
	first := env.Params.Int("first_stage")
	switch {
	case first == -1 && n >= 3:
		first = 1
	case first == -1:
		first = 0
	case first < 0 || first >= n:
		return nil, fmt.Errorf("first_stage=%d: the encoders have stages 0…%d", first, n-1)
	}
	m.modules = make([]*mmtmModule, n)
	for i := first; i < n; i++ {
		ch := make([]int64, nmod)
		for k, e := range m.enc {
			ch[k] = e.StageChannels(i)
		}
		m.modules[i] = newMMTMModule(env.Path.Sub(fmt.Sprintf("mmtm%d", i)), ch, ratio)
	}
	prefix := strings.Join(env.Path.Paths(), nn.SEP) + nn.SEP // "method."
	all := env.Vars()
	names := slices.Sorted(maps.Keys(all))
	for k := range m.branchVars {
		for _, n := range slices.Sorted(maps.Keys(env.EncoderVars[k])) {
			m.branchVars[k] = append(m.branchVars[k], env.EncoderVars[k][n])
		}
		for _, n := range names {
			if strings.HasPrefix(n, fmt.Sprintf("%shead%d.", prefix, k)) || strings.HasPrefix(n, prefix+"mmtm") {
				m.branchVars[k] = append(m.branchVars[k], all[n])
			}
		}
	}
	return m, nil
}

// logits runs the streams and returns the per-branch logits ℓ¹ … ℓᴹ.
func (m *MMTM) logits(s *torchrt.Scope, b *bench.Batch, train bool) []*ts.Tensor {
	xs := append([]*ts.Tensor(nil), b.X[:len(m.enc)]...)
	for i, mod := range m.modules {
		for k, e := range m.enc {
			xs[k] = e.ForwardStage(s, i, xs[k], train)
		}
		if mod != nil && !m.identityGates {
			xs = mod.forward(s, xs, m.gateScale)
		}
	}
	out := make([]*ts.Tensor, len(xs))
	for k, x := range xs {
		out[k] = m.heads[k].Forward(s, m.enc[k].Pool(s, x))
	}
	return out
}

// Forward implements bench.Method.
func (m *MMTM) Forward(s *torchrt.Scope, b *bench.Batch, train bool) (*ts.Tensor, bench.Outputs) {
	l := m.logits(s, b, train)
	out := bench.Outputs{PerModality: l}
	sum := l[0]
	for _, x := range l[1:] {
		sum = s.T(sum.MustAdd(x, false))
	}
	out.Fused = mibMulScalar(s, sum, 1/float64(len(l)))
	loss := layers.CrossEntropy(s, out.Fused, b.Y)
	if !m.fusedOnly {
		for _, x := range l {
			loss = s.T(loss.MustAdd(layers.CrossEntropy(s, x, b.Y), false))
		}
	}
	return loss, out
}

// Branches implements bench.Alternating: one per stream (the official code's visual and skeleton
// branches, main_mmtm_ntu.py's step(0) and step(1)).
func (m *MMTM) Branches() int { return len(m.enc) }

// BranchVars implements bench.Alternating: branch k's encoder and head and every MMTM module (the
// reference's get_visual_params / get_skeleton_params both include the fusion modules).
func (m *MMTM) BranchVars(k int) []*ts.Tensor {
	return m.branchVars[k]
}

// BranchLoss implements bench.Alternating: CE(ℓᵏ) of a fresh forward (the loss option does not apply).
func (m *MMTM) BranchLoss(s *torchrt.Scope, b *bench.Batch, k int) *ts.Tensor {
	return layers.CrossEntropy(s, m.logits(s, b, true)[k], b.Y)
}
