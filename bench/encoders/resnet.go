package encoders

import (
	"fmt"

	"github.com/mmfusion/bench/bench"
	"github.com/mmfusion/bench/bench/data"
	"github.com/mmfusion/bench/bench/torchrt"
	"github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"
)

// resnetDepths are the BasicBlock ResNets of torchvision: blocks per layer. resnet34 (Table 8's
// backbone, methods-beyond.md §5.3) differs from resnet18 only in these counts: same stem, widths,
// stages, feature size and weights loader.
var resnetDepths = []struct {
	name, title string
	blocks      [4]int
}{
	{"resnet18", "ResNet-18", [4]int{2, 2, 2, 2}},
	{"resnet34", "ResNet-34", [4]int{3, 4, 6, 3}},
}

func init() {
	for _, d := range resnetDepths {
		bench.Encoders.Register(d.name, fmt.Sprintf("torchvision %s without its FC (methods.md §0.1, BasicBlock %v); images [C,H,W] or clips [C,T,H,W]", d.title, d.blocks), bench.EncoderSpec{
			Staged: true,
			Params: []bench.ParamSpec{
				{Name: "width", Default: "64", Kind: "int", Range: "[1,inf)", Help: fmt.Sprintf("base width: layers have width, 2·width, 4·width, 8·width channels (feature size 8·width); 64 is %s, 16 or 32 for quick runs", d.title)},
				{Name: "weights", Default: "", Kind: "file", OmitDefault: true, Help: fmt.Sprintf("pretrained torchvision %s weights: a state dict converted to safetensors by datasets/tools/torchvision_to_safetensors.py (fc.* ignored; needs width=64); a modality with other than 3 channels gets conv1 = the mean of the RGB kernels over channels, replicated (TSN/TSM flow, TBN spectrogram init); cells are keyed by the file's SHA-256", d.title)},
			},
			New:     resnetNew(d.name, d.title, d.blocks),
			Accepts: resnetAccepts(d.title, d.blocks),
		})
	}
}

// ResNet18 is torchvision's ResNet-18 (BasicBlock, [2, 2, 2, 2]) — or, registered as resnet34, its
// ResNet-34 ([3, 4, 6, 3]; the type is the same, only len(layers[i]) differs) — with the FC removed, trained from
// scratch as in OGM-GE / PMR: conv weights Kaiming-normal (fan_out), BatchNorm weight 1 and bias 0.
// conv1 takes as many channels as the modality has (1 spectrogram, 2 optical flow, 3 RGB).
// With weights=FILE every parameter and running statistic is loaded from a torchvision state dict
// instead (pretrained.go); conv1 of a modality with other than 3 channels gets the mean of the RGB
// kernels over the channel axis, replicated to every channel (adaptConv1).
//
// Inputs are either images (B, C, H, W), declared as modality shape [C, H, W] (audio spectrograms
// [1, F, T] are such images), or clips (B, C, T, H, W), declared as [C, T, H, W] — the reference
// repositories' layout. A clip's frames are folded into the batch (B·T, C, H, W) for the CNN; the
// feature is the average over frames and positions of the last map, i.e. the reference's
// reshape to (B, 512, T, h, w) followed by a global 3-D average pool.
//
// Stages (for MMTM): 0 = stem (conv1, bn1, ReLU, max-pool) + layer1, 1 = layer2, 2 = layer3,
// 3 = layer4. Stage outputs of clips are returned as (B, C, T, h, w), batch first, and accepted back
// in that shape by the next stage. Variable names follow torchvision (conv1, bn1,
// layer1.0.conv1, layer1.0.downsample.0, …) so that its checkpoints can be mapped onto them.
type ResNet18 struct {
	conv1  *conv2d
	bn1    *nn.BatchNorm
	layers [4][]*basicBlock
	widths [4]int64
}

