// Package methods holds the fusion methods, one file each, registered by name in init. A method sees
// encoders through bench.Encoder and a batch through bench.Batch; see ../shared/docs/methods.md.
package methods

import (
	"fmt"

	"github.com/mmfusion/bench/bench"
	"github.com/mmfusion/bench/bench/layers"
	"github.com/mmfusion/bench/bench/torchrt"
	"github.com/sugarme/gotch/ts"
)

func init() {
	bench.Methods.Register("joint", "concatenated features, one fusion head, one cross-entropy (methods.md §1)", bench.MethodSpec{
		Params: []bench.ParamSpec{
			{Name: "fusion", Default: "linear", Kind: "enum:linear|mlp",
				Help: "fusion head: linear (reference default; additive in the logits, cannot represent synergy) or mlp (one hidden layer)"},
			{Name: "fusion_hidden", Default: "128", Kind: "int", Range: "[1,inf)", Help: "hidden width of the mlp fusion head (fusion=mlp only)"},
		},
		Validate: validateJoint,
		New:      newJoint,
	})
}

// validateJoint refuses a fusion_hidden set away from its default with the linear head, which has
// no hidden layer: the value would change the cell's key and label but not the model.
func validateJoint(p bench.Params, _ int) error {
	if p.String("fusion") != "mlp" && p.Changed("fusion_hidden") {
		return fmt.Errorf("fusion_hidden=%s has no effect with fusion=%s (only the mlp head has a hidden layer); set fusion=mlp or drop fusion_hidden",
			p.String("fusion_hidden"), p.String("fusion"))
	}
	return nil
}

// Joint is ℓ = head([z¹; z²]), L = CE(ℓ, y). With the linear head the unimodal logits of §0.4 are
// reported for monitoring: ℓ^m = W_m z^m + b/M, so that Σ_m ℓ^m = ℓ.
type Joint struct {
	enc    []bench.Encoder
	linear *layers.Linear // fusion=linear
	mlp    *layers.MLP    // fusion=mlp
	dims   []int64
}

func newJoint(env *bench.Env) (bench.Method, error) {
	j := &Joint{enc: env.Encoders}
	var total int64
	for _, e := range env.Encoders {
		j.dims = append(j.dims, e.OutDim())
		total += e.OutDim()
	}
	if env.Params.String("fusion") == "mlp" {
		j.mlp = layers.NewMLP(env.Path.Sub("head"), total, int64(env.Params.Int("fusion_hidden")), env.NumClasses)
	} else {
		j.linear = layers.NewLinear(env.Path.Sub("head"), total, env.NumClasses)
	}
	return j, nil
}

// Forward implements bench.Method.
func (j *Joint) Forward(s *torchrt.Scope, b *bench.Batch, train bool) (*ts.Tensor, bench.Outputs) {
	z := encodeAll(s, j.enc, b, train)
	cat := s.T(ts.MustCat(z, 1))
	var out bench.Outputs
	if j.mlp != nil {
		out.Fused = j.mlp.Forward(s, cat)
	} else {
		out.Fused = j.linear.Forward(s, cat)
		out.PerModality = splitLinearLogits(s, j.linear, z, j.dims)
	}
	return layers.CrossEntropy(s, out.Fused, b.Y), out
}

// encodeAll runs each modality's encoder.
func encodeAll(s *torchrt.Scope, enc []bench.Encoder, b *bench.Batch, train bool) []*ts.Tensor {
	z := make([]*ts.Tensor, len(enc))
	for m, e := range enc {
		z[m] = e.Forward(s, b.X[m], train)
	}
	return z
}

// splitLinearLogits returns the unimodal logits of a concatenation head (methods.md §0.4):
// ℓ^m = W_m z^m + b/M, where W_m are the columns of W that multiply modality m.
func splitLinearLogits(s *torchrt.Scope, head *layers.Linear, z []*ts.Tensor, dims []int64) []*ts.Tensor {
	out := make([]*ts.Tensor, len(z))
	bias := s.T(head.B.MustDivScalar(s.Scalar(float64(len(z))), false))
	var off int64
	for m := range z {
		w := s.T(head.W.MustNarrow(1, off, dims[m], false))
		out[m] = s.T(ts.MustLinear(z[m], w, bias))
		off += dims[m]
	}
	return out
}
