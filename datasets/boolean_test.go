package datasets

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

func TestParseGateMix(t *testing.T) {
	third := 1.0 / 3
	ok := []struct {
		in    string
		want  GateMix
		canon string
	}{
		{"AND+XOR", GateMix{0.5, 0, 0.5}, "AND+XOR"},
		{"OR+XOR", GateMix{0, 0.5, 0.5}, "OR+XOR"},
		{"AND+OR+XOR", GateMix{third, third, third}, "AND+OR+XOR"},
		{"xor", GateMix{0, 0, 1}, "XOR"},
		{" XOR + and ", GateMix{0.5, 0, 0.5}, "AND+XOR"},
		{"0.25AND+0.75XOR", GateMix{0.25, 0, 0.75}, "0.25AND+0.75XOR"},
		{"1/4AND+3/4XOR", GateMix{0.25, 0, 0.75}, "0.25AND+0.75XOR"},
		{"1/3AND+1/3OR+1/3XOR", GateMix{third, third, third}, "AND+OR+XOR"},
		{"0.5OR+0.5AND", GateMix{0.5, 0.5, 0}, "AND+OR"},
	}
	for _, c := range ok {
		got, err := ParseGateMix(c.in)
		if err != nil {
			t.Errorf("ParseGateMix(%q): %v", c.in, err)
			continue
		}
		for g := range got {
			if math.Abs(got[g]-c.want[g]) > 1e-12 {
				t.Errorf("ParseGateMix(%q) = %v, want %v", c.in, got, c.want)
				break
			}
		}
		if s := got.String(); s != c.canon {
			t.Errorf("ParseGateMix(%q).String() = %q, want %q", c.in, s, c.canon)
		}
	}
	bad := []struct{ in, want string }{
		{"", "empty gate mixture"},
		{"  ", "empty gate mixture"},
		{"AND++XOR", "term 2 is empty"},
		{"AND+", "term 2 is empty"},
		{"NAND+XOR", `unknown gate "NAND"`},
		{"0.5", "no gate name"},
		{"0..5AND+0.5XOR", `bad weight "0..5"`},
		{"1/0AND+1XOR", `bad weight "1/0"`},
		{"0AND+1XOR", `bad weight "0": not in (0, 1]`},
		{"1.5AND+-0.5XOR", `bad weight "1.5": not in (0, 1]`},
		{"0.25AND+0.5XOR", "weights sum to 0.75, want 1"},
		{"0.5AND+XOR", "give a weight for every term or for none"},
		{"AND+and", "gate AND appears twice"},
	}
	for _, c := range bad {
		_, err := ParseGateMix(c.in)
		if err == nil {
			t.Errorf("ParseGateMix(%q): no error", c.in)
			continue
		}
		wantErrContains(t, err.Error(), c.want)
	}
}

func FuzzParseGateMix(f *testing.F) {
	for _, s := range []string{"AND+XOR", "0.25AND+0.75XOR", "1/3AND+1/3OR+1/3XOR", "", "+", "1/0AND", "NaNAND", "0.5and+0.5Or"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		mix, err := ParseGateMix(s)
		if err != nil {
			return
		}
		var sum float64
		for _, w := range mix {
			if w < 0 || math.IsNaN(w) {
				t.Fatalf("ParseGateMix(%q) = %v: bad share", s, mix)
			}
			sum += w
		}
		if math.Abs(sum-1) > 1e-9 {
			t.Fatalf("ParseGateMix(%q) = %v: shares sum to %g", s, mix, sum)
		}
		// The canonical spelling must parse back to the same shares.
		again, err := ParseGateMix(mix.String())
		if err != nil {
			t.Fatalf("ParseGateMix(%q).String() = %q does not parse: %v", s, mix.String(), err)
		}
		for g := range mix {
			if math.Abs(again[g]-mix[g]) > 1e-9 {
				t.Fatalf("round trip of %q: %v then %v", s, mix, again)
			}
		}
		gates := mix.assign(rand.New(rand.NewPCG(1, 2)), 7)
		if len(gates) != 7 {
			t.Fatalf("assign(7) for %v returned %d gates", mix, len(gates))
		}
		for _, g := range gates {
			if mix[g] == 0 {
				t.Fatalf("assign for %v used gate %s of share 0", mix, GateNames[g])
			}
		}
	})
}

