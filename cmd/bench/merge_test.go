package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mmfusion/bench/bench/store"
)

func mergeRec(key string, seed int64, acc float64, status string) *store.Record {
	return &store.Record{Key: key, Status: status, Method: "joint", Label: "joint", Dataset: "d", Encoder: "mlp", Seed: seed,
		Selection: "best-val-acc", Train: store.TrainConfig{Optimizer: "sgd", LR: 0.01, BatchSize: 64, Epochs: 8},
		Test: store.Metrics{Acc: acc, MacroF1: acc}, Val: store.Metrics{Acc: acc}, TestPredictions: []int64{0, 1, 1},
		WallSeconds: 1.5, Finished: time.Unix(100, 0).UTC()}
}

func putAll(t *testing.T, dir string, recs ...*store.Record) {
	t.Helper()
	st, _ := store.Open(dir)
	for _, r := range recs {
		if err := st.Put(r); err != nil {
			t.Fatal(err)
		}
	}
}

func TestMergeStores(t *testing.T) {
	dir := t.TempDir()
	a, b, into := filepath.Join(dir, "a"), filepath.Join(dir, "b"), filepath.Join(dir, "into")
	same := mergeRec("k2", 2, 0.8, store.StatusOK)
	rerun := *same // the same cell run again elsewhere: other time and duration, same result
	rerun.WallSeconds, rerun.Finished = 9, time.Unix(999, 0).UTC()
	putAll(t, a, mergeRec("k1", 1, 0.7, store.StatusOK), same, mergeRec("k3", 3, 0, store.StatusFailed))
	putAll(t, b, &rerun, mergeRec("k3", 3, 0.9, store.StatusOK), mergeRec("k4", 4, 0.6, store.StatusOK))
	if code := runOS([]string{"merge", a, b, "--into", into}); code != 0 {
		t.Fatalf("merge: exit %d", code)
	}
	st, _ := store.Open(into)
	recs, probs, err := st.All()
	if err != nil || len(probs) > 0 || len(recs) != 4 {
		t.Fatalf("merged store: %d records, %v, %v", len(recs), probs, err)
	}
	if r, _ := st.Get("k3"); r.Status != store.StatusOK {
		t.Errorf("k3: the failed record was not replaced by the result: %s", r.Status)
	}
	// The files are copied as they are.
	orig, _ := os.ReadFile(filepath.Join(a, "k1.json"))
	got, _ := os.ReadFile(filepath.Join(into, "k1.json"))
	if string(orig) != string(got) {
		t.Error("k1.json differs from its source")
	}
	// Merging again is a no-op; a failed record never replaces a result.
	putAll(t, b, mergeRec("k1", 1, 0, store.StatusFailed))
	if code := runOS([]string{"merge", "--into", into, a, b}); code != 0 {
		t.Fatalf("merge again: exit %d", code)
	}
	if r, _ := st.Get("k1"); r.Status != store.StatusOK {
		t.Errorf("k1 replaced by a failed record")
	}

	// A differing result is a conflict: exit 1, nothing written, not even the other new records.
	c := filepath.Join(dir, "c")
	putAll(t, c, mergeRec("k2", 2, 0.75, store.StatusOK), mergeRec("k5", 5, 0.5, store.StatusOK))
	before, _ := os.ReadFile(filepath.Join(into, "k2.json"))
	if code := runOS([]string{"merge", c, "--into", into}); code != 1 {
		t.Errorf("conflict: exit %d, want 1", code)
	}
	after, _ := os.ReadFile(filepath.Join(into, "k2.json"))
	if string(before) != string(after) {
		t.Error("the conflicting record was overwritten")
	}
	if _, err := os.Stat(filepath.Join(into, "k5.json")); err == nil {
		t.Error("a merge with a conflict wrote records")
	}
	m := newMerger()
	for _, d := range []string{into, c} {
		recs, _, _ := readStore(d)
		for _, r := range recs {
			m.add(r)
		}
	}
	if err := m.conflictError(); err == nil || !strings.Contains(err.Error(), "k2: ") || !strings.Contains(err.Error(), "differ in test, val") {
		t.Errorf("conflict error: %v", err)
	}
	// Bad input: exit 2.
	for _, args := range [][]string{{"merge", a}, {"merge", "--into", into}, {"merge", filepath.Join(dir, "none"), "--into", into}, {"merge", a, "--into", into, "--bogus"}} {
		if code := runOS(args); code != 2 {
			t.Errorf("bench %v: exit %d, want 2", args, code)
		}
	}
}

// report and regress read several stores (repeated --results or a comma list), merged in memory by
// the same rules: a conflict fails.
func TestReportSeveralResults(t *testing.T) {
	dir := t.TempDir()
	a, b, c := filepath.Join(dir, "a"), filepath.Join(dir, "b"), filepath.Join(dir, "c")
	putAll(t, a, mergeRec("k1", 1, 0.70, store.StatusOK))
	putAll(t, b, mergeRec("k2", 2, 0.80, store.StatusOK), mergeRec("k1", 1, 0.70, store.StatusOK))
	putAll(t, c, mergeRec("k1", 1, 0.10, store.StatusOK))
	out := filepath.Join(dir, "out.csv")
	if code := runOS([]string{"report", "--format", "csv", "--results", a, "--results", b, "--out", out}); code != 0 {
		t.Fatalf("report with two --results: exit %d", code)
	}
	text, _ := os.ReadFile(out)
	// Two seeds (0.70 and 0.80): mean 75.
	if !strings.Contains(string(text), "75") {
		t.Errorf("report of the merged stores:\n%s", text)
	}
	recs, err := loadStores(resultsDirs(listFlag{a + "," + b}), os.Stderr)
	if err != nil || len(recs) != 2 {
		t.Errorf("comma list: %d records, %v", len(recs), err)
	}
	if code := runOS([]string{"report", "--results", a + "," + c}); code != 1 {
		t.Errorf("report over conflicting stores: exit %d, want 1", code)
	}
	base := filepath.Join(dir, "base.json")
	if code := runOS([]string{"regress", "--update", "--baseline", base, "--results", a, "--results", b}); code != 0 {
		t.Fatalf("regress --update with two --results: exit %d", code)
	}
	if code := runOS([]string{"regress", "--baseline", base, "--results", a + "," + b}); code != 0 {
		t.Errorf("regress against itself: exit %d", code)
	}
	if code := runOS([]string{"regress", "--baseline", base, "--results", a, "--results", c}); code != 1 {
		t.Errorf("regress over conflicting stores: exit %d, want 1", code)
	}
}
