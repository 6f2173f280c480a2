package methods

import (
	"fmt"

	"github.com/mmfusion/bench/bench"
	"github.com/mmfusion/bench/bench/layers"
	"github.com/mmfusion/bench/bench/torchrt"
	"github.com/sugarme/gotch/ts"
)

func init() {
	bench.Methods.Register("ensemble", "unimodal heads trained independently, logits averaged at inference (UME, methods.md §2.1)", bench.MethodSpec{
		New: newEnsemble,
	})
}

// Ensemble trains ℓ^m = h_m(φ_m(x^m)) with L = Σ_m CE(ℓ^m, y) (the branches share nothing, so this
// equals training each alone) and predicts with the mean of the logits, ℓ = (1/M) Σ_m ℓ^m.
type Ensemble struct {
	enc   []bench.Encoder
	heads []*layers.Linear
}

func newEnsemble(env *bench.Env) (bench.Method, error) {
	e := &Ensemble{enc: env.Encoders}
	for m, enc := range env.Encoders {
		e.heads = append(e.heads, layers.NewLinear(env.Path.Sub(fmt.Sprintf("head%d", m)), enc.OutDim(), env.NumClasses))
	}
	return e, nil
}

// Forward implements bench.Method.
func (e *Ensemble) Forward(s *torchrt.Scope, b *bench.Batch, train bool) (*ts.Tensor, bench.Outputs) {
	z := encodeAll(s, e.enc, b, train)
	out := bench.Outputs{PerModality: make([]*ts.Tensor, len(z))}
	var loss, sum *ts.Tensor
	for m := range z {
		l := e.heads[m].Forward(s, z[m])
		out.PerModality[m] = l
		ce := layers.CrossEntropy(s, l, b.Y)
		if loss == nil {
			loss, sum = ce, l
		} else {
			loss = s.T(loss.MustAdd(ce, false))
			sum = s.T(sum.MustAdd(l, false))
		}
	}
	out.Fused = s.T(sum.MustDivScalar(s.Scalar(float64(len(z))), false))
	return loss, out
}
