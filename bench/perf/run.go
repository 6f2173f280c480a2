package perf

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/mmfusion/bench/bench"
	"github.com/mmfusion/bench/bench/torchrt"
)

// Config is what `bench perf` runs with. Both sides get the same threads, seed, plans and SGD settings.
type Config struct {
	Models  []Spec
	Threads int // libtorch intra-op threads on both sides
	// Device runs the step models on a CUDA device ("cuda", "cuda:N") instead of the CPU, both sides;
	// "" or "cpu" is the CPU. Cells always run on the CPU.
	Device string
	Seed   int64 // weights from Seed, inputs from Seed+1
	// Rounds alternates the two sides this many times per model (Go then PyTorch, then PyTorch then
	// Go, …), each round a fresh model and the full plan; the step times of all rounds are pooled. On a
	// machine shared with other work this keeps a load change from falling on one side only.
	Rounds int
	// Scale multiplies every plan's Repeats (at least 1 repeat); 0 or 1 keeps the defaults.
	Scale float64
	// Python is the interpreter, PythonPath its PYTHONPATH (the torch==2.1.0 install), Runner the
	// script (perf/run_torch.py). NoTorch skips the PyTorch side.
	Python, PythonPath, Runner string
	NoTorch                    bool
	Log                        io.Writer // progress, and the runner's stderr; nil: discarded

	// Cells are the complete-cell benchmarks (cells.go), run after Models: CellEpochs epochs (0: 30),
	// datasets from DataDir as `bench run --data-dir` ("" = $BENCH_DATA_DIR, else ../shared/data),
	// PyTorch side CellRunner (perf/run_cells.py). Scale multiplies their Reps too. The exported cells
	// go to a temporary directory, removed afterwards, or to CellDir/<method>-<dataset>, kept.
	Cells      []CellSpec
	CellEpochs int
	DataDir    string
	CellRunner string
	CellDir    string
	// GoExe, if set, is this program (`bench`): each round of a cell's Go side then runs in a fresh
	// process (`bench perf --go-round`), as each of the PyTorch side's does; else in this process.
	GoExe string
}

// Check values identify what a side computed: the evaluation loss of the freshly built model and the
// losses of its first two training steps. Both sides draw the same initial weights and inputs from
// the same libtorch, so they agree up to rounding unless the model draws training noise (DMI: Go draws
// it from the cell's own generator, PyTorch from torch.randn), where only the evaluation loss is
// comparable.
type Check struct {
	EvalLoss0  Float `json:"eval_loss0"`
	TrainLoss1 Float `json:"train_loss1"`
	TrainLoss2 Float `json:"train_loss2"`
}

// Float is a float64 that is written to JSON as null when it is NaN or infinite (a diverged loss),
// which JSON numbers cannot express; the runner writes such values as null too.
type Float float64

// MarshalJSON implements json.Marshaler.
func (f Float) MarshalJSON() ([]byte, error) {
	if v := float64(f); !math.IsNaN(v) && !math.IsInf(v, 0) {
		return json.Marshal(v)
	}
	return []byte("null"), nil
}

// Side is one side's measurement of a model.
type Side struct {
	Train Stats `json:"train_ms"` // wall clock
	Eval  Stats `json:"eval_ms"`
	// TrainCPU and EvalCPU are the process CPU time per step (all threads): unlike the wall clock, not
	// inflated when other work takes the cores away (it still is by shared caches and memory).
	TrainCPU  Stats `json:"train_cpu_ms"`
	EvalCPU   Stats `json:"eval_cpu_ms"`
	Check     Check `json:"check"`
	NonFinite int   `json:"nonfinite_losses"`
	// Go only: garbage collections and their total pause during the timed training / eval steps.
	TrainGCs       uint32  `json:"train_go_gcs,omitempty"`
	TrainGCPauseMS float64 `json:"train_go_gc_pause_ms,omitempty"`
	EvalGCs        uint32  `json:"eval_go_gcs,omitempty"`
	EvalGCPauseMS  float64 `json:"eval_go_gc_pause_ms,omitempty"`
}

