package reports

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"strings"
	"testing"

	"github.com/mmfusion/bench/bench/store"
)

// missingFixture: joint is complete; ensemble's seed 1 has no test object and seed 2 has
// "acc": null, so only seed 3 (0.70) has a test accuracy.
func missingFixture() []*store.Record {
	rs := series("joint", "d", "mlp", 0.80, 0.82, 0.84)
	return append(rs,
		rec("ensemble", "d", "mlp", 1, 0.90, without("test")),
		rec("ensemble", "d", "mlp", 2, 0.90, without("test", "acc")),
		rec("ensemble", "d", "mlp", 3, 0.70))
}

func TestBuildExcludesRecordsWithoutTheMetric(t *testing.T) {
	tab := mustBuild(t, missingFixture(), Options{})
	c := tab.Rows[0].Cells[0] // ensemble
	if tab.Rows[0].Label != "ensemble" || c.N != 1 || !near(c.Mean, 0.70, 1e-12) || c.WithoutMetric != 2 {
		t.Fatalf("ensemble cell %+v: want n = 1, mean 0.70, 2 without the metric", c)
	}
	if len(tab.WithoutMetric) != 2 || tab.WithoutMetric[0].Seed != 1 || tab.WithoutMetric[1].Seed != 2 {
		t.Errorf("table lists %+v", tab.WithoutMetric)
	}
	if c := tab.Rows[1].Cells[0]; c.N != 3 || c.WithoutMetric != 0 {
		t.Errorf("joint cell %+v", c)
	}
	note := "2 records without test acc excluded: ensemble on d (seeds 1, 2)."
	md := squeeze(render(t, tab, "md"))
	for _, want := range []string{"| ensemble | *70.0* (n=1; 2 without test acc) |", "- " + note + "\n"} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
	if tex := render(t, tab, "latex"); !strings.Contains(tex, `\underline{70.0} (n=1; 2 without test acc)`) || !strings.Contains(tex, "  "+note+"\\par\n") {
		t.Errorf("latex lacks the exclusion:\n%s", tex)
	}

	rows, err := csv.NewReader(strings.NewReader(render(t, tab, "csv"))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	col := map[string]int{}
	for i, h := range rows[0] {
		col[h] = i
	}
	if _, ok := col["without_metric"]; !ok {
		t.Fatalf("csv header lacks without_metric: %v", rows[0])
	}
	if e := rows[1]; e[col["label"]] != "ensemble" || e[col["n"]] != "1" || e[col["without_metric"]] != "2" || e[col["mean"]] != "0.7" {
		t.Errorf("csv ensemble row %v", e)
	}

	var doc struct {
		WithoutMetric []Excluded `json:"without_metric"`
		Rows          []struct {
			Cells []struct {
				N             int  `json:"n"`
				WithoutMetric *int `json:"without_metric"`
			} `json:"cells"`
		} `json:"rows"`
	}
	if err := json.Unmarshal([]byte(render(t, tab, "json")), &doc); err != nil {
		t.Fatal(err)
	}
	if c := doc.Rows[0].Cells[0]; c.N != 1 || c.WithoutMetric == nil || *c.WithoutMetric != 2 || len(doc.WithoutMetric) != 2 {
		t.Errorf("json: cell %+v, table list %+v", c, doc.WithoutMetric)
	}
}

// A cell whose every record lacks the metric is missing ("—"), not 0.
func TestBuildCellWithoutAnyValueIsMissing(t *testing.T) {
	rs := append(series("joint", "d", "mlp", 0.80, 0.82),
		rec("ensemble", "d", "mlp", 1, 0.9, without("test")),
		rec("ensemble", "d", "mlp", 2, 0.9, without("test", "acc", "macro_f1")))
	tab := mustBuild(t, rs, Options{})
	if c := tab.Rows[0].Cells[0]; c.N != 0 || c.WithoutMetric != 2 || c.Place != 0 {
		t.Errorf("ensemble cell %+v", c)
	}
	if md := squeeze(render(t, tab, "md")); !strings.Contains(md, "| ensemble | — (2 without test acc) |") {
		t.Errorf("markdown:\n%s", md)
	}
}

// Macro-F1 and validation accuracy are checked the same way, each on its own field.
func TestBuildMissingMacroF1AndValAcc(t *testing.T) {
	rs := []*store.Record{
		rec("a", "d", "mlp", 1, 0.70, without("test", "macro_f1")),
		rec("a", "d", "mlp", 2, 0.74, without("val", "acc")),
		rec("a", "d", "mlp", 3, 0.78, without("val")),
	}
	for _, tc := range []struct {
		m       Metric
		n, miss int
		mean    float64
		note    string
	}{
		{MetricAcc, 3, 0, 0.74, ""},
		{MetricMacroF1, 2, 1, 0.71, "1 record without test macro-F1 excluded: a on d (seed 1)."},
		{MetricValAcc, 1, 2, 0.71, "2 records without val acc excluded: a on d (seeds 2, 3)."},
	} {
		tab := mustBuild(t, rs, Options{Metric: tc.m})
		c := tab.Rows[0].Cells[0]
		if c.N != tc.n || c.WithoutMetric != tc.miss || !near(c.Mean, tc.mean, 1e-12) {
			t.Errorf("%s: cell %+v, want n %d, %d without, mean %v", tc.m, c, tc.n, tc.miss, tc.mean)
		}
		md := render(t, tab, "md")
		if tc.note != "" && !strings.Contains(md, tc.note) || tc.note == "" && strings.Contains(md, "without") {
			t.Errorf("%s: markdown note (want %q):\n%s", tc.m, tc.note, md)
		}
	}
}

// The leaderboard `bench run` prints counts records without the metric too.
func TestLeaderboardCountsRecordsWithoutMetrics(t *testing.T) {
	rs := []*store.Record{
		rec("ensemble", "d", "mlp", 1, 0.9, without("test")),
		rec("ensemble", "d", "mlp", 2, 0.70, without("test", "macro_f1")),
		rec("ensemble", "d", "mlp", 3, 0.74),
	}
	var b bytes.Buffer
	if err := Leaderboard(&b, rs); err != nil {
		t.Fatal(err)
	}
	got := b.String()
	for _, want := range []string{
		"| 72.0 ± 2.8 [1st] (1 without test acc)\n",
		"- 1 record without test acc excluded: ensemble on d (seed 1).\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("leaderboard lacks %q:\n%s", want, got)
		}
	}
}

