package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/mmfusion/bench/bench"
	"github.com/mmfusion/bench/bench/store"
	"github.com/mmfusion/bench/bench/sweep"
	"github.com/mmfusion/bench/bench/tensorboard"
	"github.com/mmfusion/bench/bench/torchrt"
	"github.com/mmfusion/bench/bench/tune"
	"github.com/mmfusion/bench/reports"
)

// listFlag collects repeatable, comma-separated values.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error {
	*l = append(*l, v)
	return nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// splitSpecs splits a comma-separated list of dataset specs, where a spec's own parameters are also
// comma-separated: "synthetic:mix=S,train=500,boolean" is two specs. An item with '=' but no ':' is
// a parameter of the spec before it.
func splitSpecs(s string) []string {
	var out []string
	for _, p := range splitList(s) {
		if len(out) > 0 && strings.Contains(p, "=") && !strings.Contains(p, ":") {
			out[len(out)-1] += "," + p
			continue
		}
		out = append(out, p)
	}
	return out
}

// parseSeeds reads "N" (seeds 1..N) or a list "1,5,9".
func parseSeeds(s string) ([]int64, error) {
	if !strings.Contains(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("--seeds %q: want a positive count N (seeds 1..N) or a list like 1,2,7", s)
		}
		seeds := make([]int64, n)
		for i := range seeds {
			seeds[i] = int64(i + 1)
		}
		return seeds, nil
	}
	var seeds []int64
	seen := map[int64]bool{}
	for _, p := range splitList(s) {
		v, err := strconv.ParseInt(p, 10, 64)
		if err != nil || v < 0 {
			return nil, fmt.Errorf("--seeds %q: %q is not a non-negative integer", s, p)
		}
		if seen[v] {
			return nil, fmt.Errorf("--seeds %q: seed %d given twice", s, v)
		}
		seen[v] = true
		seeds = append(seeds, v)
	}
	return seeds, nil
}

