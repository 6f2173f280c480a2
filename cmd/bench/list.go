package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/mmfusion/bench/bench"
	"github.com/mmfusion/bench/bench/data"
	"github.com/mmfusion/bench/bench/store"
)

func cmdList(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("list", stderr)
	recipes := fs.Bool("recipes", false, "list each method's reference recipe (--recipe reference) instead: its settings per dataset and their source")
	if err := fs.Parse(args); err != nil {
		return usageError{err}
	}
	if *recipes {
		return listRecipes(stdout)
	}
	w := tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
	defer w.Flush()
	// One line per parameter: name=default, the values it may take (its range, or an enum's values),
	// and its help.
	printParams := func(ps []bench.ParamSpec) {
		for _, p := range ps {
			fmt.Fprintf(w, "      %s=%s\t%s\t%s\n", p.Name, p.Default, p.Allowed(), p.Help)
		}
	}
	fmt.Fprintln(w, "methods (set with --set METHOD.KEY=VALUE):")
	for _, e := range bench.Methods.Entries() {
		fmt.Fprintf(w, "  %s\t%s\n", e.Name, e.Description)
		printParams(e.Value.Params)
	}
	fmt.Fprintln(w, "\ndatasets (parameters in the spec: NAME:KEY=VALUE,...):")
	for _, e := range data.Datasets.Entries() {
		fmt.Fprintf(w, "  %s\t%s\n", e.Name, e.Description)
	}
	fmt.Fprintln(w, "\nencoders (set with --set ENCODER.KEY=VALUE):")
	for _, e := range bench.Encoders.Entries() {
		fmt.Fprintf(w, "  %s\t%s\n", e.Name, e.Description)
		printParams(e.Value.Params)
	}
	return nil
}

// listRecipes prints each method's reference recipes, resolved from bench run's default flags.
func listRecipes(w io.Writer) error {
	shared := store.TrainConfig{Optimizer: "sgd", LR: 0.01, Momentum: 0.9, WeightDecay: 1e-4, BatchSize: 64, Epochs: 30}
	fmt.Fprintln(w, "reference recipes (bench run --recipe reference); values a reference lacks come from the run's flags (defaults shown)")
	for _, m := range bench.Methods.Names() {
		rows, none := bench.Recipes(m)
		if none != "" {
			fmt.Fprintf(w, "  %s: no reference recipe (%s): shared protocol\n", m, none)
			continue
		}
		for i, r := range rows {
			name, ds := "", "any dataset"
			if len(r.Datasets) > 0 {
				name, ds = r.Datasets[0], strings.Join(r.Datasets, ", ")
				if i == 0 { // the row used for datasets no row names
					ds += " (and datasets no other row names)"
				}
			}
			t, err := bench.ResolveRecipe(bench.RecipeReference, m, name, shared)
			if err != nil {
				return err
			}
			fmt.Fprintf(w, "  %s on %s: %s\n      source: %s\n", m, ds, bench.DescribeRecipe(t), r.Source)
			for _, n := range t.RecipeNotes {
				fmt.Fprintf(w, "      note: %s\n", n)
			}
		}
	}
	return nil
}
