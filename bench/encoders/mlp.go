// Package encoders holds the per-modality feature extractors shared by every method. Each file
// registers one encoder in init.
package encoders

import (
	"fmt"

	"github.com/mmfusion/bench/bench"
	"github.com/mmfusion/bench/bench/data"
	"github.com/mmfusion/bench/bench/layers"
	"github.com/mmfusion/bench/bench/torchrt"
	"github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"
)

func init() {
	bench.Encoders.Register("mlp", "fully connected layers with ReLU over the flattened input (default for vector data)", bench.EncoderSpec{
		Staged: true,
		Params: []bench.ParamSpec{
			{Name: "hidden", Default: "128", Kind: "int", Range: "[1,inf)", Help: "width of every hidden layer (= feature size)"},
			{Name: "layers", Default: "2", Kind: "int", Range: "[1,inf)", Help: "number of Linear+ReLU layers"},
		},
		New:     newMLP,
		Accepts: mlpAccepts,
	})
}

// MLP is layers × (Linear → ReLU) over the flattened input; its feature is the last layer's output.
type MLP struct {
	layers []*layers.Linear
	out    int64
}

// mlpAccepts takes any shape (the input is flattened) with positive sizes.
func mlpAccepts(mod data.Modality, params bench.Params) error {
	if hidden, depth := params.Int("hidden"), params.Int("layers"); hidden < 1 || depth < 1 {
		return fmt.Errorf("hidden=%d, layers=%d: both must be ≥ 1", hidden, depth)
	}
	return nonEmpty(mod)
}

func newMLP(p *nn.Path, mod data.Modality, params bench.Params) (bench.Encoder, error) {
	if err := mlpAccepts(mod, params); err != nil {
		return nil, fmt.Errorf("mlp: %w", err)
	}
	hidden, depth := int64(params.Int("hidden")), params.Int("layers")
	in := int64(mod.Size())
	e := &MLP{out: hidden}
	for i := 0; i < depth; i++ {
		e.layers = append(e.layers, layers.NewLinear(p.Sub(fmt.Sprint(i)), in, hidden))
		in = hidden
	}
	return e, nil
}

// OutDim is the feature size.
func (e *MLP) OutDim() int64 { return e.out }

// Forward flattens x to (B, -1) and applies the layers.
func (e *MLP) Forward(s *torchrt.Scope, x *ts.Tensor, train bool) *ts.Tensor {
	for i := range e.layers {
		x = e.ForwardStage(s, i, x, train)
	}
	return x
}

// NumStages is the number of layers: each Linear+ReLU is a stage, so MMTM can fuse between them.
func (e *MLP) NumStages() int { return len(e.layers) }

// ForwardStage applies layer i (flattening the input first).
func (e *MLP) ForwardStage(s *torchrt.Scope, i int, x *ts.Tensor, train bool) *ts.Tensor {
	if i == 0 && x.Dim() != 2 {
		x = s.T(x.MustFlatten(1, -1, false))
	}
	return s.T(e.layers[i].Forward(s, x).MustRelu(false))
}

// StageChannels is the width of layer i.
func (e *MLP) StageChannels(i int) int64 { return e.layers[i].Out }

// Pool is the identity: the last layer's output is already the feature.
func (e *MLP) Pool(s *torchrt.Scope, x *ts.Tensor) *ts.Tensor { return x }
