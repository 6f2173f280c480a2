package encoders

import (
	"fmt"

	"github.com/mmfusion/bench/bench"
	"github.com/mmfusion/bench/bench/data"
	"github.com/mmfusion/bench/bench/torchrt"
	"github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"
)

func init() {
	bench.Encoders.Register("vit", "small Vision Transformer over [C,H,W] inputs cut into patches; feature = the class token", bench.EncoderSpec{
		Params: append([]bench.ParamSpec{
			{Name: "patch", Default: "4", Kind: "int", Range: "[1,inf)", Help: "patch side (use 16 for 224×224 inputs); a remainder at the right/bottom edge is dropped"},
		}, blockParams()...),
		New:     newViT,
		Accepts: vitAccepts,
	})
}

// ViT embeds non-overlapping patch×patch patches with a strided convolution, prepends a learned class
// token, adds learned position embeddings (both N(0, 0.02²), as in timm), runs pre-norm blocks, and
// returns the final LayerNorm of the class token. Linear layers use PyTorch's default init.
type ViT struct {
	embed    *conv2d
	cls, pos *ts.Tensor // (1, 1, dim), (1, 1+patches, dim)
	blocks   []*block
	norm     *layerNorm
	dim      int64
}

// vitAccepts takes images [C,H,W] with H, W ≥ patch, with heads dividing dim.
func vitAccepts(mod data.Modality, params bench.Params) error {
	if _, err := parseBlockConfig(params); err != nil {
		return err
	}
	patch := int64(params.Int("patch"))
	if err := positive(map[string]int64{"patch": patch}); err != nil {
		return err
	}
	if err := wantRank(mod, "an image [C,H,W]", 3); err != nil {
		return err
	}
	if mod.Shape[1] < patch || mod.Shape[2] < patch {
		return fmt.Errorf("shape %v: want [C,H,W] with H, W ≥ patch=%d", mod.Shape, patch)
	}
	return nil
}

func newViT(p *nn.Path, mod data.Modality, params bench.Params) (bench.Encoder, error) {
	if err := vitAccepts(mod, params); err != nil {
		return nil, fmt.Errorf("vit: modality %s: %w", mod.Name, err)
	}
	cfg, _ := parseBlockConfig(params)
	patch := int64(params.Int("patch"))
	n := (mod.Shape[1] / patch) * (mod.Shape[2] / patch)
	return &ViT{
		embed:  newConv2d(p.Sub("patch_embed"), mod.Shape[0], cfg.dim, patch, patch, 0, torchDefaultUniform(mod.Shape[0]*patch*patch), true),
		cls:    p.MustNewVar("cls_token", []int64{1, 1, cfg.dim}, constStd(0.02)),
		pos:    p.MustNewVar("pos_embed", []int64{1, 1 + n, cfg.dim}, constStd(0.02)),
		blocks: newBlocks(p.Sub("blocks"), cfg),
		norm:   newLayerNorm(p.Sub("norm"), cfg.dim),
		dim:    cfg.dim,
	}, nil
}

// OutDim is dim.
func (v *ViT) OutDim() int64 { return v.dim }

// Forward maps (B, C, H, W) to the class token's feature (B, dim). There is no dropout or
// BatchNorm, so train does not matter.
func (v *ViT) Forward(s *torchrt.Scope, x *ts.Tensor, train bool) *ts.Tensor {
	e := s.T(v.embed.forward(s, x).MustFlatten(2, -1, false)) // (B, dim, patches)
	e = s.T(e.MustTranspose(1, 2, false))                     // (B, patches, dim)
	cls := s.T(v.cls.MustExpand([]int64{x.MustSize()[0], 1, v.dim}, false, false))
	h := s.T(ts.MustCat([]*ts.Tensor{cls, e}, 1))
	h = runBlocks(s, v.blocks, s.T(h.MustAdd(v.pos, false)))
	return v.norm.forward(s, s.T(h.MustSelect(1, 0, false)))
}

