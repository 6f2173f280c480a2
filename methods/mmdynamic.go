package methods

import (
	"fmt"
	"math"

	"github.com/mmfusion/bench/bench"
	"github.com/mmfusion/bench/bench/layers"
	"github.com/mmfusion/bench/bench/torchrt"
	"github.com/sugarme/gotch/ts"
)

func init() {
	bench.Methods.Register("mmdynamic", "multimodal dynamics: feature-informativeness gates (L1), TCP confidences (MSE), confidence-weighted fusion (MMdynamic, methods-beyond.md §3)", bench.MethodSpec{
		Params: []bench.ParamSpec{
			{Name: "hidden", Default: "1000", Kind: "int", Range: "[1,65536]",
				Help: "width H of each modality's feature encoder Linear(D_m→H) (train_test.py hidden_dim = [1000], BRCA and ROSMAP); the fusion classifier is one Linear(M·H→K) as for the code's one-entry hidden_dim"},
			{Name: "dropout", Default: "0.5", Kind: "float", Range: "[0,1)",
				Help: "dropout on each h^m after the ReLU, training only (train_test.py MMDynamic(..., dropout=0.5))"},
			{Name: "gate_weight", Default: "1", Kind: "float", Range: "[0,inf)",
				Help: "weight of Σ_m mean(g^m), the L1 term on the sigmoid gates (model.py adds it with weight 1)"},
			{Name: "conf_weight", Default: "1", Kind: "float", Range: "[0,inf)",
				Help: "weight of Σ_m MSE(ĉ^m, p^m), the confidence regressing the true-class probability (model.py: weight 1)"},
			{Name: "uni_weight", Default: "1", Kind: "float", Range: "[0,inf)",
				Help: "weight of Σ_m CE(ℓ^m), the TCP classifiers' cross-entropies (model.py: weight 1); the fused CE has weight 1 always"},
			{Name: "tcp_detach", Default: "false", Kind: "bool",
				Help: "detach the TCP target p^m = softmax(ℓ^m)[y] in the MSE; false is the code (model.py does not detach, so the MSE also moves the TCP classifier)"},
		},
		New: newMMDynamic,
	})
}

// MMDynamic (Han et al., CVPR 2022; TencentAILabHealthcare/mmdynamics model.py; methods-beyond.md
// §3). Per modality m, on the encoder's pooled feature z^m (D_m):
//
//	g^m = σ(W_g^m z^m + b_g^m)                        Linear D_m→D_m: feature-informativeness gate
//	h^m = Dropout_p(ReLU(W_e^m (z^m ⊙ g^m) + b_e^m))   Linear D_m→H
//	ℓ^m = W_c^m h^m + b_c^m                            Linear H→K (TCP classifier), Outputs.PerModality
//	ĉ^m = w_t^m · h^m + b_t^m                          Linear H→1, raw (no sigmoid, no clamp)
//	ℓ   = W_f [ĉ^1 h^1; …; ĉ^M h^M] + b_f              Linear M·H→K, Outputs.Fused
//
//	L = CE(ℓ) + Σ_m [ λ_g·mean_{i,j} g^m_ij + λ_c·MSE(ĉ^m, p^m) + λ_u·CE(ℓ^m) ],  p^m_i = softmax(ℓ^m_i)[y_i]
//
// with λ_g = λ_c = λ_u = 1 (the code), p^m not detached (the code; tcp_detach=true detaches it).
// Everything loops over the modalities, so M ≥ 3 works as the 3-view original. Evaluation returns
// the same loss without dropout, and per-sample readouts averaged by the trainer: mmdyn_gate_m (mean
// gate of modality m, 1-based), mmdyn_conf_m (ĉ^m) and mmdyn_conf_neg_m (fraction with ĉ^m < 0, the
// sign flip methods-beyond.md §3.5 warns of).
//
// Our adaptation (methods-beyond.md §3.5): z^m is the pooled feature of the harness's shared encoder,
// trained end to end with it on mini-batches under the run's optimiser, where the reference feeds
// min-max-scaled raw omics views to the model alone, full batch, with Adam (the reference recipe,
// recipes.go, gives the latter). H = 1000 as the code even where it expands a narrower feature.
// The layers keep the harness's initialisation (PyTorch's default) under the shared protocol; the
// reference's Xavier-normal with zero biases is the reference recipe's init. Dropout masks come from
// the cell's own generator (Env.Noise, as mmml), not libtorch's global one.
type MMDynamic struct {
	enc                   []bench.Encoder
	gate, feat, cls, conf []*layers.Linear
	fuse                  *layers.Linear
	p, dropCut            float64
	wGate, wConf, wUni    float64
	detach                bool
	noise                 *bench.Noise
}

func newMMDynamic(env *bench.Env) (bench.Method, error) {
	p := env.Params.Float("dropout")
	if p < 0 || p >= 1 {
		return nil, fmt.Errorf("dropout=%v: want 0 ≤ p < 1", p)
	}
	h := int64(env.Params.Int("hidden"))
	d := &MMDynamic{enc: env.Encoders, p: p, dropCut: math.Sqrt2 * math.Erfinv(2*p-1), noise: env.Noise,
		wGate: env.Params.Float("gate_weight"), wConf: env.Params.Float("conf_weight"), wUni: env.Params.Float("uni_weight"),
		detach: env.Params.Bool("tcp_detach")}
	for m, e := range env.Encoders {
		pm := env.Path.Sub(fmt.Sprintf("view%d", m))
		d.gate = append(d.gate, layers.NewLinear(pm.Sub("gate"), e.OutDim(), e.OutDim()))
		d.feat = append(d.feat, layers.NewLinear(pm.Sub("feature"), e.OutDim(), h))
		d.cls = append(d.cls, layers.NewLinear(pm.Sub("tcp_classifier"), h, env.NumClasses))
		d.conf = append(d.conf, layers.NewLinear(pm.Sub("tcp_confidence"), h, 1))
	}
	d.fuse = layers.NewLinear(env.Path.Sub("fusion"), int64(len(env.Encoders))*h, env.NumClasses)
	return d, nil
}

