package reports

import (
	"encoding/csv"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/mmfusion/bench/bench/store"
)

func epochs(n int) func(*store.Record) { return train(func(c *store.TrainConfig) { c.Epochs = n }) }

func lr(v float64) func(*store.Record) { return train(func(c *store.TrainConfig) { c.LR = v }) }

func params(kv ...string) func(*store.Record) {
	return func(r *store.Record) {
		r.MethodParams = map[string]string{}
		for i := 0; i+1 < len(kv); i += 2 {
			r.MethodParams[kv[i]] = kv[i+1]
		}
	}
}

// configFixture: joint at 5 epochs (3 seeds), at 1 epoch (2 seeds) and at 5 epochs with lr 0.1
// (2 seeds) in one store, and ensemble at 5 epochs.
func configFixture() []*store.Record {
	var rs []*store.Record
	for i, a := range []float64{0.80, 0.82, 0.84} {
		rs = append(rs, rec("joint", "d", "mlp", int64(i+1), a, epochs(5), keyed("j5")))
	}
	for i, a := range []float64{0.40, 0.42} {
		rs = append(rs, rec("joint", "d", "mlp", int64(i+1), a, epochs(1), keyed("j1")))
	}
	for i, a := range []float64{0.30, 0.32} {
		rs = append(rs, rec("joint", "d", "mlp", int64(i+1), a, epochs(5), lr(0.1), keyed("j5lr")))
	}
	for i, a := range []float64{0.70, 0.72, 0.74} {
		rs = append(rs, rec("ensemble", "d", "mlp", int64(i+1), a, epochs(5)))
	}
	return rs
}

// keyed gives records of different configurations different keys, as the harness does.
func keyed(tag string) func(*store.Record) {
	return func(r *store.Record) { r.Key += "-" + tag }
}

func rowLabels(tab *Table) []string {
	var out []string
	for _, r := range tab.Rows {
		out = append(out, r.Label)
	}
	return out
}

