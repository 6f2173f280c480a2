// Package perf times one training step and one evaluation step of fixed models, built exactly as the
// trainer builds them (bench.Build), against the same models written in PyTorch (perf/torch_models.py)
// on the same libtorch. `bench perf` and `make perf` drive it; `go test -bench . ./bench/perf` times the
// Go side alone (for benchstat).
//
// Everything here runs libtorch on the calling goroutine's OS thread: callers lock it
// (runtime.LockOSThread), because libtorch's grad mode and intra-op thread count are per OS thread.
package perf

import (
	"fmt"
	"math"
	"strings"

	"github.com/mmfusion/bench/bench"
	"github.com/mmfusion/bench/bench/data"
	_ "github.com/mmfusion/bench/bench/encoders" // registers the encoders
	"github.com/mmfusion/bench/bench/store"
	"github.com/mmfusion/bench/bench/torchrt"
	_ "github.com/mmfusion/bench/methods" // registers the methods
	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"
)

// Training protocol of every perf model: the harness's SGD defaults (README, Training protocol).
const (
	LR          = 0.01
	Momentum    = 0.9
	WeightDecay = 1e-4
)

// Plan is how many steps are run: Warmup untimed steps, then Repeats × Steps timed steps (each
// timed on its own), for training and again for evaluation.
type Plan struct {
	Warmup  int `json:"warmup"`
	Repeats int `json:"repeats"`
	Steps   int `json:"steps"`
}

// Spec is one fixed perf model: a method and an encoder with their parameters, the input shapes
// (one per modality, without the batch dimension), the number of classes and the batch size.
type Spec struct {
	Name          string            `json:"name"`
	Desc          string            `json:"desc"`
	Method        string            `json:"method"`
	MethodParams  map[string]string `json:"method_params,omitempty"` // overrides of the defaults
	Encoder       string            `json:"encoder"`
	EncoderParams map[string]string `json:"encoder_params,omitempty"`
	Modalities    []data.Modality   `json:"modalities"`
	NumClasses    int               `json:"num_classes"`
	Batch         int               `json:"batch"`
	// Stage, if > 0, puts a staged method (DMI) in that stage before timing (bench.Staged.EnterStage).
	Stage int `json:"stage,omitempty"`
	// Plan is the default number of steps per round (`bench perf --scale` multiplies Repeats). A
	// training step runs after the check's two training steps, which also warm up.
	Plan Plan `json:"plan"`
	// Slow marks a model whose single step takes seconds (skipped by tests under -short).
	Slow bool `json:"slow,omitempty"`
}

var synthetic = []data.Modality{{Name: "m1", Shape: []int64{48}}, {Name: "m2", Shape: []int64{48}}}

// Specs are the four models of issue 7, in table order. The names are shared with
// perf/torch_models.py (MODELS).
func Specs() []Spec {
	return []Spec{
		{Name: "joint-mlp", Desc: "Joint (linear head), MLP encoders 48→128→128, synthetic, K=4, batch 64",
			Method: "joint", Encoder: "mlp", Modalities: synthetic, NumClasses: 4, Batch: 64,
			Plan: Plan{Warmup: 200, Repeats: 10, Steps: 100}},
		{Name: "dmi3-mlp", Desc: "DMI in stage 3, MLP encoders 48→128→128, synthetic, K=4, batch 64",
			Method: "dmi", Encoder: "mlp", Modalities: synthetic, NumClasses: 4, Batch: 64, Stage: 3,
			Plan: Plan{Warmup: 100, Repeats: 5, Steps: 50}},
		{Name: "joint-lenet", Desc: "Joint (linear head), LeNet encoders, AV-MNIST shapes (1×28×28, 1×64×32), K=10, batch 64",
			Method: "joint", Encoder: "lenet",
			Modalities: []data.Modality{{Name: "image", Shape: []int64{1, 28, 28}}, {Name: "audio", Shape: []int64{1, 64, 32}}},
			NumClasses: 10, Batch: 64, Plan: Plan{Warmup: 10, Repeats: 5, Steps: 10}},
		{Name: "joint-resnet18", Desc: "Joint (linear head), ResNet-18 encoders (width 64), CREMA-D shapes (audio 1×257×188, clip 3×1×224×224), K=6, batch 8",
			Method: "joint", Encoder: "resnet18",
			Modalities: []data.Modality{{Name: "audio", Shape: []int64{1, 257, 188}}, {Name: "visual", Shape: []int64{3, 1, 224, 224}}},
			NumClasses: 6, Batch: 8, Plan: Plan{Warmup: 1, Repeats: 2, Steps: 2}, Slow: true},
	}
}

