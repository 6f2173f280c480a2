package methods

import (
	"fmt"
	"math"
	"sort"

	"github.com/mmfusion/bench/bench"
	"github.com/mmfusion/bench/bench/layers"
	"github.com/mmfusion/bench/bench/torchrt"
	"github.com/sugarme/gotch/ts"
)

func init() {
	bench.Methods.Register("mlb", "MLB (Kontras et al., BMVC 2024): concat head + unimodal heads, multi-loss, encoder/head-block gradients scaled by 1 + tanh(α(ρ−1)) (methods.md §5.2)", bench.MethodSpec{
		Params: []bench.ParamSpec{
			{Name: "alpha", Default: "0.8", Kind: "float", Range: "[0,inf)", Search: "lin:0.1:2", Help: "α of k = 1 + tanh(α(ρ − 1)) (Kontras configs: 0.8 CREMA-D and AVE, 1.0 UCF101)"},
			{Name: "modulation_start", Default: "1", Kind: "int", Range: "[1,inf)", Help: "first modulated epoch (1-based, inclusive; reference 0-based 0)"},
			{Name: "modulation_end", Default: "1501", Kind: "int", Range: "[1,inf)", Help: "last modulated epoch (1-based, inclusive; reference 0-based 1500, i.e. always)"},
		},
		Validate: validateWindow,
		New:      newMLB,
	})
}

// MLB is multi-loss balanced gradient modulation (Kontras et al., BMVC 2024; methods.md §5.2).
// Each encoder has its own linear head u^m = H_m z^m; the fusion head is concat-linear
// ℓ = Σ_m W_m z^m + b. L = CE(ℓ, y) + Σ_m CE(u^m, y). Each training step, from the detached unimodal
// heads: s_m = mean_i softmax(u^m_i)[y_i], ρ_m = mean_{j≠m} s_j / s_m (two modalities: ρ_a = s_v/s_a),
// k_m = 1 + tanh(α(ρ_m − 1)) ∈ (0, 2). After backward, inside the window, the gradients of every
// parameter of encoder m, of its head H_m, and of the fusion-weight block W_m are multiplied by k_m;
// the fusion bias is not scaled. The optional "tanh_mode 2" of the reference is not implemented.
// PerModality reports the unimodal heads u^m.
type MLB struct {
	enc    []bench.Encoder
	heads  []*layers.Linear
	fusion *layers.Linear
	dims   []int64
	alpha  float64
	start  int
	end    int
	scaled [][]*ts.Tensor // per modality: encoder variables and H_m's weight and bias, in name order
	coeff  []float64      // k_m of the last training forward
}

func newMLB(env *bench.Env) (bench.Method, error) {
	if len(env.Encoders) < 2 {
		return nil, fmt.Errorf("mlb needs at least two modalities")
	}
	o := &MLB{enc: env.Encoders, alpha: env.Params.Float("alpha"), start: env.Params.Int("modulation_start"),
		end: env.Params.Int("modulation_end")}
	var total int64
	for m, e := range env.Encoders {
		o.dims = append(o.dims, e.OutDim())
		total += e.OutDim()
		o.heads = append(o.heads, layers.NewLinear(env.Path.Sub(fmt.Sprintf("head%d", m)), e.OutDim(), env.NumClasses))
	}
	o.fusion = layers.NewLinear(env.Path.Sub("fusion"), total, env.NumClasses)
	for m := range env.Encoders {
		vars := env.EncoderVars[m]
		names := make([]string, 0, len(vars))
		for name, v := range vars {
			if v.MustRequiresGrad() {
				names = append(names, name)
			}
		}
		sort.Strings(names)
		var list []*ts.Tensor
		for _, n := range names {
			list = append(list, vars[n])
		}
		o.scaled = append(o.scaled, append(list, o.heads[m].W, o.heads[m].B))
	}
	return o, nil
}

// mlbCoefficients maps mean true-class probabilities s_m to k_m = 1 + tanh(α(ρ_m − 1)) with
// ρ_m = mean_{j≠m} s_j / s_m.
func mlbCoefficients(scores []float64, alpha float64) []float64 {
	k := make([]float64, len(scores))
	for m := range scores {
		var rho float64
		for j := range scores {
			if j != m {
				rho += scores[j] / scores[m]
			}
		}
		rho /= float64(len(scores) - 1)
		k[m] = 1 + math.Tanh(alpha*(rho-1))
	}
	return k
}

// Forward implements bench.Method.
func (o *MLB) Forward(s *torchrt.Scope, b *bench.Batch, train bool) (*ts.Tensor, bench.Outputs) {
	z := encodeAll(s, o.enc, b, train)
	out := bench.Outputs{Fused: o.fusion.Forward(s, s.T(ts.MustCat(z, 1))), PerModality: make([]*ts.Tensor, len(z))}
	loss := layers.CrossEntropy(s, out.Fused, b.Y)
	for m := range z {
		out.PerModality[m] = o.heads[m].Forward(s, z[m])
		loss = s.T(loss.MustAdd(layers.CrossEntropy(s, out.PerModality[m], b.Y), false))
	}
	if train {
		sc := ogmTrueClassScores(s, out.PerModality, b.Y) // sums; the ratios equal those of the means
		o.coeff = mlbCoefficients(sc, o.alpha)
	}
	return loss, out
}

// AfterBackward implements bench.AfterBackwarder: the gradient scaling.
func (o *MLB) AfterBackward(s *torchrt.Scope, b *bench.Batch) {
	if b.Epoch < o.start || b.Epoch > o.end || o.coeff == nil {
		return
	}
	fw := s.T(o.fusion.W.MustGrad(false))
	var off int64
	for m, vars := range o.scaled {
		k := s.Scalar(o.coeff[m])
		for _, v := range vars {
			if g := s.T(v.MustGrad(false)); g.MustDefined() {
				g.MustMulScalar_(k)
			}
		}
		if fw.MustDefined() {
			s.T(fw.MustNarrow(1, off, o.dims[m], false)).MustMulScalar_(k)
		}
		off += o.dims[m]
	}
}