func TestBooleanDefaults(t *testing.T) {
	s := loadSpec(t, "boolean", 1, "")
	if s.NumClasses != 2 || len(s.Modalities) != 2 || s.Modalities[0].Name != "m1" || s.Modalities[1].Name != "m2" {
		t.Fatalf("set %+v", s.Modalities)
	}
	if got := s.Modalities[0].Shape; !slices.Equal(got, []int64{16}) {
		t.Errorf("shape %v, want [16]", got)
	}
	if s.Train.Len() != 2000 || s.Val.Len() != 1000 || s.Test.Len() != 2000 {
		t.Errorf("sizes %d/%d/%d", s.Train.Len(), s.Val.Len(), s.Test.Len())
	}
	want := map[string]string{"mix": "AND+OR+XOR", "d": "16", "sigma": "0.5", "train": "2000", "val": "1000", "test": "2000", "seed": "1"}
	for k, v := range want {
		if s.Params[k] != v {
			t.Errorf("Params[%s] = %q, want %q", k, s.Params[k], v)
		}
	}
}

// Labels must equal the gate applied to the stored bits, and the composition must be exact.
func TestBooleanLabelsAndComposition(t *testing.T) {
	s := loadSpec(t, "boolean:mix=0.25AND+0.75XOR,train=1000,val=10,test=10,d=4,sigma=0", 3, "")
	sp := s.Train
	var counts [numGates]int
	for i := range sp.Y {
		g, a, b := sp.Aux["gate"][i], sp.Aux["x1"][i], sp.Aux["x2"][i]
		counts[g]++
		if want := applyGate(int(g), a, b); sp.Y[i] != want {
			t.Fatalf("sample %d: gate %s(%d,%d) = %d, label %d", i, GateNames[g], a, b, want, sp.Y[i])
		}
	}
	if counts != [numGates]int{250, 0, 750} {
		t.Errorf("gate counts %v, want [250 0 750]", counts)
	}
	// With sigma=0 each modality row is exactly the embedding of its bit: two distinct rows per modality.
	for m, key := range []string{"x1", "x2"} {
		rows := map[int64][]float32{}
		for i, bit := range sp.Aux[key] {
			row := sp.X[m][i*4 : (i+1)*4]
			if prev, ok := rows[bit]; ok && !slices.Equal(prev, row) {
				t.Fatalf("modality %d, bit %d: rows differ without noise", m, bit)
			}
			rows[bit] = row
		}
		if slices.Equal(rows[0], rows[1]) {
			t.Errorf("modality %d: bits 0 and 1 have the same embedding", m)
		}
	}
}

func TestBooleanDeterminism(t *testing.T) {
	a := loadSpec(t, "boolean:mix=AND+XOR,train=200,val=50,test=50", 7, "")
	b := loadSpec(t, "boolean:mix=AND+XOR,train=200,val=50,test=50", 7, "")
	c := loadSpec(t, "boolean:mix=AND+XOR,train=200,val=50,test=50", 8, "")
	d := loadSpec(t, "boolean:mix=AND+XOR,train=200,val=50,test=50,seed=7", 8, "")
	if a.SHA256 != b.SHA256 {
		t.Error("same seed, different SHA-256")
	}
	if a.SHA256 == c.SHA256 {
		t.Error("different seeds, same SHA-256")
	}
	if d.SHA256 != a.SHA256 {
		t.Error("seed=7 parameter should override the run seed")
	}
	// Split streams are independent: a bigger training set leaves the test split unchanged.
	e := loadSpec(t, "boolean:mix=AND+XOR,train=300,val=50,test=50", 7, "")
	if !slices.Equal(a.Test.X[0], e.Test.X[0]) || !slices.Equal(a.Test.Y, e.Test.Y) {
		t.Error("changing train= changed the test split")
	}
}

func TestBooleanBadParams(t *testing.T) {
	for spec, want := range map[string]string{
		"boolean:mix=NAND":    `unknown gate "NAND"`,
		"boolean:d=0":         "parameter d=\"0\": must be at least 1",
		"boolean:sigma=-1":    "parameter sigma=\"-1\": must be in",
		"boolean:sigma=NaN":   "not a finite number",
		"boolean:train=x":     "parameter train=\"x\": not an integer",
		"boolean:seed=1.5":    "parameter seed=\"1.5\": not a 64-bit integer",
		"boolean:colour=blue": "unknown parameter(s) colour",
	} {
		wantErrContains(t, loadSpecErr(t, spec, 1, ""), want)
	}
}
