package reports

import (
	"math"
	"testing"
)

func TestMeanStdErr(t *testing.T) {
	// {0.70, 0.72, 0.74}: mean = 2.16/3 = 0.72; deviations −0.02, 0, 0.02; squares sum to
	// 0.0004 + 0 + 0.0004 = 0.0008; / (n−1 = 2) = 0.0004; std = sqrt(0.0004) = 0.02;
	// SE = 0.02/√3 = 0.011547005383792516.
	x := []float64{0.70, 0.72, 0.74}
	if got := Mean(x); !near(got, 0.72, 1e-12) {
		t.Errorf("Mean = %v, want 0.72", got)
	}
	if got := StdDev(x); !near(got, 0.02, 1e-12) {
		t.Errorf("StdDev = %v, want 0.02", got)
	}
	if got := StdErr(x); !near(got, 0.011547005383792516, 1e-12) {
		t.Errorf("StdErr = %v, want 0.0115470", got)
	}
	// {0.50, 0.52}: mean 0.51; squares 0.0001 + 0.0001 = 0.0002 / 1; std = 0.0141421356.
	if got := StdDev([]float64{0.50, 0.52}); !near(got, 0.014142135623730951, 1e-12) {
		t.Errorf("StdDev two values = %v", got)
	}
	if !math.IsNaN(Mean(nil)) || !math.IsNaN(StdDev([]float64{0.7})) || !math.IsNaN(StdErr([]float64{0.7})) {
		t.Errorf("empty mean, one-value std and SE must be NaN")
	}
}

func TestPairedTTest(t *testing.T) {
	tests := []struct {
		name    string
		x, y    []float64
		df      int
		meanD   float64
		tStat   float64
		p       float64
		defined bool
	}{
		{
			// d = {0.06, 0.02, 0.02, 0.02}: d̄ = 0.03; deviations 0.03, −0.01 ×3; SS = 0.0009 + 0.0003
			// = 0.0012; s_d = sqrt(0.0012/3) = 0.02; SE = 0.02/√4 = 0.01; t = 3, ν = 3.
			// For ν = 3, F(t) = 1/2 + (1/π)(u/(1+u²) + atan u) with u = t/√3 = √3, so
			// p = 1 − (2/π)(√3/4 + π/3) = 1/3 − √3/(2π) = 0.0576688...
			name: "t=3 df=3", x: []float64{0.76, 0.74, 0.73, 0.75}, y: []float64{0.70, 0.72, 0.71, 0.73},
			df: 3, meanD: 0.03, tStat: 3, p: 1.0/3 - math.Sqrt(3)/(2*math.Pi), defined: true,
		},
		{
			// d = {0.09, 0.06, 0.06}: d̄ = 0.07; deviations 0.02, −0.01, −0.01; SS = 0.0006;
			// s_d = sqrt(0.0003); SE = sqrt(0.0003/3) = 0.01; t = 7, ν = 2.
			// For ν = 2, F(t) = 1/2 + t/(2 sqrt(2 + t²)), so p = 1 − 7/√51 = 0.0198039027...
			name: "t=7 df=2", x: []float64{0.80, 0.82, 0.84}, y: []float64{0.71, 0.76, 0.78},
			df: 2, meanD: 0.07, tStat: 7, p: 1 - 7/math.Sqrt(51), defined: true,
		},
		{
			// d = {0.01, 0.02, 0.03}: d̄ = 0.02, SS = 0.0002, s_d = 0.01, SE = 0.01/√3, t = 2√3;
			// p = 1 − 2√3/√14 = 1 − √(6/7) = 0.0741799002...
			name: "t=2√3 df=2", x: []float64{0.60, 0.62, 0.64}, y: []float64{0.59, 0.60, 0.61},
			df: 2, meanD: 0.02, tStat: 2 * math.Sqrt(3), p: 1 - math.Sqrt(6.0/7), defined: true,
		},
		{
			// Sign: swapping the samples flips t, not p.
			name: "negative", x: []float64{0.59, 0.60, 0.61}, y: []float64{0.60, 0.62, 0.64},
			df: 2, meanD: -0.02, tStat: -2 * math.Sqrt(3), p: 1 - math.Sqrt(6.0/7), defined: true,
		},
		{
			// Identical pairs: s_d = 0 and d̄ = 0, no evidence of a difference: t = 0, p = 1.
			name: "identical", x: []float64{0.7, 0.8}, y: []float64{0.7, 0.8},
			df: 1, meanD: 0, tStat: 0, p: 1, defined: true,
		},
		{
			// A constant shift (d = {0.5, 0.5}, exactly representable): s_d = 0, d̄ ≠ 0: t = +Inf, p = 0.
			name: "constant shift", x: []float64{1, 1.5}, y: []float64{0.5, 1},
			df: 1, meanD: 0.5, tStat: math.Inf(1), p: 0, defined: true,
		},
		{
			// One pair has no degrees of freedom: no test.
			name: "n=1", x: []float64{0.8}, y: []float64{0.7},
			df: 0, meanD: 0.1, tStat: math.NaN(), p: math.NaN(), defined: false,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := PairedTTest(tc.x, tc.y)
			if err != nil {
				t.Fatal(err)
			}
			if r.N != len(tc.x) || r.DF != tc.df {
				t.Errorf("N, DF = %d, %d; want %d, %d", r.N, r.DF, len(tc.x), tc.df)
			}
			if r.Defined() != tc.defined {
				t.Errorf("Defined = %v, want %v", r.Defined(), tc.defined)
			}
			if !near(r.MeanDiff, tc.meanD, 1e-12) {
				t.Errorf("MeanDiff = %v, want %v", r.MeanDiff, tc.meanD)
			}
			if math.IsNaN(tc.tStat) != math.IsNaN(r.T) || !math.IsNaN(tc.tStat) && !near(r.T, tc.tStat, 1e-9) {
				t.Errorf("T = %v, want %v", r.T, tc.tStat)
			}
			if math.IsNaN(tc.p) != math.IsNaN(r.P) || !math.IsNaN(tc.p) && !near(r.P, tc.p, 1e-9) {
				t.Errorf("P = %.12f, want %.12f", r.P, tc.p)
			}
		})
	}
	if _, err := PairedTTest([]float64{1, 2}, []float64{1}); err == nil {
		t.Error("unpaired lengths: want an error")
	}
}