// ModelResult is one row of the table.
type ModelResult struct {
	Spec   Spec  `json:"spec"`
	Plan   Plan  `json:"plan"`   // per round, per kind of step
	Rounds int   `json:"rounds"` // step counts in Side.*.Steps are Rounds × Repeats × Steps
	Go     Side  `json:"go"`
	Torch  *Side `json:"pytorch,omitempty"`
	// TrainRatio and EvalRatio are Go median / PyTorch median of the wall-clock step times (lower is
	// better for Go); the *CPURatio the same for CPU time.
	TrainRatio    float64 `json:"train_ratio,omitempty"`
	EvalRatio     float64 `json:"eval_ratio,omitempty"`
	TrainCPURatio float64 `json:"train_cpu_ratio,omitempty"`
	EvalCPURatio  float64 `json:"eval_cpu_ratio,omitempty"`
	// Target is the largest acceptable ratio (issue 7: 0.7 on the MLP models, 1.0 otherwise);
	// TargetMet holds when both ratios are within it.
	Target    float64 `json:"target"`
	TargetMet bool    `json:"target_met"`
	// CheckDiff is the largest relative difference between the two sides' comparable check values;
	// CheckOK is CheckDiff ≤ 1e-4.
	CheckDiff Float  `json:"check_max_rel_diff"`
	CheckOK   bool   `json:"check_ok"`
	CheckNote string `json:"check_note,omitempty"`
}

// Report is everything `bench perf` writes to its JSON file.
type Report struct {
	Started     time.Time `json:"started"`
	CPUModel    string    `json:"cpu_model"`
	NumCPU      int       `json:"num_cpu"`
	GOMAXPROCS  int       `json:"gomaxprocs"`
	GOGC        string    `json:"gogc"` // the GOGC environment variable ("" = default 100)
	GoVersion   string    `json:"go_version"`
	Gotch       string    `json:"gotch_version"`
	Libtorch    string    `json:"libtorch_version"`
	LibtorchDir string    `json:"libtorch_path"`
	Bench       string    `json:"bench_version"`

	Threads       int     `json:"threads"`         // requested intra-op threads, both sides
	GoThreads     int     `json:"go_threads"`      // torchrt.NumThreads() on the measuring OS thread
	TorchThreads  int     `json:"pytorch_threads"` // torch.get_num_threads() in the runner
	TorchInterop  int     `json:"pytorch_interop_threads"`
	TorchVersion  string  `json:"pytorch_version,omitempty"`
	TorchPath     string  `json:"pytorch_path,omitempty"`
	PythonVersion string  `json:"python_version,omitempty"`
	Seed          int64   `json:"seed"`
	Rounds        int     `json:"rounds"`
	LR            float64 `json:"lr"`
	Momentum      float64 `json:"momentum"`
	WeightDecay   float64 `json:"weight_decay"`
	Steps         string  `json:"steps_note"`

	Models       []ModelResult `json:"models"`
	AllTargetMet bool          `json:"all_targets_met"`

	// Complete cells (bench perf --cells): the protocol, the rows, and whether every row that ran on
	// both sides met its target.
	CellEpochs        int          `json:"cell_epochs,omitempty"`
	CellBatch         int          `json:"cell_batch_size,omitempty"`
	CellEvalBatch     int          `json:"cell_eval_batch_size,omitempty"`
	Cells             []CellResult `json:"cells,omitempty"`
	AllCellTargetsMet bool         `json:"all_cell_targets_met,omitempty"`

	WallSeconds float64 `json:"wall_seconds"`
}

const stepsNote = "per model and round: plan.warmup untimed steps, then plan.repeats × plan.steps steps each timed " +
	"alone (wall clock, and process CPU time), for training and again for evaluation; *_ms are over all rounds' timed " +
	"steps (median = reported number, p25–p75 spread, repeat_median_min/max = extremes of the per-repeat medians)"