// A fake 0 for a missing accuracy inflates the spread, and with it the allowed drop: a real 10-point
// drop passed. Only real values enter the baseline and the comparison.
func TestRegressUsesOnlyRealValues(t *testing.T) {
	base, err := BaselineFromRecords(series("ensemble", "d", "mlp", 0.70, 0.72, 0.74))
	if err != nil {
		t.Fatal(err)
	}
	cur, err := BaselineFromRecords([]*store.Record{
		rec("ensemble", "d", "mlp", 1, 0.62),
		rec("ensemble", "d", "mlp", 2, 0.62),
		rec("ensemble", "d", "mlp", 3, 0.9, without("test", "acc")),
	})
	if err != nil {
		t.Fatal(err)
	}
	if g := cur.Groups[0]; g.N != 2 || !near(g.Mean, 0.62, 1e-12) || g.Std != 0 || g.WithoutMetric != 1 {
		t.Fatalf("current group %+v: want n 2, mean 0.62, std 0, 1 without the metric", g)
	}
	// SE = sqrt(0.02²/3) = 0.0115; allowed drop max(0.03, 3·SE) = 0.0346 < 0.10.
	d, failed := Compare(base, cur, Tolerance{Abs: 0.03, K: 3})
	if !failed || d.Rows[0].Status != StatusRegressed {
		t.Errorf("10-point drop: failed %v, row %+v", failed, d.Rows[0])
	}
	if notes := strings.Join(d.Notes, "\n"); !strings.Contains(notes, "ensemble on d / mlp: 1 record without test acc excluded from the current run") {
		t.Errorf("notes %q", notes)
	}
	// A group whose every record lacks the metric has no value: it is missing, which fails.
	cur, err = BaselineFromRecords(append(series("joint", "d", "mlp", 0.5),
		rec("ensemble", "d", "mlp", 1, 0.9, without("test"))))
	if err != nil {
		t.Fatal(err)
	}
	if d, failed := Compare(base, cur, DefaultTolerance); !failed || d.Rows[0].Label != "ensemble" || d.Rows[0].Status != StatusMissing {
		t.Errorf("all seeds without the metric: failed %v, rows %+v", failed, d.Rows)
	}
}