// Lookup returns the spec named name.
func Lookup(name string) (Spec, error) {
	var names []string
	for _, s := range Specs() {
		if s.Name == name {
			return s, nil
		}
		names = append(names, s.Name)
	}
	return Spec{}, fmt.Errorf("no perf model %q (known: %s)", name, strings.Join(names, ", "))
}

// Cell is the trainer's cell for the spec: method and encoder parameters are the registered defaults
// with the spec's overrides, validated as `bench run` validates them.
func (sp Spec) Cell(seed int64, threads int) (*bench.Cell, error) {
	ms, err := bench.Methods.Lookup(sp.Method)
	if err != nil {
		return nil, err
	}
	mp, err := bench.NewParams(sp.Method, ms.Value.Params, sp.MethodParams)
	if err != nil {
		return nil, err
	}
	es, err := bench.Encoders.Lookup(sp.Encoder)
	if err != nil {
		return nil, err
	}
	ep, err := bench.NewParams(sp.Encoder, es.Value.Params, sp.EncoderParams)
	if err != nil {
		return nil, err
	}
	return &bench.Cell{Method: sp.Method, MethodParams: mp, Dataset: "perf:" + sp.Name, Encoder: sp.Encoder,
		EncoderParams: ep, Seed: seed,
		Train: store.TrainConfig{Optimizer: "sgd", LR: LR, Momentum: Momentum, WeightDecay: WeightDecay,
			BatchSize: sp.Batch, Epochs: 1, Threads: threads}}, nil
}

// Model is a built perf model with its optimiser and one fixed batch of random inputs, which is also
// its whole training split (for the method's EpochStart).
type Model struct {
	Spec  Spec
	Run   *bench.Run
	Opt   *nn.Optimizer
	Batch *bench.Batch // owned by the model (not by a scope)

	train     *bench.SplitTensors // the batch as a training split
	hook      bench.AfterBackwarder
	scope     *torchrt.Scope
	nonFinite int
	cuda      bool // on a CUDA device: EvalStep waits for the kernels it queued (TrainStep reads its loss)
}