// CPUModel is the "model name" of /proc/cpuinfo ("unknown" where absent).
func CPUModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return "unknown"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

func (c *Config) logf(format string, args ...any) {
	if c.Log != nil {
		fmt.Fprintf(c.Log, format, args...)
	}
}

// plan is sp.Plan with Repeats scaled.
func (c *Config) plan(sp Spec) Plan {
	p := sp.Plan
	if c.Scale > 0 && c.Scale != 1 {
		p.Repeats = max(1, int(math.Round(float64(p.Repeats)*c.Scale)))
	}
	return p
}

// Run measures every model of c on both sides, then every cell of c.Cells, and returns the report. It locks the calling
// goroutine to its OS thread for the Go measurements.
func Run(c Config) (*Report, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if c.Threads < 1 {
		return nil, fmt.Errorf("threads = %d: want ≥ 1", c.Threads)
	}
	if c.Rounds < 1 {
		c.Rounds = 1
	}
	torchrt.SetNumThreads(c.Threads)
	rep := &Report{Started: time.Now().UTC(), CPUModel: CPUModel(), NumCPU: runtime.NumCPU(), GOMAXPROCS: runtime.GOMAXPROCS(0),
		GOGC: os.Getenv("GOGC"), GoVersion: runtime.Version(), Gotch: torchrt.GotchVersion(), Bench: bench.Version,
		Threads: c.Threads, GoThreads: torchrt.NumThreads(), Seed: c.Seed, Rounds: c.Rounds,
		LR: LR, Momentum: Momentum, WeightDecay: WeightDecay, Steps: stepsNote, AllTargetMet: !c.NoTorch}
	for _, sp := range c.Models {
		plan := c.plan(sp)
		mr := ModelResult{Spec: sp, Plan: plan, Rounds: c.Rounds, Target: 1.0}
		if sp.Encoder == "mlp" {
			mr.Target = 0.7
		}
		var goTrain, goEval, pyTrain, pyEval, goTrainCPU, goEvalCPU, pyTrainCPU, pyEvalCPU []int64
		var py *torchSide
		for r := 0; r < c.Rounds; r++ {
			goFirst := r%2 == 0
			for k := 0; k < 2; k++ {
				if (k == 0) == goFirst {
					c.logf("perf: %s round %d/%d: Go (%d+%d×%d steps, %d thread(s))\n", sp.Name, r+1, c.Rounds, plan.Warmup, plan.Repeats, plan.Steps, c.Threads)
					tr, ev, ch, err := c.measureGo(sp, plan, &mr.Go)
					if err != nil {
						return nil, fmt.Errorf("%s (Go): %w", sp.Name, err)
					}
					goTrain, goEval = append(goTrain, tr.NS...), append(goEval, ev.NS...)
					goTrainCPU, goEvalCPU = append(goTrainCPU, tr.CPUNS...), append(goEvalCPU, ev.CPUNS...)
					if r == 0 {
						mr.Go.Check = ch
					}
					continue
				}
				if c.NoTorch {
					continue
				}
				c.logf("perf: %s round %d/%d: PyTorch\n", sp.Name, r+1, c.Rounds)
				out, err := c.runTorch(sp, plan)
				if err != nil {
					return nil, fmt.Errorf("%s (PyTorch): %w", sp.Name, err)
				}
				m := out.Models[sp.Name]
				pyTrain, pyEval = append(pyTrain, m.TrainNS...), append(pyEval, m.EvalNS...)
				pyTrainCPU, pyEvalCPU = append(pyTrainCPU, m.TrainCPUNS...), append(pyEvalCPU, m.EvalCPUNS...)
				if py == nil {
					py = out
					mr.Torch = &Side{Check: m.Check}
				}
				mr.Torch.NonFinite += m.NonFinite
			}
		}
		mr.Go.Train, mr.Go.Eval = Summarise(goTrain, plan.Steps), Summarise(goEval, plan.Steps)
		mr.Go.TrainCPU, mr.Go.EvalCPU = Summarise(goTrainCPU, plan.Steps), Summarise(goEvalCPU, plan.Steps)
		if mr.Torch != nil {
			rep.TorchThreads, rep.TorchInterop, rep.TorchVersion = py.Threads, py.Interop, py.TorchVersion
			rep.TorchPath, rep.PythonVersion = py.TorchPath, py.PythonVersion
			mr.Torch.Train, mr.Torch.Eval = Summarise(pyTrain, plan.Steps), Summarise(pyEval, plan.Steps)
			mr.Torch.TrainCPU, mr.Torch.EvalCPU = Summarise(pyTrainCPU, plan.Steps), Summarise(pyEvalCPU, plan.Steps)
			mr.TrainRatio = mr.Go.Train.Median / mr.Torch.Train.Median
			mr.EvalRatio = mr.Go.Eval.Median / mr.Torch.Eval.Median
			if mr.Go.TrainCPU.Steps > 0 && mr.Torch.TrainCPU.Steps > 0 {
				mr.TrainCPURatio = mr.Go.TrainCPU.Median / mr.Torch.TrainCPU.Median
				mr.EvalCPURatio = mr.Go.EvalCPU.Median / mr.Torch.EvalCPU.Median
			}
			mr.TargetMet = mr.TrainRatio <= mr.Target && mr.EvalRatio <= mr.Target
			rep.AllTargetMet = rep.AllTargetMet && mr.TargetMet
			mr.compareChecks()
		}
		rep.Models = append(rep.Models, mr)
	}
	if len(c.Cells) > 0 {
		if err := c.RunCells(rep); err != nil {
			return nil, err
		}
	}
	rep.Libtorch, rep.LibtorchDir = torchrt.LibtorchVersion(), torchrt.LibtorchPath()
	rep.WallSeconds = time.Since(rep.Started).Seconds()
	return rep, nil
}

