package perf

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/mmfusion/bench/bench"
	"github.com/mmfusion/bench/bench/data"
	"github.com/mmfusion/bench/bench/store"
	"github.com/mmfusion/bench/bench/torchrt"
	_ "github.com/mmfusion/bench/datasets" // registers the datasets
	"github.com/sugarme/gotch"
)

// A cell benchmark times a COMPLETE CELL as `bench run` trains it — bench.Train: bench.Build, the
// splits onto the device, every epoch's training steps and validation evaluation, a snapshot of every
// variable whenever validation accuracy improves, the restore of the best one and the test evaluation
// — against perf/run_cells.py, a PyTorch 2.1 loop running the same protocol on the same libtorch with
// the same data, initial weights, batch order and SGD settings (the Go side exports them).

// CellSpec is one cell benchmark: a method (default parameters) on a dataset, with the mlp encoder
// and the default protocol of `bench run` (SGD lr 0.01, momentum 0.9, weight decay 1e-4, batch 64).
type CellSpec struct {
	Name    string `json:"name"` // method/dataset
	Method  string `json:"method"`
	Dataset string `json:"dataset"` // a dataset spec, loaded as `bench run` loads it
	// Reps is the number of timed cells per side and round (`bench perf --scale` multiplies it).
	Reps int `json:"reps"`
}

// CellSpecs are the cell benchmarks, in table order: joint and dmi on ROSMAP (real data; skipped when
// absent) and on the default synthetic mixture.
func CellSpecs() []CellSpec {
	return []CellSpec{
		{Name: "joint/rosmap", Method: "joint", Dataset: "rosmap", Reps: 5},
		{Name: "dmi/rosmap", Method: "dmi", Dataset: "rosmap", Reps: 5},
		{Name: "joint/synthetic", Method: "joint", Dataset: "synthetic", Reps: 3},
		{Name: "dmi/synthetic", Method: "dmi", Dataset: "synthetic", Reps: 2},
	}
}

// LookupCell returns the cell spec named name.
func LookupCell(name string) (CellSpec, error) {
	var names []string
	for _, s := range CellSpecs() {
		if s.Name == name {
			return s, nil
		}
		names = append(names, s.Name)
	}
	return CellSpec{}, fmt.Errorf("no perf cell %q (known: %s)", name, strings.Join(names, ", "))
}

// CellEvalBatch is bench/train.go's evalBatch (unexported there): the evaluation batch of both sides.
const CellEvalBatch = 512

// CellBatch is the training batch size (bench run's default).
const CellBatch = 64

// Cell is the trainer's cell of the spec with seed, epochs and threads, as `bench run` builds it
// (bench.NewCell, the mlp encoder, the default SGD settings).
func (cs CellSpec) Cell(seed int64, epochs, threads int) (*bench.Cell, error) {
	return bench.NewCell(cs.Method, nil, cs.Dataset, "mlp", nil, seed, store.TrainConfig{Optimizer: "sgd", LR: LR,
		Momentum: Momentum, WeightDecay: WeightDecay, BatchSize: CellBatch, Epochs: epochs, Threads: threads})
}

// Phases are the parts of a cell, in ms (see perf/run_cells.py for what each covers on the PyTorch
// side; the Go side's are the same parts of bench.Train).
type Phases struct {
	Build    float64 `json:"build"`    // bench.Build: seed, encoders, method (+ its noise generator)
	Data     float64 `json:"data"`     // SplitOnDevice of train and validation
	Train    float64 `json:"train"`    // every epoch's shuffle and training steps (batch gather, Run.Step)
	Val      float64 `json:"val"`      // every epoch's validation evaluation and metrics
	Snapshot float64 `json:"snapshot"` // copies of every variable when validation accuracy improves
	Test     float64 `json:"test"`     // restore of the best copy, SplitOnDevice of test, test evaluation
	Other    float64 `json:"other"`    // optimisers, DMI's stage switches, the frees at the end (Go: and malloc_trim)
}

// Total is the sum of the phases.
func (p Phases) Total() float64 {
	return p.Build + p.Data + p.Train + p.Val + p.Snapshot + p.Test + p.Other
}

func (p Phases) list() []float64 {
	return []float64{p.Build, p.Data, p.Train, p.Val, p.Snapshot, p.Test, p.Other}
}

func phasesOf(v []float64) Phases {
	return Phases{Build: v[0], Data: v[1], Train: v[2], Val: v[3], Snapshot: v[4], Test: v[5], Other: v[6]}
}

// medianPhases is the per-phase median.
func medianPhases(ps []Phases) Phases {
	if len(ps) == 0 {
		return Phases{}
	}
	out := make([]float64, 7)
	for k := range out {
		var v []float64
		for _, p := range ps {
			v = append(v, p.list()[k])
		}
		slices.Sort(v)
		out[k] = quantile(v, 0.5)
	}
	return phasesOf(out)
}

// CellRun is what one side's cell computed: enough to compare the two sides.
type CellRun struct {
	Status     string    `json:"status"`
	ValAcc     []float64 `json:"val_acc"`
	ValLoss    []float64 `json:"val_loss"`
	TrainLoss  []float64 `json:"train_loss"`
	BestEpoch  int       `json:"best_epoch"`
	BestValAcc float64   `json:"best_val_acc"`
	TestAcc    float64   `json:"test_acc"`
	TestLoss   float64   `json:"test_loss"`
	TestF1     float64   `json:"test_macro_f1"`
}