func TestBuildSplitsRowsByTrainingConfiguration(t *testing.T) {
	tab := mustBuild(t, configFixture(), Options{})
	want := []string{"ensemble", "joint [epochs=1,lr=0.01]", "joint [epochs=5,lr=0.01]", "joint [epochs=5,lr=0.1]"}
	if got := rowLabels(tab); !reflect.DeepEqual(got, want) {
		t.Fatalf("rows %q, want %q", got, want)
	}
	if len(tab.Duplicates) != 0 {
		t.Errorf("records of different configurations are not duplicates: %+v", tab.Duplicates)
	}
	for i, w := range []struct {
		n    int
		mean float64
	}{{3, 0.72}, {2, 0.41}, {3, 0.82}, {2, 0.31}} {
		if c := tab.Rows[i].Cells[0]; c.N != w.n || !near(c.Mean, w.mean, 1e-12) {
			t.Errorf("%s: n %d mean %v, want %d, %v", tab.Rows[i].Label, c.N, c.Mean, w.n, w.mean)
		}
	}
	j1 := tab.Rows[1]
	if j1.MethodLabel != "joint" || j1.Config.Train["epochs"] != 1.0 || j1.Config.Train["lr"] != 0.01 || j1.Config.Train["optimizer"] != "sgd" {
		t.Errorf("row %q: method label %q, config %+v", j1.Label, j1.MethodLabel, j1.Config)
	}
	if _, ok := j1.Config.Train["threads"]; ok {
		t.Error("threads change speed only: not part of a configuration")
	}

	md := squeeze(render(t, tab, "md"))
	for _, line := range []string{
		"| joint [epochs=1,lr=0.01] | 41.0 ± 1.4 (n=2) |\n",
		"| joint [epochs=5,lr=0.01] | **82.0 ± 2.0** |\n",
		"| joint [epochs=5,lr=0.1] | 31.0 ± 1.4 (n=2) |\n",
	} {
		if !strings.Contains(md, line) {
			t.Errorf("markdown lacks %q:\n%s", line, md)
		}
	}

	rows, err := csv.NewReader(strings.NewReader(render(t, tab, "csv"))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	col := map[string]int{}
	for i, h := range rows[0] {
		col[h] = i
	}
	for _, h := range []string{"method_label", "epochs", "lr", "batch_size", "momentum", "weight_decay", "optimizer"} {
		if _, ok := col[h]; !ok {
			t.Fatalf("csv header lacks %s: %v", h, rows[0])
		}
	}
	if r := rows[2]; r[col["label"]] != "joint [epochs=1,lr=0.01]" || r[col["method_label"]] != "joint" ||
		r[col["epochs"]] != "1" || r[col["lr"]] != "0.01" || r[col["batch_size"]] != "64" || r[col["optimizer"]] != "sgd" {
		t.Errorf("csv row %v", r)
	}

	var doc struct {
		Rows []struct {
			Label       string `json:"label"`
			MethodLabel string `json:"method_label"`
			Config      struct {
				Train map[string]any `json:"train"`
			} `json:"config"`
		} `json:"rows"`
	}
	if err := json.Unmarshal([]byte(render(t, tab, "json")), &doc); err != nil {
		t.Fatal(err)
	}
	if r := doc.Rows[3]; r.MethodLabel != "joint" || r.Config.Train["epochs"] != 5.0 || r.Config.Train["lr"] != 0.1 || r.Config.Train["batch_size"] != 64.0 {
		t.Errorf("json row %+v", r)
	}
}

// Thread counts change speed, not results: records that differ only in threads share a row, and a
// method with one configuration keeps its plain label.
func TestBuildThreadsDoNotSplitRows(t *testing.T) {
	rs := series("a", "d", "mlp", 0.7, 0.8)
	rs[1].Train.Threads = 7
	tab := mustBuild(t, rs, Options{})
	if got := rowLabels(tab); !reflect.DeepEqual(got, []string{"a"}) || tab.Rows[0].Cells[0].N != 2 {
		t.Errorf("rows %q", got)
	}
}

// Method parameters are part of a row's configuration even under one label (e.g. a default that
// changed between harness versions).
func TestBuildSplitsRowsByMethodParams(t *testing.T) {
	rs := []*store.Record{
		rec("joint", "d", "mlp", 1, 0.7, params("fusion", "linear", "hidden", "128"), keyed("h128")),
		rec("joint", "d", "mlp", 1, 0.6, params("fusion", "linear", "hidden", "64"), keyed("h64")),
		rec("joint", "d", "mlp", 2, 0.6, params("fusion", "linear", "hidden", "64"), keyed("h64")),
	}
	tab := mustBuild(t, rs, Options{})
	if got := rowLabels(tab); !reflect.DeepEqual(got, []string{"joint [hidden=64]", "joint [hidden=128]"}) {
		t.Errorf("rows %q", got)
	}
}

// bench tune chooses the learning rate, batch size and method parameters per column: a tuned row
// is one row although those differ between its columns.
func TestBuildTunedRowIgnoresSearchedFields(t *testing.T) {
	tuned := func(lr float64, bs int, x string) func(*store.Record) {
		return func(r *store.Record) {
			r.Tuning = &store.Tuning{Budget: 12, SamplerSeed: 1, Selection: "validation accuracy"}
			r.Train.LR, r.Train.BatchSize, r.MethodParams = lr, bs, map[string]string{"x": x}
		}
	}
	rs := []*store.Record{
		rec("joint (tuned)", "d1", "mlp", 1, 0.7, tuned(0.05, 32, "1")),
		rec("joint (tuned)", "d2", "mlp", 1, 0.6, tuned(0.002, 128, "2")),
		rec("joint", "d1", "mlp", 1, 0.6),
		rec("joint", "d2", "mlp", 1, 0.5),
	}
	tab := mustBuild(t, rs, Options{})
	if got := rowLabels(tab); !reflect.DeepEqual(got, []string{"joint", "joint (tuned)"}) {
		t.Fatalf("rows %q", got)
	}
	if cfg := tab.Rows[1].Config; cfg.Train["lr"] != nil || cfg.Train["batch_size"] != nil || cfg.MethodParams != nil || cfg.Train["epochs"] != 10.0 {
		t.Errorf("tuned row config %+v", cfg)
	}
	if len(tab.Warnings) != 0 {
		t.Errorf("tuned rows differ from default ones only in searched settings; warnings %q", tab.Warnings)
	}
	// Tuned rows trained for other epochs than the default rows are warned about.
	rs[0].Train.Epochs, rs[1].Train.Epochs = 20, 20
	tab = mustBuild(t, rs, Options{})
	if w := strings.Join(tab.Warnings, "\n"); w != "tuned and default rows differ in epochs, optimiser, momentum or weight decay" {
		t.Errorf("warnings %q", tab.Warnings)
	}
}

// Baseline groups are configurations: a drop of one configuration is not averaged away by another
// of the same method.
func TestBaselineKeysGroupsByConfiguration(t *testing.T) {
	base, err := BaselineFromRecords(configFixture())
	if err != nil {
		t.Fatal(err)
	}
	if len(base.Groups) != 4 {
		t.Fatalf("groups %+v, want 4", base.Groups)
	}
	for _, g := range base.Groups {
		if g.Config == nil || g.Config.Train["epochs"] == nil {
			t.Errorf("group %+v has no configuration", g)
		}
	}
	rs := configFixture()
	for _, r := range rs {
		if r.Label == "joint" && r.Train.Epochs == 1 {
			r.Test.Acc -= 0.2
		}
	}
	cur, err := BaselineFromRecords(rs)
	if err != nil {
		t.Fatal(err)
	}
	d, failed := Compare(base, cur, DefaultTolerance)
	if !failed {
		t.Fatal("a 20-point drop of joint at 1 epoch passed")
	}
	status := map[string]Status{}
	for _, r := range d.Rows {
		status[r.Title] = r.Status
	}
	want := map[string]Status{"ensemble": StatusPass, "joint [epochs=1,lr=0.01]": StatusRegressed,
		"joint [epochs=5,lr=0.01]": StatusPass, "joint [epochs=5,lr=0.1]": StatusPass}
	if !reflect.DeepEqual(status, want) {
		t.Errorf("statuses %v, want %v", status, want)
	}

	// The configuration survives the file.
	path := filepath.Join(t.TempDir(), "b.json")
	if err := WriteBaseline(path, base); err != nil {
		t.Fatal(err)
	}
	got, err := ReadBaseline(path)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, base) {
		t.Errorf("round trip:\n got %+v\nwant %+v", got, base)
	}
	if d, failed := Compare(got, cur, DefaultTolerance); !failed || len(d.Rows) != 4 {
		t.Errorf("read-back baseline: failed %v, rows %+v", failed, d.Rows)
	}
}

