package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"

	"github.com/mmfusion/bench/bench"
	"github.com/mmfusion/bench/bench/perf"
	"github.com/mmfusion/bench/bench/torchrt"
)

// `bench perf` is dispatched from here until main.go's command switch gets its case (see
// cmdPerf): package main's init runs after every imported package's init (the registries are
// filled), before main.
func cmdPerf(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("perf", stderr)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: bench perf [flags]\n\nTimes one training step (forward, backward, SGD with momentum 0.9 and weight decay 1e-4) and one\n"+
			"evaluation step (forward under no-grad) of fixed models, in Go (this binary) and in PyTorch 2.1\n"+
			"(perf/run_torch.py, started as a subprocess with the same settings), and compares them.\n\n"+
			"With --cells it also times complete cells: bench.Train (build, epochs of training steps, validation after\n"+
			"each epoch, best-checkpoint snapshots, restore, test evaluation) against perf/run_cells.py, a PyTorch loop\n"+
			"running the same protocol on the data, initial weights and batch order the Go side exports; it prints\n"+
			"both sides' per-phase split and compares their curves. `bench perf --cells --models none` times cells only.\n\nmodels:")
		for _, s := range perf.Specs() {
			fmt.Fprintf(fs.Output(), "  %-15s %s (per round: warm-up %d, %d×%d timed steps)\n", s.Name, s.Desc, s.Plan.Warmup, s.Plan.Repeats, s.Plan.Steps)
		}
		fmt.Fprintln(fs.Output(), "\ncells (mlp encoders, default protocol of bench run; --epochs sets the epochs):")
		for _, s := range perf.CellSpecs() {
			fmt.Fprintf(fs.Output(), "  %-16s %s on %s (per round: %d timed cells per side)\n", s.Name, s.Method, s.Dataset, s.Reps)
		}
		fmt.Fprintln(fs.Output(), "\nflags:")
		fs.PrintDefaults()
	}
	models := fs.String("models", "all", "comma-separated perf models, all, or none")
	cells := fs.Bool("cells", false, "also time complete cells (bench.Train against perf/run_cells.py)")
	cellList := fs.String("cell-list", "all", "with --cells: comma-separated cells (method/dataset), or all")
	epochs := fs.Int("epochs", 30, "with --cells: training epochs per cell")
	dataDir := fs.String("data-dir", os.Getenv("BENCH_DATA_DIR"), "with --cells: root of real datasets (default $BENCH_DATA_DIR, else ../shared/data)")
	cellRunner := fs.String("cell-runner", "perf/run_cells.py", "with --cells: the PyTorch cell runner script")
	goRound := fs.String("go-round", "", "internal, started by --cells: run one round of cell NAME's Go side (NAME:REPS) in this process and print it as JSON")
	cellDir := fs.String("cell-dir", "", "with --cells: keep each exported cell (data, orders, initial weights) in DIR/<method>-<dataset>, for running the runner by hand")
	threads := fs.Int("threads", 1, "libtorch intra-op threads, both sides")
	device := fs.String("device", "cpu", "device of the step models, both sides: cpu, cuda or cuda:N (cells run on the CPU)")
	rounds := fs.Int("rounds", 3, "alternate Go and PyTorch this many times per model (fresh model and process each time); step times are pooled")
	scale := fs.Float64("scale", 1, "multiply every model's number of timed repeats (e.g. 0.2 for a quick look)")
	seed := fs.Int64("seed", 1, "seed of weights (seed) and inputs (seed+1), both sides")
	out := fs.String("out", "perf.json", "JSON report file ('' = none)")
	python := fs.String("python", "python3", "Python interpreter of the PyTorch side")
	pythonPath := fs.String("pythonpath", ".deps/torch-py", "PYTHONPATH with torch==2.1.0 (make perf installs it there)")
	runner := fs.String("runner", "perf/run_torch.py", "the PyTorch runner script")
	noTorch := fs.Bool("no-torch", false, "time the Go side only")
	loader := fs.String("loader", "", "time only the data loader on the CREMA-D layout DIR (training transform), Go against a PyTorch DataLoader (perf/run_loader.py); writes perf-loader.json")
	loaderClips := fs.Int("loader-clips", 256, "with --loader: clips read per pass")
	loaderBatch := fs.Int("loader-batch", 16, "with --loader: clips per batch")
	loaderFrames := fs.Int("loader-frames", 1, "with --loader: frames per clip (cremad:frames=)")
	loaderRunner := fs.String("loader-runner", "perf/run_loader.py", "with --loader: the PyTorch loader script (needs librosa, Pillow and torchvision: make perf-loader uses the make xcheck venv)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return usageError{err}
	}
	if fs.NArg() > 0 {
		return usagef("perf: unexpected argument %q", fs.Arg(0))
	}
	if *threads < 1 || *rounds < 1 || *scale <= 0 || *epochs < 1 {
		return usagef("perf: --threads, --rounds and --epochs must be ≥ 1 and --scale > 0")
	}
	if *goRound != "" {
		name, n, _ := strings.Cut(*goRound, ":")
		reps, err := strconv.Atoi(n)
		if err != nil || reps < 1 {
			return usagef("perf: --go-round %q: want NAME:REPS", *goRound)
		}
		cs, err := perf.LookupCell(name)
		if err != nil {
			return usageError{err}
		}
		runtime.LockOSThread()
		gr, err := perf.RunGoRound(cs, *seed, *epochs, *threads, *dataDir, reps)
		if err != nil {
			return err
		}
		return json.NewEncoder(stdout).Encode(gr)
	}
	if _, err := torchrt.ResolveDevice(*device); err != nil {
		return usageError{err}
	}
	if *loader != "" {
		if *loaderClips < 2 || *loaderBatch < 1 || *loaderFrames < 1 {
			return usagef("perf: --loader-clips must be ≥ 2, --loader-batch and --loader-frames ≥ 1")
		}
		lc := perf.LoaderConfig{Layout: *loader, Frames: *loaderFrames, Clips: *loaderClips, Batch: *loaderBatch,
			Rounds: *rounds, Prefetch: bench.Prefetch, Python: *python, PythonPath: *pythonPath, Runner: *loaderRunner,
			NoTorch: *noTorch, Threads: *threads, Log: stderr}
		rep, err := perf.RunLoader(lc)
		if err != nil {
			return err
		}
		rep.Print(stdout)
		file := *out
		if file == "perf.json" {
			file = "perf-loader.json"
		}
		if file != "" {
			b, err := json.MarshalIndent(rep, "", "  ")
			if err != nil {
				return err
			}
			if err := os.WriteFile(file, append(b, '\n'), 0o644); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "report written to %s\n", file)
		}
		return nil
	}
	cfg := perf.Config{Device: *device, Threads: *threads, Seed: *seed, Rounds: *rounds, Scale: *scale, Python: *python,
		PythonPath: *pythonPath, Runner: *runner, NoTorch: *noTorch, Log: stderr,
		CellEpochs: *epochs, DataDir: *dataDir, CellRunner: *cellRunner, CellDir: *cellDir}
	if exe, err := os.Executable(); err == nil {
		cfg.GoExe = exe
	}
	if *cells {
		if *cellList == "all" {
			cfg.Cells = perf.CellSpecs()
		} else {
			for _, name := range splitList(*cellList) {
				cs, err := perf.LookupCell(name)
				if err != nil {
					return usageError{err}
				}
				cfg.Cells = append(cfg.Cells, cs)
			}
		}
	}
	switch *models {
	case "all":
		cfg.Models = perf.Specs()
	case "none":
	default:
		for _, name := range splitList(*models) {
			sp, err := perf.Lookup(name)
			if err != nil {
				return usageError{err}
			}
			cfg.Models = append(cfg.Models, sp)
		}
	}
	if len(cfg.Models) == 0 && len(cfg.Cells) == 0 {
		return usagef("perf: nothing to time (--models none without --cells)")
	}
	if !cfg.NoTorch {
		if _, err := os.Stat(cfg.Runner); err != nil && len(cfg.Models) > 0 {
			return usagef("perf: runner %s: %v (run from the repository root, or pass --runner)", cfg.Runner, err)
		}
		if _, err := os.Stat(cfg.CellRunner); err != nil && len(cfg.Cells) > 0 {
			return usagef("perf: cell runner %s: %v (run from the repository root, or pass --cell-runner)", cfg.CellRunner, err)
		}
	}
	rep, err := perf.Run(cfg)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout)
	rep.WriteTable(stdout)
	if !cfg.NoTorch && len(rep.Models) > 0 {
		var missed []string
		for _, m := range rep.Models {
			if !m.TargetMet {
				missed = append(missed, m.Spec.Name)
			}
		}
		if len(missed) == 0 {
			fmt.Fprintln(stdout, "\ntargets (ratio ≤ 0.7 on the MLP models, ≤ 1.0 elsewhere, train and eval): all met")
		} else {
			fmt.Fprintf(stdout, "\ntargets (ratio ≤ 0.7 on the MLP models, ≤ 1.0 elsewhere, train and eval): missed on %s\n", strings.Join(missed, ", "))
		}
	}
	if !cfg.NoTorch && len(rep.Cells) > 0 {
		var missed []string
		for _, m := range rep.Cells {
			if m.Skipped == "" && !m.TargetMet {
				missed = append(missed, m.Spec.Name)
			}
		}
		if len(missed) == 0 {
			fmt.Fprintln(stdout, "cell targets (Go / PyTorch ≤ 0.7 per complete cell): all met")
		} else {
			fmt.Fprintf(stdout, "cell targets (Go / PyTorch ≤ 0.7 per complete cell): missed on %s\n", strings.Join(missed, ", "))
		}
	}
	if *out != "" {
		b, err := json.MarshalIndent(rep, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(*out, append(b, '\n'), 0o644); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "report written to %s\n", *out)
	}
	return nil
}
