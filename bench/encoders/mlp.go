// Package encoders holds the per-modality feature extractors shared by every method. Each file
// registers one encoder in init.
package encoders

import (
	"fmt"
	"slices"

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
			{Name: "hidden", Default: "128", Kind: "intlist", Range: "[1,65536]",
				Help: "layer widths: one width W gives `layers` layers of width W; a list W1:W2:... gives one layer per width " +
					"(it fixes the depth: an explicit different `layers` is refused). The feature size is the last width"},
			{Name: "layers", Default: "2", Kind: "int", Range: "[1,inf)", Help: "number of Linear+ReLU layers when hidden is one width (a list sets its own depth)"},
			// OmitDefault: cells stored before last_relu existed keep their keys.
			{Name: "last_relu", Default: "true", Kind: "bool", OmitDefault: true,
				Help: "ReLU after the last (feature) layer; false leaves it linear (the DMI reference encoder: hidden=128:512,last_relu=false)"},
		},
		New:     newMLP,
		Accepts: mlpAccepts,
	})
}

// MLP is a stack of Linear → ReLU layers over the flattened input; its feature is the last layer's
// output (linear when lastReLU is false).
type MLP struct {
	layers   []*layers.Linear
	out      int64
	lastReLU bool
}

// mlpWidths is the width of every layer: a single hidden width repeated `layers` times, or the
// hidden list itself. A list of several widths and an explicit `layers` that differs from its length
// is an error.
func mlpWidths(params bench.Params) ([]int64, error) {
	hidden, depth := params.Ints("hidden"), params.Int("layers")
	if len(hidden) == 0 {
		return nil, fmt.Errorf("hidden=%q: want one width or a colon-separated list", params.String("hidden"))
	}
	if len(hidden) > 1 && params.Changed("layers") && depth != len(hidden) {
		return nil, fmt.Errorf("hidden=%s gives %d layers but layers=%d: a width list sets the depth (drop layers or make it %d)",
			params.String("hidden"), len(hidden), depth, len(hidden))
	}
	if len(hidden) == 1 {
		if depth < 1 {
			return nil, fmt.Errorf("layers=%d: must be ≥ 1", depth)
		}
		hidden = slices.Repeat(hidden, depth)
	}
	widths := make([]int64, len(hidden))
	for i, w := range hidden {
		if w < 1 {
			return nil, fmt.Errorf("hidden=%s: width %d is %d, must be ≥ 1", params.String("hidden"), i+1, w)
		}
		widths[i] = int64(w)
	}
	return widths, nil
}

// mlpAccepts takes any shape (the input is flattened) with positive sizes, and a consistent
// hidden/layers pair.
func mlpAccepts(mod data.Modality, params bench.Params) error {
	if _, err := mlpWidths(params); err != nil {
		return err
	}
	return nonEmpty(mod)
}

func newMLP(p *nn.Path, mod data.Modality, params bench.Params) (bench.Encoder, error) {
	if err := mlpAccepts(mod, params); err != nil {
		return nil, fmt.Errorf("mlp: %w", err)
	}
	widths, _ := mlpWidths(params)
	in := int64(mod.Size())
	e := &MLP{out: widths[len(widths)-1], lastReLU: params.Bool("last_relu")}
	for i, w := range widths {
		e.layers = append(e.layers, layers.NewLinear(p.Sub(fmt.Sprint(i)), in, w))
		in = w
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

// NumStages is the number of layers: each Linear(+ReLU) is a stage, so MMTM can fuse between them.
func (e *MLP) NumStages() int { return len(e.layers) }

// ForwardStage applies layer i (flattening the input first), and its ReLU unless it is the last layer
// and lastReLU is false.
func (e *MLP) ForwardStage(s *torchrt.Scope, i int, x *ts.Tensor, train bool) *ts.Tensor {
	if i == 0 && x.Dim() != 2 {
		x = s.T(x.MustFlatten(1, -1, false))
	}
	y := e.layers[i].Forward(s, x)
	if i == len(e.layers)-1 && !e.lastReLU {
		return y
	}
	return s.T(y.MustRelu(false))
}

// StageChannels is the width of layer i.
func (e *MLP) StageChannels(i int) int64 { return e.layers[i].Out }

// Pool is the identity: the last layer's output is already the feature.
func (e *MLP) Pool(s *torchrt.Scope, x *ts.Tensor) *ts.Tensor { return x }