// Baselines written before groups had a configuration match the results' group of the same label
// when there is exactly one; with several, the comparison is ambiguous and fails.
func TestCompareReadsBaselinesWithoutConfiguration(t *testing.T) {
	path := filepath.Join(t.TempDir(), "old.json")
	old := `{"version": 1, "metric": "acc", "groups": [
  {"label": "ensemble", "dataset": "d", "encoder": "mlp", "mean": 0.72, "std": 0.02, "n": 3},
  {"label": "joint", "dataset": "d", "encoder": "mlp", "mean": 0.82, "std": 0.02, "n": 3}]}`
	if err := os.WriteFile(path, []byte(old), 0o644); err != nil {
		t.Fatal(err)
	}
	base, err := ReadBaseline(path)
	if err != nil {
		t.Fatal(err)
	}
	cur, err := BaselineFromRecords(configFixture())
	if err != nil {
		t.Fatal(err)
	}
	d, failed := Compare(base, cur, DefaultTolerance)
	if !failed {
		t.Error("an ambiguous old group must fail")
	}
	status := map[string]Status{}
	for _, r := range d.Rows {
		status[r.Title] = r.Status
	}
	want := map[string]Status{"ensemble": StatusPass, "joint": StatusAmbiguous,
		"joint [epochs=1,lr=0.01]": StatusNew, "joint [epochs=5,lr=0.01]": StatusNew, "joint [epochs=5,lr=0.1]": StatusNew}
	if !reflect.DeepEqual(status, want) {
		t.Errorf("statuses %v, want %v", status, want)
	}
	if notes := strings.Join(d.Notes, "\n"); !strings.Contains(notes, "joint on d / mlp: the baseline group has no training configuration (an older baseline) and the results have 3 configurations of it") {
		t.Errorf("notes %q", notes)
	}
	// With one configuration per label the old baseline matches and passes.
	var one []*store.Record
	for _, r := range configFixture() {
		if r.Train.Epochs == 5 && r.Train.LR == 0.01 {
			one = append(one, r)
		}
	}
	cur, err = BaselineFromRecords(one)
	if err != nil {
		t.Fatal(err)
	}
	if d, failed := Compare(base, cur, DefaultTolerance); failed || len(d.Rows) != 2 || d.Rows[1].Status != StatusPass || d.Rows[1].Title != "joint" {
		t.Errorf("unambiguous old groups: failed %v, rows %+v", failed, d.Rows)
	}
}

