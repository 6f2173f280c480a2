package reports

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/mmfusion/bench/bench/store"
)

func TestBuildFixture(t *testing.T) {
	tab := mustBuild(t, fixture(), Options{})
	if tab.Metric != MetricAcc || tab.Decimals != 1 || tab.Alpha != 0.05 || tab.MaxN != 3 || tab.ShowEncoder {
		t.Errorf("defaults: %+v", tab)
	}
	var labels []string
	for _, r := range tab.Rows {
		labels = append(labels, r.Label)
	}
	if strings.Join(labels, ",") != "joint,late-fusion,ogm_ge" {
		t.Errorf("rows %v", labels)
	}
	if len(tab.Columns) != 2 || tab.Columns[0].Dataset != "cremad" || tab.Columns[1].Dataset != "synthetic:mix=S" {
		t.Errorf("columns %v", tab.Columns)
	}
	lf := tab.Rows[1].Cells[1]
	if lf.N != 2 || lf.Diverged != 1 || !near(lf.Mean, 0.51, 1e-12) || len(lf.Seeds) != 2 || lf.Seeds[1] != 2 {
		t.Errorf("late-fusion on synth: %+v", lf)
	}
	// joint − late-fusion on cremad = {0.03, 0.02, 0.01}: t = 2√3, p = 1 − √(6/7).
	c := tab.Rows[1].Cells[0]
	if c.Place != 2 || !c.Tested || !c.Tied || !near(c.Test.P, 1-math.Sqrt(6.0/7), 1e-9) || !near(c.Test.T, 2*math.Sqrt(3), 1e-9) {
		t.Errorf("late-fusion on cremad: %+v", c)
	}
	if len(tab.Excluded) != 1 || tab.Excluded[0].Reason != "loss NaN at epoch 4" {
		t.Errorf("excluded %+v", tab.Excluded)
	}
	if len(tab.Selections) != 1 || tab.Selections[0] != "best-val-acc" || len(tab.Warnings) != 0 {
		t.Errorf("selections %v warnings %v", tab.Selections, tab.Warnings)
	}
}

func TestBuildKeepsNewestDuplicate(t *testing.T) {
	rs := []*store.Record{
		rec("a", "d", "mlp", 1, 0.50, finishedAt(0, "old")),
		rec("a", "d", "mlp", 1, 0.90, finishedAt(time.Hour, "new")),
		rec("a", "d", "mlp", 1, 0.10, finishedAt(time.Minute, "mid")),
		rec("a", "d", "mlp", 2, 0.0, finishedAt(0, "div2"), diverged("nan")),
		rec("a", "d", "mlp", 2, 0.80, finishedAt(time.Hour, "rerun2")), // the rerun supersedes the divergence
	}
	tab := mustBuild(t, rs, Options{})
	c := tab.Rows[0].Cells[0]
	// kept: 0.90 (seed 1) and 0.80 (seed 2); mean 0.85.
	if c.N != 2 || !near(c.Mean, 0.85, 1e-12) || c.Diverged != 0 {
		t.Errorf("cell %+v", c)
	}
	if len(tab.Duplicates) != 2 {
		t.Fatalf("duplicates %+v", tab.Duplicates)
	}
	d := tab.Duplicates[0]
	if d.Seed != 1 || d.Kept != "new" || strings.Join(d.Dropped, ",") != "mid,old" {
		t.Errorf("duplicate %+v", d)
	}
	if len(tab.Excluded) != 0 {
		t.Errorf("superseded divergence must not be excluded: %+v", tab.Excluded)
	}
	md := render(t, tab, "md")
	if !strings.Contains(md, "- Duplicate: a on d, seed 1: 3 records; kept the newest (new).\n") {
		t.Errorf("duplicate note missing:\n%s", md)
	}
}

func TestBuildMissingCellIsNotAveragedAround(t *testing.T) {
	rs := append(series("a", "d1", "mlp", 0.7, 0.8), series("b", "d1", "mlp", 0.6, 0.7)...)
	rs = append(rs, series("b", "d2", "mlp", 0.5, 0.6)...)
	rs = append(rs, rec("a", "d2", "mlp", 1, 0, failed("dataset missing")))
	tab := mustBuild(t, rs, Options{})
	a := tab.Rows[0]
	if a.Cells[1].N != 0 || !math.IsNaN(a.Cells[1].Mean) || a.Cells[1].Failed != 1 || !math.IsNaN(a.AvgRank) {
		t.Errorf("row a: %+v", a)
	}
	// Only b is complete: it ranks first among complete rows in both columns.
	if tab.Rows[1].AvgRank != 1 {
		t.Errorf("b avg rank %v, want 1", tab.Rows[1].AvgRank)
	}
	md := squeeze(render(t, tab, "md"))
	for _, want := range []string{
		"| a | **75.0 ± 7.1** | — (1 failed) | — |\n",
		"| b | *65.0 ± 7.1* | **55.0 ± 7.1** | 1.00 |\n",
		"- Excluded: a on d2, seed 1, failed (dataset missing).\n",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("missing %q in\n%s", want, md)
		}
	}
}

func TestBuildShowsEncoderOnlyWhenSeveral(t *testing.T) {
	one := mustBuild(t, series("a", "d", "mlp", 0.7, 0.8), Options{})
	if one.ShowEncoder || one.Title(one.Columns[0]) != "d" {
		t.Errorf("one encoder: title %q", one.Title(one.Columns[0]))
	}
	two := mustBuild(t, append(series("a", "d", "mlp", 0.7, 0.8), series("a", "d", "vit", 0.6, 0.7)...), Options{})
	if !two.ShowEncoder || len(two.Columns) != 2 || two.Title(two.Columns[1]) != "d / vit" {
		t.Errorf("two encoders: %+v", two.Columns)
	}
}