// basicBlock is torchvision's BasicBlock: 3×3 conv (stride s) → BN → ReLU → 3×3 conv → BN, plus the
// shortcut (a 1×1 conv with stride s and BN where the shape changes), then ReLU.
type basicBlock struct {
	conv1, conv2 *conv2d
	bn1, bn2     *nn.BatchNorm
	downConv     *conv2d // nil: identity shortcut
	downBN       *nn.BatchNorm
}

// resnetAccepts takes images [C,H,W] and clips [C,T,H,W] (any size: the stride-2 stages and the
// padded pools keep a 1×1 map at 1×1).
func resnetAccepts(title string, blocks [4]int) func(mod data.Modality, params bench.Params) error {
	return func(mod data.Modality, params bench.Params) error {
		if err := positive(map[string]int64{"width": int64(params.Int("width"))}); err != nil {
			return err
		}
		if err := wantRank(mod, "an image [C,H,W] or a clip [C,T,H,W]", 3, 4); err != nil {
			return err
		}
		return checkWeightsParam(params.String("weights"), int64(params.Int("width")), title, blocks)
	}
}

// resnetNew builds the ResNet with blocks[i] BasicBlocks in layer i+1.
func resnetNew(name, title string, blocks [4]int) func(p *nn.Path, mod data.Modality, params bench.Params) (bench.Encoder, error) {
	accepts := resnetAccepts(title, blocks)
	return func(p *nn.Path, mod data.Modality, params bench.Params) (bench.Encoder, error) {
		if err := accepts(mod, params); err != nil {
			return nil, fmt.Errorf("%s: modality %s: %w", name, mod.Name, err)
		}
		width := int64(params.Int("width"))
		r := &ResNet18{widths: [4]int64{width, 2 * width, 4 * width, 8 * width}}
		r.conv1 = newConv2d(p.Sub("conv1"), mod.Shape[0], width, 7, 2, 3, kaimingNormalFanOut, false)
		r.bn1 = newBatchNorm2d(p.Sub("bn1"), width)
		in := width
		for i, w := range r.widths {
			stride := int64(2)
			if i == 0 {
				stride = 1
			}
			lp := p.Sub(fmt.Sprintf("layer%d", i+1))
			for j := range blocks[i] {
				r.layers[i] = append(r.layers[i], newBasicBlock(lp.Sub(fmt.Sprint(j)), in, w, stride))
				in, stride = w, 1
			}
		}
		if path := params.String("weights"); path != "" {
			// Built (and randomly initialised) first, then overwritten: the draws from libtorch's
			// generator are the same with and without weights.
			if err := r.loadWeights(path, params.FileSHA256("weights"), title, blocks); err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
		}
		return r, nil
	}
}

func newBasicBlock(p *nn.Path, in, out, stride int64) *basicBlock {
	b := &basicBlock{
		conv1: newConv2d(p.Sub("conv1"), in, out, 3, stride, 1, kaimingNormalFanOut, false),
		bn1:   newBatchNorm2d(p.Sub("bn1"), out),
		conv2: newConv2d(p.Sub("conv2"), out, out, 3, 1, 1, kaimingNormalFanOut, false),
		bn2:   newBatchNorm2d(p.Sub("bn2"), out),
	}
	if stride != 1 || in != out {
		d := p.Sub("downsample")
		b.downConv = newConv2d(d.Sub("0"), in, out, 1, stride, 0, kaimingNormalFanOut, false)
		b.downBN = newBatchNorm2d(d.Sub("1"), out)
	}
	return b
}

func (b *basicBlock) forward(s *torchrt.Scope, x *ts.Tensor, train bool) *ts.Tensor {
	h := s.T(b.bn1.ForwardT(b.conv1.forward(s, x), train))
	h = s.T(h.MustRelu(false))
	h = s.T(b.bn2.ForwardT(b.conv2.forward(s, h), train))
	short := x
	if b.downConv != nil {
		short = s.T(b.downBN.ForwardT(b.downConv.forward(s, x), train))
	}
	return s.T(s.T(h.MustAdd(short, false)).MustRelu(false))
}