// A version 1 baseline (the CI baseline committed until 2026-12-01, without configurations) is read
// and matches results with one configuration per method, as `make test` produced then.
func TestVersion1BaselineStillMatches(t *testing.T) {
	base, err := ReadBaseline(filepath.Join("testdata", "baseline-v1.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(base.Groups) == 0 {
		t.Fatal("no groups")
	}
	var rs []*store.Record
	for _, g := range base.Groups {
		// two seeds at mean ± std reproduce the group's mean and sample std
		h := g.Std / 1.4142135623730951
		rs = append(rs, rec(g.Label, g.Dataset, g.Encoder, 1, g.Mean-h, epochs(8)), rec(g.Label, g.Dataset, g.Encoder, 2, g.Mean+h, epochs(8)))
	}
	cur, err := BaselineFromRecords(rs)
	if err != nil {
		t.Fatal(err)
	}
	d, failed := Compare(base, cur, Tolerance{Abs: 0.03, K: 3})
	if failed || len(d.Rows) != len(base.Groups) {
		t.Errorf("failed %v, %d rows for %d groups, notes %v", failed, len(d.Rows), len(base.Groups), d.Notes)
	}
	for _, r := range d.Rows {
		if r.Status != StatusPass {
			t.Errorf("%s on %s: %s", r.Label, r.Dataset, r.Status)
		}
	}
}

// Methods with one configuration each keep plain labels; when those configurations differ, the
// warning says how and for which rows, in every format that has notes.
func TestBuildWarningNamesTheDifferentConfigurations(t *testing.T) {
	var rs []*store.Record
	for i := range 2 {
		rs = append(rs, rec("joint", "d", "mlp", int64(i+1), 0.8, epochs(5)), rec("ensemble", "d", "mlp", int64(i+1), 0.7, epochs(30)))
	}
	tab := mustBuild(t, rs, Options{})
	if got := rowLabels(tab); !reflect.DeepEqual(got, []string{"ensemble", "joint"}) {
		t.Errorf("rows %q", got)
	}
	want := "records use 2 different training configurations (epochs=5: joint; epochs=30: ensemble)"
	if len(tab.Warnings) != 1 || tab.Warnings[0] != want {
		t.Errorf("warnings %q, want %q", tab.Warnings, want)
	}
	tab = mustBuild(t, configFixture(), Options{})
	want = "records use 3 different training configurations (epochs=1,lr=0.01: joint [epochs=1,lr=0.01]; " +
		"epochs=5,lr=0.01: ensemble, joint [epochs=5,lr=0.01]; epochs=5,lr=0.1: joint [epochs=5,lr=0.1])"
	if len(tab.Warnings) != 1 || tab.Warnings[0] != want {
		t.Errorf("warnings %q, want %q", tab.Warnings, want)
	}
}