// trainNoise reports whether the model draws random noise in training steps (its training losses
// then differ between the sides by design).
func (sp Spec) trainNoise() bool { return sp.Method == "dmi" }

func (mr *ModelResult) compareChecks() {
	g, p := mr.Go.Check, mr.Torch.Check
	pairs := [][2]Float{{g.EvalLoss0, p.EvalLoss0}}
	if mr.Spec.trainNoise() {
		mr.CheckNote = "training noise differs by design (Go: per-cell PCG generator; PyTorch: torch.randn): only the initial evaluation loss is compared"
	} else {
		pairs = append(pairs, [2]Float{g.TrainLoss1, p.TrainLoss1}, [2]Float{g.TrainLoss2, p.TrainLoss2})
	}
	diff := 0.0
	for _, pr := range pairs {
		a, b := float64(pr[0]), float64(pr[1])
		d := math.Abs(a-b) / max(math.Abs(a), math.Abs(b), 1e-12)
		if math.IsNaN(d) {
			d = math.Inf(1)
		}
		diff = max(diff, d)
	}
	mr.CheckDiff, mr.CheckOK = Float(diff), diff <= 1e-4
}

// measureGo builds a fresh model, takes the check values, and times its training then evaluation steps.
func (c *Config) measureGo(sp Spec, plan Plan, side *Side) (train, eval Timing, ch Check, err error) {
	dev, err := torchrt.ResolveDevice(cmp.Or(c.Device, "cpu"))
	if err != nil {
		return train, eval, ch, err
	}
	m, err := Build(sp, c.Seed, dev)
	if err != nil {
		return train, eval, ch, err
	}
	defer m.Close()
	ch = Check{EvalLoss0: Float(m.EvalLoss()), TrainLoss1: Float(m.TrainStep()), TrainLoss2: Float(m.TrainStep())}
	tt := Measure(plan, func() { m.TrainStep() })
	et := Measure(plan, m.EvalStep)
	side.NonFinite += m.NonFinite()
	side.TrainGCs += tt.GCs
	side.TrainGCPauseMS += tt.GCPauseMS
	side.EvalGCs += et.GCs
	side.EvalGCPauseMS += et.GCPauseMS
	return tt, et, ch, nil
}