// The stage-wise view of the attention encoders (vit here, transformer in transformer.go), for
// methods that run several token streams in lockstep (MBT, methods-beyond.md §1.6): the tokeniser
// with the class token and position embeddings (Tokens), each block on its own (Block, on any
// number of tokens, so a method can append tokens of its own such as MBT's bottlenecks), and the
// final LayerNorm. Running Tokens(x, true), every Block in order, FinalNorm and taking token 0 is
// Forward (TestTokenStreamsRunForwardStageWise). Forward itself is unchanged.

// Width is the token width (dim).
func (v *ViT) Width() int64 { return v.dim }

// NumBlocks is the number of blocks (depth).
func (v *ViT) NumBlocks() int { return len(v.blocks) }

// HasCLS is true: the vit always has a class token.
func (v *ViT) HasCLS() bool { return true }

// Block applies block i (0-based) to tokens (B, N, dim), any N.
func (v *ViT) Block(s *torchrt.Scope, i int, x *ts.Tensor) *ts.Tensor {
	return v.blocks[i].forward(s, x)
}

// FinalNorm is the final LayerNorm, token-wise, on (…, dim).
func (v *ViT) FinalNorm(s *torchrt.Scope, x *ts.Tensor) *ts.Tensor { return v.norm.forward(s, x) }

// Tokens embeds x: (B, 1+N, dim) = [cls; E(x)] + pos with cls true, else (B, N, dim) = E(x) + the
// patches' positions (the class token and its position then get no gradient). x is an image
// (B, C, H, W) of the encoder's modality shape, or — for a stage-wise caller only; the registered
// encoder still takes images alone — a clip (B, C, T, H, W) of such frames: each frame is cut into
// the same 2-D patches (tokens frame-major, T·N of them), the per-frame patch positions are tiled
// over the frames and the class token keeps its own (MBT's 2-D per-frame patches,
// methods-beyond.md §1.2 and §1.8: "tile the per-frame pos-emb over frames").
func (v *ViT) Tokens(s *torchrt.Scope, x *ts.Tensor, cls bool) *ts.Tensor {
	sz := x.MustSize()
	bsz, frames := sz[0], int64(1)
	if len(sz) == 5 {
		frames = sz[2]
		x = s.T(x.MustPermute([]int64{0, 2, 1, 3, 4}, false)) // (B, T, C, H, W)
		x = s.T(x.MustReshape([]int64{bsz * frames, sz[1], sz[3], sz[4]}, false))
	}
	e := s.T(v.embed.forward(s, x).MustFlatten(2, -1, false)) // (B·T, dim, N)
	e = s.T(e.MustTranspose(1, 2, false))                     // (B·T, N, dim)
	n := e.MustSize()[1]
	pos := s.T(v.pos.MustNarrow(1, 1, n, false)) // (1, N, dim)
	if frames > 1 {
		e = s.T(e.MustReshape([]int64{bsz, frames * n, v.dim}, false))
		pos = s.T(pos.MustRepeat([]int64{1, frames, 1}, false))
	}
	e = s.T(e.MustAdd(pos, false))
	if !cls {
		return e
	}
	c := s.T(v.cls.MustAdd(s.T(v.pos.MustNarrow(1, 0, 1, false)), false))
	c = s.T(c.MustExpand([]int64{bsz, 1, v.dim}, false, false))
	return s.T(ts.MustCat([]*ts.Tensor{c, e}, 1))
}

// Close frees the blocks' attention scales (C scalars made once at construction). The trainer does
// not close encoders; a method that builds encoders of its own (MBT's own streams) closes them when
// it is closed. The encoder cannot run afterwards.
func (v *ViT) Close() { closeBlocks(v.blocks) }

func closeBlocks(bs []*block) {
	for _, b := range bs {
		if b.scale != nil {
			b.scale.MustDrop()
			b.scale = nil
		}
	}
}
