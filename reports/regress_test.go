package reports

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func base(groups ...Group) *Baseline {
	return &Baseline{Version: BaselineVersion, Metric: MetricAcc, Groups: groups}
}

func TestCompare(t *testing.T) {
	tol := Tolerance{Abs: 0.005, K: 2}
	tests := []struct {
		name     string
		b, c     Group
		se, thr  float64
		status   Status
		wantFail bool
	}{
		{
			// SE = sqrt(0.01²/5 + 0.01²/5) = sqrt(0.00004) = 0.0063246; 2·SE = 0.0126491 > 0.005.
			// Drop 0.03 > 0.0126 → regressed.
			name: "drop beyond tolerance",
			b:    grp("a", "d", "mlp", 0.80, 0.01, 5), c: grp("a", "d", "mlp", 0.77, 0.01, 5),
			se: math.Sqrt(0.00004), thr: 2 * math.Sqrt(0.00004), status: StatusRegressed, wantFail: true,
		},
		{
			// SE = sqrt(0.03²/3 + 0.03²/3) = sqrt(0.0006) = 0.0244949; threshold 0.0489898.
			// Drop 0.02 is within the noise → pass.
			name: "drop within noise",
			b:    grp("a", "d", "mlp", 0.80, 0.03, 3), c: grp("a", "d", "mlp", 0.78, 0.03, 3),
			se: math.Sqrt(0.0006), thr: 2 * math.Sqrt(0.0006), status: StatusPass,
		},
		{
			// n = 1 on both sides: no spread, SE = 0, threshold = Abs = 0.005; drop 0.004 passes.
			name: "single seed within abs",
			b:    grp("a", "d", "mlp", 0.800, 0, 1), c: grp("a", "d", "mlp", 0.796, 0, 1),
			se: 0, thr: 0.005, status: StatusPass,
		},
		{
			// Same, drop 0.006 > 0.005 fails.
			name: "single seed beyond abs",
			b:    grp("a", "d", "mlp", 0.800, 0, 1), c: grp("a", "d", "mlp", 0.794, 0, 1),
			se: 0, thr: 0.005, status: StatusRegressed, wantFail: true,
		},
		{
			// Rise 0.03 > threshold 0.0126 → improved, not a failure.
			name: "improvement",
			b:    grp("a", "d", "mlp", 0.77, 0.01, 5), c: grp("a", "d", "mlp", 0.80, 0.01, 5),
			se: math.Sqrt(0.00004), thr: 2 * math.Sqrt(0.00004), status: StatusImproved,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, failed := Compare(base(tc.b), base(tc.c), tol)
			if failed != tc.wantFail || d.Failed != tc.wantFail {
				t.Errorf("failed = %v, want %v", failed, tc.wantFail)
			}
			r := d.Rows[0]
			if r.Status != tc.status || !near(r.SE, tc.se, 1e-12) || !near(r.Threshold, tc.thr, 1e-12) ||
				!near(r.Delta, tc.c.Mean-tc.b.Mean, 1e-12) {
				t.Errorf("row %+v; want status %s, SE %v, threshold %v", r, tc.status, tc.se, tc.thr)
			}
		})
	}
}

func TestCompareMissingAndNew(t *testing.T) {
	b := base(grp("a", "d", "mlp", 0.8, 0.01, 3), grp("b", "d", "mlp", 0.7, 0.01, 3))
	c := base(grp("a", "d", "mlp", 0.8, 0.01, 3), grp("c", "d", "mlp", 0.6, 0.01, 3))
	d, failed := Compare(b, c, DefaultTolerance)
	if !failed {
		t.Error("a group missing in current must fail")
	}
	got := map[string]Status{}
	for _, r := range d.Rows {
		got[r.Label] = r.Status
	}
	if got["a"] != StatusPass || got["b"] != StatusMissing || got["c"] != StatusNew {
		t.Errorf("statuses %v", got)
	}
	// Both kinds of unmatched group are listed in the notes as well as in the table.
	notes := strings.Join(d.Notes, "\n")
	for _, want := range []string{
		"1 baseline group has no results in the current run (fails): b on d / mlp.",
		"1 group of the current run is not in the baseline and was not checked: c on d / mlp.",
	} {
		if !strings.Contains(notes, want) {
			t.Errorf("notes lack %q: %q", want, d.Notes)
		}
	}
	// New groups alone do not fail.
	if _, failed := Compare(base(grp("a", "d", "mlp", 0.8, 0.01, 3)), c, DefaultTolerance); failed {
		t.Error("a new group alone must not fail")
	}
}

