package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/mmfusion/bench/bench"
	"github.com/mmfusion/bench/bench/data"
	"github.com/mmfusion/bench/bench/store"
	"github.com/mmfusion/bench/reports"
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
	// One table per registry: a row per entry (name, description), then for methods and encoders a
	// row per parameter: name=default, the values it may take (its range, or an enum's values), and
	// its help.
	withParams := func(what string) reports.TextTable {
		return reports.TextTable{Header: []string{what, "parameter=default", "values", "description"}, WrapLast: true}
	}
	addParams := func(tt *reports.TextTable, ps []bench.ParamSpec) {
		for _, p := range ps {
			tt.Rows = append(tt.Rows, []string{"", p.Name + "=" + p.Default, p.Allowed(), p.Help})
		}
	}
	methods := withParams("method")
	for _, e := range bench.Methods.Entries() {
		methods.Rows = append(methods.Rows, []string{e.Name, "", "", e.Description})
		addParams(&methods, e.Value.Params)
	}
	datasets := reports.TextTable{Header: []string{"dataset", "description"}, WrapLast: true}
	for _, e := range data.Datasets.Entries() {
		datasets.Rows = append(datasets.Rows, []string{e.Name, e.Description})
	}
	encoders := withParams("encoder")
	for _, e := range bench.Encoders.Entries() {
		encoders.Rows = append(encoders.Rows, []string{e.Name, "", "", e.Description})
		addParams(&encoders, e.Value.Params)
	}
	for i, sec := range []struct {
		title string
		tt    reports.TextTable
	}{
		{"methods (set with --set METHOD.KEY=VALUE):", methods},
		{"datasets (parameters in the spec: NAME:KEY=VALUE,...):", datasets},
		{"encoders (set with --set ENCODER.KEY=VALUE):", encoders},
	} {
		if i > 0 {
			fmt.Fprintln(stdout)
		}
		fmt.Fprintln(stdout, sec.title)
		if err := reports.WriteTerminal(stdout, sec.tt); err != nil {
			return err
		}
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
