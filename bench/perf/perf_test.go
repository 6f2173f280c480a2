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

	"github.com/mmfusion/bench/bench"
	"github.com/mmfusion/bench/bench/data"
	"github.com/mmfusion/bench/bench/store"
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
	m, err := Build(sp, 1, gotch.CPU)
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

// torchPyOrSkip returns the repository root and .deps/torch-py, skipping the test under -short
// (it starts Python and PyTorch) and where .deps/torch-py has no torch (make perf installs it).
func torchPyOrSkip(t *testing.T) (root, pyPath string) {
	t.Helper()
	if testing.Short() {
		t.Skip("starts Python and PyTorch")
	}
	root, _ = filepath.Abs("../..")
	pyPath = filepath.Join(root, ".deps", "torch-py")
	if _, err := os.Stat(filepath.Join(pyPath, "torch", "__init__.py")); err != nil {
		t.Skip("no PyTorch in .deps/torch-py (make perf installs it)")
	}
	return root, pyPath
}

// The PyTorch mirror (perf/torch_models.py) computes what the Go models compute: with the same seed
// both sides draw the same weights and inputs from the same libtorch, so the initial evaluation loss
// and (without training noise) the first two training losses agree. Skipped under -short and where
// .deps/torch-py has no torch (make perf installs it).
func TestTorchMirrorAgrees(t *testing.T) {
	root, pyPath := torchPyOrSkip(t)
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

// smallCell is a cell of cs's method on a small synthetic mixture: epochs epochs, DMI with 1 + 1 epochs
// of stages 1 and 2 so that every stage and stage switch runs.
func smallCell(t testing.TB, method string, epochs int) (CellSpec, *bench.Cell, *data.Set) {
	t.Helper()
	cs := CellSpec{Name: method + "/small", Method: method, Dataset: "synthetic:train=300,val=150,test=200", Reps: 1}
	var sets map[string]string
	if method == "dmi" {
		sets = map[string]string{"stage1_epochs": "1", "stage2_epochs": "1"}
	}
	c, err := bench.NewCell(method, sets, cs.Dataset, "mlp", nil, 3, store.TrainConfig{Optimizer: "sgd", LR: LR,
		Momentum: Momentum, WeightDecay: WeightDecay, BatchSize: CellBatch, Epochs: epochs, Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	set, err := data.Load(cs.Dataset, c.Seed, "")
	if err != nil {
		t.Fatal(err)
	}
	return cs, c, set
}

// The phase-timed cell (bench.TrainClocked with a clock) computes exactly what bench.Train computes:
// the same curves, losses, best epoch and test metrics, bit for bit; and every phase that runs is
// given time.
func TestPhasedCellReproducesTrain(t *testing.T) {
	lockThread(t)
	for _, method := range []string{"joint", "dmi"} {
		_, c, set := smallCell(t, method, 4)
		_, rec, err := goCell(c, set)
		if err != nil {
			t.Fatal(err)
		}
		ph, _, run, err := phasedCell(c, set)
		if err != nil {
			t.Fatal(err)
		}
		if d := compareRuns(runOfRecord(rec), run, true); d != "" {
			t.Errorf("%s: the phase-timed cell differs from bench.Train in: %s", method, d)
		}
		if ph.Train <= 0 || ph.Val <= 0 || ph.Build <= 0 || ph.Test <= 0 {
			t.Errorf("%s: phases %+v: every phase that runs should take time", method, ph)
		}
	}
}

// The PyTorch cell loop (perf/run_cells.py) on the exported cell computes what bench.Train computes:
// identical initial weights, and (same data, order, weights; DMI: the Go noise stream) the same
// validation accuracy curve, best epoch and test accuracy. Skipped under -short and without PyTorch.
func TestTorchCellMirrorAgrees(t *testing.T) {
	root, pyPath := torchPyOrSkip(t)
	lockThread(t)
	cfg := Config{Threads: 1, Python: "python3", PythonPath: pyPath, CellRunner: filepath.Join(root, "perf", "run_cells.py")}
	for _, method := range []string{"joint", "dmi"} {
		cs, c, set := smallCell(t, method, 4)
		dir := t.TempDir()
		if _, err := exportCell(dir, cs, c, set); err != nil {
			t.Fatal(err)
		}
		_, rec, err := goCell(c, set)
		if err != nil {
			t.Fatal(err)
		}
		out, err := cfg.runTorchCell(dir, 0, 1, method == "dmi")
		if err != nil {
			t.Fatal(err)
		}
		if out.Weights.MaxAbsDiff != 0 || out.Weights.Loaded {
			t.Errorf("%s: initial weights differ by %g", method, out.Weights.MaxAbsDiff)
		}
		goRun, pyRun := runOfRecord(rec), out.run(0)
		if d := compareRuns(goRun, pyRun, false); d != "" {
			t.Errorf("%s: PyTorch differs in %s\nGo      %+v\nPyTorch %+v", method, d, goRun, pyRun)
		}
		for e := range goRun.ValLoss {
			if a, b := goRun.ValLoss[e], pyRun.ValLoss[e]; math.Abs(a-b) > 1e-4*math.Abs(a) {
				t.Errorf("%s: epoch %d: validation loss Go %v, PyTorch %v", method, e+1, a, b)
			}
		}
	}
}

// Benchmarks of complete cells (bench.Train, 30 epochs, the default protocol), e.g.
//
//	go test -run '^$' -bench Cell -count 5 ./bench/perf
//
// ROSMAP is read from $BENCH_DATA_DIR, else ../shared/data beside the repository, and skipped when
// its files are absent.
func benchCell(b *testing.B, name string) {
	lockThread(b)
	cs, err := LookupCell(name)
	if err != nil {
		b.Fatal(err)
	}
	dataDir := os.Getenv("BENCH_DATA_DIR")
	if dataDir == "" {
		dataDir = "../../../shared/data" // ../shared/data of the repository root; tests run in bench/perf
	}
	set, skip, err := loadCellSet(cs, 1, dataDir)
	if err != nil {
		b.Fatal(err)
	}
	if skip != "" {
		b.Skip(skip)
	}
	c, err := cs.Cell(1, 30, 0)
	if err != nil {
		b.Fatal(err)
	}
	if _, _, err := goCell(c, set); err != nil { // warm-up
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := goCell(c, set); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCellJointSynthetic(b *testing.B) { benchCell(b, "joint/synthetic") }
func BenchmarkCellDMISynthetic(b *testing.B)   { benchCell(b, "dmi/synthetic") }
func BenchmarkCellJointRosmap(b *testing.B)    { benchCell(b, "joint/rosmap") }
func BenchmarkCellDMIRosmap(b *testing.B)      { benchCell(b, "dmi/rosmap") }
