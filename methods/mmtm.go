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
			{Name: "ratio", Default: "4", Kind: "int", Range: "[1,inf)", Help: "reduction ratio: C_Z = ⌊2(C_A+C_B)/ratio⌋ (reference 4)"},
			{Name: "gate_scale", Default: "1", Kind: "enum:1|2", Help: "gate = scale·σ(E): 1 as in all public code (default), 2 as in the paper"},
			{Name: "loss", Default: "sum", Kind: "enum:sum|fused",
				Help: "sum: CE(fused) + CE(ℓ¹) + CE(ℓ²) with ℓᵐ the per-branch logits, one optimiser (default; QMF's RGBD training, methods.md §6.2); fused: CE(fused) only, a declared variant that no public code trains (ignored under alternating per-branch steps, --recipe reference, whose losses are CE(ℓ¹) and CE(ℓ²) in turn)"},
			{Name: "first_stage", Default: "-1", Kind: "int", Range: "[-1,inf)",
				Help: "fuse after every stage ≥ this one (0-based, below the encoder's stage count, checked when built); -1: after every stage but the first when the encoder has ≥ 3 stages, after every stage otherwise"},
		},
		Needs: bench.Needs{EncoderStages: true, TwoModalities: true},
		New:   newMMTM,
	})
}

// mmtmModule is one MMTM (methods.md §6.1) between feature maps A (B, C_A, …) and B (B, C_B, …):
//
//	S = mean over the non-channel dims; Z = ReLU(W_z [S_A; S_B] + b_z)
//	Ã = g·σ(W_A Z + b_A) ⊙ A, B̃ = g·σ(W_B Z + b_B) ⊙ B   (gates broadcast over the non-channel dims)
type mmtmModule struct {
	squeeze, exciteA, exciteB *layers.Linear
}

func newMMTMModule(p *nn.Path, ca, cb int64, ratio int) *mmtmModule {
	cz := max(2*(ca+cb)/int64(ratio), 1)
	return &mmtmModule{
		squeeze: layers.NewLinear(p.Sub("squeeze"), ca+cb, cz),
		exciteA: layers.NewLinear(p.Sub("excite_a"), cz, ca),
		exciteB: layers.NewLinear(p.Sub("excite_b"), cz, cb),
	}
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

// gates returns the two gates (B, C_A), (B, C_B) for maps a and b.
func (m *mmtmModule) gates(s *torchrt.Scope, a, b *ts.Tensor, scale float64) (ga, gb *ts.Tensor) {
	sq := s.T(ts.MustCat([]*ts.Tensor{mmtmSqueeze(s, a), mmtmSqueeze(s, b)}, 1))
	z := s.T(m.squeeze.Forward(s, sq).MustRelu(false))
	ga = s.T(m.exciteA.Forward(s, z).MustSigmoid(false))
	gb = s.T(m.exciteB.Forward(s, z).MustSigmoid(false))
	if scale != 1 {
		ga, gb = mibMulScalar(s, ga, scale), mibMulScalar(s, gb, scale)
	}
	return ga, gb
}

func (m *mmtmModule) forward(s *torchrt.Scope, a, b *ts.Tensor, scale float64) (*ts.Tensor, *ts.Tensor) {
	ga, gb := m.gates(s, a, b, scale)
	return mmtmGate(s, a, ga), mmtmGate(s, b, gb)
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
// Placement: the reference fuses after ResNet-18's layer2, layer3 and layer4, i.e. after every stage
// but the stem and layer1. A StagedEncoder here does not say which stage is which, so the default
// (first_stage = -1) fuses after every stage except the first when there are ≥ 3 stages and after
// every stage when there are ≤ 2 (the 2-layer mlp encoder: after both layers); first_stage = k fuses
// after stages k … n−1 (k = 2 reproduces the reference on a stem/layer1/…/layer4 encoder).
type MMTM struct {
	enc       [2]bench.StagedEncoder
	modules   []*mmtmModule // per stage, nil where no MMTM follows
	heads     [2]*layers.Linear
	gateScale float64
	fusedOnly bool // loss=fused: CE(fused) only
	// identityGates replaces every gate by 1 (tests: the streams then run independently).
	identityGates bool
	// branchVars[k]: encoder k, head k and every MMTM module (BranchVars), in name order.
	branchVars [2][]*ts.Tensor
}

func newMMTM(env *bench.Env) (bench.Method, error) {
	if len(env.Encoders) != 2 {
		return nil, fmt.Errorf("mmtm is defined for two modalities, got %d", len(env.Encoders))
	}
	m := &MMTM{gateScale: 1, fusedOnly: env.Params.String("loss") == "fused"}
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
	if m.enc[1].NumStages() != n {
		return nil, fmt.Errorf("mmtm runs the encoders in lockstep, but they have %d and %d stages", n, m.enc[1].NumStages())
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
		m.modules[i] = newMMTMModule(env.Path.Sub(fmt.Sprintf("mmtm%d", i)), m.enc[0].StageChannels(i), m.enc[1].StageChannels(i), ratio)
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

// logits runs both streams and returns the per-branch logits ℓ¹, ℓ².
func (m *MMTM) logits(s *torchrt.Scope, b *bench.Batch, train bool) (la, lb *ts.Tensor) {
	xa, xb := b.X[0], b.X[1]
	for i, mod := range m.modules {
		xa = m.enc[0].ForwardStage(s, i, xa, train)
		xb = m.enc[1].ForwardStage(s, i, xb, train)
		if mod != nil && !m.identityGates {
			xa, xb = mod.forward(s, xa, xb, m.gateScale)
		}
	}
	return m.heads[0].Forward(s, m.enc[0].Pool(s, xa)), m.heads[1].Forward(s, m.enc[1].Pool(s, xb))
}

// Forward implements bench.Method.
func (m *MMTM) Forward(s *torchrt.Scope, b *bench.Batch, train bool) (*ts.Tensor, bench.Outputs) {
	la, lb := m.logits(s, b, train)
	out := bench.Outputs{PerModality: []*ts.Tensor{la, lb}}
	out.Fused = mibMulScalar(s, s.T(la.MustAdd(lb, false)), 0.5)
	loss := layers.CrossEntropy(s, out.Fused, b.Y)
	if !m.fusedOnly {
		loss = s.T(loss.MustAdd(layers.CrossEntropy(s, la, b.Y), false))
		loss = s.T(loss.MustAdd(layers.CrossEntropy(s, lb, b.Y), false))
	}
	return loss, out
}

// Branches implements bench.Alternating: the two streams (the official code's visual and skeleton
// branches, main_mmtm_ntu.py's step(0) and step(1)).
func (m *MMTM) Branches() int { return 2 }

// BranchVars implements bench.Alternating: branch k's encoder and head and every MMTM module (the
// reference's get_visual_params / get_skeleton_params both include the fusion modules).
func (m *MMTM) BranchVars(k int) []*ts.Tensor {
	return m.branchVars[k]
}

// BranchLoss implements bench.Alternating: CE(ℓᵏ) of a fresh forward (the loss option does not apply).
func (m *MMTM) BranchLoss(s *torchrt.Scope, b *bench.Batch, k int) *ts.Tensor {
	la, lb := m.logits(s, b, true)
	return layers.CrossEntropy(s, [2]*ts.Tensor{la, lb}[k], b.Y)
}