func cmdRun(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("run", stderr)
	methods := fs.String("methods", "all", "comma-separated method names, or all")
	datasets := fs.String("dataset", "synthetic", "comma-separated dataset specs, e.g. synthetic:mix=0.5R+0.5S")
	encoders := fs.String("encoder", "mlp", "comma-separated encoder names")
	seeds := fs.String("seeds", "3", "number of seeds N (runs seeds 1..N) or a list like 1,2,7")
	var sets listFlag
	fs.Var(&sets, "set", "hyper-parameter override OWNER.KEY=VALUE (repeatable), e.g. joint.fusion=mlp or mlp.hidden=64")
	epochs := fs.Int("epochs", 30, "training epochs")
	batch := fs.Int("batch-size", 64, "batch size")
	lr := fs.Float64("lr", 0.01, "SGD learning rate")
	momentum := fs.Float64("momentum", 0.9, "SGD momentum")
	wd := fs.Float64("weight-decay", 1e-4, "SGD weight decay")
	recipe := fs.String("recipe", bench.RecipeShared, "shared: one optimiser, lr, schedule and epochs for every method (the flags above); reference: each method's own reference recipe (optimiser, lr and schedule, epochs, batch size, initialisation, per-stage settings), values the reference lacks kept from the flags (bench list --recipes)")
	jobs := fs.Int("jobs", 0, "cells trained at once (0 = number of cores)")
	threads := fs.Int("threads", 0, "libtorch intra-op threads per cell (0 = cores / jobs)")
	device := fs.String("device", "auto", "auto (CUDA when this libtorch has it, else CPU), cpu, cuda or cuda:N")
	results := fs.String("results", "results", "results store directory")
	dataDir := fs.String("data-dir", os.Getenv("BENCH_DATA_DIR"), "root of real datasets (default $BENCH_DATA_DIR, else ../shared/data)")
	force := fs.Bool("force", false, "rerun cells already in the store")
	dryRun := fs.Bool("dry-run", false, "print the plan (cells to run, cells already done) and exit")
	preset := fs.String("preset", "", "tuned presets (a file or a directory written by bench tune): methods with a preset for the dataset and encoder run its configuration")
	shard := fs.String("shard", "", "run only shard i/n of the cells (0 ≤ i < n), for job arrays; shards' stores merge by copying files")
	prefetch := fs.Int("prefetch", bench.Prefetch, "batches of a lazily read training split (video datasets) read ahead per cell while the current one trains (0 = read each batch when needed); changes no value")
	sf := addSlurmFlags(fs)
	tbDir := fs.String("tensorboard", "", "write one TensorBoard event file per trained cell under DIR/<method>/<dataset>/<encoder>/seed<N>/ (view with tensorboard --logdir DIR)")
	if err := fs.Parse(args); err != nil {
		return usageError{err}
	}
	if fs.NArg() > 0 {
		return usagef("run: unexpected argument %q", fs.Arg(0))
	}
	if *tbDir != "" {
		if err := tensorboard.CheckDir(*tbDir); err != nil {
			return usageError{err}
		}
	}
	if err := sf.check(*shard); err != nil {
		return err
	}
	if *prefetch < 0 || *prefetch > 64 {
		return usagef("run: --prefetch %d: want 0 … 64 batches", *prefetch)
	}
	bench.Prefetch = *prefetch
	if _, err := torchrt.ResolveDevice(*device); err != nil {
		return usageError{err}
	}
	seedList, err := parseSeeds(*seeds)
	if err != nil {
		return usageError{err}
	}
	setMap, err := bench.ParseSets(sets)
	if err != nil {
		return usageError{err}
	}
	if err := bench.CheckRecipeName(*recipe); err != nil {
		return usageError{err}
	}
	opt := sweep.Options{Recipe: *recipe,
		Methods: splitList(*methods), Datasets: splitSpecs(*datasets), Encoders: splitList(*encoders),
		Seeds: seedList, Sets: setMap, Jobs: *jobs, Device: *device, DataDir: *dataDir, Force: *force, TensorBoard: *tbDir,
		Train: store.TrainConfig{Optimizer: "sgd", LR: *lr, Momentum: *momentum, WeightDecay: *wd,
			BatchSize: *batch, Epochs: *epochs, Threads: *threads},
	}
	st, err := store.Open(*results)
	if err != nil {
		return err
	}
	plan, skipped, err := sweep.Plan(opt, st)
	if err != nil {
		return usageError{err}
	}
	for _, why := range skipped {
		fmt.Fprintf(stderr, "bench: skipping: %s\n", why)
	}
	if *preset != "" {
		if plan, err = applyPresets(plan, *preset, st, opt); err != nil {
			return usageError{err}
		}
	}
	if sf.slurm() {
		return launchSlurm(stdout, stderr, fs, args, sf, plan, st, *results, *dryRun, *force)
	}
	if *shard != "" {
		i, n, err := sweep.ParseShard(*shard)
		if err != nil {
			return usageError{err}
		}
		plan = sweep.Shard(plan, i, n)
	}
	if *dryRun {
		return printPlan(stdout, plan, *results)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	sum, runErr := sweep.Run(ctx, plan, opt, st, stderr)
	others := ""
	if sum.ByOthers > 0 {
		others = fmt.Sprintf(", %d of them stored by another run meanwhile", sum.ByOthers)
	}
	unfinished := ""
	if sum.Unfinished > 0 {
		unfinished = fmt.Sprintf(", %d stopped unfinished (nothing stored)", sum.Unfinished)
	}
	fmt.Fprintf(stderr, "done: %d trained, %d skipped (already in %s%s), %d diverged, %d failed%s, in %s\n",
		sum.Ran, sum.Skipped, *results, others, sum.Diverged, sum.Failed, unfinished, sum.Wall.Round(1e8))
	if runErr != nil {
		return interrupted(ctx, runErr, *results)
	}
	recs, err := sweep.Records(plan, st)
	if err != nil {
		return err
	}
	if err := reports.Leaderboard(stdout, recs); err != nil {
		return err
	}
	if sum.Failed > 0 {
		return fmt.Errorf("%d cell(s) failed (their records say why; a rerun retries them)", sum.Failed)
	}
	return nil
}

func printPlan(w io.Writer, plan []*sweep.Planned, results string) error {
	todo, width := 0, 20
	for _, p := range plan {
		width = max(width, len(p.Cell.Label()))
	}
	var recipes []string // one line per (method, dataset) trained under a reference recipe
	seen := map[string]bool{}
	for _, p := range plan {
		state := "run "
		if p.Done {
			state = "done"
		} else {
			todo++
		}
		fmt.Fprintf(w, "%s  %-*s %-28s %-8s seed %-4d %s\n", state, width, p.Cell.Label(), p.Cell.Dataset, p.Cell.Encoder, p.Cell.Seed, p.Key)
		if t := p.Cell.Train; t.Recipe != "" && !seen[p.Cell.Method+" "+p.Cell.Dataset] {
			seen[p.Cell.Method+" "+p.Cell.Dataset] = true
			line := fmt.Sprintf("  %s on %s: %s; from %s", p.Cell.Method, p.Cell.Dataset, bench.DescribeRecipe(t), t.RecipeSource)
			for _, n := range t.RecipeNotes {
				line += "\n      note: " + n
			}
			recipes = append(recipes, line)
		}
	}
	if len(recipes) > 0 {
		fmt.Fprintln(w, "reference recipes:")
		fmt.Fprintln(w, strings.Join(recipes, "\n"))
	}
	fmt.Fprintf(w, "%d cells: %d to run, %d already in %s\n", len(plan), todo, len(plan)-todo, results)
	return nil
}

// applyPresets replaces each cell that has a preset for its (method, dataset, encoder) by the tuned
// configuration, and re-plans.
func applyPresets(plan []*sweep.Planned, path string, st *store.Store, opt sweep.Options) ([]*sweep.Planned, error) {
	presets, err := tune.ReadPresets(path)
	if err != nil {
		return nil, err
	}
	type pk struct{ method, dataset, encoder string }
	byKey := map[pk]*tune.Preset{}
	for _, p := range presets {
		byKey[pk{p.Method, p.Dataset, p.Encoder}] = p
	}
	cells := make([]*bench.Cell, 0, len(plan))
	used := 0
	for _, p := range plan {
		c := p.Cell
		if pr := byKey[pk{c.Method, c.Dataset, c.Encoder}]; pr != nil {
			spec, _ := bench.Methods.Lookup(c.Method)
			if c, err = tune.ApplyPreset(pr, spec.Value, c.EncoderParams, c.Seed, c.Train); err != nil {
				return nil, err
			}
			used++
		}
		cells = append(cells, c)
	}
	if used == 0 {
		return nil, fmt.Errorf("--preset %s: no preset matches a (method, dataset, encoder) of this run", path)
	}
	return sweep.PlanCells(cells, st, opt.DataDir, opt.Force)
}
