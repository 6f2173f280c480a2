package datasets

import (
	"fmt"
	"math"
	"testing"

	"github.com/mmfusion/bench/bench/data"
)

func TestParseMix(t *testing.T) {
	cases := []struct {
		in   string
		want [4]float64
	}{
		{"R", [4]float64{1, 0, 0, 0}},
		{"S", [4]float64{0, 0, 0, 1}},
		{"U1+U2", [4]float64{0, 0.5, 0.5, 0}},
		{"1/4U+3/4R", [4]float64{0.75, 0.125, 0.125, 0}},
		{"0.5R+0.5S", [4]float64{0.5, 0, 0, 0.5}},
		{"1/3R+1/3U+1/3S", [4]float64{1. / 3, 1. / 6, 1. / 6, 1. / 3}},
	}
	for _, c := range cases {
		got, err := ParseMix(c.in)
		if err != nil {
			t.Fatalf("ParseMix(%q): %v", c.in, err)
		}
		for i := range got {
			if math.Abs(got[i]-c.want[i]) > 1e-12 {
				t.Fatalf("ParseMix(%q) = %v, want %v", c.in, got, c.want)
			}
		}
	}
	for _, bad := range []string{"", "X", "0.5R+S", "0.5R+0.4S", "2R", "1/0R", "R+Q", "0R+1S", "-0.5R+1.5S"} {
		if _, err := ParseMix(bad); err == nil {
			t.Errorf("ParseMix(%q) accepted", bad)
		}
	}
}

func FuzzParseMix(f *testing.F) {
	for _, s := range []string{"R", "1/4U+3/4R", "0.5R+0.5S", "U1+U2", "1/3R+1/3U+1/3S"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		mix, err := ParseMix(s)
		if err != nil {
			return
		}
		var sum float64
		for _, w := range mix {
			if w < 0 || math.IsNaN(w) {
				t.Fatalf("ParseMix(%q) = %v: negative or NaN share", s, mix)
			}
			sum += w
		}
		if math.Abs(sum-1) > 1e-6 {
			t.Fatalf("ParseMix(%q) shares sum to %g", s, sum)
		}
	})
}

