package methods

import (
	"testing"

	"github.com/mmfusion/bench/bench"
	"github.com/mmfusion/bench/bench/benchtest"
	"github.com/mmfusion/bench/bench/torchrt"
	"github.com/sugarme/gotch/ts"
)

// uni-m reads only modality m: perturbing the other modality's input leaves the loss and the outputs
// bit-identical, perturbing modality m changes them; only PerModality[m] is reported.
func TestUnimodalIgnoresOtherModality(t *testing.T) {
	for m, method := range []string{"uni-1", "uni-2"} {
		s := torchrt.NewScope()
		run, train := benchtest.Build(t, benchtest.Cell(t, method, nil, 3, 1), benchtest.Set(t, tinyMix, 1))
		b := benchtest.Batch(s, train, 0, 16, 1)
		other := 1 - m
		perturb := func(k int) *bench.Batch {
			x := append([]*ts.Tensor(nil), b.X...)
			x[k] = s.T(s.T(x[k].MustMulScalar(ts.FloatScalar(-2), false)).MustAddScalar(ts.FloatScalar(0.5), false))
			return &bench.Batch{X: x, Y: b.Y, Index: b.Index, Epoch: b.Epoch}
		}
		loss, out := run.Method.Forward(s, b, false)
		lossO, outO := run.Method.Forward(s, perturb(other), false)
		lossM, outM := run.Method.Forward(s, perturb(m), false)
		a, c, d := mibGo(out.Fused), mibGo(outO.Fused), mibGo(outM.Fused)
		var moved bool
		for i := range a {
			for j := range a[i] {
				if a[i][j] != c[i][j] {
					t.Fatalf("%s: output moved when modality %d changed", method, other+1)
				}
				moved = moved || a[i][j] != d[i][j]
			}
		}
		if loss.MustFloat64Value(nil) != lossO.MustFloat64Value(nil) {
			t.Fatalf("%s: loss moved when modality %d changed", method, other+1)
		}
		if !moved || loss.MustFloat64Value(nil) == lossM.MustFloat64Value(nil) {
			t.Fatalf("%s: output does not depend on modality %d", method, m+1)
		}
		if len(out.PerModality) != 2 || out.PerModality[m] != out.Fused || out.PerModality[other] != nil {
			t.Fatalf("%s: PerModality %v", method, out.PerModality)
		}
		if got, want := loss.MustFloat64Value(nil), mibGoCE(a, b.Y.Int64Values()); !mibClose(got, want, 1e-5) {
			t.Fatalf("%s: loss %v, want CE %v", method, got, want)
		}
		s.Drop()
	}
}

// End to end on information unique to modality 1 (mix=U1): uni-1 learns it, uni-2 stays near chance
// (K = 4), and each record reports only its own modality. The unused encoder gets no gradient; the
// optimiser must cope with that.
func TestUnimodalTrainsOnItsModality(t *testing.T) {
	set := benchtest.Set(t, "synthetic:mix=U1,train=400,val=200,test=200", 1)
	for m, method := range []string{"uni-1", "uni-2"} {
		rec := benchtest.Train(t, benchtest.Cell(t, method, nil, 1, 6), set)
		t.Logf("%s: test accuracy %.3f, per modality %v", method, rec.Test.Acc, rec.Test.PerModality)
		name := set.Modalities[m].Name
		if len(rec.Test.PerModality) != 1 || rec.Test.PerModality[name] != rec.Test.Acc {
			t.Fatalf("%s: per modality %v, want only %s", method, rec.Test.PerModality, name)
		}
		if m == 0 && rec.Test.Acc < 0.8 {
			t.Fatalf("uni-1 on U1 data: test accuracy %.3f", rec.Test.Acc)
		}
		if m == 1 && rec.Test.Acc > 0.45 {
			t.Fatalf("uni-2 on U1 data: test accuracy %.3f, want near chance", rec.Test.Acc)
		}
	}
}
