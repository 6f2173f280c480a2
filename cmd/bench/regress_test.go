package main

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/mmfusion/bench/bench/store"
)

// An empty baseline checks nothing, so it would pass any run: bench regress refuses it as bad
// input (exit 2). A baseline of the older format (groups without a configuration) still passes.
func TestRegressBaselineFiles(t *testing.T) {
	dir := t.TempDir()
	res := filepath.Join(dir, "results")
	st, err := store.Open(res)
	if err != nil {
		t.Fatal(err)
	}
	for seed, acc := range []float64{0.80, 0.82} {
		r := &store.Record{Key: "joint-" + string(rune('1'+seed)), Status: store.StatusOK, Method: "joint", Label: "joint",
			Dataset: "d", Encoder: "mlp", Seed: int64(seed + 1), Selection: "best-val-acc",
			Train: store.TrainConfig{Optimizer: "sgd", LR: 0.01, Momentum: 0.9, WeightDecay: 1e-4, BatchSize: 64, Epochs: 8},
			Test:  store.Metrics{Acc: acc, MacroF1: acc}, Val: store.Metrics{Acc: acc}, Finished: time.Unix(0, 0).UTC()}
		if err := st.Put(r); err != nil {
			t.Fatal(err)
		}
	}
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	empty := write("empty.json", `{"version": 1, "metric": "acc", "groups": []}`)
	if code := runOS([]string{"regress", "--baseline", empty, "--results", res}); code != 2 {
		t.Errorf("empty baseline: exit %d, want 2", code)
	}
	old := write("old.json", `{"version": 1, "metric": "acc", "groups": [{"label": "joint", "dataset": "d", "encoder": "mlp", "mean": 0.81, "std": 0.0141, "n": 2}]}`)
	if code := runOS([]string{"regress", "--baseline", old, "--results", res}); code != 0 {
		t.Errorf("old-format baseline: exit %d, want 0", code)
	}
	dropped := write("dropped.json", `{"version": 1, "metric": "acc", "groups": [{"label": "joint", "dataset": "d", "encoder": "mlp", "mean": 0.95, "std": 0.0141, "n": 2}]}`)
	if code := runOS([]string{"regress", "--baseline", dropped, "--results", res}); code != 1 {
		t.Errorf("a 14-point drop: exit %d, want 1", code)
	}
	fresh := filepath.Join(dir, "fresh.json")
	if code := runOS([]string{"regress", "--update", "--baseline", fresh, "--results", res}); code != 0 {
		t.Fatalf("--update: exit %d", code)
	}
	if code := runOS([]string{"regress", "--baseline", fresh, "--results", res}); code != 0 {
		t.Errorf("against its own baseline: exit %d, want 0", code)
	}
}
