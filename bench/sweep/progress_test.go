package sweep

import (
	"bytes"
	"strings"
	"testing"

	"github.com/mmfusion/bench/bench"
	"github.com/mmfusion/bench/bench/store"
)

// A tuning trial's line names the trial and reports its validation accuracy (a trial has no test
// metrics); an ordinary cell's reports the test accuracy.
func TestFinishedLines(t *testing.T) {
	trial := &bench.Cell{Method: "joint", Dataset: "synthetic", Encoder: "mlp", Seed: 0, Trial: 7}
	rec := &store.Record{Status: store.StatusOK, Trial: 7, Val: store.Metrics{Acc: 0.6125}, WallSeconds: 1.25}
	var buf bytes.Buffer
	rep := NewReporter(&buf, 12)
	rep.CellFinished(rec, cellName(trial))
	if got, want := buf.String(), "[1/12] joint synthetic mlp seed 0 trial 7: ok val acc 0.613 (1.2s) eta "; !strings.HasPrefix(got, want) {
		t.Fatalf("trial line %q, want prefix %q", got, want)
	}
	cell := &bench.Cell{Method: "joint", Dataset: "synthetic", Encoder: "mlp", Seed: 2}
	ok := &store.Record{Status: store.StatusOK, Test: store.Metrics{Acc: 0.5}, Val: store.Metrics{Acc: 0.9}, WallSeconds: 2}
	if got, want := finishedLine(ok, cellName(cell)), "joint synthetic mlp seed 2: ok test acc 0.500 (2.0s)"; got != want {
		t.Fatalf("cell line %q, want %q", got, want)
	}
	bad := &store.Record{Status: store.StatusDiverged, Reason: "loss NaN at epoch 3", Trial: 2}
	if got, want := finishedLine(bad, cellName(&bench.Cell{Method: "ogm", Dataset: "d", Encoder: "mlp", Trial: 2})),
		"ogm d mlp seed 0 trial 2: diverged (loss NaN at epoch 3) val acc 0.000 (0.0s)"; got != want {
		t.Fatalf("diverged trial line %q, want %q", got, want)
	}
}