func TestCompareMetricMismatch(t *testing.T) {
	c := base(grp("a", "d", "mlp", 0.8, 0.01, 3))
	c.Metric = MetricMacroF1
	d, failed := Compare(base(grp("a", "d", "mlp", 0.8, 0.01, 3)), c, DefaultTolerance)
	if !failed || len(d.Notes) != 1 {
		t.Errorf("metric mismatch: failed %v, notes %v", failed, d.Notes)
	}
}

func TestBaselineFromRecords(t *testing.T) {
	b, err := BaselineFromRecords(fixture())
	if err != nil {
		t.Fatal(err)
	}
	if b.Metric != MetricAcc || len(b.Groups) != 6 {
		t.Fatalf("baseline %+v", b)
	}
	// Sorted by label: joint/cremad first (0.82 ± 0.02, n 3); late-fusion/synth has n = 2.
	if g := b.Groups[0]; g.Label != "joint" || g.Dataset != "cremad" || !near(g.Mean, 0.82, 1e-12) || !near(g.Std, 0.02, 1e-12) || g.N != 3 {
		t.Errorf("first group %+v", g)
	}
	if g := b.Groups[3]; g.Label != "late-fusion" || g.N != 2 || !near(g.Std, math.Sqrt(0.0002), 1e-12) {
		t.Errorf("late-fusion synth %+v", g)
	}
	// The same records compared with themselves pass.
	if d, failed := Compare(b, b, DefaultTolerance); failed {
		t.Errorf("self-comparison failed: %+v", d)
	}
	// A current run where late-fusion diverged on every synth seed loses that group: failure.
	var rs = fixture()
	for _, r := range rs {
		if r.Label == "late-fusion" && r.Dataset == "synthetic:mix=S" {
			diverged("nan")(r)
		}
	}
	cur, err := BaselineFromRecords(rs)
	if err != nil {
		t.Fatal(err)
	}
	if _, failed := Compare(b, cur, DefaultTolerance); !failed {
		t.Error("all seeds diverged must fail the group")
	}
}

func TestBaselineRoundTrip(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "baseline.json")
	b, err := BaselineFromRecords(fixture())
	if err != nil {
		t.Fatal(err)
	}
	if err := WriteBaseline(path, b); err != nil {
		t.Fatal(err)
	}
	got, err := ReadBaseline(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Groups) != len(b.Groups) {
		t.Fatalf("groups %d, want %d", len(got.Groups), len(b.Groups))
	}
	for i := range b.Groups {
		if !reflect.DeepEqual(got.Groups[i], b.Groups[i]) {
			t.Errorf("group %d: %+v, want %+v", i, got.Groups[i], b.Groups[i])
		}
	}
	if m, _ := filepath.Glob(filepath.Join(dir, ".tmp-*")); len(m) != 0 {
		t.Errorf("temporary files left: %v", m)
	}
}

func TestReadBaselineRejectsBadFiles(t *testing.T) {
	dir := t.TempDir()
	for name, body := range map[string]string{
		"version":   `{"version": 9, "metric": "acc", "groups": []}`,
		"metric":    `{"version": 1, "metric": "loss", "groups": []}`,
		"n":         `{"version": 1, "metric": "acc", "groups": [{"label": "a", "dataset": "d", "encoder": "e", "mean": 0.5, "std": 0, "n": 0}]}`,
		"std":       `{"version": 1, "metric": "acc", "groups": [{"label": "a", "dataset": "d", "encoder": "e", "mean": 0.5, "std": -1, "n": 2}]}`,
		"twice":     `{"version": 1, "metric": "acc", "groups": [{"label": "a", "dataset": "d", "encoder": "e", "mean": 0.5, "std": 0, "n": 1}, {"label": "a", "dataset": "d", "encoder": "e", "mean": 0.5, "std": 0, "n": 1}]}`,
		"unknown":   `{"version": 1, "metric": "acc", "groups": [{"label": "a", "dataset": "d", "encoder": "e", "mean": 0.5, "std": 0, "n": 1}], "extra": 1}`,
		"empty":     `{"version": 1, "metric": "acc", "groups": []}`,
		"no groups": `{"version": 1, "metric": "acc"}`,
		"not json":  `{`,
	} {
		path := filepath.Join(dir, name+".json")
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := ReadBaseline(path); err == nil || !strings.Contains(err.Error(), path) {
			t.Errorf("%s: want an error naming the file, got %v", name, err)
		}
	}
}