func runOfRecord(rec *store.Record) CellRun {
	r := CellRun{Status: string(rec.Status), BestEpoch: rec.BestEpoch, BestValAcc: rec.Val.Acc,
		TestAcc: rec.Test.Acc, TestLoss: rec.Test.Loss, TestF1: rec.Test.MacroF1}
	for _, e := range rec.Curves {
		r.ValAcc, r.ValLoss, r.TrainLoss = append(r.ValAcc, e.ValAcc), append(r.ValLoss, e.ValLoss), append(r.TrainLoss, e.TrainLoss)
	}
	return r
}

// CellSide is one side's timing of a cell benchmark: wall clock and process CPU time per cell over
// every timed cell of every round, and the per-phase medians.
type CellSide struct {
	Wall      Stats  `json:"wall_ms"`
	CPU       Stats  `json:"cpu_ms"`
	Phases    Phases `json:"phases_ms"`     // wall clock
	PhasesCPU Phases `json:"phases_cpu_ms"` // process CPU time
	// Go: PhasedTotal is the median total of the phase-timed cell (bench.TrainClocked, one per round),
	// beside Wall's median of bench.Train itself; GCs the garbage collections per bench.Train (median).
	PhasedTotal float64 `json:"phased_total_ms,omitempty"`
	GCs         float64 `json:"go_gcs_per_cell,omitempty"`
	// Faults is the median number of minor page faults per cell (memory mapped and zeroed on first
	// touch: fresh from the kernel, or given back by malloc_trim and taken again).
	Faults float64 `json:"minor_page_faults_per_cell"`
}

// CellResult is one row of the cell table.
type CellResult struct {
	Spec    CellSpec `json:"spec"`
	Skipped string   `json:"skipped,omitempty"` // why the cell was not run (ROSMAP absent)
	Rounds  int      `json:"rounds"`
	Reps    int      `json:"reps"`
	Epochs  int      `json:"epochs"`
	// Sizes of the splits and training steps per epoch.
	Splits struct {
		Train int `json:"train"`
		Val   int `json:"val"`
		Test  int `json:"test"`
	} `json:"splits"`
	StepsPerEpoch int       `json:"train_steps_per_epoch"`
	Go            CellSide  `json:"go"`
	Torch         *CellSide `json:"pytorch,omitempty"`
	// Ratio and CPURatio are Go median / PyTorch median per cell (lower is better for Go).
	Ratio     float64 `json:"ratio,omitempty"`
	CPURatio  float64 `json:"cpu_ratio,omitempty"`
	Target    float64 `json:"target"`
	TargetMet bool    `json:"target_met"`

	// Checks. GoRun is bench.Train's record; ReplicaOK says the phase-timed cell (bench.TrainClocked)
	// reproduced it exactly in every round (the clock changes nothing computed). TorchRun is the PyTorch
	// cell compared with it: a timed cell for joint, the check run drawing the Go noise for DMI.
	GoRun          CellRun   `json:"go_run"`
	ReplicaOK      bool      `json:"replica_reproduces_train"`
	ReplicaNote    string    `json:"replica_note,omitempty"`
	TorchRun       *CellRun  `json:"pytorch_run,omitempty"`
	TorchRunNoise  string    `json:"pytorch_run_noise,omitempty"` // "torch.randn" or "go"
	TorchTimedTest []float64 `json:"pytorch_timed_test_acc,omitempty"`
	WeightsDiff    float64   `json:"initial_weights_max_abs_diff"`
	WeightsVars    int       `json:"initial_weights_vars"`
	WeightsLoaded  bool      `json:"initial_weights_loaded_from_go,omitempty"`
	// CurveEqual: both validation-accuracy curves, best epochs and test accuracies identical;
	// CurveMaxDiff the largest |Δ val acc| over epochs, ValLossMaxRel the largest relative Δ val loss.
	CurveEqual    bool    `json:"curve_equal"`
	CurveMaxDiff  float64 `json:"val_acc_max_abs_diff"`
	ValLossMaxRel float64 `json:"val_loss_max_rel_diff"`
	CheckNote     string  `json:"check_note,omitempty"`
}

// epochOrders are the training orders of bench.Train: one PCG seeded (seed, 0xda7a) shuffling one
// permutation in place at every epoch. (A copy of train.go's two lines; the check that the PyTorch
// loop reproduces bench.Train's curves guards it.)
func epochOrders(seed int64, n, epochs int) [][]int64 {
	order := rand.New(rand.NewPCG(uint64(seed), 0xda7a))
	perm := make([]int64, n)
	for i := range perm {
		perm[i] = int64(i)
	}
	out := make([][]int64, epochs)
	for e := range out {
		order.Shuffle(len(perm), func(i, j int) { perm[i], perm[j] = perm[j], perm[i] })
		out[e] = slices.Clone(perm)
	}
	return out
}

