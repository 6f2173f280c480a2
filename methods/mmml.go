package methods

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/mmfusion/bench/bench"
	"github.com/mmfusion/bench/bench/layers"
	"github.com/mmfusion/bench/bench/torchrt"
	"github.com/sugarme/gotch/ts"
)

func init() {
	bench.Methods.Register("mmml", "multi-loss fusion, cc variant: fused MLP on concatenated features + unimodal heads, weighted CE sum (MMML, methods.md §9)", bench.MethodSpec{
		Params: []bench.ParamSpec{
			{Name: "dropout", Default: "0.3", Kind: "float", Range: "[0,1)", Help: "dropout before every head and before the fused MLP (reference config.dropout 0.3)"},
			{Name: "widths", Default: "relative", Kind: "enum:relative|reference",
				Help: "fused MLP widths: relative = ½·F, ½·F, ⅓·F for concatenated size F (the reference's 768/768/512 for F = 1536); reference = 768, 768, 512"},
			{Name: "w_fused", Default: "1", Kind: "float", Range: "(0,inf)", Help: "weight w_M of the fused CE; > 0, as only this term trains the fused MLP that predicts"},
			{Name: "w_uni", Default: "1", Kind: "string",
				Help: "weights of the unimodal CEs (w_T, w_A in the reference), each ≥ 0: one value for every modality, or one per modality separated by ':' (e.g. 1:0.5)"},
		},
		Validate: validateMMML,
		// The weights' count against the modalities, at plan time (the cc variant itself runs on any
		// M; the reference's pairwise CME variant is not implemented, methods.md §9).
		FitModalities: func(p bench.Params, n int) error { _, err := mmmlWeights(p.String("w_uni"), n); return err },
		New:           newMMML,
	})
}

// MMML, "cc" variant (methods.md §9.1, §9.3): the reference's text/audio transformers are replaced by
// the harness encoders' pooled features z^m. Unimodal heads ℓ^m = Linear(Dropout(z^m)); fused
// ℓ = MLP(Dropout([z^1; …; z^M])) with Linear F→w1 → ReLU → w1→w2 → ReLU → w2→w3 → ReLU → w3→K;
// L = w_M·CE(ℓ) + Σ_m w_m·CE(ℓ^m), one backward (the multi-loss is the method).
//
// Deviations: widths are scaled to the feature size by default (widths=relative keeps the reference's
// ratios; widths=reference gives 768/768/512), because 768-wide layers on 2×128 features would dwarf
// the encoders. Dropout masks are drawn from the cell's own generator (Env.Noise) instead of
// libtorch's global one, which concurrent cells share (so ts.MustDropout would not be deterministic):
// an element is kept when its N(0,1) draw is ≥ Φ⁻¹(p), i.e. with probability 1−p, and scaled by
// 1/(1−p) (inverted dropout, as nn.Dropout). Dropout is on in training only.
type MMML struct {
	enc     []bench.Encoder
	heads   []*layers.Linear
	fused   *layers.MLP
	p       float64
	wFused  float64
	wUni    []float64
	noise   *bench.Noise
	dropCut float64 // Φ⁻¹(p)
}

func newMMML(env *bench.Env) (bench.Method, error) {
	p := env.Params.Float("dropout")
	if p < 0 || p >= 1 {
		return nil, fmt.Errorf("dropout=%v: want 0 ≤ p < 1", p)
	}
	wUni, err := mmmlWeights(env.Params.String("w_uni"), len(env.Encoders))
	if err != nil {
		return nil, err
	}
	m := &MMML{enc: env.Encoders, p: p, wFused: env.Params.Float("w_fused"), wUni: wUni, noise: env.Noise,
		dropCut: math.Sqrt2 * math.Erfinv(2*p-1)}
	var total int64
	for i, e := range env.Encoders {
		m.heads = append(m.heads, layers.NewLinear(env.Path.Sub(fmt.Sprintf("head%d", i)), e.OutDim(), env.NumClasses))
		total += e.OutDim()
	}
	w := []int64{768, 768, 512}
	if env.Params.String("widths") == "relative" {
		w = []int64{max(total/2, 1), max(total/2, 1), max(total/3, 1)}
	}
	m.fused = layers.NewMLP(env.Path.Sub("fused"), total, w[0], w[1], w[2], env.NumClasses)
	return m, nil
}

// validateMMML checks that every w_uni weight is a finite number ≥ 0 (a string parameter has no
// Range); their count against the modalities is checked when the method is built.
func validateMMML(p bench.Params, _ int) error {
	spec := p.String("w_uni")
	for _, part := range strings.Split(spec, ":") {
		v, err := strconv.ParseFloat(strings.TrimSpace(part), 64)
		if err != nil || math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
			return fmt.Errorf("w_uni=%s: %q is not a finite weight ≥ 0", spec, part)
		}
	}
	return nil
}

// mmmlWeights parses "a" or "a:b:…" into one weight per modality.
func mmmlWeights(spec string, n int) ([]float64, error) {
	parts := strings.Split(spec, ":")
	if len(parts) != 1 && len(parts) != n {
		return nil, fmt.Errorf("w_uni=%q: want one weight or %d separated by ':'", spec, n)
	}
	out := make([]float64, n)
	for i := range out {
		v, err := strconv.ParseFloat(strings.TrimSpace(parts[min(i, len(parts)-1)]), 64)
		if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("w_uni=%q: %q is not a finite number", spec, parts[min(i, len(parts)-1)])
		}
		out[i] = v
	}
	return out, nil
}

// dropout is inverted dropout with the mask drawn from the cell's generator (training only).
func (m *MMML) dropout(s *torchrt.Scope, x *ts.Tensor, train bool) *ts.Tensor {
	if !train || m.p == 0 {
		return x
	}
	eps := m.noise.Randn(s, x.MustSize())
	ge := mibScalarOp(s, m.dropCut, func(c *ts.Scalar) *ts.Tensor { return eps.MustGe(c, false) })
	mask := mibMulScalar(s, s.T(ge.MustTotype(x.DType(), false)), 1/(1-m.p))
	return s.T(x.MustMul(mask, false))
}

// Forward implements bench.Method.
func (m *MMML) Forward(s *torchrt.Scope, b *bench.Batch, train bool) (*ts.Tensor, bench.Outputs) {
	z := encodeAll(s, m.enc, b, train)
	out := bench.Outputs{PerModality: make([]*ts.Tensor, len(z))}
	for i := range z {
		out.PerModality[i] = m.heads[i].Forward(s, m.dropout(s, z[i], train))
	}
	out.Fused = m.fused.Forward(s, m.dropout(s, s.T(ts.MustCat(z, 1)), train))
	loss := mibMulScalar(s, layers.CrossEntropy(s, out.Fused, b.Y), m.wFused)
	for i, l := range out.PerModality {
		ce := mibMulScalar(s, layers.CrossEntropy(s, l, b.Y), m.wUni[i])
		loss = s.T(loss.MustAdd(ce, false))
	}
	return loss, out
}
