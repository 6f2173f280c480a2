package perf

import (
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"

	"github.com/mmfusion/bench/bench/torchrt"
	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"
)

// lockThread keeps the test on one OS thread with a fixed intra-op thread count: libtorch's grad mode
// and thread count are per OS thread. PERF_THREADS overrides the default of 1 (for benchmarks).
func lockThread(tb testing.TB) {
	runtime.LockOSThread()
	tb.Cleanup(runtime.UnlockOSThread)
	n := 1
	if v, err := strconv.Atoi(os.Getenv("PERF_THREADS")); err == nil && v > 0 {
		n = v
	}
	torchrt.SetNumThreads(n)
}

func build(tb testing.TB, name string) *Model {
	tb.Helper()
	sp, err := Lookup(name)
	if err != nil {
		tb.Fatal(err)
	}
	m, err := Build(sp, 1)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(m.Close)
	return m
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// Every perf model builds through bench.Build, evaluates, and takes a training step with a finite
// loss that changes the weights; ResNet-18 (seconds per step) is skipped under -short.
func TestModelsBuildAndStep(t *testing.T) {
	for _, sp := range Specs() {
		t.Run(sp.Name, func(t *testing.T) {
			if sp.Slow && testing.Short() {
				t.Skip("one ResNet-18 step takes seconds")
			}
			lockThread(t) // a subtest runs on its own goroutine: lock its thread, not the parent's
			m := build(t, sp.Name)
			e0 := m.EvalLoss()
			l1 := m.TrainStep()
			m.EvalStep()
			e1 := m.EvalLoss()
			if !finite(e0) || !finite(l1) || !finite(e1) {
				t.Fatalf("non-finite loss: eval %v, train %v, eval after %v", e0, l1, e1)
			}
			if e0 == e1 {
				t.Fatalf("evaluation loss %v unchanged by a training step", e0)
			}
			if m.NonFinite() != 0 {
				t.Fatalf("%d non-finite steps", m.NonFinite())
			}
		})
	}
}

// The same seed gives the same weights and inputs: two builds give bit-identical losses.
func TestBuildIsDeterministic(t *testing.T) {
	lockThread(t)
	a, b := build(t, "joint-mlp"), build(t, "joint-mlp")
	if la, lb := a.TrainStep(), b.TrainStep(); la != lb {
		t.Fatalf("first training losses %v and %v differ", la, lb)
	}
}

func TestSummarise(t *testing.T) {
	ns := []int64{4e6, 1e6, 3e6, 2e6, 100e6, 5e6} // ms: 4 1 3 2 100 5, two repeats of 3
	s := Summarise(ns, 3)
	if s.Steps != 6 || s.Median != 3.5 || s.Min != 1 || s.P25 != 2.25 {
		t.Fatalf("stats %+v", s)
	}
	if s.RepeatMedianMin != 3 || s.RepeatMedianMax != 5 {
		t.Fatalf("repeat medians %v..%v, want 3..5", s.RepeatMedianMin, s.RepeatMedianMax)
	}
}

// The PyTorch mirror (perf/torch_models.py) computes what the Go models compute: with the same seed
// both sides draw the same weights and inputs from the same libtorch, so the initial evaluation loss
// and (without training noise) the first two training losses agree. Skipped under -short and where
// .deps/torch-py has no torch (make perf installs it).
func TestTorchMirrorAgrees(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Python and PyTorch")
	}
	root, _ := filepath.Abs("../..")
	pyPath := filepath.Join(root, ".deps", "torch-py")
	if _, err := os.Stat(filepath.Join(pyPath, "torch", "__init__.py")); err != nil {
		t.Skip("no PyTorch in .deps/torch-py (make perf installs it)")
	}
	lockThread(t)
	names := []string{"joint-mlp", "dmi3-mlp", "joint-lenet"}
	args := []string{filepath.Join(root, "perf", "run_torch.py"), "--threads", "1", "--seed", "1"}
	for _, n := range names {
		args = append(args, "--model", n+":0:1:1")
	}
	cmd := exec.Command("python3", args...)
	cmd.Env = append(os.Environ(), "PYTHONPATH="+pyPath)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	var py torchSide
	if err := json.Unmarshal(out, &py); err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		m := build(t, n)
		mr := ModelResult{Spec: m.Spec, Torch: &Side{Check: py.Models[n].Check}}
		mr.Go.Check = Check{EvalLoss0: Float(m.EvalLoss()), TrainLoss1: Float(m.TrainStep()), TrainLoss2: Float(m.TrainStep())}
		mr.compareChecks()
		if !mr.CheckOK {
			t.Errorf("%s: Go %+v, PyTorch %+v (largest relative difference %.2g)", n, mr.Go.Check, mr.Torch.Check, mr.CheckDiff)
		}
	}
}

// Benchmarks of the Go side alone, e.g.
//
//	go test -run '^$' -bench . -count 10 ./bench/perf | tee new.txt; benchstat old.txt new.txt
//
// (PERF_THREADS sets the intra-op threads, default 1.)

func benchTrain(b *testing.B, name string) {
	lockThread(b)
	m := build(b, name)
	for i := 0; i < 20; i++ {
		m.TrainStep()
	}
	b.ReportAllocs()
	for b.Loop() {
		m.TrainStep()
	}
}

func benchEval(b *testing.B, name string) {
	lockThread(b)
	m := build(b, name)
	for i := 0; i < 20; i++ {
		m.EvalStep()
	}
	b.ReportAllocs()
	for b.Loop() {
		m.EvalStep()
	}
}

func BenchmarkTrainStepJointMLP(b *testing.B)   { benchTrain(b, "joint-mlp") }
func BenchmarkTrainStepJointLeNet(b *testing.B) { benchTrain(b, "joint-lenet") }
func BenchmarkTrainStepDMI3MLP(b *testing.B)    { benchTrain(b, "dmi3-mlp") }
func BenchmarkEvalStepJointMLP(b *testing.B)    { benchEval(b, "joint-mlp") }

// BenchmarkOpOverhead is gotch's cost per op, libtorch dispatch included: 64 ReLUs of a 1-element
// tensor registered with a scope, then the scope dropped (as in a training step); ns/op is per 64 ops.
// The pure C++ libtorch floor of one such op was about 0.5 µs, PyTorch's about 0.8 µs on this machine.
func BenchmarkOpOverhead(b *testing.B) {
	lockThread(b)
	x := ts.MustOnes([]int64{1}, gotch.Float, gotch.CPU)
	defer x.MustDrop()
	s := torchrt.NewScope()
	for b.Loop() {
		for i := 0; i < 64; i++ {
			s.T(x.MustRelu(false))
		}
		s.Drop()
	}
}