// cellManifest is DIR/manifest.json, read by perf/run_cells.py.
type cellManifest struct {
	Name          string                   `json:"name"`
	Method        string                   `json:"method"`
	MethodParams  map[string]string        `json:"method_params"`
	Encoder       string                   `json:"encoder"`
	EncoderParams map[string]string        `json:"encoder_params"`
	Dataset       string                   `json:"dataset"`
	DatasetSHA256 string                   `json:"dataset_sha256"`
	NumClasses    int                      `json:"num_classes"`
	Modalities    []manifestMod            `json:"modalities"`
	Seed          int64                    `json:"seed"`
	Epochs        int                      `json:"epochs"`
	BatchSize     int                      `json:"batch_size"`
	LR            float64                  `json:"lr"`
	Momentum      float64                  `json:"momentum"`
	WeightDecay   float64                  `json:"weight_decay"`
	EvalBatch     int                      `json:"eval_batch"`
	Splits        map[string]manifestSplit `json:"splits"`
	Orders        string                   `json:"orders"` // int64, epochs × train n
	Init          manifestInit             `json:"init"`
	Noise         *manifestNoise           `json:"noise,omitempty"`
}

type manifestMod struct {
	Name  string  `json:"name"`
	Shape []int64 `json:"shape"`
}

type manifestSplit struct {
	N int      `json:"n"`
	X []string `json:"x"` // float32 per modality
	Y string   `json:"y"` // int64
}

type manifestInit struct {
	File string        `json:"file"` // float32, the variables one after the other
	Vars []manifestVar `json:"vars"`
}

type manifestVar struct {
	Name   string  `json:"name"`
	Shape  []int64 `json:"shape"`
	Offset int     `json:"offset"` // in values
	Numel  int     `json:"numel"`
}

type manifestNoise struct {
	File string `json:"file"`
	Len  int    `json:"len"`
}

func writeFloat32s(path string, v []float32) error {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	return os.WriteFile(path, b, 0o644)
}

func writeInt64s(path string, v []int64) error {
	b := make([]byte, 8*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint64(b[8*i:], uint64(x))
	}
	return os.WriteFile(path, b, 0o644)
}

// exportCell writes what the PyTorch side needs into dir: the loaded dataset, the epoch orders, the
// initial variables of bench.Build's model and, for DMI, the cell's noise stream (bench.NewNoise with
// the cell's seed, as many values as the most a cell can draw: every training sample, 9 bottleneck
// samples of embed_size values each, every epoch). The caller must have locked its OS thread.
func exportCell(dir string, cs CellSpec, c *bench.Cell, set *data.Set) (*cellManifest, error) {
	man := &cellManifest{Name: cs.Name, Method: c.Method, MethodParams: c.MethodParams.Map(), Encoder: c.Encoder,
		EncoderParams: c.EncoderParams.Map(), Dataset: c.Dataset, DatasetSHA256: set.SHA256, NumClasses: set.NumClasses,
		Seed: c.Seed, Epochs: c.Train.Epochs, BatchSize: c.Train.BatchSize, LR: c.Train.LR, Momentum: c.Train.Momentum,
		WeightDecay: c.Train.WeightDecay, EvalBatch: CellEvalBatch, Splits: map[string]manifestSplit{}, Orders: "orders.i64"}
	for _, m := range set.Modalities {
		man.Modalities = append(man.Modalities, manifestMod{Name: m.Name, Shape: m.Shape})
	}
	for _, ns := range set.Splits() {
		if ns.Split.Source != nil {
			return nil, fmt.Errorf("%s: split %s is read lazily; only in-memory datasets are exported", cs.Name, ns.Name)
		}
		ms := manifestSplit{N: ns.Split.Len(), Y: ns.Name + "_y.i64"}
		for m := range set.Modalities {
			f := fmt.Sprintf("%s_x%d.f32", ns.Name, m)
			if err := writeFloat32s(filepath.Join(dir, f), ns.Split.X[m]); err != nil {
				return nil, err
			}
			ms.X = append(ms.X, f)
		}
		if err := writeInt64s(filepath.Join(dir, ms.Y), ns.Split.Y); err != nil {
			return nil, err
		}
		man.Splits[ns.Name] = ms
	}
	var orders []int64
	for _, o := range epochOrders(c.Seed, set.Train.Len(), c.Train.Epochs) {
		orders = append(orders, o...)
	}
	if err := writeInt64s(filepath.Join(dir, man.Orders), orders); err != nil {
		return nil, err
	}
	// The initial variables, as bench.Train's bench.Build makes them.
	run, err := bench.Build(c, set, gotch.CPU)
	if err != nil {
		return nil, err
	}
	vars := bench.Variables(run.VS, "")
	names := make([]string, 0, len(vars))
	for n := range vars {
		names = append(names, n)
	}
	sort.Strings(names)
	var flat []float32
	for _, n := range names {
		v := vars[n]
		numel := int(v.Numel())
		buf := make([]float32, numel)
		v.MustCopyData(buf, uint(numel))
		man.Init.Vars = append(man.Init.Vars, manifestVar{Name: n, Shape: v.MustSize(), Offset: len(flat), Numel: numel})
		flat = append(flat, buf...)
	}
	if cl, ok := run.Method.(bench.Closer); ok {
		cl.Close()
	}
	run.VS.Destroy()
	man.Init.File = "init.f32"
	if err := writeFloat32s(filepath.Join(dir, man.Init.File), flat); err != nil {
		return nil, err
	}
	if c.Method == "dmi" {
		// Drawn in small pieces (the stream is the same): one large tensor would move glibc's dynamic
		// mmap and trim thresholds for the rest of this process.
		n := set.Train.Len() * c.MethodParams.Int("embed_size") * 9 * c.Train.Epochs
		s := torchrt.NewScope()
		noise := bench.NewNoise(c.Seed, gotch.CPU)
		buf := make([]float32, n)
		for off := 0; off < n; off += 8192 {
			k := min(8192, n-off)
			noise.Randn(s, []int64{int64(k)}).MustCopyData(buf[off:off+k], uint(k))
			s.Drop()
		}
		man.Noise = &manifestNoise{File: "noise.f32", Len: n}
		if err := writeFloat32s(filepath.Join(dir, man.Noise.File), buf); err != nil {
			return nil, err
		}
	}
	b, err := json.MarshalIndent(man, "", "  ")
	if err != nil {
		return nil, err
	}
	return man, os.WriteFile(filepath.Join(dir, "manifest.json"), b, 0o644)
}

