package suites

import (
	"math"
	"testing"

	"github.com/mmfusion/bench/datasets"
	"github.com/mmfusion/bench/interactions"
)

func near(t *testing.T, what string, got, want, tol float64) {
	t.Helper()
	if math.Abs(got-want) > tol {
		t.Errorf("%s = %.6f, want %.6f (±%g)", what, got, want, tol)
	}
}

// The exact population PIDs of single gates are the reference values of pid.md §3.
func TestGatePIDs(t *testing.T) {
	and, err := GatePID(datasets.GateAND)
	if err != nil {
		t.Fatal(err)
	}
	rAND := 0.811278124459 - 0.5 // h(1/4) − ½·h(1/2)
	near(t, "AND R", and.R, rAND, 1e-6)
	near(t, "AND U1", and.U1, 0, 1e-6)
	near(t, "AND U2", and.U2, 0, 1e-6)
	near(t, "AND S", and.S, 0.5, 1e-6)
	or, err := GatePID(datasets.GateOR)
	if err != nil {
		t.Fatal(err)
	}
	near(t, "OR R", or.R, rAND, 1e-6)
	near(t, "OR S", or.S, 0.5, 1e-6)
	xor, err := GatePID(datasets.GateXOR)
	if err != nil {
		t.Fatal(err)
	}
	near(t, "XOR R", xor.R, 0, 1e-6)
	near(t, "XOR S", xor.S, 1, 1e-6)
	near(t, "XOR I(X1;Y)", xor.I1, 0, 1e-9)
}

// The population distribution of AND+XOR, by hand: x1, x2 fair, y = AND or XOR with ½ each, so
// p(y=1 | 00) = 0 and p(y=1 | 01) = p(y=1 | 10) = p(y=1 | 11) = ½, p(y=1) = 3/8. Then
// I(X1;Y) = h(3/8) − ½·h(1/4) − ½·h(1/2) and I(X1,X2;Y) = h(3/8) − ¾·h(1/2).
func TestPopulationAndXOR(t *testing.T) {
	mix, err := datasets.ParseGateMix("AND+XOR")
	if err != nil {
		t.Fatal(err)
	}
	p := datasets.BooleanPopulation(mix)
	want := [2][2][2]float64{{{0.25, 0}, {0.125, 0.125}}, {{0.125, 0.125}, {0.125, 0.125}}}
	for a := 0; a < 2; a++ {
		for b := 0; b < 2; b++ {
			for y := 0; y < 2; y++ {
				near(t, "p", p[a][b][y], want[a][b][y], 1e-15)
			}
		}
	}
	h := func(q float64) float64 { return -q*math.Log2(q) - (1-q)*math.Log2(1-q) }
	d, err := PopulationPID(mix)
	if err != nil {
		t.Fatal(err)
	}
	// p(y=1) = 3/8; p(y=1|x1=0) = 1/4, p(y=1|x1=1) = 1/2.
	i1 := h(3.0/8) - 0.5*h(0.25) - 0.5*h(0.5)
	i12 := h(3.0/8) - 0.75*h(0.5)
	near(t, "I(X1;Y)", d.I1, i1, 1e-9)
	near(t, "I(X2;Y)", d.I2, i1, 1e-9)
	near(t, "I(X1,X2;Y)", d.I12, i12, 1e-9)
	near(t, "R+U1", d.R+d.U1, i1, 1e-6)
	near(t, "R+U1+U2+S", d.R+d.U1+d.U2+d.S, i12, 1e-6)
	// Symmetric in x1 and x2, and with X1 ⟂ X2 the redundancy is I(X1;Y): U1 = U2 = 0.
	near(t, "U1", d.U1, 0, 1e-6)
	near(t, "U2", d.U2, 0, 1e-6)
	near(t, "R", d.R, i1, 1e-6)
	near(t, "S", d.S, i12-i1, 1e-6)
}

// The paper's truth: exact gate values give 19.18 / 80.82 for AND+XOR; gate values rounded to two
// decimals first give the published 19.1 / 80.9 (and 25.5 / 74.5 for AND+OR+XOR).
func TestPaperTruth(t *testing.T) {
	for _, c := range []struct {
		mix       string
		decimals  int
		r, s, tol float64
	}{
		{"AND+XOR", -1, 19.18, 80.82, 0.005},
		{"OR+XOR", -1, 19.18, 80.82, 0.005},
		{"AND+XOR", 2, 19.1, 80.9, 0.05},
		{"OR+XOR", 2, 19.1, 80.9, 0.05},
		{"AND+OR+XOR", 2, 25.5, 74.5, 0.05},
		{"AND+OR+XOR", -1, 25.58, 74.42, 0.005},
	} {
		mix, err := datasets.ParseGateMix(c.mix)
		if err != nil {
			t.Fatal(err)
		}
		got, err := PaperTruth(mix, c.decimals)
		if err != nil {
			t.Fatal(err)
		}
		near(t, c.mix+" R", got.R, c.r, c.tol)
		near(t, c.mix+" S", got.S, c.s, c.tol)
		near(t, c.mix+" U1", got.U1, 0, 1e-6)
		if c.decimals == 2 { // the published one-decimal figures, exactly
			if r, s := math.Round(got.R*10)/10, math.Round(got.S*10)/10; r != c.r || s != c.s {
				t.Errorf("%s rounded: %.1f / %.1f, want %.1f / %.1f", c.mix, r, s, c.r, c.s)
			}
		}
	}
	// The pooled PID is not the paper's truth.
	mix, _ := datasets.ParseGateMix("AND+XOR")
	d, _ := PopulationPID(mix)
	if math.Abs(d.Norm.R-19.18) < 1 {
		t.Errorf("population R%% %.2f unexpectedly equals the paper's mixture of PIDs", d.Norm.R)
	}
}

// The bootstrap interval contains the point estimate and narrows as n grows.
func TestBootstrapShrinks(t *testing.T) {
	var widths []float64
	for _, n := range []int{200, 3200} {
		set := datasets.GenerateBoolean(datasets.BooleanConfig{Mix: mustMix(t, "AND+XOR"), D: 2, Sigma: 0.5, NTrain: n, NVal: 1, NTest: 1, Seed: 3})
		est, err := interactions.ForDataset(set, "train", nil, "", interactions.DiscretizeOptions{})
		if err != nil {
			t.Fatal(err)
		}
		b, err := interactions.Bootstrap(est.X1, est.X2, est.Y, 200, 0.95, 1)
		if err != nil {
			t.Fatal(err)
		}
		p := est.PID
		for i, v := range [4]float64{p.R, p.U1, p.U2, p.S} {
			if !b.Bits[i].Contains(v) {
				t.Errorf("n=%d term %d: estimate %.4f outside [%.4f, %.4f]", n, i, v, b.Bits[i].Lo, b.Bits[i].Hi)
			}
		}
		widths = append(widths, b.Bits[0].Width()+b.Bits[3].Width())
	}
	if !(widths[1] < 0.5*widths[0]) {
		t.Errorf("interval widths R+S %.4f (n=200) → %.4f (n=3200): want at least halved", widths[0], widths[1])
	}
}

func mustMix(t *testing.T, s string) datasets.GateMix {
	m, err := datasets.ParseGateMix(s)
	if err != nil {
		t.Fatal(err)
	}
	return m
}
