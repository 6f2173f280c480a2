package methods

import (
	"fmt"
	"slices"

	"github.com/mmfusion/bench/bench"
	"github.com/mmfusion/bench/bench/encoders"
	"github.com/mmfusion/bench/bench/layers"
	"github.com/mmfusion/bench/bench/torchrt"
	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"
)

func init() {
	bench.Methods.Register("cen", "channel exchanging: one ResNet-18 with shared convolutions and private BatchNorm per modality, channels with |γ| < θ replaced by the other streams', ℓ1 on γ over disjoint channel subsets, α-weighted ensemble of the per-stream heads (CEN, methods-beyond.md §2)", bench.MethodSpec{
		Params: []bench.ParamSpec{
			{Name: "theta", Default: "0.02", Kind: "float", Range: "[0,inf)", Search: "log:0.005:0.05",
				Help: "θ: at an exchange BN, channel c of stream m is replaced by the other streams' (their mean for M > 2) where |γ_m,c| < θ (segmentation reference 2e-2; 0 never exchanges)"},
			{Name: "lambda", Default: "0.0002", Kind: "float", Range: "[0,inf)", Search: "log:0.00002:0.002",
				Help: "λ of the ℓ1 penalty Σ_BN Σ_m Σ_{c∈S_m} |γ_m,c| on the exchange BNs, counted M+1 times as in the reference (segmentation 2e-4)"},
			{Name: "exchange_at", Default: "bn1", Kind: "enum:bn1|bn2",
				Help: "which BN of every BasicBlock exchanges (and is penalised): bn1 (after the first 3×3 conv, before its ReLU: the reference's mid-branch placement; default) or bn2 (after the last BN, before the residual add)"},
			{Name: "exchange_layers", Default: "1:2:3:4", Kind: "intlist", Range: "[1,4]",
				Help: "the ResNet layers whose BasicBlocks exchange (1:2:3:4: all 8 blocks of ResNet-18)"},
			{Name: "conv1", Default: "private", Kind: "enum:private|shared",
				Help: "stem conv: private per modality (its own input channels; default) or shared (that of the modality with the most channels, 1-channel inputs tiled)"},
			{Name: "align", Default: "auto", Kind: "enum:auto|input|donor",
				Help: "different map shapes: input resizes every input bilinearly to the largest H×W (ties: first); donor resizes (and averages or broadcasts over frames) the donated maps at each exchange; auto: input when every modality has one frame, donor otherwise"},
		},
		Needs: bench.Needs{Encoders: []string{"resnet18", "resnet34"}, MinModalities: 2},
		New:   newCEN,
	})
}