// loadCellSet loads the spec's dataset as `bench run` does (data.Load with the cell's seed). skip is
// set, with err nil, when a real dataset's files are absent.
func loadCellSet(cs CellSpec, seed int64, dataDir string) (set *data.Set, skip string, err error) {
	set, err = data.Load(cs.Dataset, seed, dataDir)
	if err != nil && strings.Contains(err.Error(), "files not found") {
		return nil, fmt.Sprintf("dataset absent: %v", err), nil
	}
	return set, "", err
}

// goTiming is one timed bench.Train.
type goTiming struct {
	wall, cpu, faults int64 // ns, ns, minor page faults
	gcs               uint32
}

// goCell times bench.Train on the cell: wall clock, process CPU time, page faults, Go garbage collections.
func goCell(c *bench.Cell, set *data.Set) (t goTiming, rec *store.Record, err error) {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	cc := *c
	f0 := minorFaults()
	c0 := processCPUNS()
	t0 := time.Now()
	rec, err = bench.Train(context.Background(), &cc, set, gotch.CPU, nil)
	t.wall = int64(time.Since(t0))
	t.cpu = processCPUNS() - c0
	t.faults = minorFaults() - f0
	runtime.ReadMemStats(&after)
	t.gcs = after.NumGC - before.NumGC
	if err == nil && rec.Status != store.StatusOK {
		err = fmt.Errorf("cell %s", rec.Status)
	}
	return t, rec, err
}

// GoCellTiming is one timed bench.Train.
type GoCellTiming struct {
	WallNS int64  `json:"wall_ns"`
	CPUNS  int64  `json:"cpu_ns"`
	Faults int64  `json:"minor_faults"`
	GCs    uint32 `json:"go_gcs"`
}

// GoRound is one round of the Go side of a cell benchmark: Cells timed bench.Train cells (Run is
// the first one's record), then one phase-timed cell (Phases, PhasesCPU; Phased its record).
type GoRound struct {
	Cells     []GoCellTiming `json:"cells"`
	Run       CellRun        `json:"run"`
	Phases    Phases         `json:"phases_ms"`
	PhasesCPU Phases         `json:"phases_cpu_ms"`
	Phased    CellRun        `json:"phased_run"`
}

// goRound runs warmup untimed and reps timed bench.Train cells, then one phase-timed cell.
func goRound(cell *bench.Cell, set *data.Set, warmup, reps int) (*GoRound, error) {
	for i := 0; i < warmup; i++ {
		if _, _, err := goCell(cell, set); err != nil {
			return nil, err
		}
	}
	gr := &GoRound{}
	for i := 0; i < reps; i++ {
		t, rec, err := goCell(cell, set)
		if err != nil {
			return nil, err
		}
		gr.Cells = append(gr.Cells, GoCellTiming{WallNS: t.wall, CPUNS: t.cpu, Faults: t.faults, GCs: t.gcs})
		if i == 0 {
			gr.Run = runOfRecord(rec)
		}
	}
	var err error
	gr.Phases, gr.PhasesCPU, gr.Phased, err = phasedCell(cell, set)
	return gr, err
}

// RunGoRound is the Go side of one round of cell benchmark cs in a process of its own (`bench perf
// --go-round`, started by RunCells when Config.GoExe is set), like the PyTorch side's: the dataset
// loaded as `bench run` loads it, one untimed warm-up cell, reps timed bench.Train cells and one
// phase-timed cell. A fresh process keeps the allocator's state (glibc's dynamic mmap and trim
// thresholds move with every large block freed) from depending on what the parent did before,
// such as exporting the cell or timing other models. The caller must have locked its OS thread.
func RunGoRound(cs CellSpec, seed int64, epochs, threads int, dataDir string, reps int) (*GoRound, error) {
	torchrt.SetNumThreads(max(1, threads))
	set, skip, err := loadCellSet(cs, seed, dataDir)
	if err != nil {
		return nil, err
	}
	if skip != "" {
		return nil, errors.New(skip)
	}
	cell, err := cs.Cell(seed, epochs, threads)
	if err != nil {
		return nil, err
	}
	return goRound(cell, set, 1, reps)
}

