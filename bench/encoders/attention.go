package encoders

import (
	"fmt"
	"math"

	"github.com/mmfusion/bench/bench"
	"github.com/mmfusion/bench/bench/layers"
	"github.com/mmfusion/bench/bench/torchrt"
	"github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"
)

// Pre-norm Transformer blocks shared by the vit and transformer encoders.

// blockParams are the parameters common to both attention encoders.
func blockParams() []bench.ParamSpec {
	return []bench.ParamSpec{
		{Name: "dim", Default: "64", Kind: "int", Range: "[1,inf)", Help: "token width (= feature size)"},
		{Name: "depth", Default: "2", Kind: "int", Range: "[1,inf)", Help: "number of Transformer blocks"},
		{Name: "heads", Default: "4", Kind: "int", Range: "[1,inf)", Help: "attention heads; must divide dim"},
		{Name: "mlp_ratio", Default: "4", Kind: "int", Range: "[1,inf)", Help: "hidden width of each block's MLP, as a multiple of dim"},
	}
}

// blockConfig holds the parsed block parameters.
type blockConfig struct {
	dim, depth, heads, mlpRatio int64
}

// parseBlockConfig reads the block parameters; the error (positive sizes, heads dividing dim) does
// not name the encoder.
func parseBlockConfig(params bench.Params) (blockConfig, error) {
	c := blockConfig{dim: int64(params.Int("dim")), depth: int64(params.Int("depth")),
		heads: int64(params.Int("heads")), mlpRatio: int64(params.Int("mlp_ratio"))}
	err := positive(map[string]int64{"dim": c.dim, "depth": c.depth, "heads": c.heads, "mlp_ratio": c.mlpRatio})
	if err == nil && c.dim%c.heads != 0 {
		err = fmt.Errorf("heads=%d does not divide dim=%d", c.heads, c.dim)
	}
	return c, err
}

// block is x + Attn(LN(x)) followed by x + MLP(LN(x)), MLP = Linear → GELU → Linear. There is no
// dropout, so it behaves the same in training and evaluation.
type block struct {
	ln1, ln2  *layerNorm
	qkv, proj *layers.Linear
	fc1, fc2  *layers.Linear
	heads     int64
	scale     *ts.Scalar // 1/√(dim/heads), made once rather than every step
}

func newBlocks(p *nn.Path, c blockConfig) []*block {
	var bs []*block
	for i := int64(0); i < c.depth; i++ {
		bp := p.Sub(fmt.Sprint(i))
		bs = append(bs, &block{
			ln1:   newLayerNorm(bp.Sub("norm1"), c.dim),
			qkv:   layers.NewLinear(bp.Sub("attn").Sub("qkv"), c.dim, 3*c.dim),
			proj:  layers.NewLinear(bp.Sub("attn").Sub("proj"), c.dim, c.dim),
			ln2:   newLayerNorm(bp.Sub("norm2"), c.dim),
			fc1:   layers.NewLinear(bp.Sub("mlp").Sub("fc1"), c.dim, c.mlpRatio*c.dim),
			fc2:   layers.NewLinear(bp.Sub("mlp").Sub("fc2"), c.mlpRatio*c.dim, c.dim),
			heads: c.heads,
			scale: ts.FloatScalar(1 / math.Sqrt(float64(c.dim/c.heads))),
		})
	}
	return bs
}

// runBlocks applies the blocks in order to tokens (B, N, dim).
func runBlocks(s *torchrt.Scope, bs []*block, x *ts.Tensor) *ts.Tensor {
	for _, b := range bs {
		x = b.forward(s, x)
	}
	return x
}

func (b *block) forward(s *torchrt.Scope, x *ts.Tensor) *ts.Tensor {
	x = s.T(x.MustAdd(b.attention(s, b.ln1.forward(s, x)), false))
	h := s.T(b.fc1.Forward(s, b.ln2.forward(s, x)).MustGelu("none", false))
	return s.T(x.MustAdd(b.fc2.Forward(s, h), false))
}

// attention is multi-head self-attention, softmax(q kᵀ / √(dim/heads)) v, computed with matmul and
// softmax as libtorch's math kernel does. libtorch's scaled_dot_product_attention cannot be called
// without a mask through gotch v0.9.1: its C wrapper turns "no mask" into an undefined tensor inside
// a present optional, which libtorch 2.1 rejects ("Expected attn_mask dtype to be bool …"); an
// all-true mask would work but costs a mask per call and rules out the fused no-mask kernels anyway.
func (b *block) attention(s *torchrt.Scope, x *ts.Tensor) *ts.Tensor {
	sz := x.MustSize() // (B, N, dim)
	bsz, n, dim := sz[0], sz[1], sz[2]
	qkv := s.T(b.qkv.Forward(s, x).MustView([]int64{bsz, n, 3, b.heads, dim / b.heads}, false))
	qkv = s.T(qkv.MustPermute([]int64{2, 0, 3, 1, 4}, false)) // (3, B, heads, N, dim/heads)
	// Select rather than Unbind: gotch's Unbind leaks the C array of its results on every call.
	q, k, v := s.T(qkv.MustSelect(0, 0, false)), s.T(qkv.MustSelect(0, 1, false)), s.T(qkv.MustSelect(0, 2, false))
	o := scaledDotProductAttention(s, q, k, v, b.scale)
	o = s.T(o.MustTranspose(1, 2, false)) // (B, N, heads, dim/heads)
	o = s.T(o.MustReshape([]int64{bsz, n, dim}, false))
	return b.proj.Forward(s, o)
}

// scaledDotProductAttention is softmax(scale · q kᵀ) v for q, k, v of shape (…, N, d).
func scaledDotProductAttention(s *torchrt.Scope, q, k, v *ts.Tensor, scale *ts.Scalar) *ts.Tensor {
	qs := s.T(q.MustMulScalar(scale, false))
	kt := s.T(k.MustTranspose(-2, -1, false))
	w := s.T(s.T(qs.MustMatmul(kt, false)).MustSoftmax(-1, q.DType(), false))
	return s.T(w.MustMatmul(v, false))
}
