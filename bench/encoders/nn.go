package encoders

// Building blocks shared by the convolutional and attention encoders. Every forward takes the step's
// scope and registers each tensor it creates there. In-place gotch ops (Relu_, Add_, …) are avoided on
// purpose: gotch v0.9.1 replaces the Go handle of the tensor with the one libtorch returns without
// freeing the old handle, so the activation it points to would never be released.

import (
	"fmt"
	"maps"
	"math"
	"slices"

	"github.com/mmfusion/bench/bench/torchrt"
	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"
)

// normalInit draws N(0, std²), with std computed from the shape. gotch's own randn initialiser draws
// twice when the mean is 0 (leaking the first tensor) and its "Kaiming uniform" is a plain N(0, 1),
// so the encoders use this one; it draws from libtorch's global generator, once, at construction.
type normalInit struct {
	std func(dims []int64) float64
}

// InitTensor returns a new tensor of the given shape.
func (n normalInit) InitTensor(dims []int64, dev gotch.Device, dtype ...gotch.DType) *ts.Tensor {
	dt := gotch.DefaultDType
	if len(dtype) > 0 {
		dt = dtype[0]
	}
	// No gradient mode is needed: neither tensor requires grad (the store marks the result trainable).
	std := ts.FloatScalar(n.std(dims))
	defer std.MustDrop()
	return ts.MustRandn(dims, dt, dev).MustMulScalar(std, true)
}

// Set re-draws t in place.
func (n normalInit) Set(t *ts.Tensor) {
	v := n.InitTensor(t.MustSize(), t.MustDevice(), t.DType())
	ts.NoGrad(func() { t.Copy_(v) })
	v.MustDrop()
}

// constStd is N(0, std²) for a fixed std (ViT's class token and position embeddings use 0.02).
func constStd(std float64) normalInit {
	return normalInit{std: func([]int64) float64 { return std }}
}

// kaimingNormalFanOut is torchvision's ResNet conv init, kaiming_normal_(mode="fan_out",
// nonlinearity="relu"): std = √2 / √(out·kh·kw), which keeps the backward signal's variance.
var kaimingNormalFanOut = normalInit{std: func(dims []int64) float64 {
	fanOut := dims[0]
	for _, d := range dims[2:] {
		fanOut *= d
	}
	return math.Sqrt(2 / float64(fanOut))
}}

// torchDefaultUniform is PyTorch's default for Conv and Linear layers (kaiming_uniform with a = √5,
// which reduces to U(±1/√fan_in)); fanIn is in·kh·kw of the weight the bias belongs to.
func torchDefaultUniform(fanIn int64) nn.Init {
	b := 1 / math.Sqrt(float64(fanIn))
	return nn.NewUniformInit(-b, b)
}

// conv2d is a 2-D convolution with square kernel, stride and padding, called through libtorch's
// conv2d directly so that a bias-free conv passes an undefined bias.
type conv2d struct {
	W, B            *ts.Tensor // B is ts.None without bias
	In, Out         int64
	stride, padding int64
}

// newConv2d creates the weight (and bias) under p as "weight" and "bias", the PyTorch names, so that
// torchvision checkpoints map onto the variable names.
func newConv2d(p *nn.Path, in, out, kernel, stride, padding int64, init nn.Init, bias bool) *conv2d {
	c := &conv2d{In: in, Out: out, stride: stride, padding: padding, B: ts.None}
	c.W = p.MustNewVar("weight", []int64{out, in, kernel, kernel}, init)
	if bias {
		c.B = p.MustNewVar("bias", []int64{out}, torchDefaultUniform(in*kernel*kernel))
	}
	return c
}

// forward applies the convolution to x (N, In, H, W).
func (c *conv2d) forward(s *torchrt.Scope, x *ts.Tensor) *ts.Tensor {
	return s.T(ts.MustConv2d(x, c.W, c.B, []int64{c.stride, c.stride}, []int64{c.padding, c.padding}, []int64{1, 1}, 1))
}

// newBatchNorm2d is a BatchNorm2d initialised as in torchvision's ResNet (weight 1, bias 0), with
// PyTorch's momentum 0.1 and eps 1e-5. Its ForwardT(x, train) normalises with batch statistics and
// updates the running ones when train is true, and uses the running ones otherwise.
func newBatchNorm2d(p *nn.Path, c int64) *nn.BatchNorm {
	cfg := nn.DefaultBatchNormConfig()
	cfg.WsInit, cfg.BsInit = nn.NewConstInit(1), nn.NewConstInit(0)
	return nn.BatchNorm2D(p, c, cfg)
}

// layerNorm normalises over the last dimension, with an affine transform initialised to identity.
type layerNorm struct {
	W, B *ts.Tensor
	dim  int64
}

func newLayerNorm(p *nn.Path, dim int64) *layerNorm {
	return &layerNorm{W: p.MustOnes("weight", []int64{dim}), B: p.MustZeros("bias", []int64{dim}), dim: dim}
}

func (l *layerNorm) forward(s *torchrt.Scope, x *ts.Tensor) *ts.Tensor {
	return s.T(ts.MustLayerNorm(x, []int64{l.dim}, l.W, l.B, 1e-5, true))
}

// meanOver averages x over dims (dropping them).
func meanOver(s *torchrt.Scope, x *ts.Tensor, dims ...int64) *ts.Tensor {
	return s.T(x.MustMeanDim(dims, false, x.DType(), false))
}

// foldClip turns a clip batch (B, C, T, H, W) into a batch of frames (B·T, C, H, W), frame-major
// within each sample, as the reference code does (permute(0, 2, 1, 3, 4) then view).
func foldClip(s *torchrt.Scope, x *ts.Tensor) *ts.Tensor {
	sz := x.MustSize()
	y := s.T(x.MustPermute([]int64{0, 2, 1, 3, 4}, false))
	return s.T(y.MustReshape([]int64{sz[0] * sz[2], sz[1], sz[3], sz[4]}, false))
}

// unfoldClip is the inverse of foldClip: (B·T, C, h, w) → (B, C, T, h, w).
func unfoldClip(s *torchrt.Scope, x *ts.Tensor, b, t int64) *ts.Tensor {
	sz := x.MustSize()
	y := s.T(x.MustView([]int64{b, t, sz[1], sz[2], sz[3]}, false))
	return s.T(y.MustPermute([]int64{0, 2, 1, 3, 4}, false))
}

// positive checks that every named integer parameter is ≥ 1 (the error does not name the encoder).
func positive(vals map[string]int64) error {
	for _, name := range slices.Sorted(maps.Keys(vals)) {
		if v := vals[name]; v < 1 {
			return fmt.Errorf("%s=%d must be ≥ 1", name, v)
		}
	}
	return nil
}
