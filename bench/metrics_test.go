package bench

import (
	"math"
	"testing"
)

func TestMetricsByHand(t *testing.T) {
	y := []int64{0, 0, 1, 1, 2, 2}
	p := []int64{0, 1, 1, 1, 2, 0}
	if a := Accuracy(p, y); math.Abs(a-4.0/6) > 1e-12 {
		t.Fatalf("accuracy %v", a)
	}
	// class 0: tp1 fp1 fn1 → 2/4; class 1: tp2 fp1 fn0 → 4/5; class 2: tp1 fp0 fn1 → 2/3.
	want := (0.5 + 0.8 + 2.0/3) / 3
	if f := MacroF1(p, y, 3); math.Abs(f-want) > 1e-12 {
		t.Fatalf("macro-F1 %v, want %v", f, want)
	}
}
