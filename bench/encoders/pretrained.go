package encoders

// Pretrained ResNet-18 / ResNet-34 weights (issues 13, 14): a torchvision state dict converted to
// safetensors by datasets/tools/torchvision_to_safetensors.py, loaded with --set resnet18.weights=FILE
// (or resnet34.weights=FILE: the same names with layer1.0 … layer4.2).

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"

	"github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"
)

// torchvisionWidth is the only width torchvision's ResNet-18 and ResNet-34 have.
const torchvisionWidth = 64

// namedShape is one tensor of a torchvision state dict.
type namedShape struct {
	name  string
	shape []int64
}

// resnet18StateDict lists the tensors of torchvision's resnet18().state_dict() that our ResNet-18
// has, in torchvision's order, for base width w (64 in torchvision): conv1 with 3 input channels, and
// per BatchNorm weight, bias, running_mean and running_var. Left out: num_batches_tracked (our
// BatchNorm has a fixed momentum, so the count is never used) and fc.* (we have no FC).
func resnet18StateDict(w int64) []namedShape { return resnetStateDict(w, [4]int{2, 2, 2, 2}) }

// resnetStateDict is resnet18StateDict for a BasicBlock ResNet with blocks[i] blocks in layer i+1
// ([3, 4, 6, 3]: torchvision's resnet34).
func resnetStateDict(w int64, blocks [4]int) []namedShape {
	var out []namedShape
	conv := func(name string, o, i, k int64) { out = append(out, namedShape{name + ".weight", []int64{o, i, k, k}}) }
	bn := func(name string, c int64) {
		for _, v := range []string{"weight", "bias", "running_mean", "running_var"} {
			out = append(out, namedShape{name + "." + v, []int64{c}})
		}
	}
	conv("conv1", w, 3, 7)
	bn("bn1", w)
	in := w
	for i, ow := range []int64{w, 2 * w, 4 * w, 8 * w} {
		for j := range blocks[i] {
			p := fmt.Sprintf("layer%d.%d", i+1, j)
			cin, stride := ow, int64(1)
			if j == 0 {
				cin = in
				if i > 0 {
					stride = 2
				}
			}
			conv(p+".conv1", ow, cin, 3)
			bn(p+".bn1", ow)
			conv(p+".conv2", ow, ow, 3)
			bn(p+".bn2", ow)
			if stride != 1 || cin != ow {
				conv(p+".downsample.0", ow, cin, 1)
				bn(p+".downsample.1", ow)
			}
		}
		in = ow
	}
	return out
}

// checkResNet18Weights checks a weights file's tensors against torchvision's ResNet-18: every
// tensor present with its shape and a floating-point dtype, and no tensor we do not know
// (fc.weight, fc.bias and the BatchNorms' num_batches_tracked are known and ignored). The error
// names every tensor that does not fit.
func checkResNet18Weights(f *safetensors) error {
	return checkResNetWeights(f, "ResNet-18", [4]int{2, 2, 2, 2})
}

// checkResNetWeights is checkResNet18Weights for the BasicBlock ResNet title with blocks.
func checkResNetWeights(f *safetensors, title string, blocks [4]int) error {
	want := resnetStateDict(torchvisionWidth, blocks)
	known := map[string]bool{"fc.weight": true, "fc.bias": true}
	var bad []string
	for _, ns := range want {
		known[ns.name] = true
		if b, ok := strings.CutSuffix(ns.name, ".running_var"); ok {
			known[b+".num_batches_tracked"] = true
		}
		t, ok := f.tensors[ns.name]
		switch {
		case !ok:
			bad = append(bad, fmt.Sprintf("tensor %s is missing (want shape %v)", ns.name, ns.shape))
		case !slices.Equal(t.Shape, ns.shape):
			bad = append(bad, fmt.Sprintf("tensor %s has shape %v, want %v (torchvision's %s)", ns.name, t.Shape, ns.shape, title))
		case !isFloatDType(t.DType):
			bad = append(bad, fmt.Sprintf("tensor %s has dtype %s, want a floating-point type", ns.name, t.DType))
		}
	}
	for _, name := range slices.Sorted(maps.Keys(f.tensors)) {
		if !known[name] {
			bad = append(bad, fmt.Sprintf("unknown tensor %s (not in torchvision's %s)", name, title))
		}
	}
	if len(bad) == 0 {
		return nil
	}
	const show = 8
	msg := strings.Join(bad[:min(len(bad), show)], "; ")
	if len(bad) > show {
		msg += fmt.Sprintf("; and %d more", len(bad)-show)
	}
	return fmt.Errorf("%s", msg)
}

