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
	bench.Encoders.Register("transformer", "pre-norm Transformer over sequences [T,F] (MOSEI-style features)", bench.EncoderSpec{
		Params: append(blockParams(),
			bench.ParamSpec{Name: "pool", Default: "mean", Kind: "enum:mean|cls", Help: "feature: mean of the final tokens, or a learned class token prepended to the sequence"},
		),
		New:     newSeqTransformer,
		Accepts: transformerAccepts,
	})
}

// SeqTransformer projects each time step (F values) to dim with a Linear layer, adds learned
// position embeddings (N(0, 0.02²)), runs pre-norm blocks and a final LayerNorm, and pools the tokens:
// their mean (default) or a class token's output. Sequences have a fixed length T (the modality's
// shape); padded steps are not masked.
type SeqTransformer struct {
	proj     *layers.Linear
	cls, pos *ts.Tensor // cls is nil with mean pooling
	blocks   []*block
	norm     *layerNorm
	dim      int64
}

// transformerAccepts takes sequences [T,F], with heads dividing dim.
func transformerAccepts(mod data.Modality, params bench.Params) error {
	if _, err := parseBlockConfig(params); err != nil {
		return err
	}
	return wantRank(mod, "a sequence [T,F]", 2)
}

func newSeqTransformer(p *nn.Path, mod data.Modality, params bench.Params) (bench.Encoder, error) {
	if err := transformerAccepts(mod, params); err != nil {
		return nil, fmt.Errorf("transformer: modality %s: %w", mod.Name, err)
	}
	cfg, _ := parseBlockConfig(params)
	e := &SeqTransformer{proj: layers.NewLinear(p.Sub("proj"), mod.Shape[1], cfg.dim), dim: cfg.dim}
	tokens := mod.Shape[0]
	if params.String("pool") == "cls" {
		e.cls = p.MustNewVar("cls_token", []int64{1, 1, cfg.dim}, constStd(0.02))
		tokens++
	}
	e.pos = p.MustNewVar("pos_embed", []int64{1, tokens, cfg.dim}, constStd(0.02))
	e.blocks = newBlocks(p.Sub("blocks"), cfg)
	e.norm = newLayerNorm(p.Sub("norm"), cfg.dim)
	return e, nil
}

// OutDim is dim.
func (e *SeqTransformer) OutDim() int64 { return e.dim }

// Forward maps (B, T, F) to (B, dim). There is no dropout or BatchNorm, so train does not matter.
func (e *SeqTransformer) Forward(s *torchrt.Scope, x *ts.Tensor, train bool) *ts.Tensor {
	h := e.proj.Forward(s, x) // (B, T, dim)
	if e.cls != nil {
		cls := s.T(e.cls.MustExpand([]int64{x.MustSize()[0], 1, e.dim}, false, false))
		h = s.T(ts.MustCat([]*ts.Tensor{cls, h}, 1))
	}
	h = runBlocks(s, e.blocks, s.T(h.MustAdd(e.pos, false)))
	if e.cls != nil {
		return e.norm.forward(s, s.T(h.MustSelect(1, 0, false)))
	}
	return meanOver(s, e.norm.forward(s, h), 1)
}

// The stage-wise view (see the one of ViT in vit.go): tokeniser with class token and positions,
// each block, the final LayerNorm. With pool=cls, Tokens(x, true), every Block, FinalNorm and token
// 0 is Forward; with pool=mean, the mean of FinalNorm over the tokens of Tokens(x, false).

// Width is the token width (dim).
func (e *SeqTransformer) Width() int64 { return e.dim }

// NumBlocks is the number of blocks (depth).
func (e *SeqTransformer) NumBlocks() int { return len(e.blocks) }

// HasCLS says whether the encoder has a class token (pool=cls).
func (e *SeqTransformer) HasCLS() bool { return e.cls != nil }

// Block applies block i (0-based) to tokens (B, N, dim), any N.
func (e *SeqTransformer) Block(s *torchrt.Scope, i int, x *ts.Tensor) *ts.Tensor {
	return e.blocks[i].forward(s, x)
}

// FinalNorm is the final LayerNorm, token-wise, on (…, dim).
func (e *SeqTransformer) FinalNorm(s *torchrt.Scope, x *ts.Tensor) *ts.Tensor {
	return e.norm.forward(s, x)
}

// Tokens embeds x (B, T, F): (B, 1+T, dim) = [cls; proj(x)] + pos with cls true (HasCLS must be
// true), else (B, T, dim) = proj(x) + the steps' positions.
func (e *SeqTransformer) Tokens(s *torchrt.Scope, x *ts.Tensor, cls bool) *ts.Tensor {
	if cls && e.cls == nil {
		panic("transformer: Tokens with a class token, but pool=mean has none")
	}
	h := e.proj.Forward(s, x) // (B, T, dim)
	off := int64(0)
	if e.cls != nil {
		off = 1
	}
	h = s.T(h.MustAdd(s.T(e.pos.MustNarrow(1, off, h.MustSize()[1], false)), false))
	if !cls {
		return h
	}
	c := s.T(e.cls.MustAdd(s.T(e.pos.MustNarrow(1, 0, 1, false)), false))
	c = s.T(c.MustExpand([]int64{x.MustSize()[0], 1, e.dim}, false, false))
	return s.T(ts.MustCat([]*ts.Tensor{c, h}, 1))
}

// Close frees the blocks' attention scales, as ViT.Close.
func (e *SeqTransformer) Close() { closeBlocks(e.blocks) }
