package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/mmfusion/bench/bench"
	"github.com/mmfusion/bench/bench/store"
	"github.com/mmfusion/bench/bench/sweep"
	"github.com/mmfusion/bench/bench/tensorboard"
	"github.com/mmfusion/bench/bench/torchrt"
	"github.com/mmfusion/bench/bench/tune"
	"github.com/mmfusion/bench/reports"
)

func cmdTune(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("tune", stderr)
	methods := fs.String("methods", "all", "comma-separated method names, or all")
	dataset := fs.String("dataset", "synthetic", "one dataset spec")
	encoder := fs.String("encoder", "mlp", "one encoder")
	budget := fs.Int("budget", 12, "trials per method (the same for every method)")
	seeds := fs.String("seeds", "3", "final-run seeds: a count N (1..N) or a list")
	tuneSeed := fs.Int64("tune-seed", 0, "seed of the trials (data generation, initialisation, order); keep it out of --seeds")
	samplerSeed := fs.Uint64("sampler-seed", 1, "seed of the random-search sampler, shared by every method")
	var sets listFlag
	fs.Var(&sets, "set", "fixed hyper-parameter OWNER.KEY=VALUE (repeatable); a fixed parameter is not searched")
	epochs := fs.Int("epochs", 30, "training epochs of every trial and final run")
	lr := fs.Float64("lr", 0.01, "learning rate of the default configurations (trials search it)")
	batch := fs.Int("batch-size", 64, "batch size of the default configurations (trials search it)")
	momentum := fs.Float64("momentum", 0.9, "SGD momentum")
	wd := fs.Float64("weight-decay", 1e-4, "SGD weight decay")
	jobs := fs.Int("jobs", 0, "cells trained at once (0 = number of cores)")
	device := fs.String("device", "auto", "auto (CUDA when this libtorch has it, else CPU), cpu, cuda or cuda:N")
	results := fs.String("results", "results", "results store directory (trials and final runs)")
	presets := fs.String("presets", "presets", "directory for the tuned presets (<dir>/<dataset>/<encoder>/<method>.json)")
	noDefaults := fs.Bool("no-defaults", false, "do not also run the default configurations for the side-by-side table")
	dataDir := fs.String("data-dir", os.Getenv("BENCH_DATA_DIR"), "root of real datasets")
	tbDir := fs.String("tensorboard", "", "write one TensorBoard event file per trained trial and final cell under DIR/<method>/<dataset>/<encoder>/seed<N>[/trial<K>]/")
	if err := fs.Parse(args); err != nil {
		return usageError{err}
	}
	if *tbDir != "" {
		if err := tensorboard.CheckDir(*tbDir); err != nil {
			return usageError{err}
		}
	}
	if _, err := torchrt.ResolveDevice(*device); err != nil {
		return usageError{err}
	}
	seedList, err := parseSeeds(*seeds)
	if err != nil {
		return usageError{err}
	}
	for _, s := range seedList {
		if s == *tuneSeed {
			return usagef("--tune-seed %d is also a final seed: tune on a seed the final runs do not use", s)
		}
	}
	setMap, err := bench.ParseSets(sets)
	if err != nil {
		return usageError{err}
	}
	o := tune.Options{Methods: sweep.ExpandMethods(splitList(*methods)), Dataset: *dataset, Encoder: *encoder,
		Budget: *budget, SamplerSeed: *samplerSeed, TuneSeed: *tuneSeed, Seeds: seedList, Sets: setMap,
		Train: store.TrainConfig{Optimizer: "sgd", Momentum: *momentum, WeightDecay: *wd, Epochs: *epochs, LR: *lr, BatchSize: *batch},
		Jobs:  *jobs, Device: *device, DataDir: *dataDir, PresetDir: *presets, WithDefaults: !*noDefaults, TensorBoard: *tbDir}
	// Validate names and --set keys up front, with the sweep's rules.
	check := sweep.Options{Methods: o.Methods, Datasets: []string{o.Dataset}, Encoders: []string{o.Encoder}, Seeds: seedList,
		Sets: setMap, Train: o.Train, DataDir: *dataDir}
	st, err := store.Open(*results)
	if err != nil {
		return err
	}
	if _, _, err := sweep.Plan(check, st); err != nil {
		return usageError{err}
	}
	if _, err := tune.TrialCells(o); err != nil {
		return usageError{err}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	trials, err := tune.RunTrials(ctx, o, st, stderr)
	if err != nil {
		return interrupted(ctx, err, *results)
	}
	chosen, err := tune.Choose(o, trials)
	if err != nil {
		return err
	}
	for _, m := range o.Methods {
		p := chosen[m]
		fmt.Fprintf(stderr, "%s: best of %d trials is trial %d (val acc %.3f): lr %.3g, batch %d, %v → %s\n", m, o.Budget,
			p.Tuning.BestTrial, p.Tuning.BestValAcc, p.Config.LR, p.Config.BatchSize, p.Config.Params,
			tune.PresetPath(o.PresetDir, o.Dataset, o.Encoder, m))
	}
	plan, err := tune.RunFinal(ctx, o, chosen, st, stderr)
	if err != nil {
		return interrupted(ctx, err, *results)
	}
	recs, err := sweep.Records(plan, st)
	if err != nil {
		return err
	}
	tab, err := reports.Build(recs, reports.Options{})
	if err != nil {
		return err
	}
	return reports.Render(stdout, tab, "md")
}

func interrupted(ctx context.Context, err error, results string) error {
	if ctx.Err() != nil {
		return fmt.Errorf("interrupted: finished cells are kept in %s; rerun the same command to finish the rest", results)
	}
	return err
}
