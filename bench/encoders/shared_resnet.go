package encoders

import (
	"fmt"

	"github.com/mmfusion/bench/bench"
	"github.com/mmfusion/bench/bench/torchrt"
	"github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"
)

// SharedResNet runs M modality streams through ONE ResNet's convolutions with PRIVATE BatchNorm
// layers per stream: CEN's parallel network (methods-beyond.md §2.2; yikaiw/CEN ModuleParallel +
// BatchNorm2dParallel). It is assembled from the harness's per-modality ResNet encoders, which the
// trainer has already built (and, with resnet18.weights, loaded):
//
//   - every convolution after the stem (both 3×3 convs of every BasicBlock and the 1×1 downsample
//     convs) is modality 0's encoder's, applied to every stream: shared weights;
//   - every BatchNorm of stream m (the stem's bn1, each block's bn1 and bn2, the downsample BNs) is
//     modality m's encoder's own: private γ, β and running statistics. With pretrained weights every
//     stream's BN is thus a copy of the pretrained one, as the official code loads them;
//   - the stem conv1 is private per stream (each modality's encoder's own, with its own number of
//     input channels: 1 spectrogram, 2 flow, 3 RGB; §2.6.1's default [our adaptation]), or, with
//     sharedConv1, the conv1 of the first modality with the most input channels, a 1-channel input
//     being tiled to that many channels (§2.6.1's alternative); other channel counts are refused.
//
// The convolutions of modalities 1…M−1's encoders other than their conv1 are never used (they get
// no gradient, so the optimiser leaves them as built). Clips (B, C, T, H, W) are folded into
// (B·T, C, H, W) as ResNet18.Forward does; the feature is the mean over positions, then frames.
type SharedResNet struct {
	trunk   *ResNet18   // the shared convolutions (modality 0's encoder)
	streams []*ResNet18 // stream m's private BNs (modality m's encoder)
	conv1   []*conv2d   // the stem conv of each stream
	tile    []int64     // channel repeat factor of each stream's input (1: none)
}

// ExchangeFunc is called at every BatchNorm of every BasicBlock with the BN outputs of all streams
// (before the ReLU after bn1, before the residual add after bn2) and returns the tensors the block
// continues with. block counts BasicBlocks in order from 0 (layer1.0, layer1.1, layer2.0, …), bn is
// 1 or 2, ys[m] is stream m's (B·T_m, C, h_m, w_m) map and frames[m] its T_m (1 for images). A nil
// ExchangeFunc leaves every stream as it is (a shared-weight ensemble).
type ExchangeFunc func(s *torchrt.Scope, block, bn int, ys []*ts.Tensor, frames []int64) []*ts.Tensor

// NewSharedResNet assembles the parallel network from the per-modality encoders, which must all be
// resnet18 encoders of the same width and depth.
func NewSharedResNet(encs []bench.Encoder, sharedConv1 bool) (*SharedResNet, error) {
	if len(encs) == 0 {
		return nil, fmt.Errorf("no encoders")
	}
	r := &SharedResNet{}
	for m, e := range encs {
		rn, ok := e.(*ResNet18)
		if !ok {
			return nil, fmt.Errorf("modality %d's encoder is a %T, not a resnet18/resnet34: the streams share a ResNet's convolutions", m, e)
		}
		if m > 0 {
			if rn.widths != r.streams[0].widths {
				return nil, fmt.Errorf("modality %d's resnet has widths %v, modality 0's %v", m, rn.widths, r.streams[0].widths)
			}
			for i := range rn.layers {
				if len(rn.layers[i]) != len(r.streams[0].layers[i]) {
					return nil, fmt.Errorf("modality %d's resnet has %d blocks in layer%d, modality 0's %d", m, len(rn.layers[i]), i+1, len(r.streams[0].layers[i]))
				}
			}
		}
		r.streams = append(r.streams, rn)
		r.conv1 = append(r.conv1, rn.conv1)
		r.tile = append(r.tile, 1)
	}
	r.trunk = r.streams[0]
	if sharedConv1 {
		k := 0
		for m, rn := range r.streams {
			if rn.conv1.In > r.streams[k].conv1.In {
				k = m
			}
		}
		c := r.streams[k].conv1
		for m, rn := range r.streams {
			switch in := rn.conv1.In; {
			case in == c.In:
			case in == 1:
				r.tile[m] = c.In
			default:
				return nil, fmt.Errorf("conv1=shared: modality %d has %d input channels and modality %d %d; only a 1-channel input can be tiled to share conv1 (use conv1=private)", m, in, k, c.In)
			}
			r.conv1[m] = c
		}
	}
	return r, nil
}