// torchSide is the JSON the runner prints.
type torchSide struct {
	TorchVersion  string `json:"torch_version"`
	TorchPath     string `json:"torch_path"`
	PythonVersion string `json:"python_version"`
	Threads       int    `json:"threads"`
	Interop       int    `json:"interop_threads"`
	Models        map[string]struct {
		Check      Check   `json:"check"`
		TrainNS    []int64 `json:"train_ns"`
		EvalNS     []int64 `json:"eval_ns"`
		TrainCPUNS []int64 `json:"train_cpu_ns"`
		EvalCPUNS  []int64 `json:"eval_cpu_ns"`
		NonFinite  int     `json:"nonfinite_losses"`
	} `json:"models"`
}

// TorchCommand is the runner invocation for one model.
func (c *Config) TorchCommand(sp Spec, plan Plan) *exec.Cmd {
	return c.pythonCommand(c.Runner,
		"--threads", fmt.Sprint(c.Threads), "--seed", fmt.Sprint(c.Seed),
		"--lr", fmt.Sprint(LR), "--momentum", fmt.Sprint(Momentum), "--weight-decay", fmt.Sprint(WeightDecay),
		"--model", fmt.Sprintf("%s:%d:%d:%d", sp.Name, plan.Warmup, plan.Repeats, plan.Steps),
		"--device", cmp.Or(c.Device, "cpu"))
}

// pythonCommand runs the PyTorch side's interpreter with PYTHONPATH set to the torch install.
func (c *Config) pythonCommand(args ...string) *exec.Cmd {
	cmd := exec.Command(c.Python, args...)
	cmd.Env = os.Environ()
	if c.PythonPath != "" {
		pp, err := filepath.Abs(c.PythonPath)
		if err != nil {
			pp = c.PythonPath
		}
		cmd.Env = append(cmd.Env, "PYTHONPATH="+pp)
	}
	return cmd
}

// runPython runs cmd, its stderr also to c.Log, and returns its stdout; a failure says how to install
// PyTorch when that is what is missing.
func (c *Config) runPython(cmd *exec.Cmd) ([]byte, error) {
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	if c.Log != nil {
		cmd.Stderr = io.MultiWriter(&stderr, c.Log)
	}
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if strings.Contains(msg, "No module named 'torch'") {
			msg += fmt.Sprintf("\n(PyTorch 2.1.0 is not importable with PYTHONPATH=%s: run `make perf`, which installs it, or "+
				"python3 -m pip install --target .deps/torch-py torch==2.1.0; or pass --no-torch)", c.PythonPath)
		}
		return nil, fmt.Errorf("%s: %w\n%s", strings.Join(cmd.Args, " "), err, msg)
	}
	return stdout.Bytes(), nil
}

func (c *Config) runTorch(sp Spec, plan Plan) (*torchSide, error) {
	stdout, err := c.runPython(c.TorchCommand(sp, plan))
	if err != nil {
		return nil, err
	}
	var out torchSide
	if err := json.Unmarshal(stdout, &out); err != nil {
		return nil, fmt.Errorf("reading the runner's JSON: %w", err)
	}
	if _, ok := out.Models[sp.Name]; !ok {
		return nil, fmt.Errorf("the runner's JSON has no model %s", sp.Name)
	}
	return &out, nil
}

