package encoders

import (
	"fmt"
	"maps"
	"math"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/mmfusion/bench/bench"
	"github.com/mmfusion/bench/bench/data"
	"github.com/mmfusion/bench/bench/torchrt"
	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"
)

// lockThread keeps the test on one OS thread, as the trainer does: libtorch's grad mode is per OS
// thread, and gotch's NoGrad (used by its initialisers) switches it off and on again, possibly on two
// different threads if the goroutine moves in between.
func lockThread(t testing.TB) {
	runtime.LockOSThread()
	t.Cleanup(runtime.UnlockOSThread)
}

// build constructs a registered encoder for one modality of the given per-sample shape, seeded.
func build(t testing.TB, name string, shape []int64, sets map[string]string) (bench.Encoder, *nn.VarStore) {
	t.Helper()
	spec, err := bench.Encoders.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	params, err := bench.NewParams(name, spec.Value.Params, sets)
	if err != nil {
		t.Fatal(err)
	}
	torchrt.ManualSeed(1)
	vs := nn.NewVarStore(gotch.CPU)
	enc, err := spec.Value.New(vs.Root().Sub("enc0"), data.Modality{Name: "m", Shape: shape}, params)
	if err != nil {
		t.Fatalf("%s %v: %v", name, shape, err)
	}
	return enc, vs
}

// input draws a batch (b, shape…) registered in s.
func input(s *torchrt.Scope, b int64, shape []int64) *ts.Tensor {
	return s.T(ts.MustRandn(append([]int64{b}, shape...), gotch.Float, gotch.CPU))
}

func checkShape(t *testing.T, what string, x *ts.Tensor, want ...int64) {
	t.Helper()
	if got := x.MustSize(); !slices.Equal(got, want) {
		t.Fatalf("%s: shape %v, want %v", what, got, want)
	}
}

// encoderCase is one encoder on one input shape with the feature size it must give.
type encoderCase struct {
	name  string
	sets  map[string]string
	shape []int64
	out   int64
}

func (c encoderCase) label() string {
	l := fmt.Sprintf("%s%v", c.name, c.shape)
	for _, k := range slices.Sorted(maps.Keys(c.sets)) {
		l += fmt.Sprintf(",%s=%s", k, c.sets[k])
	}
	return l
}

var smallResNet = map[string]string{"width": "16"}

var shapeCases = []encoderCase{
	{"lenet", nil, []int64{1, 28, 28}, 128},
	{"lenet", nil, []int64{1, 64, 32}, 128},
	{"lenet", map[string]string{"feature": "84"}, []int64{3, 12, 12}, 84},
	{"resnet18", smallResNet, []int64{1, 40, 30}, 128}, // spectrogram
	{"resnet18", smallResNet, []int64{2, 32, 32}, 128}, // optical flow frame
	{"resnet18", smallResNet, []int64{3, 32, 32}, 128}, // RGB frame
	{"resnet18", smallResNet, []int64{3, 2, 32, 32}, 128},
	{"resnet18", smallResNet, []int64{2, 3, 24, 24}, 128},
	{"vit", nil, []int64{1, 28, 28}, 64},
	{"vit", map[string]string{"patch": "8", "dim": "48", "heads": "3", "depth": "1"}, []int64{3, 30, 20}, 48},
	{"transformer", nil, []int64{10, 35}, 64},
	{"transformer", map[string]string{"pool": "cls", "dim": "32"}, []int64{6, 5}, 32},
	{"lstm", nil, []int64{10, 35}, 128},
	{"lstm", map[string]string{"hidden": "24", "layers": "2", "output": "mean"}, []int64{7, 5}, 24},
	{"mlp", nil, []int64{1, 8, 8}, 128},
}

func TestEncoderFeatureShapes(t *testing.T) {
	lockThread(t)
	for _, c := range shapeCases {
		t.Run(c.label(), func(t *testing.T) {
			lockThread(t)
			enc, _ := build(t, c.name, c.shape, c.sets)
			if enc.OutDim() != c.out {
				t.Fatalf("OutDim = %d, want %d", enc.OutDim(), c.out)
			}
			s := torchrt.NewScope()
			defer s.Drop()
			for _, train := range []bool{true, false} {
				checkShape(t, fmt.Sprintf("train=%v", train), enc.Forward(s, input(s, 3, c.shape), train), 3, c.out)
			}
		})
	}
}

