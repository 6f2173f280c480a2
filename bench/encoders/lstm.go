package encoders

import (
	"fmt"
	"math"

	"github.com/mmfusion/bench/bench"
	"github.com/mmfusion/bench/bench/data"
	"github.com/mmfusion/bench/bench/torchrt"
	"github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"
)

func init() {
	bench.Encoders.Register("lstm", "LSTM over sequences [T,F] (libtorch's fused lstm, batch first)", bench.EncoderSpec{
		Params: []bench.ParamSpec{
			{Name: "hidden", Default: "128", Kind: "int", Range: "[1,inf)", Help: "hidden size (= feature size)"},
			{Name: "layers", Default: "1", Kind: "int", Range: "[1,inf)", Help: "stacked LSTM layers"},
			{Name: "output", Default: "last", Kind: "enum:last|mean", Help: "feature: the last layer's hidden state at the last step, or its outputs averaged over time"},
		},
		New:     newLSTM,
		Accepts: lstmAccepts,
	})
}

// LSTM runs libtorch's multi-layer LSTM (one fused op, batch first) over (B, T, F) and returns the
// top layer's final hidden state h_T (default) or the mean of its outputs over the T steps.
//
// It does not use gotch's nn.LSTM, whose weights are drawn from N(0, 1) (gotch v0.9.1's
// "KaimingUniform" is a placeholder for randn), which saturates the gates. The weights here follow
// PyTorch's nn.LSTM: every weight and bias U(±1/√hidden), named weight_ih_l{k}, weight_hh_l{k},
// bias_ih_l{k}, bias_hh_l{k}. There is no dropout between layers, so train does not matter and a
// run stays deterministic (dropout would draw from libtorch's process-wide generator).
type LSTM struct {
	weights        []*ts.Tensor // per layer: w_ih (4H, in), w_hh (4H, H), b_ih (4H), b_hh (4H)
	hidden, layers int64
	mean           bool
}

// lstmAccepts takes sequences [T,F].
func lstmAccepts(mod data.Modality, params bench.Params) error {
	if err := positive(map[string]int64{"hidden": int64(params.Int("hidden")), "layers": int64(params.Int("layers"))}); err != nil {
		return err
	}
	return wantRank(mod, "a sequence [T,F]", 2)
}

func newLSTM(p *nn.Path, mod data.Modality, params bench.Params) (bench.Encoder, error) {
	if err := lstmAccepts(mod, params); err != nil {
		return nil, fmt.Errorf("lstm: modality %s: %w", mod.Name, err)
	}
	hidden, nl := int64(params.Int("hidden")), int64(params.Int("layers"))
	e := &LSTM{hidden: hidden, layers: nl, mean: params.String("output") == "mean"}
	bound := 1 / math.Sqrt(float64(hidden))
	init := nn.NewUniformInit(-bound, bound)
	in := mod.Shape[1]
	for k := int64(0); k < nl; k++ {
		e.weights = append(e.weights,
			p.MustNewVar(fmt.Sprintf("weight_ih_l%d", k), []int64{4 * hidden, in}, init),
			p.MustNewVar(fmt.Sprintf("weight_hh_l%d", k), []int64{4 * hidden, hidden}, init),
			p.MustNewVar(fmt.Sprintf("bias_ih_l%d", k), []int64{4 * hidden}, init),
			p.MustNewVar(fmt.Sprintf("bias_hh_l%d", k), []int64{4 * hidden}, init))
		in = hidden
	}
	if p.Device().IsCuda() {
		// As gotch's nn.LSTM and PyTorch's flatten_parameters do: make the weights views of one
		// buffer, so cuDNN does not copy them on every call. The weights keep the buffer alive.
		ts.Must_CudnnRnnFlattenWeight(e.weights, 4, mod.Shape[1], 2 /* LSTM */, hidden, 0, nl, true, false).MustDrop()
	}
	return e, nil
}

// OutDim is the hidden size.
func (e *LSTM) OutDim() int64 { return e.hidden }

// Forward maps (B, T, F) to (B, hidden), starting from zero states.
func (e *LSTM) Forward(s *torchrt.Scope, x *ts.Tensor, train bool) *ts.Tensor {
	zero := s.T(ts.MustZeros([]int64{e.layers, x.MustSize()[0], e.hidden}, x.DType(), x.MustDevice()))
	out, h, c := ts.MustLstm(x, []*ts.Tensor{zero, zero}, e.weights, true, e.layers, 0, train, false, true)
	s.T(out)
	s.T(h)
	s.T(c)
	if e.mean {
		return meanOver(s, out, 1)
	}
	return s.T(h.MustSelect(0, e.layers-1, false))
}
