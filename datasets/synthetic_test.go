package datasets

import (
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