// CEN is channel exchanging (Wang et al., NeurIPS 2020; yikaiw/CEN) adapted to classification as
// methods-beyond.md §2.6 describes. Everything marked [our adaptation] has no reference (the official
// code is segmentation/translation on same-shaped RGB-D-like inputs):
//
//   - Network (§2.2): one ResNet-18, encoders.SharedResNet: the convolutions of modality 0's resnet18
//     encoder are applied to every stream, and every BN (stem, blocks, shortcuts) is the stream's own
//     encoder's. Stem conv1 private per modality by default (conv1=private; [our adaptation], §2.6.1:
//     inputs have 1, 2 or 3 channels), or shared with 1-channel inputs tiled (conv1=shared).
//   - Exchange (§2.3), at bn1 of every BasicBlock by default ([our adaptation], §2.6.2: ResNet-18 has
//     no Bottleneck, whose bn2 the reference uses; exchange_at=bn2 is the other port's placement),
//     in the layers exchange_layers: y′_m,c = y_m,c where |γ_m,c| ≥ θ, else the other stream's y_m′,c
//     (M > 2: the mean over the other streams, the author's reply in yikaiw/CEN #6). The mask is
//     recomputed from the current γ at every forward, training and evaluation, and is not
//     differentiated (torch.where: an exchanged position sends its gradient to the donor only).
//   - Shapes (§2.6.3, [our adaptation]): with align=input (auto when every modality has one frame)
//     every input is resized bilinearly (align_corners false) to the largest H×W of the modalities
//     (first on ties; CREMA-D: the 1×257×188 spectrogram to 224×224), so all maps match. Otherwise a
//     donor map of T′ frames given to a stream of T frames is averaged over its frames and broadcast
//     to T (T′ = T: unchanged), then resized bilinearly to the receiver's h×w where it differs.
//   - ℓ1 (§2.4): L1 = Σ_{exchange BNs} Σ_m Σ_{c ∈ S_m} |γ_m,c|, a sum, S_m = [⌊mC/M⌋, ⌊(m+1)C/M⌋):
//     for M = 2 stream 0's first half and stream 1's second half, as the reference; M contiguous
//     slices for M > 2 ([our adaptation], §2.4). Only the exchange BNs are penalised.
//   - Heads (§2.5, §2.6.4): one shared Linear(OutDim→K) on every stream's pooled feature gives ℓ^m;
//     ℓ_ens = Σ_m softmax(α)_m · sg(ℓ^m) with α ∈ R^M initialised to 1; L = Σ_m CE(ℓ^m) + CE(ℓ_ens) +
//     (M+1)·λ·L1 (the reference adds λ·L1 to every output's loss); the prediction (Fused) is ℓ_ens,
//     and ℓ^m are the per-modality outputs.
//   - BN in training mode (§2.6.5; the reference freezes it on ImageNet statistics), the harness's
//     optimiser and weight decay (which also shrinks γ). Readouts cen_exch_frac_m (1-based m): the
//     fraction of stream m's exchange-BN channels with |γ| < θ, per split.
//
// The modality encoders' convolutions after conv1 other than modality 0's are not used (they get no
// gradient and stay as built).
type CEN struct {
	net       *encoders.SharedResNet
	head      *layers.Linear
	alpha     *ts.Tensor
	theta     float64
	lambda    float64
	bn        int    // 1 or 2: the exchanging BN of a block
	exchanges []bool // per block: whether it exchanges
	align     string
	// noExchange turns the exchange off (tests: the streams then only share weights).
	noExchange bool
}

func newCEN(env *bench.Env) (bench.Method, error) {
	M := len(env.Encoders)
	if M < 2 {
		return nil, fmt.Errorf("cen exchanges channels between modalities; got %d", M)
	}
	net, err := encoders.NewSharedResNet(env.Encoders, env.Params.String("conv1") == "shared")
	if err != nil {
		return nil, err
	}
	c := &CEN{net: net, theta: env.Params.Float("theta"), lambda: env.Params.Float("lambda"), bn: 1, align: env.Params.String("align")}
	if env.Params.String("exchange_at") == "bn2" {
		c.bn = 2
	}
	layersOn := env.Params.Ints("exchange_layers")
	for b := range net.NumBlocks() {
		c.exchanges = append(c.exchanges, slices.Contains(layersOn, net.BlockLayer(b)))
	}
	c.head = layers.NewLinear(env.Path.Sub("head"), net.OutDim(), env.NumClasses)
	c.alpha = env.Path.MustOnes("alpha", []int64{int64(M)})
	return c, nil
}

// gammas is γ of every stream at the exchange BN of block.
func (c *CEN) gammas(block int) []*ts.Tensor {
	out := make([]*ts.Tensor, 0, 2)
	for m := range c.alpha.MustSize()[0] {
		out = append(out, c.net.BN(int(m), block, c.bn).Ws)
	}
	return out
}

// cenKeep is the exchange mask of γ (C): true where |γ| ≥ θ (the stream keeps its own channel),
// shaped (1, C, 1, 1) to broadcast over a map; not differentiated.
func cenKeep(s *torchrt.Scope, gamma *ts.Tensor, theta float64) *ts.Tensor {
	g := s.T(s.T(gamma.MustDetach(false)).MustAbs(false))
	keep := s.T(g.MustGe(s.Scalar(theta), false))
	return s.T(keep.MustView([]int64{1, -1, 1, 1}, false))
}

// cenSubset is S_m = [⌊mC/M⌋, ⌊(m+1)C/M⌋) as (start, length).
func cenSubset(m, M int, C int64) (int64, int64) {
	lo, hi := int64(m)*C/int64(M), int64(m+1)*C/int64(M)
	return lo, hi - lo
}

