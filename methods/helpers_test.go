package methods

import (
	"testing"

	"github.com/mmfusion/bench/bench/benchtest"
	"github.com/mmfusion/bench/bench/data"
)

// Cells, sets, runs and batches of the method tests come from bench/benchtest; this file holds what
// the method tests share beyond it.

// tinyMix is the small synthetic set of the mechanism tests that look at one batch.
const tinyMix = "synthetic:mix=0.5R+0.5S,train=64,val=16,test=16"

// ogmTestSet is benchtest.Set with seed 1, kept for dmi_test.go (edited elsewhere); the other tests
// call benchtest.Set.
func ogmTestSet(t testing.TB, spec string) *data.Set {
	t.Helper()
	return benchtest.Set(t, spec, 1)
}
