package methods

import (
	"fmt"
	"math"
	"sort"

	"github.com/mmfusion/bench/bench"
	"github.com/mmfusion/bench/bench/layers"
	"github.com/mmfusion/bench/bench/torchrt"
	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"
)

func init() {
	bench.Methods.Register("ogm", "OGM-GE: joint concat model, encoder weight gradients scaled by 1−tanh(α·ρ) for the dominant modality plus Gaussian noise (methods.md §3)", bench.MethodSpec{
		Params: []bench.ParamSpec{
			{Name: "alpha", Default: "0.8", Kind: "float", Range: "[0,inf)", Search: "lin:0.1:2",
				Help: "α of k = 1 − tanh(α·ρ); README value for CREMA-D (and the Kontras re-runs) is 0.8, the argparse/VGGSound value 0.1"},
			{Name: "modulation_start", Default: "1", Kind: "int", Range: "[1,inf)",
				Help: "first modulated epoch (1-based, inclusive); reference: 0-based epoch 0"},
			{Name: "modulation_end", Default: "51", Kind: "int", Range: "[1,inf)",
				Help: "last modulated epoch (1-based, inclusive); reference: 0-based epoch 50"},
			{Name: "ge", Default: "true", Kind: "bool",
				Help: "true: OGM-GE (add N(0, std(g)²) noise to the modulated gradients); false: plain OGM (scaling only)"},
		},
		Validate: validateWindow,
		New:      newOGM,
	})
}

// OGM is OGM-GE (Peng et al., CVPR 2022; methods.md §3). The model is the joint concat model with a
// linear head (§1); at every training step the unimodal logits ℓ^m = W_m z^m + b/M (§0.4, from the
// current head weights) give the scores s_m = Σ_i softmax(ℓ^m_i)[y_i] and the coefficients k_m
// (ogmCoefficients). After backward, inside the modulation window, every selected gradient g of
// encoder m becomes k_m·g + ε, ε ~ N(0, σ²), σ = std(g) + 1e-8 of the original g (OGM-GE), or k_m·g
// (plain OGM). The noise is added for every modality each step, k = 1 included; the fusion head is
// never modulated.
//
// Selected gradients (adaptation, documented): the reference modulates the 4-D gradients (conv kernels)
// of each encoder. This harness's encoders may be MLPs with only Linear layers, so the rule here is
// "every encoder parameter with ≥ 2 dimensions": conv kernels and linear weights; biases and
// BatchNorm parameters (1-D) are excluded. For a ResNet encoder this adds nothing but its (absent)
// linear layers, i.e. it equals the original rule. Parameters are selected by encoder ownership
// (Env.EncoderVars), not by name.
//
// More than two modalities (authors, OGM-GE issue #16): ρ_m = mean_{k≠m} s_m/s_k and
// k_m = 1 − tanh(α ρ_m) where ρ_m > 1, else 1. For two modalities the reference's exact rule is used
// (including its tie-break at ρ = 1, which modulates the first modality).
type OGM struct {
	enc     []bench.Encoder
	head    *layers.Linear
	dims    []int64
	alpha   float64
	start   int
	end     int
	ge      bool
	noise   *bench.Noise
	encVars [][]*ts.Tensor // per modality: the modulated parameters, in name order (deterministic noise)
	// coeff are the coefficients k_m of the last training forward, used by AfterBackward of that step.
	coeff []float64
}

func newOGM(env *bench.Env) (bench.Method, error) {
	if len(env.Encoders) < 2 {
		return nil, fmt.Errorf("ogm needs at least two modalities")
	}
	o := &OGM{enc: env.Encoders, alpha: env.Params.Float("alpha"),
		start: env.Params.Int("modulation_start"), end: env.Params.Int("modulation_end"),
		ge: env.Params.Bool("ge"), noise: env.Noise}
	var total int64
	for _, e := range env.Encoders {
		o.dims = append(o.dims, e.OutDim())
		total += e.OutDim()
	}
	o.head = layers.NewLinear(env.Path.Sub("head"), total, env.NumClasses)
	for m := range env.Encoders {
		o.encVars = append(o.encVars, ogmSelectWeights(env.EncoderVars[m]))
	}
	return o, nil
}