func TestResNet18StageShapes(t *testing.T) {
	lockThread(t)
	s := torchrt.NewScope()
	defer s.Drop()
	// 32×32 → stem 8×8 → layer1 8, layer2 4, layer3 2, layer4 1.
	side := []int64{8, 4, 2, 1}
	for _, shape := range [][]int64{{3, 32, 32}, {2, 3, 32, 32}} {
		enc, _ := build(t, "resnet18", shape, smallResNet)
		se := enc.(bench.StagedEncoder)
		x := input(s, 2, shape)
		for i := 0; i < se.NumStages(); i++ {
			x = se.ForwardStage(s, i, x, true)
			want := []int64{2, se.StageChannels(i)}
			if len(shape) == 4 {
				want = append(want, shape[1]) // clips keep (B, C, T, h, w)
			}
			checkShape(t, fmt.Sprintf("%v stage %d", shape, i), x, append(want, side[i], side[i])...)
		}
	}
	if got := []int64{16, 32, 64, 128}; !slices.Equal(got, stageChannels(build(t, "resnet18", []int64{1, 8, 8}, smallResNet))) {
		t.Fatalf("stage channels %v", stageChannels(build(t, "resnet18", []int64{1, 8, 8}, smallResNet)))
	}
}

func stageChannels(enc bench.Encoder, _ *nn.VarStore) []int64 {
	se := enc.(bench.StagedEncoder)
	var cs []int64
	for i := 0; i < se.NumStages(); i++ {
		cs = append(cs, se.StageChannels(i))
	}
	return cs
}

func TestLeNetStages(t *testing.T) {
	lockThread(t)
	enc, _ := build(t, "lenet", []int64{1, 28, 28}, nil)
	se := enc.(bench.StagedEncoder)
	s := torchrt.NewScope()
	defer s.Drop()
	x := input(s, 2, []int64{1, 28, 28})
	want := [][]int64{{2, 6, 14, 14}, {2, 16, 7, 7}, {2, 128}}
	for i := range want {
		x = se.ForwardStage(s, i, x, true)
		checkShape(t, fmt.Sprintf("stage %d", i), x, want[i]...)
		if se.StageChannels(i) != want[i][1] {
			t.Fatalf("StageChannels(%d) = %d, want %d", i, se.StageChannels(i), want[i][1])
		}
	}
}

// TestStagesChainToForward checks the StagedEncoder contract Forward = Pool(stage n−1(… stage 0(x))),
// in evaluation and in training mode (batch statistics are the same whether a clip's frames stay
// folded or are unfolded between stages).
func TestStagesChainToForward(t *testing.T) {
	lockThread(t)
	cases := []encoderCase{
		{"resnet18", smallResNet, []int64{3, 32, 32}, 0},
		{"resnet18", smallResNet, []int64{3, 3, 24, 24}, 0},
		{"lenet", nil, []int64{1, 28, 28}, 0},
		{"mlp", nil, []int64{12}, 0},
	}
	for _, c := range cases {
		for _, train := range []bool{false, true} {
			enc, _ := build(t, c.name, c.shape, c.sets)
			se := enc.(bench.StagedEncoder)
			s := torchrt.NewScope()
			x := input(s, 3, c.shape)
			want := enc.Forward(s, x, train)
			h := x
			for i := 0; i < se.NumStages(); i++ {
				h = se.ForwardStage(s, i, h, train)
			}
			got := se.Pool(s, h)
			if !got.MustAllclose(want, 1e-5, 1e-5, false, false) {
				t.Errorf("%s %v train=%v: chained stages differ from Forward", c.name, c.shape, train)
			}
			s.Drop()
		}
	}
}

// runningStats copies every BatchNorm running mean and variance.
func runningStats(vs *nn.VarStore) map[string]*ts.Tensor {
	out := map[string]*ts.Tensor{}
	for name, v := range vs.Variables() {
		if strings.Contains(name, "running_") {
			out[name] = v.MustMulScalar(ts.FloatScalar(1), false) // a copy, not a view
		}
	}
	return out
}

