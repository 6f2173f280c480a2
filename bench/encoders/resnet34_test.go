package encoders

import (
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mmfusion/bench/bench"
	"github.com/mmfusion/bench/bench/data"
	"github.com/mmfusion/bench/bench/torchrt"
	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"
)

// Parameter counts of torchvision 0.16 (computed with .deps/torch-py and .deps/xcheck-venv:
// sum(p.numel() for p in torchvision.models.resnetNN().parameters()), minus fc's 512·1000 + 1000 =
// 513,000): resnet18 11,689,512 − 513,000, resnet34 21,797,672 − 513,000. State dicts without
// num_batches_tracked and fc: 100 and 180 tensors (102 and 182 with fc.weight and fc.bias).
const (
	torchvisionResNet18Params = 11_689_512 - 513_000 // 11,176,512
	torchvisionResNet34Params = 21_797_672 - 513_000 // 21,284,672
)

// trainableCount is the number of trainable values (parameters, not running statistics).
func trainableCount(vs *nn.VarStore) int64 {
	var n int64
	for _, v := range vs.Variables() {
		if v.MustRequiresGrad() {
			n += int64(v.Numel())
		}
	}
	return n
}

// data3 is an RGB image modality.
func data3() data.Modality { return data.Modality{Name: "visual", Shape: []int64{3, 8, 8}} }

func TestResNet34ParameterCountIsTorchvisions(t *testing.T) {
	lockThread(t)
	for _, c := range []struct {
		name    string
		want    int64
		tensors int
	}{{"resnet18", torchvisionResNet18Params, 100}, {"resnet34", torchvisionResNet34Params, 180}} {
		_, vs := build(t, c.name, []int64{3, 8, 8}, nil)
		if got := trainableCount(vs); got != c.want {
			t.Errorf("%s: %d trainable parameters, torchvision's without fc %d", c.name, got, c.want)
		}
		if got := len(bench.Variables(vs, "enc0.")); got != c.tensors {
			t.Errorf("%s: %d variables, torchvision's state dict without fc and num_batches_tracked %d", c.name, got, c.tensors)
		}
		vs.Destroy()
	}
}

// TestResNet34NamesMatchTorchvision: layer1.0 … layer1.2, layer2.0 … layer2.3, layer3.0 … layer3.5,
// layer4.0 … layer4.2, every variable named and shaped as torchvision's resnet34 state dict.
func TestResNet34NamesMatchTorchvision(t *testing.T) {
	lockThread(t)
	enc, vs := build(t, "resnet34", []int64{3, 8, 8}, nil)
	defer vs.Destroy() // bench.Variables' copies share the store's C tensors: keep it alive
	vars := bench.Variables(vs, "enc0.")
	want := resnetStateDict(64, [4]int{3, 4, 6, 3})
	if len(vars) != len(want) {
		t.Errorf("%d variables, want %d", len(vars), len(want))
	}
	for _, ns := range want {
		v, ok := vars["enc0."+ns.name]
		if !ok {
			t.Errorf("no variable enc0.%s", ns.name)
			continue
		}
		if got := v.MustSize(); !slices.Equal(got, ns.shape) {
			t.Errorf("enc0.%s: shape %v, torchvision %v", ns.name, got, ns.shape)
		}
	}
	for _, name := range []string{"layer1.2.conv2.weight", "layer2.3.bn2.bias", "layer3.5.conv1.weight", "layer4.2.bn1.running_var", "layer4.0.downsample.0.weight"} {
		if _, ok := vars["enc0."+name]; !ok {
			t.Errorf("no variable enc0.%s", name)
		}
	}
	if _, ok := vars["enc0.layer4.3.conv1.weight"]; ok {
		t.Error("layer4 has a fourth block")
	}
	r := enc.(*ResNet18)
	if got := []int{len(r.layers[0]), len(r.layers[1]), len(r.layers[2]), len(r.layers[3])}; !slices.Equal(got, []int{3, 4, 6, 3}) {
		t.Errorf("blocks %v", got)
	}
	if r.OutDim() != 512 || r.NumStages() != 4 || r.StageChannels(1) != 128 {
		t.Errorf("OutDim %d, stages %d, stage 1 channels %d", r.OutDim(), r.NumStages(), r.StageChannels(1))
	}
}

// resnet34Weights writes a torchvision-layout resnet34 state dict (fc and num_batches_tracked
// included) with value j of tensor k = sin(0.37 j + 1.3 k) (running_var: 1 + its square).
func resnet34Weights(t *testing.T, blocks [4]int) string {
	t.Helper()
	var e []stEntry
	for k, ns := range resnetStateDict(64, blocks) {
		n := int64(1)
		for _, d := range ns.shape {
			n *= d
		}
		v := make([]float32, n)
		for j := range v {
			v[j] = float32(math.Sin(0.37*float64(j) + 1.3*float64(k)))
			if strings.HasSuffix(ns.name, "running_var") {
				v[j] = 1 + v[j]*v[j]
			}
		}
		e = append(e, stEntry{name: ns.name, dtype: "F32", shape: ns.shape, f32: v})
		if b, ok := strings.CutSuffix(ns.name, ".running_var"); ok {
			e = append(e, stEntry{name: b + ".num_batches_tracked", dtype: "I64", shape: []int64{}, f32: []float32{7}})
		}
	}
	e = append(e, stEntry{name: "fc.weight", dtype: "F32", shape: []int64{2, 512}, f32: make([]float32, 1024)},
		stEntry{name: "fc.bias", dtype: "F32", shape: []int64{2}, f32: []float32{0, 0}})
	path := filepath.Join(t.TempDir(), fmt.Sprintf("resnet%v.safetensors", blocks))
	writeSafetensors(t, path, e)
	return path
}

