package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/mmfusion/bench/bench/perf"
)

// `bench perf` is dispatched from here until main.go's command switch gets its case (see
// cmdPerf): package main's init runs after every imported package's init (the registries are
// filled), before main.
func cmdPerf(args []string) error {
	fs := flag.NewFlagSet("perf", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: bench perf [flags]\n\nTimes one training step (forward, backward, SGD with momentum 0.9 and weight decay 1e-4) and one\n"+
			"evaluation step (forward under no-grad) of fixed models, in Go (this binary) and in PyTorch 2.1\n"+
			"(perf/run_torch.py, started as a subprocess with the same settings), and compares them.\n\nmodels:")
		for _, s := range perf.Specs() {
			fmt.Fprintf(fs.Output(), "  %-15s %s (per round: warm-up %d, %d×%d timed steps)\n", s.Name, s.Desc, s.Plan.Warmup, s.Plan.Repeats, s.Plan.Steps)
		}
		fmt.Fprintln(fs.Output(), "\nflags:")
		fs.PrintDefaults()
	}
	models := fs.String("models", "all", "comma-separated perf models, or all")
	threads := fs.Int("threads", 1, "libtorch intra-op threads, both sides")
	rounds := fs.Int("rounds", 3, "alternate Go and PyTorch this many times per model (fresh model and process each time); step times are pooled")
	scale := fs.Float64("scale", 1, "multiply every model's number of timed repeats (e.g. 0.2 for a quick look)")
	seed := fs.Int64("seed", 1, "seed of weights (seed) and inputs (seed+1), both sides")
	out := fs.String("out", "perf.json", "JSON report file ('' = none)")
	python := fs.String("python", "python3", "Python interpreter of the PyTorch side")
	pythonPath := fs.String("pythonpath", ".deps/torch-py", "PYTHONPATH with torch==2.1.0 (make perf installs it there)")
	runner := fs.String("runner", "perf/run_torch.py", "the PyTorch runner script")
	noTorch := fs.Bool("no-torch", false, "time the Go side only")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return usageError{err}
	}
	if fs.NArg() > 0 {
		return usagef("perf: unexpected argument %q", fs.Arg(0))
	}
	if *threads < 1 || *rounds < 1 || *scale <= 0 {
		return usagef("perf: --threads and --rounds must be ≥ 1 and --scale > 0")
	}
	cfg := perf.Config{Threads: *threads, Seed: *seed, Rounds: *rounds, Scale: *scale, Python: *python,
		PythonPath: *pythonPath, Runner: *runner, NoTorch: *noTorch, Log: os.Stderr}
	if *models == "all" {
		cfg.Models = perf.Specs()
	} else {
		for _, name := range splitList(*models) {
			sp, err := perf.Lookup(name)
			if err != nil {
				return usageError{err}
			}
			cfg.Models = append(cfg.Models, sp)
		}
	}
	if !cfg.NoTorch {
		if _, err := os.Stat(cfg.Runner); err != nil {
			return usagef("perf: runner %s: %v (run from the repository root, or pass --runner)", cfg.Runner, err)
		}
	}
	rep, err := perf.Run(cfg)
	if err != nil {
		return err
	}
	fmt.Println()
	rep.WriteTable(os.Stdout)
	if !cfg.NoTorch {
		var missed []string
		for _, m := range rep.Models {
			if !m.TargetMet {
				missed = append(missed, m.Spec.Name)
			}
		}
		if len(missed) == 0 {
			fmt.Println("\ntargets (ratio ≤ 0.7 on the MLP models, ≤ 1.0 elsewhere, train and eval): all met")
		} else {
			fmt.Printf("\ntargets (ratio ≤ 0.7 on the MLP models, ≤ 1.0 elsewhere, train and eval): missed on %s\n", strings.Join(missed, ", "))
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
		fmt.Printf("report written to %s\n", *out)
	}
	return nil
}