// WriteTable prints the report as a text table.
func (r *Report) WriteTable(w io.Writer) {
	fmt.Fprintf(w, "CPU: %s (%d CPUs), intra-op threads: Go %d, PyTorch %d; seed %d, %d round(s); SGD lr %g momentum %g wd %g\n",
		r.CPUModel, r.NumCPU, r.GoThreads, r.TorchThreads, r.Seed, r.Rounds, r.LR, r.Momentum, r.WeightDecay)
	fmt.Fprintf(w, "libtorch %s (Go: gotch %s, %s; PyTorch %s, Python %s)\n", r.Libtorch, r.Gotch, r.GoVersion, r.TorchVersion, r.PythonVersion)
	if len(r.Models) > 0 {
		fmt.Fprintln(w)
		r.writeStepTable(w)
	}
	if len(r.Cells) > 0 {
		fmt.Fprintln(w)
		r.WriteCellTable(w)
	}
}

// writeStepTable prints the step models.
func (r *Report) writeStepTable(w io.Writer) {
	fmt.Fprintln(w, "ms per step: median over all timed steps [p25–p75]; ratio = Go / PyTorch")
	fmt.Fprintln(w)
	fmt.Fprintf(w, "%-15s %7s  %-24s %-24s %6s  %-24s %-24s %6s  %-7s %s\n", "model", "steps", "Go train", "PyTorch train", "ratio", "Go eval", "PyTorch eval", "ratio", "target", "check")
	cell := func(s Stats) string { return fmt.Sprintf("%.3f [%.3f–%.3f]", s.Median, s.P25, s.P75) }
	for _, m := range r.Models {
		pyT, pyE, rt, re, tgt, chk := "-", "-", "-", "-", "-", "-"
		if m.Torch != nil {
			pyT, pyE = cell(m.Torch.Train), cell(m.Torch.Eval)
			rt, re = fmt.Sprintf("%.2f", m.TrainRatio), fmt.Sprintf("%.2f", m.EvalRatio)
			tgt = fmt.Sprintf("≤%.1f ", m.Target)
			if m.TargetMet {
				tgt += "met"
			} else {
				tgt += "MISSED"
			}
			chk = fmt.Sprintf("ok (%.0e)", m.CheckDiff)
			if !m.CheckOK {
				chk = fmt.Sprintf("DIFFERS (%.1e)", m.CheckDiff)
			}
			if m.CheckNote != "" {
				chk += " eval only"
			}
		}
		fmt.Fprintf(w, "%-15s %7d  %-24s %-24s %6s  %-24s %-24s %6s  %-7s %s\n", m.Spec.Name, m.Go.Train.Steps,
			cell(m.Go.Train), pyT, rt, cell(m.Go.Eval), pyE, re, tgt, chk)
	}
	if len(r.Models) > 0 && r.Models[0].Go.TrainCPU.Steps > 0 {
		fmt.Fprintln(w)
		fmt.Fprintln(w, "process CPU ms per step (all threads; not inflated by other work taking the cores): median [p25–p75]")
		fmt.Fprintf(w, "%-15s %-24s %-24s %6s  %-24s %-24s %6s\n", "model", "Go train", "PyTorch train", "ratio", "Go eval", "PyTorch eval", "ratio")
		for _, m := range r.Models {
			pyT, pyE, rt, re := "-", "-", "-", "-"
			if m.Torch != nil && m.Torch.TrainCPU.Steps > 0 {
				pyT, pyE = cell(m.Torch.TrainCPU), cell(m.Torch.EvalCPU)
				rt, re = fmt.Sprintf("%.2f", m.TrainCPURatio), fmt.Sprintf("%.2f", m.EvalCPURatio)
			}
			fmt.Fprintf(w, "%-15s %-24s %-24s %6s  %-24s %-24s %6s\n", m.Spec.Name, cell(m.Go.TrainCPU), pyT, rt, cell(m.Go.EvalCPU), pyE, re)
		}
	}
	var nf []string
	for _, m := range r.Models {
		if m.Go.NonFinite > 0 || (m.Torch != nil && m.Torch.NonFinite > 0) {
			nf = append(nf, m.Spec.Name)
		}
	}
	if len(nf) > 0 {
		fmt.Fprintf(w, "warning: non-finite training losses (steps without backward) in %s\n", strings.Join(nf, ", "))
	}
}