func TestBatchNormRunningStatsOnlyChangeInTraining(t *testing.T) {
	lockThread(t)
	shape := []int64{3, 2, 16, 16}
	enc, vs := build(t, "resnet18", shape, smallResNet)
	before := runningStats(vs)
	if len(before) != 2*20 { // 20 BatchNorm layers in ResNet-18
		t.Fatalf("%d running statistics, want 40", len(before))
	}
	s := torchrt.NewScope()
	defer s.Drop()
	x := input(s, 2, shape)
	ts.NoGrad(func() { enc.Forward(s, x, false) })
	for name, v := range runningStats(vs) {
		if !v.MustEqual(before[name], false) {
			t.Fatalf("%s changed with train=false", name)
		}
	}
	enc.Forward(s, x, true)
	for name, v := range runningStats(vs) {
		if v.MustEqual(before[name], false) {
			t.Fatalf("%s unchanged with train=true", name)
		}
	}
}

// TestGradientsReachEveryParameter runs a backward pass through each encoder and checks that every
// trainable variable gets a non-zero gradient (no detached branch, no unused layer).
func TestGradientsReachEveryParameter(t *testing.T) {
	lockThread(t)
	cases := []encoderCase{
		{"lenet", nil, []int64{1, 16, 16}, 0},
		{"resnet18", smallResNet, []int64{2, 2, 16, 16}, 0},
		{"vit", map[string]string{"depth": "1"}, []int64{1, 8, 8}, 0},
		{"transformer", map[string]string{"pool": "cls", "depth": "1"}, []int64{5, 4}, 0},
		{"transformer", map[string]string{"depth": "1"}, []int64{5, 4}, 0},
		{"lstm", map[string]string{"layers": "2", "hidden": "8"}, []int64{5, 4}, 0},
	}
	for _, c := range cases {
		enc, vs := build(t, c.name, c.shape, c.sets)
		s := torchrt.NewScope()
		y := enc.Forward(s, input(s, 2, c.shape), true)
		// A weighted sum: a plain sum of a LayerNorm's output has no gradient.
		w := s.T(ts.MustRandn(y.MustSize(), gotch.Float, gotch.CPU))
		s.T(s.T(y.MustMul(w, false)).MustSum(gotch.Float, false)).MustBackward()
		for name, v := range vs.Variables() {
			if !v.MustRequiresGrad() {
				continue // BatchNorm running statistics
			}
			g := s.T(v.MustGrad(false))
			if !g.MustDefined() || s.T(g.MustAbs(false)).MustSum(gotch.Double, true).MustFloat64Value(nil) == 0 {
				t.Errorf("%s %v: no gradient for %s", c.name, c.shape, name)
			}
		}
		s.Drop()
	}
}

func TestSameSeedSameEncoder(t *testing.T) {
	lockThread(t)
	shape := []int64{1, 12, 12}
	var outs []*ts.Tensor
	s := torchrt.NewScope()
	defer s.Drop()
	torchrt.ManualSeed(9)
	x := input(s, 2, shape)
	for range 2 {
		enc, _ := build(t, "resnet18", shape, smallResNet)
		outs = append(outs, enc.Forward(s, x, false))
	}
	if !outs[0].MustEqual(outs[1], false) {
		t.Fatal("two encoders built from the same seed differ")
	}
}

func TestBadShapesAreRejected(t *testing.T) {
	lockThread(t)
	cases := []encoderCase{
		{"lenet", nil, []int64{28, 28}, 0},
		{"lenet", nil, []int64{1, 3, 28}, 0},
		{"resnet18", nil, []int64{40}, 0},
		{"vit", nil, []int64{1, 3, 3}, 0},
		{"vit", map[string]string{"heads": "3"}, []int64{1, 8, 8}, 0},
		{"transformer", nil, []int64{1, 5, 5}, 0},
		{"lstm", nil, []int64{5}, 0},
		{"lstm", map[string]string{"hidden": "0"}, []int64{5, 5}, 0},
	}
	for _, c := range cases {
		spec, _ := bench.Encoders.Lookup(c.name)
		params, err := bench.NewParams(c.name, spec.Value.Params, c.sets)
		if err != nil {
			continue // out of its declared Range: refused before New (bench.TestIssueBadParamValuesAreRefused)
		}
		vs := nn.NewVarStore(gotch.CPU)
		if _, err := spec.Value.New(vs.Root(), data.Modality{Name: "m", Shape: c.shape}, params); err == nil {
			t.Errorf("%s %v %v accepted", c.name, c.sets, c.shape)
		}
	}
}