// runGoRoundProcess runs RunGoRound in a child process: c.GoExe perf --go-round.
func (c *Config) runGoRoundProcess(cs CellSpec, epochs, reps int) (*GoRound, error) {
	cmd := exec.Command(c.GoExe, "perf", "--go-round", fmt.Sprintf("%s:%d", cs.Name, reps), "--seed", fmt.Sprint(c.Seed),
		"--epochs", fmt.Sprint(epochs), "--threads", fmt.Sprint(c.Threads), "--data-dir", c.DataDir)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("%s: %w\n%s", strings.Join(cmd.Args, " "), err, strings.TrimSpace(stderr.String()))
	}
	var gr GoRound
	if err := json.Unmarshal(stdout.Bytes(), &gr); err != nil {
		return nil, fmt.Errorf("reading the Go round's JSON: %w", err)
	}
	if len(gr.Cells) != reps {
		return nil, fmt.Errorf("the Go round returned %d cells, want %d", len(gr.Cells), reps)
	}
	return &gr, nil
}

// cellTorchOut is the JSON perf/run_cells.py prints.
type cellTorchOut struct {
	TorchVersion  string `json:"torch_version"`
	TorchPath     string `json:"torch_path"`
	PythonVersion string `json:"python_version"`
	Threads       int    `json:"threads"`
	Interop       int    `json:"interop_threads"`
	Noise         string `json:"noise"`
	Weights       struct {
		MaxAbsDiff float64 `json:"max_abs_diff"`
		Vars       int     `json:"vars"`
		Loaded     bool    `json:"loaded_from_go"`
	} `json:"weights"`
	Cells []struct {
		Status      string           `json:"status"`
		Reason      string           `json:"reason"`
		WallNS      int64            `json:"wall_ns"`
		CPUNS       int64            `json:"cpu_ns"`
		MinorFaults int64            `json:"minor_faults"`
		PhasesNS    map[string]int64 `json:"phases_ns"`
		PhasesCPUNS map[string]int64 `json:"phases_cpu_ns"`
		ValAcc      []float64        `json:"val_acc"`
		ValLoss     []float64        `json:"val_loss"`
		TrainLoss   []float64        `json:"train_loss"`
		BestEpoch   int              `json:"best_epoch"`
		Val         struct {
			Acc float64 `json:"acc"`
		} `json:"val"`
		Test struct {
			Acc     float64 `json:"acc"`
			Loss    float64 `json:"loss"`
			MacroF1 float64 `json:"macro_f1"`
		} `json:"test"`
	} `json:"cells"`
}

func (o *cellTorchOut) run(i int) CellRun {
	c := o.Cells[i]
	return CellRun{Status: c.Status, ValAcc: c.ValAcc, ValLoss: c.ValLoss, TrainLoss: c.TrainLoss, BestEpoch: c.BestEpoch,
		BestValAcc: c.Val.Acc, TestAcc: c.Test.Acc, TestLoss: c.Test.Loss, TestF1: c.Test.MacroF1}
}

func (o *cellTorchOut) phases(i int) (wall, cpu Phases) {
	conv := func(p map[string]int64) Phases {
		ms := func(k string) float64 { return float64(p[k]) / 1e6 }
		return Phases{Build: ms("build"), Data: ms("data"), Train: ms("train"), Val: ms("val"), Snapshot: ms("snapshot"),
			Test: ms("test"), Other: ms("other")}
	}
	return conv(o.Cells[i].PhasesNS), conv(o.Cells[i].PhasesCPUNS)
}

// CellTorchCommand is the runner invocation for an exported cell.
func (c *Config) CellTorchCommand(dir string, warmup, reps int, goNoise bool) *exec.Cmd {
	args := []string{c.CellRunner, "--dir", dir, "--threads", fmt.Sprint(c.Threads), "--warmup", fmt.Sprint(warmup), "--reps", fmt.Sprint(reps)}
	if goNoise {
		args = append(args, "--go-noise")
	}
	return c.pythonCommand(args...)
}

func (c *Config) runTorchCell(dir string, warmup, reps int, goNoise bool) (*cellTorchOut, error) {
	stdout, err := c.runPython(c.CellTorchCommand(dir, warmup, reps, goNoise))
	if err != nil {
		return nil, err
	}
	var out cellTorchOut
	if err := json.Unmarshal(stdout, &out); err != nil {
		return nil, fmt.Errorf("reading the cell runner's JSON: %w", err)
	}
	if len(out.Cells) != reps {
		return nil, fmt.Errorf("the cell runner returned %d cells, want %d", len(out.Cells), reps)
	}
	for _, cl := range out.Cells {
		if cl.Status != "ok" {
			return nil, fmt.Errorf("PyTorch cell %s: %s", cl.Status, cl.Reason)
		}
	}
	return &out, nil
}

// cellReps is cs.Reps scaled by c.Scale (at least 1).
func (c *Config) cellReps(cs CellSpec) int {
	r := cs.Reps
	if c.Scale > 0 && c.Scale != 1 {
		r = max(1, int(math.Round(float64(r)*c.Scale)))
	}
	return r
}

