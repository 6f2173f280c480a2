package main

import (
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/mmfusion/bench/bench/data"
	"github.com/mmfusion/bench/bench/store"
	"github.com/mmfusion/bench/interactions"
	"github.com/mmfusion/bench/reports"
)

func cmdInteractions(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("interactions", stderr)
	var datasets listFlag
	fs.Var(&datasets, "dataset", "dataset spec (repeatable), e.g. boolean:mix=AND+XOR")
	seed := fs.Int64("seed", 1, "seed that generates or splits the dataset")
	split := fs.String("split", "train", "split to estimate on: train, val or test")
	model := fs.String("model", "", "a result record (JSON file): estimate the PID of that model's test predictions instead of the labels")
	results := fs.String("results", "", "results store: print the DMI readouts (methods.md §10.5) of its dmi records on the same dataset beside the estimate")
	clusters := fs.Int("clusters", interactions.DefaultClusters, "k-means clusters per modality for continuous features")
	components := fs.Int("components", interactions.DefaultComponentsSynthetic, "PCA components before k-means")
	dataDir := fs.String("data-dir", os.Getenv("BENCH_DATA_DIR"), "root of real datasets")
	bootstrap := fs.Int("bootstrap", 0, "resample the split's samples with replacement N times and print the 2.5/97.5 percentiles of R, U1, U2, S (0 = off)")
	if err := fs.Parse(args); err != nil {
		return usageError{err}
	}
	if *bootstrap != 0 && *bootstrap < 2 {
		return usagef("--bootstrap %d: want 0 (off) or at least 2 resamples", *bootstrap)
	}
	opts := interactions.DiscretizeOptions{Clusters: *clusters, Components: *components, Seed: uint64(*seed)}
	var target []int64
	targetName := ""
	if *model != "" {
		rec, err := store.ReadFile(*model)
		if err != nil {
			return usageError{err}
		}
		if len(rec.TestPredictions) == 0 {
			return usagef("%s has no test predictions (recorded by harness versions from 0.1.0 on)", *model)
		}
		datasets = listFlag{rec.Dataset}
		*seed, *split, target = rec.Seed, "test", rec.TestPredictions
		targetName = fmt.Sprintf("predictions of %s (seed %d)", rec.Label, rec.Seed)
		opts.Seed = uint64(rec.Seed)
	}
	if len(datasets) == 0 {
		return usagef("interactions: give --dataset SPEC or --model RECORD")
	}
	var recs []*store.Record
	if *results != "" {
		var err error
		if recs, err = loadRecords(*results, stderr); err != nil {
			return err
		}
	}
	L, R := reports.AlignLeft, reports.AlignRight
	tab := reports.TextTable{Header: []string{"dataset", "split", "n", "Y", "R", "U1", "U2", "S", "I(X1,X2;Y)", "R%", "U1%", "U2%", "S%"},
		Align: []reports.Align{L, L, R, L, R, R, R, R, R, R, R, R, R}}
	var notes []string
	for _, spec := range datasets {
		set, err := data.Load(spec, *seed, *dataDir)
		if err != nil {
			return usageError{err}
		}
		if *model != "" && target != nil {
			// the record's data must be the data we regenerate
			if rec, _ := store.ReadFile(*model); rec != nil && rec.DatasetSHA256 != set.SHA256 {
				return fmt.Errorf("dataset %s (seed %d) no longer matches the record's checksum", spec, *seed)
			}
		}
		est, err := interactions.ForDataset(set, *split, target, targetName, opts)
		if err != nil {
			return err
		}
		y := "labels"
		if target != nil {
			y = "model"
		}
		p := est.PID
		row := []string{spec, est.Split, fmt.Sprint(est.N), y}
		for _, v := range []float64{p.R, p.U1, p.U2, p.S, p.I12} {
			row = append(row, fmt.Sprintf("%.4f", v))
		}
		for _, v := range []float64{p.Norm.R, p.Norm.U1, p.Norm.U2, p.Norm.S} {
			row = append(row, fmt.Sprintf("%.1f", v))
		}
		tab.Rows = append(tab.Rows, row)
		if *bootstrap > 0 {
			b, err := interactions.Bootstrap(est.X1, est.X2, est.Y, *bootstrap, 0.95, uint64(*seed))
			if err != nil {
				return err
			}
			notes = append(notes, bootstrapNote(spec, est, b))
		}
		if est.Composition != nil {
			notes = append(notes, fmt.Sprintf("%s: by construction (share of samples per %s; a different quantity from the PID above): %s",
				spec, est.CompositionKind, strings.Join(est.SortedComposition(), ", ")))
		}
		if est.Categories == "discretised" {
			notes = append(notes, fmt.Sprintf("%s: X1, X2 are k-means codes (%d clusters on %d PCA components of the L2-normalised features, seed %d)",
				spec, opts.Clusters, opts.Components, opts.Seed))
		} else {
			notes = append(notes, spec+": X1, X2 are the raw bits the dataset keeps")
		}
		if target != nil {
			notes = append(notes, spec+": Y = "+est.Target)
		}
		if line := dmiReadout(recs, spec); line != "" {
			notes = append(notes, line)
		}
	}
	if err := reports.WriteTerminal(stdout, tab); err != nil {
		return err
	}
	fmt.Fprintln(stdout, "\nR, U1, U2, S and I in bits (BROJA PID, certified to 1e-6 bits); R%…S% normalised to 100.")
	for _, n := range notes {
		fmt.Fprintln(stdout, "- "+n)
	}
	return nil
}

// dmiReadout averages, over seeds, the R/U1/U2/S readouts and gate weights that DMI records carry
// in Test.Extra (keys starting with "dmi_") for the dataset spec.
func dmiReadout(recs []*store.Record, spec string) string {
	sums := map[string]float64{}
	n := 0
	for _, r := range recs {
		if r.Method != "dmi" || r.Dataset != spec || r.Status != store.StatusOK {
			continue
		}
		n++
		for k, v := range r.Test.Extra {
			if strings.HasPrefix(k, "dmi_") {
				sums[k] += v
			}
		}
	}
	if n == 0 {
		return ""
	}
	var keys []string
	for k := range sums {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s %.3f", strings.TrimPrefix(k, "dmi_"), sums[k]/float64(n)))
	}
	return fmt.Sprintf("%s: DMI readout on the test split (methods.md §10.5, our reading; mean over %d seeds): %s", spec, n, strings.Join(parts, ", "))
}

// bootstrapNote is the percentile interval of each PID term, in bits and normalised.
func bootstrapNote(spec string, est *interactions.DatasetEstimate, b interactions.BootstrapResult) string {
	names := [4]string{"R", "U1", "U2", "S"}
	var parts []string
	for t, n := range names {
		parts = append(parts, fmt.Sprintf("%s [%.4f, %.4f] bits ([%.1f, %.1f] %%)", n, b.Bits[t].Lo, b.Bits[t].Hi, b.Norm[t].Lo, b.Norm[t].Hi))
	}
	what := "the category codes held fixed"
	if est.Categories == "raw" {
		what = "the raw bits"
	}
	line := fmt.Sprintf("%s: %.0f %% bootstrap interval (%d resamples with replacement of the %d samples of the %s split, %s; 2.5/97.5 percentiles, seed %d): %s",
		spec, 100*b.Level, b.Reps, est.N, est.Split, what, b.Seed, strings.Join(parts, ", "))
	if b.Failed > 0 {
		line += fmt.Sprintf(" (%d resamples not certified converged; their best estimate used)", b.Failed)
	}
	return line
}
