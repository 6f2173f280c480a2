// Package layers holds the small building blocks shared by encoders and methods. Every forward pass
// takes the step's scope, so intermediate tensors are freed when the step ends.
package layers

import (
	"math"
	"strconv"

	"github.com/mmfusion/bench/bench/torchrt"
	"github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"
)

// Linear is y = x Wᵀ + b through libtorch's fused linear (one op, where gotch's nn.Linear does a
// matmul then an add). Initialisation is PyTorch's nn.Linear default: W and b uniform in ±1/√fan_in.
type Linear struct {
	W       *ts.Tensor // (out, in)
	B       *ts.Tensor // (out)
	In, Out int64
}

// NewLinear creates the weights under p ("weight", "bias").
func NewLinear(p *nn.Path, in, out int64) *Linear {
	bound := 1 / math.Sqrt(float64(in))
	init := nn.NewUniformInit(-bound, bound)
	return &Linear{
		W:  p.MustNewVar("weight", []int64{out, in}, init),
		B:  p.MustNewVar("bias", []int64{out}, init),
		In: in, Out: out,
	}
}

// Forward applies the layer to x (…, in).
func (l *Linear) Forward(s *torchrt.Scope, x *ts.Tensor) *ts.Tensor {
	return s.T(ts.MustLinear(x, l.W, l.B))
}

// MLP is a stack of Linear layers with ReLU between them (none after the last).
type MLP struct {
	Layers []*Linear
}

// NewMLP builds in → dims[0] → … → dims[len-1].
func NewMLP(p *nn.Path, in int64, dims ...int64) *MLP {
	m := &MLP{}
	for i, d := range dims {
		m.Layers = append(m.Layers, NewLinear(p.Sub(strconv.Itoa(i)), in, d))
		in = d
	}
	return m
}

// Forward applies the stack.
func (m *MLP) Forward(s *torchrt.Scope, x *ts.Tensor) *ts.Tensor {
	for i, l := range m.Layers {
		x = l.Forward(s, x)
		if i < len(m.Layers)-1 {
			x = s.T(x.MustRelu(false))
		}
	}
	return x
}

// CrossEntropy is the mean softmax cross-entropy of logits (B, K) against int64 labels (B).
func CrossEntropy(s *torchrt.Scope, logits, y *ts.Tensor) *ts.Tensor {
	return s.T(logits.MustCrossEntropyLoss(y, ts.None, 1 /* mean */, -100, 0, false))
}