// Build builds the spec's model with bench.Build (seeded with seed) on dev, the optimiser
// bench.Train builds (bench.NewOptimizer, SGD), and a batch drawn from libtorch's generator seeded with
// seed+1: standard normal inputs of the modality shapes and uniform labels. perf/torch_models.py draws
// the same weights and inputs (drawn on the CPU, then moved to dev, so a CUDA model sees the CPU's
// values). It then starts training epoch 1 as bench.Train does
// (bench.Run.StartEpoch: the method's EpochStart, if any, on a training split made of the batch), so
// that TrainStep times the step that bench.Run.TrainEpoch takes. The caller must have locked its OS
// thread.
func Build(sp Spec, seed int64, dev gotch.Device) (*Model, error) {
	c, err := sp.Cell(seed, 0)
	if err != nil {
		return nil, err
	}
	set := &data.Set{Name: "perf", NumClasses: sp.NumClasses, Modalities: sp.Modalities}
	run, err := bench.Build(c, set, dev)
	if err != nil {
		return nil, err
	}
	lr := c.Train.LR
	if sp.Stage > 0 {
		st, ok := run.Method.(bench.Staged)
		if !ok {
			run.VS.Destroy()
			return nil, fmt.Errorf("perf model %s: method %s has no stages", sp.Name, sp.Method)
		}
		if l := st.EnterStage(sp.Stage); l > 0 {
			lr = l
		}
	}
	opt, err := bench.NewOptimizer(c.Train, run.VS, lr)
	if err != nil {
		run.VS.Destroy()
		return nil, fmt.Errorf("optimizer: %w", err)
	}
	torchrt.ManualSeed(seed + 1)
	b := &bench.Batch{Epoch: 1, Index: make([]int64, sp.Batch)}
	for i := range b.Index {
		b.Index[i] = int64(i)
	}
	for _, mod := range sp.Modalities {
		b.X = append(b.X, ts.MustRandn(append([]int64{int64(sp.Batch)}, mod.Shape...), gotch.Float, gotch.CPU))
	}
	b.Y = ts.MustRandint(int64(sp.NumClasses), []int64{int64(sp.Batch)}, gotch.Int64, gotch.CPU)
	train := batchSplit(b, sp.Modalities, dev)
	if dev.IsCuda() {
		for k, x := range b.X {
			b.X[k] = x.MustTo(dev, true)
		}
		b.Y = b.Y.MustTo(dev, true)
	}
	m := &Model{Spec: sp, Run: run, Opt: opt, Batch: b, train: train, scope: torchrt.NewScope(), cuda: dev.IsCuda()}
	m.hook, _ = run.Method.(bench.AfterBackwarder)
	run.StartEpoch(m.train, b.Epoch, sp.Batch, b.Index)
	return m, nil
}

// batchSplit is the training split whose samples are b's, in order.
func batchSplit(b *bench.Batch, mods []data.Modality, dev gotch.Device) *bench.SplitTensors {
	sp := &data.Split{Y: b.Y.Int64Values()}
	for _, x := range b.X {
		v := make([]float32, x.Numel())
		x.MustCopyData(v, x.Numel())
		sp.X = append(sp.X, v)
	}
	return bench.SplitOnDevice(sp, mods, dev)
}

// TrainStep is one training step, bench.Run.Step as bench.Run.TrainEpoch takes it (forward, loss
// value, zero_grad, backward, the method's AfterBackward hook, optimiser step), and frees every tensor
// it created. It returns the loss.
func (m *Model) TrainStep() float64 {
	lv := m.Run.Step(m.scope, m.Batch, m.Opt, m.hook)
	m.scope.Drop()
	if math.IsNaN(lv) || math.IsInf(lv, 0) {
		m.nonFinite++
	}
	return lv
}

// EvalStep is one evaluation step: the method's Forward with train false under no-grad, as the
// trainer evaluates; every tensor it created is freed.
func (m *Model) EvalStep() {
	ts.NoGrad(func() { m.Run.Method.Forward(m.scope, m.Batch, false) })
	if m.cuda {
		if err := ts.CudaSynchronize(); err != nil {
			panic(err)
		}
	}
	m.scope.Drop()
}

// EvalLoss is EvalStep returning the loss value.
func (m *Model) EvalLoss() float64 {
	var lv float64
	ts.NoGrad(func() {
		loss, _ := m.Run.Method.Forward(m.scope, m.Batch, false)
		lv = loss.MustFloat64Value(nil)
	})
	m.scope.Drop()
	return lv
}

// NonFinite is the number of training steps whose loss was NaN or infinite (they skip backward and
// the optimiser step, so their time is not a training step's).
func (m *Model) NonFinite() int { return m.nonFinite }

// Close frees the model, its optimiser's variables and the batch.
func (m *Model) Close() {
	m.scope.Drop()
	for _, x := range m.Batch.X {
		x.MustDrop()
	}
	m.Batch.Y.MustDrop()
	m.train.Drop()
	m.Opt.Drop()
	if cl, ok := m.Run.Method.(bench.Closer); ok {
		cl.Close()
	}
	m.Run.VS.Destroy()
}