// OutDim is layer4's width (512 at width 64).
func (r *ResNet18) OutDim() int64 { return r.widths[3] }

// NumStages is 4: stem+layer1, layer2, layer3, layer4.
func (r *ResNet18) NumStages() int { return len(r.layers) }

// StageChannels is the width of layer i+1.
func (r *ResNet18) StageChannels(i int) int64 { return r.widths[i] }

// Forward maps images (B, C, H, W) or clips (B, C, T, H, W) to (B, OutDim). A clip stays folded
// through all four stages (no reshape between them) and is pooled over positions, then frames.
func (r *ResNet18) Forward(s *torchrt.Scope, x *ts.Tensor, train bool) *ts.Tensor {
	if x.Dim() != 5 {
		return r.Pool(s, r.run(s, x, 0, len(r.layers), train))
	}
	sz := x.MustSize()
	y := meanOver(s, r.run(s, foldClip(s, x), 0, len(r.layers), train), 2, 3) // (B·T, C)
	return meanOver(s, s.T(y.MustView([]int64{sz[0], sz[2], -1}, false)), 1)
}

// ForwardStage runs stage i on (B, C, H, W) or, for clips, (B, C, T, H, W), and returns the same
// layout.
func (r *ResNet18) ForwardStage(s *torchrt.Scope, i int, x *ts.Tensor, train bool) *ts.Tensor {
	if x.Dim() != 5 {
		return r.run(s, x, i, i+1, train)
	}
	sz := x.MustSize()
	return unfoldClip(s, r.run(s, foldClip(s, x), i, i+1, train), sz[0], sz[2])
}

// Pool averages the last map over its positions (and frames): (B, C, …) → (B, C).
func (r *ResNet18) Pool(s *torchrt.Scope, x *ts.Tensor) *ts.Tensor {
	if x.Dim() == 5 {
		return meanOver(s, x, 2, 3, 4)
	}
	return meanOver(s, x, 2, 3)
}

// run applies stages [from, to) to a 4-D batch; stage 0 starts with the stem. Each block's tensors
// are freed as soon as the next block has its output, not when s drops: in evaluation nothing else
// holds them, so the step's memory is a block's worth instead of the whole network's activations
// (which made ResNet-18's evaluation step 1.3× PyTorch's, the fresh memory faulted in on every
// batch); in training the autograd graph keeps what backward needs, whatever Go drops.
func (r *ResNet18) run(s *torchrt.Scope, x *ts.Tensor, from, to int, train bool) *ts.Tensor {
	var last *ts.Tensor // the latest block output, owned here until the next one exists
	defer func() {
		if last != nil {
			last.MustDrop() // only on a panic: the result below is handed to s
		}
	}()
	apply := func(f func(cs *torchrt.Scope, x *ts.Tensor) *ts.Tensor) {
		cs := torchrt.NewScope()
		defer cs.Drop()
		y := cs.Keep(f(cs, x))
		if last != nil {
			last.MustDrop()
		}
		last, x = y, y
	}
	for i := from; i < to; i++ {
		if i == 0 {
			apply(func(cs *torchrt.Scope, x *ts.Tensor) *ts.Tensor { return r.stem(cs, x, train) })
		}
		for _, b := range r.layers[i] {
			apply(func(cs *torchrt.Scope, x *ts.Tensor) *ts.Tensor { return b.forward(cs, x, train) })
		}
	}
	if last == nil {
		return x
	}
	out := s.T(last)
	last = nil
	return out
}

// stem is conv1 (7×7, stride 2) → BN → ReLU → 3×3 max-pool (stride 2, padding 1).
func (r *ResNet18) stem(s *torchrt.Scope, x *ts.Tensor, train bool) *ts.Tensor {
	h := s.T(r.bn1.ForwardT(r.conv1.forward(s, x), train))
	h = s.T(h.MustRelu(false))
	return s.T(h.MustMaxPool2d([]int64{3, 3}, []int64{2, 2}, []int64{1, 1}, []int64{1, 1}, false, false))
}