// The two-sided 5% critical value of t with 4 degrees of freedom is 2.776 (standard table);
// the p-value there must be 0.05 to the table's precision.
func TestPairedTTestTableValue(t *testing.T) {
	// d = {c+a, c−a, c, c, c} has d̄ = c, s_d = sqrt(2a²/4) = a/√2, SE = a/√10, t = c√10/a.
	a := 0.01
	c := 2.776 * a / math.Sqrt(10)
	r, err := PairedTTest([]float64{c + a, c - a, c, c, c}, make([]float64, 5))
	if err != nil {
		t.Fatal(err)
	}
	if !near(r.T, 2.776, 1e-9) || !near(r.P, 0.05, 1e-4) {
		t.Errorf("t = %v, p = %v; want 2.776, 0.05", r.T, r.P)
	}
}

func TestAverageRanks(t *testing.T) {
	// Column 0: 0.8, 0.75, 0.8 → rows 0 and 2 tie for ranks 1–2 (1.5 each), row 1 is 3.
	// Column 1: 0.6, 0.62, 0.5 → ranks 2, 1, 3.
	// Means: (1.5+2)/2 = 1.75, (3+1)/2 = 2, (1.5+3)/2 = 2.25.
	got := AverageRanks([][]float64{{0.8, 0.6}, {0.75, 0.62}, {0.8, 0.5}})
	want := []float64{1.75, 2, 2.25}
	for i := range want {
		if !near(got[i], want[i], 1e-12) {
			t.Errorf("rank[%d] = %v, want %v", i, got[i], want[i])
		}
	}
	// A row with a missing value gets NaN and the others are ranked among themselves:
	// column 0: 0.8 → 1, 0.7 → 2; column 1: 0.6 → 1, 0.5 → 2.
	got = AverageRanks([][]float64{{0.8, 0.6}, {math.NaN(), 0.7}, {0.7, 0.5}})
	if !near(got[0], 1, 0) || !math.IsNaN(got[1]) || !near(got[2], 2, 0) {
		t.Errorf("with a missing cell: %v, want [1 NaN 2]", got)
	}
	if AverageRanks(nil) != nil {
		t.Error("empty input: want nil")
	}
}