// RunCells measures every cell benchmark of c. Per cell: the dataset is loaded and exported once; one
// untimed Go cell warms up; then c.Rounds rounds alternate the sides (Go first in even rounds). A Go
// round is Reps timed bench.Train cells and one phase-timed cell (phasedCell); a PyTorch round is one
// process running one untimed warm-up cell and Reps timed cells. For DMI one more PyTorch cell, untimed,
// draws the Go cell's exported noise so its curves can be compared. The caller must have locked its OS
// thread.
func (c *Config) RunCells(rep *Report) error {
	epochs := c.CellEpochs
	if epochs < 1 {
		epochs = 30
	}
	rep.CellEpochs, rep.CellBatch, rep.CellEvalBatch = epochs, CellBatch, CellEvalBatch
	rep.AllCellTargetsMet = !c.NoTorch
	for _, cs := range c.Cells {
		cr, err := c.runCell(cs, epochs, rep)
		if err != nil {
			return fmt.Errorf("cell %s: %w", cs.Name, err)
		}
		if cr.Skipped == "" && cr.Torch != nil {
			rep.AllCellTargetsMet = rep.AllCellTargetsMet && cr.TargetMet
		}
		rep.Cells = append(rep.Cells, *cr)
	}
	return nil
}

func (c *Config) runCell(cs CellSpec, epochs int, rep *Report) (*CellResult, error) {
	reps := c.cellReps(cs)
	cr := &CellResult{Spec: cs, Rounds: c.Rounds, Reps: reps, Epochs: epochs, Target: 0.7}
	set, skip, err := loadCellSet(cs, c.Seed, c.DataDir)
	if err != nil {
		return nil, err
	}
	if skip != "" {
		c.logf("perf: %s skipped: %s\n", cs.Name, skip)
		cr.Skipped = skip
		return cr, nil
	}
	cell, err := cs.Cell(c.Seed, epochs, c.Threads)
	if err != nil {
		return nil, err
	}
	cr.Splits.Train, cr.Splits.Val, cr.Splits.Test = set.Train.Len(), set.Val.Len(), set.Test.Len()
	cr.StepsPerEpoch = (set.Train.Len() + CellBatch - 1) / CellBatch
	var dir string
	if c.CellDir != "" { // kept, for running perf/run_cells.py by hand
		dir = filepath.Join(c.CellDir, strings.ReplaceAll(cs.Name, "/", "-"))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, err
		}
	} else {
		if dir, err = os.MkdirTemp("", "bench-perf-cell-"); err != nil {
			return nil, err
		}
		defer os.RemoveAll(dir)
	}
	if !c.NoTorch {
		if _, err := exportCell(dir, cs, cell, set); err != nil {
			return nil, fmt.Errorf("export: %w", err)
		}
	}
	c.logf("perf: %s: %d/%d/%d samples, %d epochs × %d steps\n", cs.Name, cr.Splits.Train, cr.Splits.Val, cr.Splits.Test, epochs, cr.StepsPerEpoch)
	var goWall, goCPU, pyWall, pyCPU []int64
	var goGCs, goFaults, pyFaults []float64
	var goPhases, pyPhases, goPhasesCPU, pyPhasesCPU []Phases
	var goPhasedTotals []float64
	var py *cellTorchOut
	cr.ReplicaOK = true
	for r := 0; r < c.Rounds; r++ {
		goFirst := r%2 == 0
		for k := 0; k < 2; k++ {
			if (k == 0) == goFirst {
				var gr *GoRound
				if c.GoExe != "" {
					c.logf("perf: %s round %d/%d: Go, fresh process (1 warm-up + %d × bench.Train, 1 phase-timed)\n", cs.Name, r+1, c.Rounds, reps)
					gr, err = c.runGoRoundProcess(cs, epochs, reps)
				} else {
					warmup := 0
					if r == 0 {
						warmup = 1
					}
					c.logf("perf: %s round %d/%d: Go, in this process (%d warm-up + %d × bench.Train, 1 phase-timed)\n", cs.Name, r+1, c.Rounds, warmup, reps)
					gr, err = goRound(cell, set, warmup, reps)
				}
				if err != nil {
					return nil, err
				}
				for _, t := range gr.Cells {
					goWall, goCPU, goGCs = append(goWall, t.WallNS), append(goCPU, t.CPUNS), append(goGCs, float64(t.GCs))
					goFaults = append(goFaults, float64(t.Faults))
				}
				if r == 0 {
					cr.GoRun = gr.Run
				}
				goPhases, goPhasesCPU, goPhasedTotals = append(goPhases, gr.Phases), append(goPhasesCPU, gr.PhasesCPU), append(goPhasedTotals, gr.Phases.Total())
				if note := compareRuns(cr.GoRun, gr.Phased, true); note != "" {
					cr.ReplicaOK, cr.ReplicaNote = false, note
				}
				if note := compareRuns(cr.GoRun, gr.Run, true); note != "" {
					return nil, fmt.Errorf("bench.Train is not deterministic: rounds differ in %s", note)
				}
				continue
			}
			if c.NoTorch {
				continue
			}
			c.logf("perf: %s round %d/%d: PyTorch (1 warm-up + %d cells)\n", cs.Name, r+1, c.Rounds, reps)
			out, err := c.runTorchCell(dir, 1, reps, false)
			if err != nil {
				return nil, err
			}
			for i, cl := range out.Cells {
				pyWall, pyCPU = append(pyWall, cl.WallNS), append(pyCPU, cl.CPUNS)
				w, cp := out.phases(i)
				pyPhases, pyPhasesCPU = append(pyPhases, w), append(pyPhasesCPU, cp)
				pyFaults = append(pyFaults, float64(cl.MinorFaults))
				cr.TorchTimedTest = append(cr.TorchTimedTest, cl.Test.Acc)
			}
			if py == nil {
				py = out
			}
		}
	}
	cr.Go = CellSide{Wall: Summarise(goWall, reps), CPU: Summarise(goCPU, reps), Phases: medianPhases(goPhases), PhasesCPU: medianPhases(goPhasesCPU)}
	cr.Go.PhasedTotal, cr.Go.GCs, cr.Go.Faults = median(goPhasedTotals), median(goGCs), median(goFaults)
	if c.NoTorch {
		return cr, nil
	}
	rep.TorchVersion, rep.TorchPath, rep.PythonVersion = py.TorchVersion, py.TorchPath, py.PythonVersion
	rep.TorchThreads, rep.TorchInterop = py.Threads, py.Interop
	cr.Torch = &CellSide{Wall: Summarise(pyWall, reps), CPU: Summarise(pyCPU, reps), Phases: medianPhases(pyPhases), PhasesCPU: medianPhases(pyPhasesCPU)}
	cr.Torch.Faults = median(pyFaults)
	cr.Ratio = cr.Go.Wall.Median / cr.Torch.Wall.Median
	cr.CPURatio = cr.Go.CPU.Median / cr.Torch.CPU.Median
	cr.TargetMet = cr.Ratio <= cr.Target
	cr.WeightsDiff, cr.WeightsVars, cr.WeightsLoaded = py.Weights.MaxAbsDiff, py.Weights.Vars, py.Weights.Loaded
	check, noise := py, py.Noise
	if cs.Method == "dmi" {
		c.logf("perf: %s: PyTorch check cell drawing the Go noise stream\n", cs.Name)
		if check, err = c.runTorchCell(dir, 0, 1, true); err != nil {
			return nil, err
		}
		noise = check.Noise
		cr.CheckNote = "timed PyTorch cells draw DMI's noise with torch.randn (the Go cell: its own PCG stream); the compared PyTorch cell draws the Go stream"
	}
	tr := check.run(0)
	cr.TorchRun, cr.TorchRunNoise = &tr, noise
	cr.CurveEqual = compareRuns(cr.GoRun, tr, false) == ""
	for e := range min(len(cr.GoRun.ValAcc), len(tr.ValAcc)) {
		cr.CurveMaxDiff = max(cr.CurveMaxDiff, math.Abs(cr.GoRun.ValAcc[e]-tr.ValAcc[e]))
		a, b := cr.GoRun.ValLoss[e], tr.ValLoss[e]
		cr.ValLossMaxRel = max(cr.ValLossMaxRel, math.Abs(a-b)/max(math.Abs(a), math.Abs(b), 1e-12))
	}
	return cr, nil
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	v = slices.Clone(v)
	slices.Sort(v)
	return quantile(v, 0.5)
}

