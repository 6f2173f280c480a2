package interactions

import (
	"math"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
)

// blobs draws n points around k well-separated directions in dim dimensions (separated
// in direction, since rows are L2-normalised first) and returns them with the truth.
func blobs(rng *rand.Rand, n, k, dim int, noise float64) ([][]float32, []int) {
	centres := make([][]float64, k)
	for c := range centres {
		centres[c] = make([]float64, dim)
		centres[c][c] = 1 // orthogonal unit directions
	}
	x := make([][]float32, n)
	truth := make([]int, n)
	for i := range x {
		c := rng.IntN(k)
		truth[i] = c
		x[i] = make([]float32, dim)
		scale := 0.5 + rng.Float64() // the norm is removed by the L2 step
		for j := range x[i] {
			x[i][j] = float32(scale * (centres[c][j] + noise*rng.NormFloat64()))
		}
	}
	return x, truth
}

func TestDiscretizeRecoversSeparatedClusters(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, k := range []int{2, 4, 6} {
		x, truth := blobs(rng, 600, k, 12, 0.05)
		codes, info, err := Discretize(x, DiscretizeOptions{Clusters: k, Components: k, Seed: 7})
		if err != nil {
			t.Fatal(err)
		}
		// The partition must match the truth up to relabelling: a bijection.
		fwd, back := map[int]int{}, map[int]int{}
		for i, c := range codes {
			if f, ok := fwd[truth[i]]; ok && f != c {
				t.Fatalf("k=%d: true cluster %d split across codes %d and %d", k, truth[i], f, c)
			}
			if b, ok := back[c]; ok && b != truth[i] {
				t.Fatalf("k=%d: code %d merges true clusters %d and %d", k, c, b, truth[i])
			}
			fwd[truth[i]], back[c] = c, truth[i]
		}
		if len(fwd) != k || info.ClustersUsed != k {
			t.Errorf("k=%d: recovered %d clusters, info %v", k, len(fwd), info)
		}
		if codes[0] != 0 {
			t.Errorf("codes are not numbered by first appearance: codes[0] = %d", codes[0])
		}
	}
}

func TestDiscretizeDeterministic(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	x := make([][]float32, 500)
	for i := range x {
		x[i] = make([]float32, 30)
		for j := range x[i] {
			x[i][j] = float32(rng.NormFloat64())
		}
	}
	opts := DiscretizeOptions{Seed: 42}
	a, ia, err := Discretize(x, opts)
	if err != nil {
		t.Fatal(err)
	}
	b, ib, err := Discretize(x, opts)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(a, b) || !reflect.DeepEqual(ia, ib) {
		t.Error("same seed gave different codes or info")
	}
	// Defaults follow pid.md: 20 clusters, 2 PCA components (synthetic suite).
	if ia.Clusters != 20 || ia.Components != 2 || ia.Restarts != DefaultRestarts || ia.Seed != 42 {
		t.Errorf("defaults: %+v", ia)
	}
	if len(ia.Centroids) != 20 || len(ia.Basis) != 2 || len(ia.Mean) != 30 {
		t.Errorf("info shapes: %d centroids, %d basis, %d mean", len(ia.Centroids), len(ia.Basis), len(ia.Mean))
	}
	for _, c := range a {
		if c < 0 || c >= 20 {
			t.Fatalf("code %d out of range", c)
		}
	}
	if !(ia.ExplainedVariance > 0 && ia.ExplainedVariance <= 1) {
		t.Errorf("explained variance %v", ia.ExplainedVariance)
	}
	if s := ia.String(); !strings.Contains(s, "seed=42") || !strings.Contains(s, "k=20") {
		t.Errorf("String() = %q", s)
	}
	// Another seed is still a valid clustering (and is usually a different one).
	c, ic, err := Discretize(x, DiscretizeOptions{Seed: 43})
	if err != nil || len(c) != len(x) || ic.Seed != 43 {
		t.Errorf("seed 43: %v %v", err, ic)
	}
}

func TestDiscretizeNonFiniteAndClipping(t *testing.T) {
	x := [][]float32{
		{1, 0, float32(math.NaN())},
		{0, 1, 0},
		{float32(math.Inf(1)), 0, 1},
		{0, 0, 0},
	}
	codes, info, err := Discretize(x, DiscretizeOptions{Clusters: 2, Components: 10, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	if info.NonFinite != 2 || info.Components != 3 || len(codes) != 4 {
		t.Errorf("info %+v codes %v", info, codes)
	}
}

func TestDiscretizeErrors(t *testing.T) {
	ok := [][]float32{{1, 2}, {3, 4}, {5, 6}}
	cases := []struct {
		name string
		x    [][]float32
		opts DiscretizeOptions
		want string
	}{
		{"empty", nil, DiscretizeOptions{}, "at least one row"},
		{"zero dim", [][]float32{{}, {}}, DiscretizeOptions{Clusters: 1}, "no features"},
		{"ragged", [][]float32{{1, 2}, {3}}, DiscretizeOptions{Clusters: 1}, "row 1 has 1"},
		{"too few rows", ok, DiscretizeOptions{Clusters: 4}, "3 rows for 4 clusters"},
		{"default k too large", ok, DiscretizeOptions{}, "3 rows for 20 clusters"},
		{"negative", ok, DiscretizeOptions{Clusters: -1}, "negative"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := Discretize(c.x, c.opts)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("err = %v, want one mentioning %q", err, c.want)
			}
		})
	}
}

// TestDiscretizeThenEstimate runs the whole pipeline on a Boolean-style dataset: each
// modality embeds one bit as one of two directions plus noise, Y = X1 XOR X2. With two
// clusters per modality the codes recover the bits and the PID is pure synergy.
func TestDiscretizeThenEstimate(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	n := 2000
	m1, m2 := make([][]float32, n), make([][]float32, n)
	y := make([]int, n)
	for i := 0; i < n; i++ {
		a, b := i&1, i>>1&1
		y[i] = a ^ b
		m1[i] = make([]float32, 8)
		m2[i] = make([]float32, 8)
		for j := range m1[i] {
			m1[i][j] = float32(0.05 * rng.NormFloat64())
			m2[i][j] = float32(0.05 * rng.NormFloat64())
		}
		m1[i][a] += 1
		m2[i][2+b] += 1
	}
	c1, _, err := Discretize(m1, DiscretizeOptions{Clusters: 2, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	c2, _, err := Discretize(m2, DiscretizeOptions{Clusters: 2, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	p, err := FromSamples(c1, c2, y)
	if err != nil {
		t.Fatal(err)
	}
	d, err := Estimate(p)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(d.S-1) > 1e-9 || d.R > 1e-9 || d.U1 > 1e-9 || d.U2 > 1e-9 {
		t.Errorf("XOR through the pipeline: %v", d)
	}
}
