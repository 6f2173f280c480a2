package reports

import (
	"math"
	"path/filepath"
	"testing"

	"github.com/mmfusion/bench/bench/store"
)

// withCurve sets a record's validation curve (fractions, epochs 1…) and stages (0 for none).
func withCurve(vals []float64, stages ...int) func(*store.Record) {
	return func(r *store.Record) {
		r.Curves = nil
		for i, v := range vals {
			e := store.EpochStats{Epoch: i + 1, ValAcc: v}
			if i < len(stages) {
				e.Stage = stages[i]
			}
			r.Curves = append(r.Curves, e)
		}
	}
}

func curveFixture() []*store.Record {
	return []*store.Record{
		rec("joint", "cremad", "mlp", 1, 0.8, withCurve([]float64{0.5, 0.6, 0.7})),
		rec("joint", "cremad", "mlp", 2, 0.8, withCurve([]float64{0.7, 0.8})), // stopped early
		rec("dmi", "cremad", "mlp", 1, 0.7, withCurve([]float64{0.4, 0.5, 0.6}, 1, 1, 2)),
		rec("joint", "synthetic:mix=S", "mlp", 1, 0.6, withCurve([]float64{0.3, 0.4, 0.5})),
		rec("dmi", "synthetic:mix=S", "mlp", 1, 0, diverged("loss NaN"), withCurve([]float64{0.1})),
		rec("joint", "cremad", "mlp", 3, 0.8, withCurve([]float64{0.9}), func(r *store.Record) { r.Trial = 1 }),
	}
}

func TestBuildCurves(t *testing.T) {
	labels, sets, showEnc, err := BuildCurves(curveFixture(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(labels) != 2 || labels[0] != "dmi" || labels[1] != "joint" || showEnc {
		t.Fatalf("labels %v (show encoder %v), want [dmi joint] in Build's order", labels, showEnc)
	}
	if len(sets) != 2 || sets[0].Column.Dataset != "cremad" || sets[1].Column.Dataset != "synthetic:mix=S" {
		t.Fatalf("columns %+v, want cremad, synthetic:mix=S", sets)
	}
	joint := sets[0].Series[1]
	if len(joint) != 3 {
		t.Fatalf("joint on cremad: %d epochs, want 3 (the trial is left out)", len(joint))
	}
	// epoch 1: 50 and 70 → 60 ± 14.14; epoch 3: seed 1 only → 70 ± 0
	if p := joint[0]; p.N != 2 || math.Abs(p.Mean-60) > 1e-9 || math.Abs(p.Std-math.Sqrt(200)) > 1e-9 {
		t.Errorf("joint epoch 1: %+v, want n 2, 60 ± 14.14", p)
	}
	if p := joint[2]; p.N != 1 || math.Abs(p.Mean-70) > 1e-9 || p.Std != 0 {
		t.Errorf("joint epoch 3: %+v, want n 1, 70 ± 0", p)
	}
	if dmi := sets[0].Series[0]; dmi[1].Stage != 1 || dmi[2].Stage != 2 {
		t.Errorf("dmi stages %+v, want 1 then 2 at epoch 3", dmi)
	}
	if s := sets[1].Series[0]; len(s) != 0 {
		t.Errorf("diverged dmi record drew a curve: %+v", s)
	}
}

func TestCurvesWritesPNG(t *testing.T) {
	path := filepath.Join(t.TempDir(), "curves.png")
	if err := Curves(path, curveFixture(), Options{}); err != nil {
		t.Fatal(err)
	}
	fig, err := curveFigure(curveFixture(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(fig.panels) != 2 {
		t.Errorf("%d panels, want 2 (one per dataset)", len(fig.panels))
	}
	w, h := decodePNG(t, path)
	if ww, wh := wantPixels(fig); abs(w-ww) > 1 || abs(h-wh) > 1 {
		t.Errorf("PNG is %d×%d, want %d×%d", w, h, ww, wh)
	}
}

func TestCurvesRejectsBadInput(t *testing.T) {
	dir := t.TempDir()
	if err := Curves(filepath.Join(dir, "x.png"), nil, Options{}); err == nil {
		t.Error("no records: want error")
	}
	noCurve := []*store.Record{rec("joint", "cremad", "mlp", 1, 0.8)}
	if err := Curves(filepath.Join(dir, "x.png"), noCurve, Options{}); err == nil {
		t.Error("records without curves: want error")
	}
	if err := Curves(filepath.Join(dir, "x.bmp"), curveFixture(), Options{}); err == nil {
		t.Error("unsupported extension: want error")
	}
}