// compareRuns describes how b differs from a ("" if it does not): the validation accuracy curve, the
// best epoch and the test accuracy, and with exact also every loss, bit for bit.
func compareRuns(a, b CellRun, exact bool) string {
	var d []string
	if !slices.Equal(a.ValAcc, b.ValAcc) {
		d = append(d, "validation accuracy curve")
	}
	if a.BestEpoch != b.BestEpoch {
		d = append(d, fmt.Sprintf("best epoch %d vs %d", a.BestEpoch, b.BestEpoch))
	}
	if a.TestAcc != b.TestAcc {
		d = append(d, fmt.Sprintf("test accuracy %.4f vs %.4f", a.TestAcc, b.TestAcc))
	}
	if exact {
		if !slices.Equal(a.ValLoss, b.ValLoss) || !slices.Equal(a.TrainLoss, b.TrainLoss) || a.TestLoss != b.TestLoss {
			d = append(d, "losses")
		}
	}
	return strings.Join(d, ", ")
}

// WriteCellTable prints the cell benchmarks.
func (r *Report) WriteCellTable(w io.Writer) {
	if len(r.Cells) == 0 {
		return
	}
	fmt.Fprintf(w, "complete cells: bench.Train (Go) vs perf/run_cells.py (PyTorch), mlp encoders, %d epochs, batch %d, eval batch %d, "+
		"SGD lr %g momentum %g wd %g, %d intra-op thread(s)\n", r.CellEpochs, r.CellBatch, r.CellEvalBatch, r.LR, r.Momentum, r.WeightDecay, r.Threads)
	fmt.Fprintln(w, "ms per cell: median [p25–p75] over rounds × reps timed cells; ratio = Go / PyTorch (lower: Go faster)")
	fmt.Fprintln(w)
	fmt.Fprintf(w, "%-16s %-14s %5s  %-26s %-26s %6s %6s  %-10s %s\n", "cell", "train/val/test", "cells", "Go (bench.Train)", "PyTorch", "ratio", "cpu", "target", "page faults Go/PyTorch")
	cell := func(s Stats) string { return fmt.Sprintf("%.1f [%.1f–%.1f]", s.Median, s.P25, s.P75) }
	for _, m := range r.Cells {
		if m.Skipped != "" {
			fmt.Fprintf(w, "%-16s skipped: %s\n", m.Spec.Name, m.Skipped)
			continue
		}
		sizes := fmt.Sprintf("%d/%d/%d", m.Splits.Train, m.Splits.Val, m.Splits.Test)
		py, ratio, cpu, tgt, faults := "-", "-", "-", "-", fmt.Sprintf("%.0f", m.Go.Faults)
		if m.Torch != nil {
			faults += fmt.Sprintf("/%.0f", m.Torch.Faults)
			py, ratio, cpu = cell(m.Torch.Wall), fmt.Sprintf("%.2f", m.Ratio), fmt.Sprintf("%.2f", m.CPURatio)
			tgt = fmt.Sprintf("≤%.1f ", m.Target)
			if m.TargetMet {
				tgt += "met"
			} else {
				tgt += "MISSED"
			}
		}
		fmt.Fprintf(w, "%-16s %-14s %5d  %-26s %-26s %6s %6s  %-10s %s\n", m.Spec.Name, sizes, m.Go.Wall.Steps, cell(m.Go.Wall), py, ratio, cpu, tgt, faults)
	}
	for _, kind := range []string{"wall clock", "process CPU time"} {
		fmt.Fprintln(w)
		fmt.Fprintf(w, "phase split, %s, ms per cell (median per phase over rounds; Go: bench.TrainClocked; "+
			"last column: the cell's median as timed above)\n", kind)
		fmt.Fprintf(w, "%-16s %-7s %8s %8s %9s %8s %8s %8s %8s %9s %9s\n", "cell", "side", "build", "data", "train", "val", "snapshot", "test", "other", "total", "cell")
		for _, m := range r.Cells {
			if m.Skipped != "" {
				continue
			}
			row := func(side string, p Phases, whole Stats) {
				fmt.Fprintf(w, "%-16s %-7s %8.2f %8.2f %9.1f %8.1f %8.2f %8.2f %8.2f %9.1f %9.1f\n", m.Spec.Name, side,
					p.Build, p.Data, p.Train, p.Val, p.Snapshot, p.Test, p.Other, p.Total(), whole.Median)
			}
			if kind == "wall clock" {
				row("Go", m.Go.Phases, m.Go.Wall)
				if m.Torch != nil {
					row("PyTorch", m.Torch.Phases, m.Torch.Wall)
				}
			} else {
				row("Go", m.Go.PhasesCPU, m.Go.CPU)
				if m.Torch != nil {
					row("PyTorch", m.Torch.PhasesCPU, m.Torch.CPU)
				}
			}
		}
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "checks (same data, initial weights, batch order and SGD on both sides):")
	for _, m := range r.Cells {
		if m.Skipped != "" {
			continue
		}
		rep := "phase-timed cell reproduces bench.Train"
		if !m.ReplicaOK {
			rep = "phase-timed cell DIFFERS from bench.Train (" + m.ReplicaNote + "): the clock changed what is computed"
		}
		fmt.Fprintf(w, "  %s: %s", m.Spec.Name, rep)
		if m.TorchRun == nil {
			fmt.Fprintln(w)
			continue
		}
		wt := fmt.Sprintf("initial weights identical (%d variables)", m.WeightsVars)
		if m.WeightsDiff != 0 {
			wt = fmt.Sprintf("initial weights differ by up to %.2g (PyTorch used the Go values)", m.WeightsDiff)
		}
		agree := "val acc curve, best epoch and test acc IDENTICAL"
		if !m.CurveEqual {
			agree = fmt.Sprintf("val acc curves differ (max |Δ| %.4f)", m.CurveMaxDiff)
		}
		fmt.Fprintf(w, "; %s; PyTorch cell drawing %s noise: %s; val loss max rel Δ %.1e\n", wt, m.TorchRunNoise, agree, m.ValLossMaxRel)
		fmt.Fprintf(w, "    best epoch Go %d / PyTorch %d; test acc Go %.4f / PyTorch %.4f", m.GoRun.BestEpoch, m.TorchRun.BestEpoch, m.GoRun.TestAcc, m.TorchRun.TestAcc)
		if m.Spec.Method == "dmi" && len(m.TorchTimedTest) > 0 {
			fmt.Fprintf(w, " (timed PyTorch cells, torch.randn noise: %.4f–%.4f over %d cells)", slices.Min(m.TorchTimedTest),
				slices.Max(m.TorchTimedTest), len(m.TorchTimedTest))
		}
		fmt.Fprintln(w)
		fmt.Fprintf(w, "    val acc Go:      %s\n", fmtAccs(m.GoRun.ValAcc))
		fmt.Fprintf(w, "    val acc PyTorch: %s\n", fmtAccs(m.TorchRun.ValAcc))
	}
}

func fmtAccs(v []float64) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = fmt.Sprintf("%.3f", x)
	}
	return strings.Join(s, " ")
}