// TestAttentionMatchesLibtorch compares the matmul/softmax attention with libtorch's
// scaled_dot_product_attention (called with an all-true mask, which gotch can pass).
func TestAttentionMatchesLibtorch(t *testing.T) {
	lockThread(t)
	s := torchrt.NewScope()
	defer s.Drop()
	torchrt.ManualSeed(3)
	q, k, v := input(s, 2, []int64{3, 5, 8}), input(s, 2, []int64{3, 5, 8}), input(s, 2, []int64{3, 5, 8})
	mask := s.T(ts.MustOnes([]int64{5, 5}, gotch.Bool, gotch.CPU))
	want := s.T(ts.MustScaledDotProductAttention(q, k, v, mask, 0, false, nil))
	if got := scaledDotProductAttention(s, q, k, v, ts.FloatScalar(1/math.Sqrt(8))); !got.MustAllclose(want, 1e-5, 1e-6, false, false) {
		t.Fatal("attention differs from libtorch's")
	}
}

// TestForwardRegistersEveryTensor checks that every tensor a forward pass creates is freed when the
// step's scope drops, not left for later (there are no finalizers): the live tensor count is back where
// it started, and every tensor still alive before the drop is one the scope holds (ResNet frees its
// blocks' tensors earlier, as it goes).
func TestForwardRegistersEveryTensor(t *testing.T) {
	lockThread(t)
	for _, c := range shapeCases {
		enc, _ := build(t, c.name, c.shape, c.sets)
		for _, train := range []bool{true, false} {
			live := atomic.LoadInt64(&ts.LiveTensors)
			s := torchrt.NewScope()
			x := input(s, 2, c.shape)
			out := enc.Forward(s, x, train)
			if se, ok := enc.(bench.StagedEncoder); ok {
				h := x
				for i := 0; i < se.NumStages(); i++ {
					h = se.ForwardStage(s, i, h, train)
				}
				se.Pool(s, h)
			}
			if n, m := atomic.LoadInt64(&ts.LiveTensors)-live, s.Len(); int64(m) != n {
				t.Errorf("%s train=%v: %d tensors alive after the forward pass, %d of them in the scope", c.label(), train, n, m)
			}
			s.Drop()
			if n := atomic.LoadInt64(&ts.LiveTensors) - live; n != 0 {
				t.Errorf("%s train=%v: %d tensors alive after the scope dropped", c.label(), train, n)
			}
			if out.Ctensor() != nil {
				t.Errorf("%s: output not freed by the scope", c.label())
			}
		}
	}
}

// TestResNet18IsTorchvisionResNet18 checks the full-width architecture against torchvision's
// resnet18 without its FC: 11,689,512 − 513,000 = 11,176,512 parameters with 3 input channels, and
// the same variable names.
func TestResNet18IsTorchvisionResNet18(t *testing.T) {
	lockThread(t)
	for _, c := range []struct {
		in     int64
		params int64
	}{{3, 11176512}, {1, 11176512 - 2*64*7*7}, {2, 11176512 - 64*7*7}} {
		enc, vs := build(t, "resnet18", []int64{c.in, 32, 32}, nil)
		var n int64
		names := map[string]bool{}
		for name, v := range vs.Variables() {
			names[strings.TrimPrefix(name, "enc0.")] = true
			if v.MustRequiresGrad() {
				n += int64(v.Numel())
			}
		}
		if n != c.params || enc.OutDim() != 512 {
			t.Errorf("%d input channels: %d parameters, feature %d; want %d, 512", c.in, n, enc.OutDim(), c.params)
		}
		for _, name := range []string{"conv1.weight", "bn1.running_var", "layer1.1.conv2.weight", "layer2.0.downsample.0.weight",
			"layer2.0.downsample.1.bias", "layer4.1.bn2.running_mean"} {
			if !names[name] {
				t.Errorf("no variable %s", name)
			}
		}
		if len(names) != 100 { // 20 convs + 20 BNs × 4
			t.Errorf("%d variables, want 100", len(names))
		}
	}
}