func TestResNet34WeightsLoad(t *testing.T) {
	lockThread(t)
	blocks := [4]int{3, 4, 6, 3}
	path := resnet34Weights(t, blocks)
	_, vs := build(t, "resnet34", []int64{3, 8, 8}, map[string]string{"weights": path})
	defer vs.Destroy() // keeps the store (and so its variables' C tensors) alive until the checks are done
	vars := bench.Variables(vs, "enc0.")
	for k, ns := range resnetStateDict(64, blocks) {
		if ns.name != "layer4.2.conv2.weight" && ns.name != "layer3.5.bn1.bias" {
			continue
		}
		vals := vars["enc0."+ns.name].Float64Values()
		for _, j := range []int{0, 1, len(vals) - 1} {
			want := float64(float32(math.Sin(0.37*float64(j) + 1.3*float64(k))))
			if got := vals[j]; math.Abs(got-want) > 1e-6 {
				t.Errorf("%s[%d] = %v, want %v", ns.name, j, got, want)
			}
		}
	}
	// A ResNet-18 file is refused by resnet34 (its third blocks are missing) and vice versa.
	spec, _ := bench.Encoders.Lookup("resnet34")
	params, err := bench.NewParams("encoder resnet34", spec.Value.Params, map[string]string{"weights": resnet34Weights(t, [4]int{2, 2, 2, 2})})
	if err != nil {
		t.Fatal(err)
	}
	err = spec.Value.CheckModality(data3(), params)
	if err == nil || !strings.Contains(err.Error(), "tensor layer1.2.conv1.weight is missing") {
		t.Errorf("resnet18 weights for resnet34: %v", err)
	}
	spec18, _ := bench.Encoders.Lookup("resnet18")
	params, err = bench.NewParams("encoder resnet18", spec18.Value.Params, map[string]string{"weights": path})
	if err != nil {
		t.Fatal(err)
	}
	err = spec18.Value.CheckModality(data3(), params)
	if err == nil || !strings.Contains(err.Error(), "unknown tensor layer1.2.bn1.bias (not in torchvision's ResNet-18)") {
		t.Errorf("resnet34 weights for resnet18: %v", err)
	}
	params, _ = bench.NewParams("encoder resnet34", spec.Value.Params, map[string]string{"weights": path, "width": "8"})
	if err := spec.Value.CheckModality(data3(), params); err == nil || !strings.Contains(err.Error(), "needs width=64 (torchvision's ResNet-34)") {
		t.Errorf("width 8 with weights: %v", err)
	}
}

// TestResNetClipsFoldFramesAndPool: a clip [C,T,H,W] (T = 2 and 8, as Table 7's settings) goes
// through resnet18 and resnet34 with its frames folded into the batch; in evaluation mode the feature
// equals the mean of the per-frame image features, and the stages keep (B, C, T, h, w).
func TestResNetClipsFoldFramesAndPool(t *testing.T) {
	lockThread(t)
	tiny := map[string]string{"width": "4"}
	for _, name := range []string{"resnet18", "resnet34"} {
		for _, frames := range []int64{2, 8} {
			shape := []int64{3, frames, 16, 16}
			enc, _ := build(t, name, shape, tiny)
			s := torchrt.NewScope()
			x := input(s, 2, shape)
			var got *ts.Tensor
			ts.NoGrad(func() { got = enc.Forward(s, x, false) })
			checkShape(t, fmt.Sprintf("%s T=%d", name, frames), got, 2, 32)
			sum := s.T(ts.MustZeros([]int64{2, 32}, gotch.Float, gotch.CPU))
			for f := range frames {
				frame := s.T(s.T(x.MustSelect(2, f, false)).MustContiguous(false))
				ts.NoGrad(func() { sum = s.T(sum.MustAdd(enc.Forward(s, frame, false), false)) })
			}
			mean := s.T(sum.MustDivScalar(ts.FloatScalar(float64(frames)), false))
			if !got.MustAllclose(mean, 1e-5, 1e-5, false, false) {
				t.Errorf("%s T=%d: clip feature is not the mean of the frame features", name, frames)
			}
			se := enc.(bench.StagedEncoder)
			h := x
			for i := range se.NumStages() {
				h = se.ForwardStage(s, i, h, true)
				if sz := h.MustSize(); sz[0] != 2 || sz[2] != frames {
					t.Errorf("%s T=%d stage %d: shape %v", name, frames, i, sz)
				}
			}
			checkShape(t, "train", enc.Forward(s, x, true), 2, 32)
			s.Drop()
		}
	}
}