func TestBuildMetricSelection(t *testing.T) {
	rs := series("a", "d", "mlp", 0.70, 0.80) // macro-F1 = acc − 0.05, val acc = acc + 0.01
	for _, tc := range []struct {
		m    Metric
		want float64
	}{{MetricAcc, 0.75}, {MetricMacroF1, 0.70}, {MetricValAcc, 0.76}} {
		tab := mustBuild(t, rs, Options{Metric: tc.m})
		if got := tab.Rows[0].Cells[0].Mean; !near(got, tc.want, 1e-12) {
			t.Errorf("%s: mean %v, want %v", tc.m, got, tc.want)
		}
	}
	if _, err := Build(rs, Options{Metric: "loss"}); err == nil || !strings.Contains(err.Error(), `"loss"`) {
		t.Errorf("unknown metric: %v", err)
	}
}

func TestBuildErrors(t *testing.T) {
	if _, err := Build(nil, Options{}); err == nil {
		t.Error("no records: want error")
	}
	bad := rec("a", "d", "mlp", 1, 0.7, func(r *store.Record) { r.Status = "running" })
	if _, err := Build([]*store.Record{bad}, Options{}); err == nil || !strings.Contains(err.Error(), bad.Key) || !strings.Contains(err.Error(), "running") {
		t.Errorf("unknown status: %v", err)
	}
	nan := rec("a", "d", "mlp", 1, math.NaN())
	if _, err := Build([]*store.Record{nan}, Options{}); err == nil {
		t.Error("NaN metric in an ok record: want error")
	}
	if _, err := Build(series("a", "d", "mlp", 0.7), Options{Decimals: 5}); err == nil {
		t.Error("decimals 5: want error")
	}
}

func TestBuildUntestedAndRowOrder(t *testing.T) {
	// b shares only seed 1 with the best (a): no test, no dagger, and the caption says so.
	rs := append(series("a", "d", "mlp", 0.8, 0.9), rec("b", "d", "mlp", 1, 0.7), rec("b", "d", "mlp", 3, 0.75))
	tab := mustBuild(t, rs, Options{RowOrder: []string{"b", "zzz"}})
	if tab.Rows[0].Label != "b" || tab.Rows[1].Label != "a" {
		t.Errorf("row order %s, %s", tab.Rows[0].Label, tab.Rows[1].Label)
	}
	b := tab.Rows[0].Cells[0]
	if b.Tested || b.Tied || b.Place != 2 {
		t.Errorf("b: %+v", b)
	}
	if md := render(t, tab, "md"); !strings.Contains(md, "cells sharing fewer than 2 seeds with the best are not tested") {
		t.Errorf("caption lacks the untested note:\n%s", md)
	}
}

func TestBuildWarnsOnMixedProtocols(t *testing.T) {
	rs := append(series("a", "d", "mlp", 0.7, 0.8), series("b", "d", "mlp", 0.6, 0.7)...)
	rs[1].Selection = "last-epoch"
	rs[1].Train.LR = 0.1
	rs[3].DatasetSHA256 = "other" // b saw other data than a on seed 2
	tab := mustBuild(t, rs, Options{})
	w := strings.Join(tab.Warnings, "\n")
	for _, want := range []string{"best-val-acc, last-epoch", "2 different training configurations", "d, seed 2: records come from 2 different dataset versions"} {
		if !strings.Contains(w, want) {
			t.Errorf("warnings lack %q: %v", want, tab.Warnings)
		}
	}
	if strings.Contains(w, "seed 1:") {
		t.Errorf("seed 1 has one dataset version but was warned about: %v", tab.Warnings)
	}
	// Data generated per seed differs between seeds by design: no warning for that, nor for threads.
	rs = series("a", "d", "mlp", 0.7, 0.8)
	rs[1].DatasetSHA256 = "seed-2-data"
	rs[1].Train.Threads = 7
	if tab := mustBuild(t, rs, Options{}); len(tab.Warnings) != 0 {
		t.Errorf("warnings for per-seed data or thread counts: %v", tab.Warnings)
	}
}

func TestBuildTiesForBest(t *testing.T) {
	// Equal means share first place; with two bests there is no second place.
	rs := append(series("a", "d", "mlp", 0.7, 0.8), series("b", "d", "mlp", 0.8, 0.7)...)
	rs = append(rs, series("c", "d", "mlp", 0.6, 0.7)...)
	tab := mustBuild(t, rs, Options{})
	if tab.Rows[0].Cells[0].Place != 1 || tab.Rows[1].Cells[0].Place != 1 || tab.Rows[2].Cells[0].Place != 0 {
		t.Errorf("places %d %d %d", tab.Rows[0].Cells[0].Place, tab.Rows[1].Cells[0].Place, tab.Rows[2].Cells[0].Place)
	}
}

func TestExtraRowRendersUnderTheMethods(t *testing.T) {
	tab := mustBuild(t, append(series("a", "d1", "mlp", 0.7, 0.8), series("a", "d2", "mlp", 0.6, 0.7)...), Options{})
	tab.Extra = []ExtraRow{{Label: "PID R/U1/U2/S (%)", Cells: map[Column]string{{"d1", "mlp"}: "90/5/5/0"}}}
	md := squeeze(render(t, tab, "md"))
	if !strings.Contains(md, "| *PID R/U1/U2/S (%)* | 90/5/5/0 | — | |\n") {
		t.Errorf("markdown lacks the extra row:\n%s", md)
	}
	tex := render(t, tab, "latex")
	if !strings.Contains(tex, "\\midrule\n    \\textit{PID R/U1/U2/S (\\%)} & 90/5/5/0 & --- &  \\\\\n    \\bottomrule") {
		t.Errorf("latex lacks the extra row:\n%s", tex)
	}
}