// NumBlocks is the number of BasicBlocks (8 for ResNet-18).
func (r *SharedResNet) NumBlocks() int {
	n := 0
	for _, l := range r.trunk.layers {
		n += len(l)
	}
	return n
}

// BlockLayer is the 1-based layer (1…4) that block belongs to.
func (r *SharedResNet) BlockLayer(block int) int {
	for i, l := range r.trunk.layers {
		if block < len(l) {
			return i + 1
		}
		block -= len(l)
	}
	return -1
}

// BlockName is the torchvision name of block, e.g. "layer2.0".
func (r *SharedResNet) BlockName(block int) string {
	for i, l := range r.trunk.layers {
		if block < len(l) {
			return fmt.Sprintf("layer%d.%d", i+1, block)
		}
		block -= len(l)
	}
	return "?"
}

// BN returns stream m's BatchNorm bn (1 or 2) of block.
func (r *SharedResNet) BN(m, block, bn int) *nn.BatchNorm {
	b := r.streams[m].block(block)
	if bn == 1 {
		return b.bn1
	}
	return b.bn2
}

// Conv returns the shared 3×3 convolution weight conv (1 or 2) of block.
func (r *SharedResNet) Conv(block, conv int) *ts.Tensor {
	b := r.trunk.block(block)
	if conv == 1 {
		return b.conv1.W
	}
	return b.conv2.W
}

// Conv1 returns the stem convolution weight stream m uses.
func (r *SharedResNet) Conv1(m int) *ts.Tensor { return r.conv1[m].W }

// OutDim is the feature size of every stream (layer4's width).
func (r *SharedResNet) OutDim() int64 { return r.trunk.OutDim() }

func (r *ResNet18) block(i int) *basicBlock {
	for _, l := range r.layers {
		if i < len(l) {
			return l[i]
		}
		i -= len(l)
	}
	panic(fmt.Sprintf("resnet: no block %d", i))
}

// Forward runs stream m on xs[m] ((B, C_m, H, W) or (B, C_m, T, H, W)) and returns the pooled
// features (B, OutDim), one per stream, calling ex at every block BN.
func (r *SharedResNet) Forward(s *torchrt.Scope, xs []*ts.Tensor, train bool, ex ExchangeFunc) []*ts.Tensor {
	M := len(r.streams)
	if len(xs) != M {
		panic(fmt.Sprintf("SharedResNet: %d inputs for %d streams", len(xs), M))
	}
	hs := make([]*ts.Tensor, M)
	frames := make([]int64, M)
	batch := make([]int64, M)
	for m, x := range xs {
		frames[m], batch[m] = 1, x.MustSize()[0]
		if x.Dim() == 5 {
			frames[m] = x.MustSize()[2]
			x = foldClip(s, x)
		}
		if r.tile[m] > 1 {
			x = s.T(x.MustRepeat([]int64{1, r.tile[m], 1, 1}, false))
		}
		h := s.T(r.streams[m].bn1.ForwardT(r.conv1[m].forward(s, x), train))
		h = s.T(h.MustRelu(false))
		hs[m] = s.T(h.MustMaxPool2d([]int64{3, 3}, []int64{2, 2}, []int64{1, 1}, []int64{1, 1}, false, false))
	}
	block := 0
	for li, layer := range r.trunk.layers {
		for bi, shared := range layer {
			ys := make([]*ts.Tensor, M)
			for m := range hs {
				ys[m] = s.T(r.streams[m].layers[li][bi].bn1.ForwardT(shared.conv1.forward(s, hs[m]), train))
			}
			if ex != nil {
				ys = ex(s, block, 1, ys, frames)
			}
			for m := range ys {
				h := s.T(ys[m].MustRelu(false))
				ys[m] = s.T(r.streams[m].layers[li][bi].bn2.ForwardT(shared.conv2.forward(s, h), train))
			}
			if ex != nil {
				ys = ex(s, block, 2, ys, frames)
			}
			for m := range ys {
				short := hs[m]
				if shared.downConv != nil {
					short = s.T(r.streams[m].layers[li][bi].downBN.ForwardT(shared.downConv.forward(s, hs[m]), train))
				}
				hs[m] = s.T(s.T(ys[m].MustAdd(short, false)).MustRelu(false))
			}
			block++
		}
	}
	out := make([]*ts.Tensor, M)
	for m, h := range hs {
		y := meanOver(s, h, 2, 3) // (B·T, C)
		if frames[m] > 1 {
			y = meanOver(s, s.T(y.MustView([]int64{batch[m], frames[m], -1}, false)), 1)
		}
		out[m] = y
	}
	return out
}