// cenAlign turns donor y (B·T′, C, h′, w′) of T′ = from frames into the receiver's layout: T = to
// frames and spatial size hw (average over T′, broadcast to T, then bilinear resize).
func cenAlign(s *torchrt.Scope, y *ts.Tensor, from, to int64, hw []int64) *ts.Tensor {
	sz := y.MustSize()
	if from != to {
		b := sz[0] / from
		v := s.T(y.MustView([]int64{b, from, sz[1], sz[2], sz[3]}, false))
		m := s.T(v.MustMeanDim([]int64{1}, true, v.DType(), false)) // (B, 1, C, h′, w′)
		e := s.T(m.MustExpand([]int64{b, to, sz[1], sz[2], sz[3]}, false, false))
		y = s.T(e.MustReshape([]int64{b * to, sz[1], sz[2], sz[3]}, false))
	}
	if sz[2] != hw[0] || sz[3] != hw[1] {
		y = s.T(y.MustUpsampleBilinear2d(hw, false, nil, nil, false))
	}
	return y
}

// exchangeMaps is the exchange at one BN: ys[m] keeps its channels where keep[m], elsewhere it takes
// the (aligned) mean of the other streams' maps.
func cenExchange(s *torchrt.Scope, ys []*ts.Tensor, keep []*ts.Tensor, frames []int64) []*ts.Tensor {
	M := len(ys)
	out := make([]*ts.Tensor, M)
	for m, y := range ys {
		sz := y.MustSize()
		var donor *ts.Tensor
		for o := range ys {
			if o == m {
				continue
			}
			d := cenAlign(s, ys[o], frames[o], frames[m], sz[2:])
			if donor == nil {
				donor = d
			} else {
				donor = s.T(donor.MustAdd(d, false))
			}
		}
		if M > 2 {
			donor = s.T(donor.MustDivScalar(s.Scalar(float64(M-1)), false))
		}
		out[m] = s.T(y.MustWhereSelf(keep[m], donor, false))
	}
	return out
}

// exchange is the SharedResNet hook.
func (c *CEN) exchange(s *torchrt.Scope, block, bn int, ys []*ts.Tensor, frames []int64) []*ts.Tensor {
	if c.noExchange || bn != c.bn || !c.exchanges[block] {
		return ys
	}
	keep := make([]*ts.Tensor, len(ys))
	for m, g := range c.gammas(block) {
		keep[m] = cenKeep(s, g, c.theta)
	}
	return cenExchange(s, ys, keep, frames)
}

// l1 is Σ over exchange BNs, streams m and c ∈ S_m of |γ_m,c|.
func (c *CEN) l1(s *torchrt.Scope) *ts.Tensor {
	var sum *ts.Tensor
	for b, on := range c.exchanges {
		if !on {
			continue
		}
		gs := c.gammas(b)
		for m, g := range gs {
			lo, n := cenSubset(m, len(gs), g.MustSize()[0])
			if n == 0 {
				continue
			}
			t := s.T(s.T(s.T(g.MustNarrow(0, lo, n, false)).MustAbs(false)).MustSum(g.DType(), false))
			if sum == nil {
				sum = t
			} else {
				sum = s.T(sum.MustAdd(t, false))
			}
		}
	}
	if sum == nil {
		return s.T(c.alpha.MustSum(gotch.Float, false).MustZerosLike(true))
	}
	return sum
}

// prepare resizes the inputs to a common H×W under align=input (or auto with one frame everywhere).
func (c *CEN) prepare(s *torchrt.Scope, xs []*ts.Tensor) []*ts.Tensor {
	resize := c.align == "input"
	if c.align == "auto" {
		resize = true
		for _, x := range xs {
			if x.Dim() == 5 && x.MustSize()[2] != 1 {
				resize = false
			}
		}
	}
	if !resize {
		return xs
	}
	var hw []int64
	for _, x := range xs {
		sz := x.MustSize()
		h, w := sz[len(sz)-2], sz[len(sz)-1]
		if hw == nil || h*w > hw[0]*hw[1] {
			hw = []int64{h, w}
		}
	}
	out := make([]*ts.Tensor, len(xs))
	for m, x := range xs {
		sz := x.MustSize()
		if sz[len(sz)-2] == hw[0] && sz[len(sz)-1] == hw[1] {
			out[m] = x
			continue
		}
		if x.Dim() == 4 {
			out[m] = s.T(x.MustUpsampleBilinear2d(hw, false, nil, nil, false))
			continue
		}
		// A clip (B, C, T, H, W): resize its frames (B, C·T, H, W), the channel and frame axes kept.
		v := s.T(x.MustReshape([]int64{sz[0], sz[1] * sz[2], sz[3], sz[4]}, false))
		v = s.T(v.MustUpsampleBilinear2d(hw, false, nil, nil, false))
		out[m] = s.T(v.MustReshape([]int64{sz[0], sz[1], sz[2], hw[0], hw[1]}, false))
	}
	return out
}

