package bench

import (
	"strings"
	"testing"
)

var specs = []ParamSpec{
	{Name: "alpha", Default: "0.8", Kind: "float"},
	{Name: "steps", Default: "3", Kind: "int"},
	{Name: "ge", Default: "true", Kind: "bool"},
	{Name: "fusion", Default: "linear", Kind: "enum:linear|mlp"},
}

func TestParamsDefaultsOverridesAndErrors(t *testing.T) {
	p, err := NewParams("method ogm", specs, map[string]string{"alpha": "0.1", "fusion": "mlp"})
	if err != nil {
		t.Fatal(err)
	}
	if p.Float("alpha") != 0.1 || p.Int("steps") != 3 || !p.Bool("ge") || p.String("fusion") != "mlp" {
		t.Fatalf("values %v", p.Map())
	}
	if nd := strings.Join(p.NonDefault(), ","); nd != "alpha=0.1,fusion=mlp" {
		t.Fatalf("NonDefault = %s", nd)
	}
	for _, bad := range []map[string]string{
		{"beta": "1"}, {"alpha": "x"}, {"alpha": "NaN"}, {"steps": "1.5"}, {"ge": "yes please"}, {"fusion": "deep"},
	} {
		if _, err := NewParams("method ogm", specs, bad); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
	_, err = NewParams("method ogm", specs, map[string]string{"beta": "1"})
	if want := `method ogm has no parameter "beta" (known: alpha, fusion, ge, steps)`; err == nil || err.Error() != want {
		t.Fatalf("error %v, want %q", err, want)
	}
}

func TestParseSets(t *testing.T) {
	got, err := ParseSets([]string{"ogm.alpha=0.8,joint.fusion=mlp", "mlp.hidden=64"})
	if err != nil || got["ogm"]["alpha"] != "0.8" || got["joint"]["fusion"] != "mlp" || got["mlp"]["hidden"] != "64" {
		t.Fatalf("ParseSets = %v, %v", got, err)
	}
	for _, bad := range []string{"alpha=1", "ogm.alpha", ".alpha=1", "ogm.=1", "ogm.alpha=", "ogm.alpha=1,ogm.alpha=2"} {
		if _, err := ParseSets([]string{bad}); err == nil {
			t.Errorf("ParseSets(%q) accepted", bad)
		}
	}
}

// FuzzParseSets: no panic; every accepted item has a non-empty owner, key and value.
func FuzzParseSets(f *testing.F) {
	for _, s := range []string{"ogm.alpha=0.8", "a.b=c,d.e=f", "x", "=.=", "a.b.c=d"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParseSets([]string{s})
		if err != nil {
			return
		}
		for owner, kv := range got {
			for k, v := range kv {
				if owner == "" || k == "" || v == "" {
					t.Fatalf("ParseSets(%q) gave empty owner/key/value: %v", s, got)
				}
			}
		}
	})
}
