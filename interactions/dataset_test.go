package interactions_test

import (
	"math"
	"testing"

	"github.com/mmfusion/bench/bench/data"
	_ "github.com/mmfusion/bench/datasets"
	"github.com/mmfusion/bench/interactions"
)

func estimate(t *testing.T, spec string, target []int64) *interactions.DatasetEstimate {
	t.Helper()
	set, err := data.Load(spec, 1, "")
	if err != nil {
		t.Fatal(err)
	}
	est, err := interactions.ForDataset(set, "train", target, "test target", interactions.DiscretizeOptions{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	return est
}

// Each pure synthetic mixture is dominated by its own term after discretisation; the mechanism
// shares are reported separately.
func TestSyntheticMixturesShowTheirInteraction(t *testing.T) {
	for _, c := range []struct {
		mix  string
		term func(interactions.Shares) float64
	}{
		{"R", func(s interactions.Shares) float64 { return s.R }},
		{"U1", func(s interactions.Shares) float64 { return s.U1 }},
		{"S", func(s interactions.Shares) float64 { return s.S }},
	} {
		est := estimate(t, "synthetic:mix="+c.mix+",train=1000", nil)
		if share := c.term(est.PID.Norm); share < 90 {
			t.Errorf("mix=%s: its own term has %.1f%% of the information (%+v)", c.mix, share, est.PID.Norm)
		}
		if est.Categories != "discretised" || est.Composition[c.mix] != 100 {
			t.Errorf("mix=%s: categories %q, composition %v", c.mix, est.Categories, est.Composition)
		}
	}
}

// Boolean datasets use their raw bits: pure XOR has 1 bit of synergy and nothing else (up to
// sampling noise), and replacing the labels by a constant prediction gives no information at all.
func TestBooleanUsesRawBits(t *testing.T) {
	est := estimate(t, "boolean:mix=XOR", nil)
	if est.Categories != "raw" || math.Abs(est.PID.S-1) > 0.01 || est.PID.R > 0.01 {
		t.Fatalf("XOR: %s, PID %+v", est.Categories, est.PID)
	}
	constant := make([]int64, est.N)
	if got := estimate(t, "boolean:mix=XOR", constant); got.PID.I12 != 0 || got.Target != "test target" {
		t.Fatalf("constant target: I = %v, target %q", got.PID.I12, got.Target)
	}
	set, _ := data.Load("boolean:mix=XOR", 1, "")
	if _, err := interactions.ForDataset(set, "train", []int64{1, 2}, "x", interactions.DiscretizeOptions{}); err == nil {
		t.Fatal("a target of the wrong length was accepted")
	}
}