func load(t *testing.T, spec string, seed int64) *data.Set {
	t.Helper()
	s, err := data.Load(spec, seed, "")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSyntheticDeterministicBySeed(t *testing.T) {
	a := load(t, "synthetic:mix=0.5R+0.5S,train=200,val=50,test=50", 3)
	b := load(t, "synthetic:mix=0.5R+0.5S,train=200,val=50,test=50", 3)
	c := load(t, "synthetic:mix=0.5R+0.5S,train=200,val=50,test=50", 4)
	if a.SHA256 != b.SHA256 {
		t.Fatal("same seed gave different data")
	}
	if a.SHA256 == c.SHA256 {
		t.Fatal("different seeds gave the same data")
	}
	comp := Composition(a.Train)
	if comp["R"] != 0.5 || comp["S"] != 0.5 {
		t.Fatalf("composition %v, want exactly half R, half S", comp)
	}
}

func TestSyntheticRejectsBadParams(t *testing.T) {
	for _, spec := range []string{"synthetic:mix=X", "synthetic:k=1", "synthetic:sigma=-1", "synthetic:colour=red", "synthetic:mix"} {
		if _, err := data.Load(spec, 1, ""); err == nil {
			t.Errorf("%s accepted", spec)
		}
	}
}

// probeAccuracy trains a multinomial logistic regression on one modality (plain Go, full-batch
// gradient descent) and returns its test accuracy.
func probeAccuracy(s *data.Set, m int) float64 {
	dim := s.Modalities[m].Size()
	k := s.NumClasses
	w := make([]float64, k*(dim+1))
	tr := s.Train
	logits := func(x []float32, out []float64) {
		for c := 0; c < k; c++ {
			z := w[c*(dim+1)+dim]
			for j, v := range x {
				z += w[c*(dim+1)+j] * float64(v)
			}
			out[c] = z
		}
	}
	p := make([]float64, k)
	for it := 0; it < 300; it++ {
		g := make([]float64, len(w))
		for i := 0; i < tr.Len(); i++ {
			x := tr.X[m][i*dim : (i+1)*dim]
			logits(x, p)
			mx := p[0]
			for _, v := range p {
				mx = math.Max(mx, v)
			}
			var z float64
			for c := range p {
				p[c] = math.Exp(p[c] - mx)
				z += p[c]
			}
			for c := range p {
				d := p[c] / z
				if int64(c) == tr.Y[i] {
					d--
				}
				for j, v := range x {
					g[c*(dim+1)+j] += d * float64(v)
				}
				g[c*(dim+1)+dim] += d
			}
		}
		for j := range w {
			w[j] -= 0.5 * g[j] / float64(tr.Len())
		}
	}
	te := s.Test
	correct := 0
	for i := 0; i < te.Len(); i++ {
		logits(te.X[m][i*dim:(i+1)*dim], p)
		best := 0
		for c := range p {
			if p[c] > p[best] {
				best = c
			}
		}
		if int64(best) == te.Y[i] {
			correct++
		}
	}
	return float64(correct) / float64(te.Len())
}

// In pure-S data each modality alone carries no label information: a unimodal linear probe stays at
// chance (1/K), while on pure-R data the same probe is far above it.
func TestSyntheticPureSynergyHidesLabelFromEachModality(t *testing.T) {
	s := load(t, "synthetic:mix=S,train=1000,test=1000", 1)
	chance := 1 / float64(s.NumClasses)
	for m := 0; m < 2; m++ {
		if acc := probeAccuracy(s, m); math.Abs(acc-chance) > 0.05 {
			t.Errorf("pure S, modality %d alone: probe accuracy %.3f, want chance %.2f ± 0.05", m+1, acc, chance)
		}
	}
	r := load(t, "synthetic:mix=R,train=1000,test=1000", 1)
	for m := 0; m < 2; m++ {
		if acc := probeAccuracy(r, m); acc < 0.9 {
			t.Errorf("pure R, modality %d alone: probe accuracy %.3f, want > 0.9", m+1, acc)
		}
	}
}

func TestParseMixThreeModalities(t *testing.T) {
	got, err := ParseMixM("1/4R+1/2U+1/4S", 3)
	if err != nil {
		t.Fatal(err)
	}
	want := []float64{0.25, 1. / 6, 1. / 6, 1. / 6, 0.25}
	for i := range want {
		if math.Abs(got[i]-want[i]) > 1e-12 {
			t.Fatalf("ParseMixM = %v, want %v", got, want)
		}
	}
	if got, err := ParseMixM("U3", 3); err != nil || got[3] != 1 {
		t.Fatalf("ParseMixM(U3) = %v, %v", got, err)
	}
	if _, err := ParseMix("U3"); err == nil {
		t.Fatal("U3 accepted with two modalities")
	}
}

// The default (two modalities) spelled explicitly gives the same bytes; modalities=3 gives three
// modalities, records its parameter and its composition.
func TestSyntheticModalitiesParameter(t *testing.T) {
	a := load(t, "synthetic:train=100,val=50,test=50", 1)
	b := load(t, "synthetic:modalities=2,train=100,val=50,test=50", 1)
	if a.SHA256 != b.SHA256 || len(a.Modalities) != 2 || a.Params["modalities"] != "2" {
		t.Fatalf("modalities=2 differs from the default (%s vs %s) or %d modalities", a.SHA256, b.SHA256, len(a.Modalities))
	}
	c := load(t, "synthetic:modalities=3,mix=1/4R+1/2U+1/4S,train=1200,val=50,test=50", 1)
	if len(c.Modalities) != 3 || c.Modalities[2].Name != "m3" || c.Params["modalities"] != "3" {
		t.Fatalf("modalities=3: %+v, params %v", c.Modalities, c.Params)
	}
	if c.Params["shares"] != "R=0.25,U1=0.16666666666666666,U2=0.16666666666666666,U3=0.16666666666666666,S=0.25" {
		t.Fatalf("shares %q", c.Params["shares"])
	}
	comp := CompositionM(c.Train, 3)
	if math.Abs(comp["U3"]-1./6) > 1e-3 || math.Abs(comp["S"]-0.25) > 1e-3 {
		t.Fatalf("composition %v", comp)
	}
	for _, bad := range []string{"synthetic:modalities=1", "synthetic:modalities=x", "synthetic:modalities=9"} {
		if _, err := data.Load(bad, 1, ""); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}

// blockIDs maps every sample's block (modality m, block b) of a noise-free split to an id per
// distinct vector (the K outputs of the fixed network, or a fresh id for pure noise).
func blockIDs(sp *data.Split, m, b, d int) []int {
	dim := 3 * d
	ids := map[string]int{}
	out := make([]int, sp.Len())
	for i := range out {
		row := sp.X[m][i*dim+b*d : i*dim+(b+1)*d]
		key := fmt.Sprint(row)
		id, ok := ids[key]
		if !ok {
			id = len(ids)
			ids[key] = id
		}
		out[i] = id
	}
	return out
}

// With three modalities and no noise: R is determined by any one modality's R-block; U_m by
// modality m's U-block; S by the three S-blocks together, while every pair of them leaves y uniform
// (each pair of codes occurs with every label about equally often).
func TestSyntheticThreeModalityInteractions(t *testing.T) {
	const d = 4
	determines := func(name string, keys []string, y []int64) {
		t.Helper()
		seen := map[string]int64{}
		for i, k := range keys {
			if v, ok := seen[k]; ok && v != y[i] {
				t.Fatalf("%s: key %s gives labels %d and %d", name, k, v, y[i])
			}
			seen[k] = y[i]
		}
	}
	for _, c := range []struct {
		mix   string
		block int
		mods  []int
	}{{"R", blockR, []int{0}}, {"R", blockR, []int{1}}, {"R", blockR, []int{2}}, {"U2", blockU, []int{1}}, {"U3", blockU, []int{2}}, {"S", blockS, []int{0, 1, 2}}} {
		set := load(t, fmt.Sprintf("synthetic:modalities=3,mix=%s,sigma=0,d=%d,train=800,val=10,test=10", c.mix, d), 2)
		ids := make([][]int, 3)
		for m := range ids {
			ids[m] = blockIDs(set.Train, m, c.block, d)
		}
		keys := make([]string, set.Train.Len())
		for i := range keys {
			for _, m := range c.mods {
				keys[i] += fmt.Sprint(ids[m][i], ",")
			}
		}
		determines(fmt.Sprintf("%s from modalities %v", c.mix, c.mods), keys, set.Train.Y)
	}
	set := load(t, fmt.Sprintf("synthetic:modalities=3,mix=S,sigma=0,d=%d,train=6400,val=10,test=10", d), 2)
	ids := make([][]int, 3)
	for m := range ids {
		ids[m] = blockIDs(set.Train, m, blockS, d)
	}
	for _, pair := range [][2]int{{0, 1}, {0, 2}, {1, 2}} {
		counts := map[[3]int]int{}
		for i, y := range set.Train.Y {
			counts[[3]int{ids[pair[0]][i], ids[pair[1]][i], int(y)}]++
		}
		if len(counts) != 4*4*4 {
			t.Fatalf("pair %v: %d (code, code, label) combinations, want all 64", pair, len(counts))
		}
		for k, n := range counts { // expected 100 each
			if n < 55 || n > 150 {
				t.Fatalf("pair %v: combination %v occurs %d times (expected ≈ 100: the pair says nothing about y)", pair, k, n)
			}
		}
	}
}