// ogmSelectWeights returns the trainable variables with ≥ 2 dimensions (conv kernels, linear
// weights), sorted by name so that noise draws are assigned deterministically.
func ogmSelectWeights(vars map[string]*ts.Tensor) []*ts.Tensor {
	names := make([]string, 0, len(vars))
	for name, v := range vars {
		if v.Dim() >= 2 && v.MustRequiresGrad() {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	out := make([]*ts.Tensor, len(names))
	for i, n := range names {
		out[i] = vars[n]
	}
	return out
}

// Forward implements bench.Method.
func (o *OGM) Forward(s *torchrt.Scope, b *bench.Batch, train bool) (*ts.Tensor, bench.Outputs) {
	z := encodeAll(s, o.enc, b, train)
	cat := s.T(ts.MustCat(z, 1))
	out := bench.Outputs{Fused: o.head.Forward(s, cat)}
	out.PerModality = splitLinearLogits(s, o.head, z, o.dims)
	if train {
		o.coeff = ogmCoefficients(ogmTrueClassScores(s, out.PerModality, b.Y), o.alpha)
	}
	return layers.CrossEntropy(s, out.Fused, b.Y), out
}

func (o *OGM) inWindow(epoch int) bool { return o.start <= epoch && epoch <= o.end }

// AfterBackward implements bench.AfterBackwarder: the gradient modulation of §3.3 step 2.
func (o *OGM) AfterBackward(s *torchrt.Scope, b *bench.Batch) {
	if !o.inWindow(b.Epoch) || o.coeff == nil {
		return
	}
	for m, vars := range o.encVars {
		k := o.coeff[m]
		for _, v := range vars {
			g := s.T(v.MustGrad(false))
			if !g.MustDefined() {
				continue
			}
			var sigma float64
			if o.ge { // std of the original gradient (unbiased, as torch.Tensor.std)
				sigma = s.T(g.MustStd(true, false)).MustFloat64Value(nil) + 1e-8
			}
			g.MustMulScalar_(s.Scalar(k))
			if o.ge {
				eps := o.noise.Randn(s, g.MustSize())
				eps.MustMulScalar_(s.Scalar(sigma))
				g.MustAdd_(eps)
			}
		}
	}
}

// ogmTrueClassScores returns s_m = Σ_i softmax(ℓ^m_i)[y_i] for each logits tensor (no gradient).
func ogmTrueClassScores(s *torchrt.Scope, logits []*ts.Tensor, y *ts.Tensor) []float64 {
	yi := s.T(y.MustUnsqueeze(1, false))
	out := make([]float64, len(logits))
	for m, l := range logits {
		d := s.T(l.MustDetach(false))
		p := s.T(d.MustSoftmax(1, gotch.Float, false))
		py := s.T(p.MustGather(1, yi, false, false))
		out[m] = s.T(py.MustSum(gotch.Double, false)).MustFloat64Value(nil)
	}
	return out
}

// ogmCoefficients maps the scores s_m to the coefficients k_m (§3.2). Two modalities, as the
// reference: ρ_v = s_v/s_a; if ρ_v > 1 then k_v = 1 − tanh(α ρ_v), k_a = 1, else
// k_a = 1 − tanh(α/ρ_v), k_v = 1 (discontinuous at ρ = 1 by design). M > 2: pairwise-average ratio.
func ogmCoefficients(scores []float64, alpha float64) []float64 {
	k := make([]float64, len(scores))
	for m := range k {
		k[m] = 1
	}
	if len(scores) == 2 {
		rhoV := scores[1] / scores[0]
		if rhoV > 1 {
			k[1] = 1 - math.Tanh(alpha*math.Max(rhoV, 0))
		} else {
			k[0] = 1 - math.Tanh(alpha*math.Max(1/rhoV, 0))
		}
		return k
	}
	for m := range scores {
		var rho float64
		for j := range scores {
			if j != m {
				rho += scores[m] / scores[j]
			}
		}
		rho /= float64(len(scores) - 1)
		if rho > 1 {
			k[m] = 1 - math.Tanh(alpha*rho)
		}
	}
	return k
}
