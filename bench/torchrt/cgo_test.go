package torchrt

import (
	"testing"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"
)

func TestSeedAndThreads(t *testing.T) {
	SetNumThreads(1)
	if NumThreads() != 1 {
		t.Fatalf("threads = %d", NumThreads())
	}
	ManualSeed(7)
	a := ts.MustRandn([]int64{4}, gotch.Float, gotch.CPU)
	ManualSeed(7)
	b := ts.MustRandn([]int64{4}, gotch.Float, gotch.CPU)
	if !a.MustEqual(b, false) {
		t.Fatal("same seed gave different numbers")
	}
}
