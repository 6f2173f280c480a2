package methods

import (
	"fmt"

	"github.com/mmfusion/bench/bench"
	"github.com/mmfusion/bench/bench/layers"
	"github.com/mmfusion/bench/bench/torchrt"
	"github.com/sugarme/gotch/ts"
)

func init() {
	// uni-3 serves three-modality datasets; a plan skips it (with a note under --methods all) on two.
	for m := 0; m < 3; m++ {
		m := m
		bench.Methods.Register(fmt.Sprintf("uni-%d", m+1),
			fmt.Sprintf("unimodal baseline: modality %d only, its encoder and a linear head, one CE (lower bound for the fusion methods)", m+1),
			bench.MethodSpec{Needs: bench.Needs{MinModalities: m + 1},
				New: func(env *bench.Env) (bench.Method, error) { return newUnimodal(env, m) }})
	}
}

// Unimodal is ℓ = Linear(φ_m(x^m)), L = CE(ℓ, y): the other modalities are never read (their encoders
// are built by the harness but receive no gradient). The prediction is reported both as the fused
// output and as modality m's unimodal output.
type Unimodal struct {
	m    int
	n    int
	enc  bench.Encoder
	head *layers.Linear
}

func newUnimodal(env *bench.Env, m int) (bench.Method, error) {
	if m >= len(env.Encoders) {
		return nil, fmt.Errorf("uni-%d needs modality %d, the dataset has %d", m+1, m+1, len(env.Encoders))
	}
	return &Unimodal{m: m, n: len(env.Encoders), enc: env.Encoders[m],
		head: layers.NewLinear(env.Path.Sub("head"), env.Encoders[m].OutDim(), env.NumClasses)}, nil
}

// Forward implements bench.Method.
func (u *Unimodal) Forward(s *torchrt.Scope, b *bench.Batch, train bool) (*ts.Tensor, bench.Outputs) {
	l := u.head.Forward(s, u.enc.Forward(s, b.X[u.m], train))
	out := bench.Outputs{Fused: l, PerModality: make([]*ts.Tensor, u.n)}
	out.PerModality[u.m] = l
	return layers.CrossEntropy(s, l, b.Y), out
}
