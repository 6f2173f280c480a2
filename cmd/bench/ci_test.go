package main

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mmfusion/bench/bench"
	"github.com/mmfusion/bench/bench/data"
	"github.com/mmfusion/bench/bench/store"
	"github.com/mmfusion/bench/reports"
)

// The CI regression (make regress-ci) runs the sweep of ci/sweep.args against ci/baseline.json with
// the tolerance of ci/tolerance.args. These tests prove it can see a method break.

func ciArgs(t *testing.T, name string) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "ci", name))
	if err != nil {
		t.Fatal(err)
	}
	return strings.Fields(string(b))
}

func ciTolerance(t *testing.T) reports.Tolerance {
	t.Helper()
	fs := flag.NewFlagSet("tolerance", flag.ContinueOnError)
	abs, k := fs.Float64("abs", 0, ""), fs.Float64("k", 0, "")
	if err := fs.Parse(ciArgs(t, "tolerance.args")); err != nil {
		t.Fatal(err)
	}
	return reports.Tolerance{Abs: *abs, K: *k}
}

func ciBaseline(t *testing.T) *reports.Baseline {
	t.Helper()
	base, err := reports.ReadBaseline(filepath.Join("..", "..", "ci", "baseline.json"))
	if err != nil {
		t.Fatal(err)
	}
	return base
}

// Every group of the committed baseline is at least 15 points above chance, and the largest drop it
// allows a one-seed run (max(abs, k·SE), the baseline's spread alone) is smaller than its distance
// to chance: a method that falls to chance fails.
func TestCIBaselineIsFarEnoughAboveChance(t *testing.T) {
	base, tol := ciBaseline(t), ciTolerance(t)
	classes := map[string]int{}
	for _, g := range base.Groups {
		if _, ok := classes[g.Dataset]; !ok {
			set, err := data.Load(g.Dataset, 1, "")
			if err != nil {
				t.Fatal(err)
			}
			classes[g.Dataset] = set.NumClasses
		}
		chance := 1 / float64(classes[g.Dataset])
		allowed := reports.AllowedDrop(g, tol)
		switch {
		case g.Mean-chance < 0.15:
			t.Errorf("%s on %s: baseline %.1f %% is %.1f points above chance (%.1f %%), want ≥ 15", g.Label, g.Dataset, 100*g.Mean, 100*(g.Mean-chance), 100*chance)
		case allowed >= g.Mean-chance:
			t.Errorf("%s on %s: allowed drop %.1f points ≥ its distance to chance %.1f", g.Label, g.Dataset, 100*allowed, 100*(g.Mean-chance))
		}
	}
}

// The mutation test: the CI sweep (one seed) with every training loss multiplied by 0
// (bench.BreakTrainingLoss) must fail the regression for every method. It also checks that DMI's
// cells pass through all three stages within the sweep's epochs.
func TestCIRegressionFailsEveryBrokenMethod(t *testing.T) {
	if testing.Short() {
		t.Skip("trains the CI sweep once (about a minute on 2 cores); skipped with -short")
	}
	res := t.TempDir()
	bench.BreakTrainingLoss = true
	defer func() { bench.BreakTrainingLoss = false }()
	args := append(append([]string{"run"}, ciArgs(t, "sweep.args")...), "--seeds", "1", "--results", res)
	if code := runOS(args); code != 0 {
		t.Fatalf("bench %s: exit %d", strings.Join(args, " "), code)
	}
	st, err := store.Open(res)
	if err != nil {
		t.Fatal(err)
	}
	recs, problems, err := st.All()
	if err != nil || len(problems) > 0 {
		t.Fatal(err, problems)
	}
	for _, r := range recs {
		if r.Method != "dmi" {
			continue
		}
		if last := r.Curves[len(r.Curves)-1]; last.Stage != 3 {
			t.Errorf("dmi's CI cells end in stage %d: the sweep never reaches stage 3", last.Stage)
		}
	}
	cur, err := reports.BaselineFromRecords(recs)
	if err != nil {
		t.Fatal(err)
	}
	d, _ := reports.Compare(ciBaseline(t), cur, ciTolerance(t))
	if len(d.Rows) == 0 {
		t.Fatal("nothing compared")
	}
	for _, row := range d.Rows {
		if row.Base == nil {
			t.Errorf("%s on %s: a group the baseline lacks (regenerate it with make ci-baseline)", row.Label, row.Dataset)
			continue
		}
		if row.Cur == nil {
			t.Errorf("%s on %s: missing from the broken run (its label changed?)", row.Label, row.Dataset)
			continue
		}
		t.Logf("%-10s baseline %5.1f %%, broken %5.1f %%, allowed drop %4.1f points: %s",
			row.Label, 100*row.Base.Mean, 100*row.Cur.Mean, 100*row.Threshold, row.Status)
		if row.Status != reports.StatusRegressed {
			t.Errorf("%s on %s with its training loss zeroed: %s (baseline %.1f %%, now %.1f %%, allowed drop %.1f points): the CI regression cannot see it break",
				row.Label, row.Dataset, row.Status, 100*row.Base.Mean, 100*(row.Base.Mean+row.Delta), 100*row.Threshold)
		}
	}
}