// dropout is inverted dropout with the mask drawn from the cell's generator (training only), as
// MMML's: an element is kept when its N(0,1) draw is ≥ Φ⁻¹(p), then scaled by 1/(1−p).
func (d *MMDynamic) dropout(s *torchrt.Scope, x *ts.Tensor, train bool) *ts.Tensor {
	if !train || d.p == 0 {
		return x
	}
	eps := d.noise.Randn(s, x.MustSize())
	ge := mibScalarOp(s, d.dropCut, func(c *ts.Scalar) *ts.Tensor { return eps.MustGe(c, false) })
	mask := mibMulScalar(s, s.T(ge.MustTotype(x.DType(), false)), 1/(1-d.p))
	return s.T(x.MustMul(mask, false))
}

// mmdynGatePenalty is mean_{i,j} g_ij: the L1 norm of the (positive) gates over their count.
func mmdynGatePenalty(s *torchrt.Scope, g *ts.Tensor) *ts.Tensor {
	return s.T(g.MustMean(g.DType(), false))
}

// mmdynTCP is the true-class probability p_i = softmax(ℓ_i)[y_i] (B), detached when detach is set.
func mmdynTCP(s *torchrt.Scope, logits, y *ts.Tensor, detach bool) *ts.Tensor {
	prob := s.T(logits.MustSoftmax(1, logits.DType(), false))
	p := s.T(s.T(prob.MustGather(1, s.T(y.MustUnsqueeze(1, false)), false, false)).MustSqueezeDim(1, false))
	if detach {
		p = s.T(p.MustDetach(false))
	}
	return p
}

// mmdynConfidenceLoss is MSE(ĉ, p) = mean_i (ĉ_i − p_i)² for ĉ (B, 1) and p (B).
func mmdynConfidenceLoss(s *torchrt.Scope, conf, p *ts.Tensor) *ts.Tensor {
	c := s.T(conf.MustSqueezeDim(1, false))
	return s.T(c.MustMseLoss(p, 1 /* mean */, false))
}

// mmdynFuse is the fusion classifier's input [ĉ^1 h^1; …; ĉ^M h^M] (B, M·H) for h^m (B, H) and ĉ^m
// (B, 1): each modality's feature scaled by its own per-sample confidence (not detached, as the code).
func mmdynFuse(s *torchrt.Scope, h, conf []*ts.Tensor) *ts.Tensor {
	weighted := make([]*ts.Tensor, len(h))
	for m := range h {
		weighted[m] = s.T(h[m].MustMul(conf[m], false))
	}
	return s.T(ts.MustCat(weighted, 1))
}

// Forward implements bench.Method.
func (d *MMDynamic) Forward(s *torchrt.Scope, b *bench.Batch, train bool) (*ts.Tensor, bench.Outputs) {
	z := encodeAll(s, d.enc, b, train)
	M := len(z)
	gates, h, conf := make([]*ts.Tensor, M), make([]*ts.Tensor, M), make([]*ts.Tensor, M)
	out := bench.Outputs{PerModality: make([]*ts.Tensor, M)}
	for m := range z {
		gates[m] = s.T(d.gate[m].Forward(s, z[m]).MustSigmoid(false))
		x := s.T(z[m].MustMul(gates[m], false))
		h[m] = d.dropout(s, s.T(d.feat[m].Forward(s, x).MustRelu(false)), train)
		out.PerModality[m] = d.cls[m].Forward(s, h[m])
		conf[m] = d.conf[m].Forward(s, h[m])
	}
	out.Fused = d.fuse.Forward(s, mmdynFuse(s, h, conf))
	loss := layers.CrossEntropy(s, out.Fused, b.Y)
	add := func(term *ts.Tensor, w float64) {
		if w != 0 {
			loss = s.T(loss.MustAdd(mibMulScalar(s, term, w), false))
		}
	}
	for m := range z {
		add(mmdynGatePenalty(s, gates[m]), d.wGate)
		add(mmdynConfidenceLoss(s, conf[m], mmdynTCP(s, out.PerModality[m], b.Y, d.detach)), d.wConf)
		add(layers.CrossEntropy(s, out.PerModality[m], b.Y), d.wUni)
	}
	if !train {
		out.Readout = map[string]*ts.Tensor{}
		for m := range z {
			c := s.T(conf[m].MustSqueezeDim(1, false))
			out.Readout[fmt.Sprintf("mmdyn_gate_%d", m+1)] = s.T(gates[m].MustMeanDim([]int64{1}, false, gates[m].DType(), false))
			out.Readout[fmt.Sprintf("mmdyn_conf_%d", m+1)] = c
			neg := mibScalarOp(s, 0, func(v *ts.Scalar) *ts.Tensor { return c.MustLt(v, false) })
			out.Readout[fmt.Sprintf("mmdyn_conf_neg_%d", m+1)] = s.T(neg.MustTotype(c.DType(), false))
		}
	}
	return loss, out
}
