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
	bench.Encoders.Register("lenet", "small LeNet-style CNN for [C,H,W] inputs (28×28 digits, 64×32 spectrograms)", bench.EncoderSpec{
		Staged: true,
		Params: []bench.ParamSpec{
			{Name: "feature", Default: "128", Kind: "int", Range: "[1,inf)", Help: "width of the final Linear+ReLU (= feature size)"},
			{Name: "grid", Default: "4", Kind: "int", Range: "[1,inf)", Help: "side of the adaptive average pool before the Linear layer (its input is 16·grid² values)"},
		},
		New:     newLeNet,
		Accepts: lenetAccepts,
	})
}

// LeNet is conv(C→6, 5×5) → ReLU → 2×2 max-pool → conv(6→16, 5×5) → ReLU → 2×2 max-pool →
// adaptive average pool to grid×grid → flatten → Linear → ReLU. The convolutions are padded by 2
// (as in LeNet-5 on 28×28 MNIST and MultiBench's AV-MNIST LeNet), so a side keeps its size through a
// conv and any input with sides ≥ 4 works; the adaptive pool makes the Linear layer's input size
// independent of the input size (28×28 → 7×7 maps, 64×32 → 16×8, both pooled to grid×grid).
// Weights use PyTorch's default Conv/Linear init.
//
// Stages (for MMTM): 0 = first conv block (6 channels), 1 = second conv block (16 channels),
// 2 = pool + Linear + ReLU (feature channels). The last stage's output is the feature.
type LeNet struct {
	convs [2]*conv2d
	fc    *layers.Linear
	grid  int64
}

// lenetAccepts takes images [C,H,W] with H, W ≥ 4.
func lenetAccepts(mod data.Modality, params bench.Params) error {
	if err := positive(map[string]int64{"feature": int64(params.Int("feature")), "grid": int64(params.Int("grid"))}); err != nil {
		return err
	}
	if err := wantRank(mod, "an image [C,H,W]", 3); err != nil {
		return err
	}
	if mod.Shape[1] < 4 || mod.Shape[2] < 4 {
		return fmt.Errorf("shape %v: want [C,H,W] with H, W ≥ 4", mod.Shape)
	}
	return nil
}

func newLeNet(p *nn.Path, mod data.Modality, params bench.Params) (bench.Encoder, error) {
	if err := lenetAccepts(mod, params); err != nil {
		return nil, fmt.Errorf("lenet: modality %s: %w", mod.Name, err)
	}
	feature, grid := int64(params.Int("feature")), int64(params.Int("grid"))
	e := &LeNet{grid: grid}
	in := mod.Shape[0]
	for i, out := range []int64{6, 16} {
		e.convs[i] = newConv2d(p.Sub(fmt.Sprintf("conv%d", i+1)), in, out, 5, 1, 2, torchDefaultUniform(in*25), true)
		in = out
	}
	e.fc = layers.NewLinear(p.Sub("fc"), 16*grid*grid, feature)
	return e, nil
}

// OutDim is the feature size.
func (e *LeNet) OutDim() int64 { return e.fc.Out }

// Forward maps (B, C, H, W) to (B, feature).
func (e *LeNet) Forward(s *torchrt.Scope, x *ts.Tensor, train bool) *ts.Tensor {
	for i := 0; i < e.NumStages(); i++ {
		x = e.ForwardStage(s, i, x, train)
	}
	return x
}

// NumStages is 3: two conv blocks and the Linear layer.
func (e *LeNet) NumStages() int { return 3 }

// StageChannels is 6, 16, then the feature size.
func (e *LeNet) StageChannels(i int) int64 {
	if i < len(e.convs) {
		return e.convs[i].Out
	}
	return e.fc.Out
}

// ForwardStage runs conv block i (i < 2) on (B, C, H, W), or the pooled Linear layer (i = 2).
// LeNet has no BatchNorm or dropout, so train does not matter.
func (e *LeNet) ForwardStage(s *torchrt.Scope, i int, x *ts.Tensor, train bool) *ts.Tensor {
	if i < len(e.convs) {
		h := s.T(e.convs[i].forward(s, x).MustRelu(false))
		return s.T(h.MustMaxPool2d([]int64{2, 2}, []int64{2, 2}, []int64{0, 0}, []int64{1, 1}, false, false))
	}
	h := s.T(x.MustAdaptiveAvgPool2d([]int64{e.grid, e.grid}, false))
	h = s.T(h.MustFlatten(1, -1, false))
	return s.T(e.fc.Forward(s, h).MustRelu(false))
}

// Pool is the identity: the last stage's output is already the feature.
func (e *LeNet) Pool(s *torchrt.Scope, x *ts.Tensor) *ts.Tensor { return x }
