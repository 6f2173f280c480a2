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