// logits returns the per-stream logits ℓ^m.
func (c *CEN) logits(s *torchrt.Scope, b *bench.Batch, train bool) []*ts.Tensor {
	feats := c.net.Forward(s, c.prepare(s, b.X), train, c.exchange)
	out := make([]*ts.Tensor, len(feats))
	for m, f := range feats {
		out[m] = c.head.Forward(s, f)
	}
	return out
}

// ensemble is ℓ_ens = Σ_m softmax(α)_m · sg(ℓ^m).
func (c *CEN) ensemble(s *torchrt.Scope, ls []*ts.Tensor) *ts.Tensor {
	w := s.T(c.alpha.MustSoftmax(0, c.alpha.DType(), false))
	var ens *ts.Tensor
	for m, l := range ls {
		wm := s.T(w.MustNarrow(0, int64(m), 1, false))
		t := s.T(s.T(l.MustDetach(false)).MustMul(wm, false))
		if ens == nil {
			ens = t
		} else {
			ens = s.T(ens.MustAdd(t, false))
		}
	}
	return ens
}

// terms are the loss terms of one forward: CE(ℓ^m) per stream, CE(ℓ_ens), the penalty
// (M+1)·λ·L1 (zero when λ = 0), and the outputs.
func (c *CEN) terms(s *torchrt.Scope, b *bench.Batch, train bool) (ce []*ts.Tensor, ceEns, pen *ts.Tensor, out bench.Outputs) {
	ls := c.logits(s, b, train)
	out = bench.Outputs{PerModality: ls, Fused: c.ensemble(s, ls)}
	for _, l := range ls {
		ce = append(ce, layers.CrossEntropy(s, l, b.Y))
	}
	ceEns = layers.CrossEntropy(s, out.Fused, b.Y)
	if c.lambda != 0 {
		pen = mibMulScalar(s, c.l1(s), float64(len(ls)+1)*c.lambda)
	} else {
		pen = s.T(ceEns.MustZerosLike(false))
	}
	return ce, ceEns, pen, out
}

// Forward implements bench.Method: L = Σ_m CE(ℓ^m) + CE(ℓ_ens) + (M+1)·λ·L1, prediction ℓ_ens.
func (c *CEN) Forward(s *torchrt.Scope, b *bench.Batch, train bool) (*ts.Tensor, bench.Outputs) {
	ce, loss, pen, out := c.terms(s, b, train)
	for _, l := range ce {
		loss = s.T(loss.MustAdd(l, false))
	}
	loss = s.T(loss.MustAdd(pen, false))
	n := b.Y.MustSize()[0]
	out.Readout = map[string]*ts.Tensor{}
	for m, frac := range c.exchangedFractions() {
		ones := s.T(ts.MustOnes([]int64{n}, gotch.Float, b.Y.MustDevice()))
		out.Readout[fmt.Sprintf("cen_exch_frac_%d", m+1)] = s.T(ones.MustMulScalar(s.Scalar(frac), false))
	}
	return loss, out
}

// exchangedFractions is, per stream, the fraction of its exchange-BN channels with |γ| < θ.
func (c *CEN) exchangedFractions() []float64 {
	M := int(c.alpha.MustSize()[0])
	below, total := make([]float64, M), make([]float64, M)
	s := torchrt.NewScope()
	defer s.Drop()
	torchrt.NoGrad(func() {
		for b, on := range c.exchanges {
			if !on {
				continue
			}
			for m, g := range c.gammas(b) {
				keep := cenKeep(s, g, c.theta)
				kept := s.T(keep.MustSum(gotch.Double, false)).MustFloat64Value(nil)
				n := float64(g.MustSize()[0])
				below[m] += n - kept
				total[m] += n
			}
		}
	})
	out := make([]float64, M)
	for m := range out {
		if total[m] > 0 {
			out[m] = below[m] / total[m]
		}
	}
	return out
}