// An empty baseline checks nothing and would pass any run: refused when read (exit 2 in bench
// regress, which reports ReadBaseline's errors as bad input) and when written.
func TestEmptyBaselineIsRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "empty.json")
	if err := os.WriteFile(path, []byte(`{"version": 1, "metric": "acc", "groups": []}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadBaseline(path); err == nil || !strings.Contains(err.Error(), "no groups") {
		t.Errorf("read: %v", err)
	}
	// Every seed diverged: nothing to record.
	rs := series("a", "d", "mlp", 0.7)
	diverged("nan")(rs[0])
	b, err := BaselineFromRecords(rs)
	if err != nil {
		t.Fatal(err)
	}
	if err := WriteBaseline(path+"2", b); err == nil || !strings.Contains(err.Error(), "no groups") {
		t.Errorf("write: %v", err)
	}
	if _, err := os.Stat(path + "2"); err == nil {
		t.Error("an empty baseline was written")
	}
}

func TestRenderDiffMarkdown(t *testing.T) {
	b := base(grp("a", "d", "mlp", 0.80, 0.01, 5), grp("b", "d", "mlp", 0.70, 0, 1))
	c := base(grp("a", "d", "mlp", 0.77, 0.01, 5))
	d, _ := Compare(b, c, Tolerance{Abs: 0.005, K: 2})
	var buf bytes.Buffer
	if err := RenderDiff(&buf, d, "md"); err != nil {
		t.Fatal(err)
	}
	// a: Δ = −3.00 pp; threshold 2·sqrt(0.00004) = 0.012649 → 1.26 pp.
	// Columns are padded to their widths (go-pretty's Markdown renderer), so the source reads as a table.
	want := "| Method | Dataset | Encoder |           Baseline |            Current | Δ (pp) | Allowed drop (pp) | Status                 |\n" +
		"|:------ |:------- |:------- | ------------------:| ------------------:| ------:| -----------------:|:---------------------- |\n" +
		"| a      | d       | mlp     | 80.00 ± 1.00 (n=5) | 77.00 ± 1.00 (n=5) |  -3.00 |              1.26 | **REGRESSED**          |\n" +
		"| b      | d       | mlp     |        70.00 (n=1) |                  — |      — |                 — | **missing in current** |\n" +
		"\n" +
		"FAIL: Test accuracy. A group fails when its mean drops by more than max(0.50 pp, 2 × SE), SE = sqrt(s₁²/n₁ + s₂²/n₂) over seeds; a group missing from the current run fails.\n" +
		"\n" +
		"- 1 baseline group has no results in the current run (fails): b on d / mlp.\n"
	if buf.String() != want {
		t.Errorf("diff markdown:\n got:\n%s\nwant:\n%s", buf.String(), want)
	}
	buf.Reset()
	if err := RenderDiff(&buf, d, "json"); err != nil || !strings.Contains(buf.String(), `"status": "REGRESSED"`) {
		t.Errorf("diff json: %v\n%s", err, buf.String())
	}
}

// One regressed group must not mark the groups after it as regressed.
func TestCompareJudgesEachGroupOnItsOwn(t *testing.T) {
	base := &Baseline{Metric: MetricAcc, Groups: []Group{
		{Label: "a", Dataset: "d", Encoder: "mlp", Mean: 0.80, Std: 0.01, N: 3},
		{Label: "b", Dataset: "d", Encoder: "mlp", Mean: 0.70, Std: 0.01, N: 3},
	}}
	cur := &Baseline{Metric: MetricAcc, Groups: []Group{
		{Label: "a", Dataset: "d", Encoder: "mlp", Mean: 0.60, Std: 0.01, N: 3},
		{Label: "b", Dataset: "d", Encoder: "mlp", Mean: 0.70, Std: 0.01, N: 3},
	}}
	d, failed := Compare(base, cur, DefaultTolerance)
	if !failed {
		t.Fatal("a 20-point drop passed")
	}
	status := map[string]string{}
	for _, r := range d.Rows {
		status[r.Label] = string(r.Status)
		if r.Label == "b" && (math.IsNaN(r.Delta) || r.Delta != 0) {
			t.Errorf("b: delta %v, want 0", r.Delta)
		}
	}
	if status["a"] != string(StatusRegressed) || status["b"] != string(StatusPass) {
		t.Fatalf("statuses %v, want a regressed and b pass", status)
	}
}

// grp is a group without a configuration, as in baselines written before groups had one.
func grp(label, dataset, encoder string, mean, std float64, n int) Group {
	return Group{Label: label, Dataset: dataset, Encoder: encoder, Mean: mean, Std: std, N: n}
}
