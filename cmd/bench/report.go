package main

import (
	"fmt"
	"io"
	"os"

	"github.com/mmfusion/bench/bench/data"
	"github.com/mmfusion/bench/bench/store"
	"github.com/mmfusion/bench/interactions"
	"github.com/mmfusion/bench/reports"
)

// loadRecords reads every record of a store; unreadable files are reported by name and skipped.
func loadRecords(dir string, stderr io.Writer) ([]*store.Record, error) {
	st, err := store.Open(dir)
	if err != nil {
		return nil, usageError{err}
	}
	recs, probs, err := st.All()
	if err != nil {
		return nil, usageError{err}
	}
	for _, p := range probs {
		fmt.Fprintf(stderr, "bench: skipping %v\n", p.Err)
	}
	if len(recs) == 0 {
		return nil, usagef("no readable records in %s", dir)
	}
	return recs, nil
}

func cmdReport(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("report", stderr)
	var results listFlag
	fs.Var(&results, "results", "results store directory (default results); repeatable or a comma list: the stores are merged in memory by bench merge's rules")
	format := fs.String("format", "md", "md, latex, csv or json")
	metric := fs.String("metric", "acc", "acc (test accuracy), macro_f1 (test macro-F1) or val_acc")
	decimals := fs.Int("decimals", 1, "decimals of the percentages in md and latex")
	alpha := fs.Float64("alpha", 0.05, "significance level of the paired t-test that marks ties with the best")
	out := fs.String("out", "", "write the table to this file instead of standard output")
	withPID := fs.Bool("interactions", false, "add a row with each dataset's normalised PID (R/U1/U2/S %, train split of seed 1; discretised where the dataset has no raw categories)")
	dataDir := fs.String("data-dir", os.Getenv("BENCH_DATA_DIR"), "root of real datasets (for --interactions)")
	plot := fs.String("plot", "", "also draw the metric per method, one panel per dataset (bars with seed std and values), to this PNG/SVG/PDF file")
	curves := fs.String("curves", "", "also draw validation accuracy per epoch per method (mean ± seed std band), one panel per dataset, to this PNG/SVG/PDF file")
	if err := fs.Parse(args); err != nil {
		return usageError{err}
	}
	switch *format {
	case "md", "markdown", "latex", "tex", "csv", "json":
	default:
		return usagef("--format %q: want md, latex, csv or json", *format)
	}
	m := reports.Metric(*metric)
	if m != reports.MetricAcc && m != reports.MetricMacroF1 && m != reports.MetricValAcc {
		return usagef("--metric %q: want acc, macro_f1 or val_acc", *metric)
	}
	recs, err := loadStores(resultsDirs(results), stderr)
	if err != nil {
		return err
	}
	tab, err := reports.Build(recs, reports.Options{Metric: m, Decimals: *decimals, Alpha: *alpha})
	if err != nil {
		return err
	}
	if *withPID {
		tab.Extra = append(tab.Extra, pidRow(tab, *dataDir, stderr))
	}
	w := stdout
	if *out != "" {
		f, err := os.Create(*out)
		if err != nil {
			return err
		}
		defer f.Close()
		w = f
	}
	if err := reports.Render(w, tab, *format); err != nil {
		return err
	}
	if *plot != "" {
		if err := reports.Plot(*plot, tab); err != nil {
			return err
		}
		fmt.Fprintf(stderr, "bench: wrote %s\n", *plot)
	}
	if *curves != "" {
		if err := reports.Curves(*curves, recs, reports.Options{}); err != nil {
			return err
		}
		fmt.Fprintf(stderr, "bench: wrote %s\n", *curves)
	}
	return nil
}

// errRegression makes `bench regress` exit 1 without an extra message.
type errRegression struct{}

func (errRegression) Error() string {
	return "accuracy regression against the baseline (see the table above)"
}

func cmdRegress(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("regress", stderr)
	var results listFlag
	fs.Var(&results, "results", "results store directory (default results); repeatable or a comma list: the stores are merged in memory by bench merge's rules")
	baseline := fs.String("baseline", "", "baseline JSON file (required)")
	update := fs.Bool("update", false, "write the current results as the new baseline instead of comparing")
	abs := fs.Float64("abs", reports.DefaultTolerance.Abs, "absolute tolerance on mean test accuracy (fraction, 0.005 = 0.5 points)")
	k := fs.Float64("k", reports.DefaultTolerance.K, "tolerance in standard errors: a drop must exceed max(abs, k·SE) to fail")
	format := fs.String("format", "md", "md or json")
	if err := fs.Parse(args); err != nil {
		return usageError{err}
	}
	if *baseline == "" {
		return usagef("regress: --baseline FILE is required")
	}
	recs, err := loadStores(resultsDirs(results), stderr)
	if err != nil {
		return err
	}
	cur, err := reports.BaselineFromRecords(recs)
	if err != nil {
		return err
	}
	if *update {
		if err := reports.WriteBaseline(*baseline, cur); err != nil {
			return err
		}
		fmt.Fprintf(stderr, "bench: wrote baseline %s (%d groups)\n", *baseline, len(cur.Groups))
		return nil
	}
	base, err := reports.ReadBaseline(*baseline)
	if err != nil {
		return usageError{err}
	}
	diff, failed := reports.Compare(base, cur, reports.Tolerance{Abs: *abs, K: *k})
	if err := reports.RenderDiff(stdout, diff, *format); err != nil {
		return err
	}
	if failed {
		return errRegression{}
	}
	return nil
}

// pidRow estimates each dataset column's PID once (seed 1, train split) for the report's extra row.
func pidRow(tab *reports.Table, dataDir string, stderr io.Writer) reports.ExtraRow {
	row := reports.ExtraRow{Label: "PID R/U1/U2/S (%)", Cells: map[reports.Column]string{}}
	done := map[string]string{}
	for _, c := range tab.Columns {
		text, ok := done[c.Dataset]
		if !ok {
			text = "n/a"
			if set, err := data.Load(c.Dataset, 1, dataDir); err != nil {
				fmt.Fprintf(stderr, "bench: interactions of %s: %v\n", c.Dataset, err)
			} else if est, err := interactions.ForDataset(set, "train", nil, "", interactions.DiscretizeOptions{Seed: 1}); err != nil {
				fmt.Fprintf(stderr, "bench: interactions of %s: %v\n", c.Dataset, err)
			} else {
				n := est.PID.Norm
				text = fmt.Sprintf("%.0f/%.0f/%.0f/%.0f", n.R, n.U1, n.U2, n.S)
			}
			done[c.Dataset] = text
		}
		row.Cells[c] = text
	}
	return row
}