// checkWeightsParam is the plan-time check of resnet18.weights (resnet34.weights): width 64 and the
// file's header (names, shapes, dtypes, offsets) without reading its data.
func checkWeightsParam(path string, width int64, title string, blocks [4]int) error {
	if path == "" {
		return nil
	}
	if width != torchvisionWidth {
		return fmt.Errorf("weights=%s needs width=%d (torchvision's %s), not width=%d", path, torchvisionWidth, title, width)
	}
	f, err := readSTHeader(path)
	if err == nil {
		err = checkResNetWeights(f, title, blocks)
	}
	if err != nil {
		return fmt.Errorf("weights %s: %w", path, err)
	}
	return nil
}

// adaptConv1 turns torchvision's conv1 weight (out, 3, k, k) into one for c input channels. With
// c = 3 it is kept. Otherwise every input channel gets the mean of the three RGB kernels — the
// cross-modality initialisation of TSN / TSM for optical flow and of TBN (epic-fusion) for 1-channel
// spectrograms: weight.mean(dim=1, keepdim=True).expand(out, c, k, k). (AST and timm sum the RGB
// kernels for one channel instead, which scales conv1's output by 3.)
func adaptConv1(w []float32, shape []int64, c int64) ([]float32, []int64) {
	if c == shape[1] {
		return w, shape
	}
	out, in, kk := shape[0], shape[1], shape[2]*shape[3]
	res := make([]float32, out*c*kk)
	for o := range out {
		for j := range kk {
			var s float64
			for i := range in {
				s += float64(w[(o*in+i)*kk+j])
			}
			m := float32(s / float64(in))
			for i := range c {
				res[(o*c+i)*kk+j] = m
			}
		}
	}
	return res, []int64{out, c, shape[2], shape[3]}
}

// torchvisionVars maps torchvision's state-dict names to the ResNet's tensors (parameters and
// running statistics).
func (r *ResNet18) torchvisionVars() map[string]*ts.Tensor {
	m := map[string]*ts.Tensor{}
	bn := func(name string, b *nn.BatchNorm) {
		m[name+".weight"], m[name+".bias"] = b.Ws, b.Bs
		m[name+".running_mean"], m[name+".running_var"] = b.RunningMean, b.RunningVar
	}
	m["conv1.weight"] = r.conv1.W
	bn("bn1", r.bn1)
	for i, layer := range r.layers {
		for j, b := range layer {
			p := fmt.Sprintf("layer%d.%d", i+1, j)
			m[p+".conv1.weight"], m[p+".conv2.weight"] = b.conv1.W, b.conv2.W
			bn(p+".bn1", b.bn1)
			bn(p+".bn2", b.bn2)
			if b.downConv != nil {
				m[p+".downsample.0.weight"] = b.downConv.W
				bn(p+".downsample.1", b.downBN)
			}
		}
	}
	return m
}

// loadWeights reads the weights file, checks that its content is still the one the cell was keyed
// with (sha256, hex; "" skips the check), and copies every tensor into the ResNet (conv1 adapted to
// the modality's channels).
func (r *ResNet18) loadWeights(path, sha, title string, blocks [4]int) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if sum := sha256.Sum256(b); sha != "" && hex.EncodeToString(sum[:]) != sha {
		return fmt.Errorf("weights %s changed since the run was planned (SHA-256 %s, planned with %s)", path, hex.EncodeToString(sum[:8]), sha[:16])
	}
	f, err := parseSafetensors(b)
	if err == nil {
		err = checkResNetWeights(f, title, blocks)
	}
	if err != nil {
		return fmt.Errorf("weights %s: %w", path, err)
	}
	vars := r.torchvisionVars()
	for _, ns := range resnetStateDict(torchvisionWidth, blocks) {
		vals, err := f.float32s(ns.name)
		if err != nil {
			return fmt.Errorf("weights %s: %w", path, err)
		}
		shape := ns.shape
		if ns.name == "conv1.weight" {
			vals, shape = adaptConv1(vals, shape, r.conv1.In)
		}
		dst := vars[ns.name]
		if got := dst.MustSize(); !slices.Equal(got, shape) {
			return fmt.Errorf("weights %s: tensor %s: shape %v, the encoder's is %v", path, ns.name, shape, got)
		}
		src := ts.MustOfSlice(vals).MustView(shape, true)
		ts.NoGrad(func() { dst.Copy_(src) })
		src.MustDrop()
	}
	return nil
}
