package bench

import (
	"math"
	"slices"
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

func TestParseRange(t *testing.T) {
	for _, c := range []struct {
		kind, r string
		in, out []float64
	}{
		{"int", "[1,inf)", []float64{1, 2, 1e9}, []float64{0, -3, math.Inf(1)}},
		{"float", "(0,1]", []float64{1e-9, 0.5, 1}, []float64{0, -0.1, 1.0000001, math.NaN()}},
		{"float", "[0,1)", []float64{0, 0.999}, []float64{1, -1e-12}},
		{"float", "(0,inf)", []float64{1e-300, 1e300}, []float64{0, -1, math.Inf(1)}},
		{"int", "[-1,inf)", []float64{-1, 0, 7}, []float64{-2}},
		{"float", "(-inf,inf)", []float64{-1e300, 0, 1e300}, []float64{math.Inf(-1), math.Inf(1), math.NaN()}},
		{"float", "[0.5,0.5]", []float64{0.5}, []float64{0.4999}},
		{"float", "[ -2 , +inf )", []float64{-2}, []float64{-2.1}},
	} {
		iv, err := parseRange(c.kind, c.r)
		if err != nil {
			t.Errorf("%s %q: %v", c.kind, c.r, err)
			continue
		}
		for _, x := range c.in {
			if !iv.contains(x) {
				t.Errorf("%q does not contain %v", c.r, x)
			}
		}
		for _, x := range c.out {
			if iv.contains(x) {
				t.Errorf("%q contains %v", c.r, x)
			}
		}
	}
	for _, c := range []struct{ kind, r string }{
		{"float", "[-inf,inf]"}, {"float", "[0,inf]"}, {"float", "[-inf,0)"}, {"float", "0,1"}, {"float", "[0;1]"},
		{"float", "[1,0]"}, {"float", "(1,1]"}, {"float", "[a,1]"}, {"float", "[0,1,2]"}, {"float", "[NaN,1]"},
		{"float", "(inf,inf)"}, {"int", "[0.5,inf)"}, {"bool", "[0,1]"}, {"float", ""}, {"float", "[1e999,2]"},
	} {
		if _, err := parseRange(c.kind, c.r); err == nil {
			t.Errorf("%s range %q accepted", c.kind, c.r)
		}
	}
}

var rangedSpecs = []ParamSpec{
	{Name: "stage1_epochs", Default: "10", Kind: "int", Range: "[1,inf)", Search: "int:1:12"},
	{Name: "dropout", Default: "0.3", Kind: "float", Range: "[0,1)"},
	{Name: "momentum", Default: "0.2", Kind: "float", Range: "[0,1]", Search: "lin:0:1"},
	{Name: "beta", Default: "1e-3", Kind: "float", Range: "(0,inf)", Search: "log:1e-5:1e-1"},
	{Name: "fusion", Default: "linear", Kind: "enum:linear|mlp", Search: "choice:linear|mlp"},
	{Name: "ge", Default: "true", Kind: "bool"},
	{Name: "w", Default: "1", Kind: "string"},
	{Name: "free", Default: "-5", Kind: "int"}, // no Range: unbounded (not allowed in the registries)
}

func TestNewParamsRefusesOutOfRange(t *testing.T) {
	p, err := NewParams("method dmi", rangedSpecs, map[string]string{"stage1_epochs": "1", "dropout": "0", "momentum": "1", "beta": "5e-324", "free": "-99"})
	if err != nil {
		t.Fatal(err)
	}
	if p.Int("stage1_epochs") != 1 || p.Float("momentum") != 1 || p.Int("free") != -99 {
		t.Fatalf("values %v", p.Map())
	}
	for _, c := range []struct{ key, v, want string }{
		{"stage1_epochs", "-3", "method dmi: stage1_epochs=-3 is out of range [1,inf)"},
		{"stage1_epochs", "0", "method dmi: stage1_epochs=0 is out of range [1,inf)"},
		{"dropout", "1", "method dmi: dropout=1 is out of range [0,1)"},
		{"dropout", "1.5", "method dmi: dropout=1.5 is out of range [0,1)"},
		{"dropout", "-0.01", "method dmi: dropout=-0.01 is out of range [0,1)"},
		{"momentum", "5", "method dmi: momentum=5 is out of range [0,1]"},
		{"beta", "0", "method dmi: beta=0 is out of range (0,inf)"},
		{"beta", "-0", "method dmi: beta=-0 is out of range (0,inf)"},
		{"beta", "Inf", `method dmi.beta="Inf": want a finite number`},
		{"beta", "NaN", `method dmi.beta="NaN": want a finite number`},
		{"stage1_epochs", "2.0", `method dmi.stage1_epochs="2.0": want an integer`},
	} {
		_, err := NewParams("method dmi", rangedSpecs, map[string]string{c.key: c.v})
		if err == nil || err.Error() != c.want {
			t.Errorf("%s=%s: error %v, want %q", c.key, c.v, err, c.want)
		}
	}
	// Several bad keys: the first in key order is reported, every time.
	for i := 0; i < 20; i++ {
		_, err := NewParams("method dmi", rangedSpecs, map[string]string{"stage1_epochs": "0", "dropout": "2", "momentum": "9"})
		if want := "method dmi: dropout=2 is out of range [0,1)"; err == nil || err.Error() != want {
			t.Fatalf("error %v, want %q", err, want)
		}
	}
	// A default outside its own range is a declaration bug, reported even without overrides.
	bad := []ParamSpec{{Name: "d", Default: "0", Kind: "int", Range: "[1,inf)"}}
	if _, err := NewParams("method x", bad, nil); err == nil || !strings.Contains(err.Error(), "d=0 is out of range [1,inf)") {
		t.Errorf("default out of range: %v", err)
	}
	bad = []ParamSpec{{Name: "d", Default: "1", Kind: "int", Range: "[1,inf]"}}
	if _, err := NewParams("method x", bad, nil); err == nil || !strings.Contains(err.Error(), "bad range") {
		t.Errorf("malformed range: %v", err)
	}
}

func TestCheckSpecsRanges(t *testing.T) {
	if err := CheckSpecs("test", rangedSpecs[:7]); err != nil {
		t.Fatal(err)
	}
	for name, s := range map[string]ParamSpec{
		"no range":             {Name: "a", Default: "1", Kind: "int"},
		"bad range":            {Name: "a", Default: "1", Kind: "int", Range: "[1,inf]"},
		"range on bool":        {Name: "a", Default: "true", Kind: "bool", Range: "[0,1]"},
		"range on enum":        {Name: "a", Default: "x", Kind: "enum:x|y", Range: "[0,1]"},
		"unknown kind":         {Name: "a", Default: "1", Kind: "number", Range: "[0,1]"},
		"empty enum":           {Name: "a", Default: "", Kind: "enum:"},
		"default out":          {Name: "a", Default: "0", Kind: "int", Range: "[1,inf)"},
		"default wrong kind":   {Name: "a", Default: "0.5", Kind: "int", Range: "[0,inf)"},
		"search out":           {Name: "a", Default: "0.5", Kind: "float", Range: "[0,1)", Search: "lin:0:1"},
		"search below":         {Name: "a", Default: "2", Kind: "int", Range: "[1,inf)", Search: "int:0:8"},
		"search wrong kind":    {Name: "a", Default: "2", Kind: "int", Range: "[1,inf)", Search: "lin:1:8"},
		"search reversed":      {Name: "a", Default: "2", Kind: "float", Range: "[1,inf)", Search: "lin:8:1"},
		"log search at zero":   {Name: "a", Default: "0", Kind: "float", Range: "[0,inf)", Search: "log:0:1"},
		"choice out":           {Name: "a", Default: "0.5", Kind: "float", Range: "[0,1]", Search: "choice:0.5|2"},
		"choice not in enum":   {Name: "a", Default: "x", Kind: "enum:x|y", Search: "choice:x|z"},
		"search on bool range": {Name: "a", Default: "true", Kind: "bool", Search: "lin:0:1"},
	} {
		if err := CheckSpecs("test", []ParamSpec{s}); err == nil {
			t.Errorf("%s: %+v accepted", name, s)
		}
	}
	if err := CheckSpecs("test", []ParamSpec{rangedSpecs[0], rangedSpecs[0]}); err == nil {
		t.Error("a name declared twice accepted")
	}
}

func TestAllowed(t *testing.T) {
	want := []string{"int in [1,inf)", "float in [0,1)", "float in [0,1]", "float in (0,inf)", "one of linear|mlp", "true|false", "string", "int"}
	for i, s := range rangedSpecs {
		if got := s.Allowed(); got != want[i] {
			t.Errorf("%s: Allowed() = %q, want %q", s.Name, got, want[i])
		}
	}
}

var listSpecs = []ParamSpec{
	{Name: "hidden", Default: "128", Kind: "intlist", Range: "[1,65536]", Search: "choice:64|128:512"},
	{Name: "layers", Default: "2", Kind: "int", Range: "[1,inf)"},
}

func TestIntListParseCanonicalAndRange(t *testing.T) {
	for _, c := range []struct {
		v, canon string
		ints     []int
	}{
		{"128", "128", []int{128}},
		{"+128", "128", []int{128}},
		{"0128", "128", []int{128}},
		{"128:512", "128:512", []int{128, 512}},
		{"0128:+512:1", "128:512:1", []int{128, 512, 1}},
		{"65536", "65536", []int{65536}},
	} {
		p, err := NewParams("encoder mlp", listSpecs, map[string]string{"hidden": c.v})
		if err != nil {
			t.Errorf("%q: %v", c.v, err)
			continue
		}
		if got := p.String("hidden"); got != c.canon {
			t.Errorf("%q stored as %q, want %q", c.v, got, c.canon)
		}
		if got := p.Map()["hidden"]; got != c.canon {
			t.Errorf("%q: Map has %q, want %q", c.v, got, c.canon)
		}
		if got := p.Ints("hidden"); !slices.Equal(got, c.ints) {
			t.Errorf("%q: Ints = %v, want %v", c.v, got, c.ints)
		}
	}
	// A one-element list is the plain int: the default spelled another way is still the default.
	p, err := NewParams("encoder mlp", listSpecs, map[string]string{"hidden": "+128"})
	if err != nil || p.Changed("hidden") || len(p.NonDefault()) != 0 {
		t.Errorf("hidden=+128: Changed %v, NonDefault %v, err %v", p.Changed("hidden"), p.NonDefault(), err)
	}
	for _, c := range []struct{ v, want string }{
		{"128:", `encoder mlp.hidden="128:": want an integer or integers separated by colons, e.g. 128 or 128:512 (element 2 of 2 is "")`},
		{":128", `encoder mlp.hidden=":128": want an integer or integers separated by colons, e.g. 128 or 128:512 (element 1 of 2 is "")`},
		{"a:3", `encoder mlp.hidden="a:3": want an integer or integers separated by colons, e.g. 128 or 128:512 (element 1 of 2 is "a")`},
		{"1.5", `encoder mlp.hidden="1.5": want an integer or integers separated by colons, e.g. 128 or 128:512`},
		{"128,512", `encoder mlp.hidden="128,512": want an integer or integers separated by colons, e.g. 128 or 128:512`},
		{"128::512", `encoder mlp.hidden="128::512": want an integer or integers separated by colons, e.g. 128 or 128:512 (element 2 of 3 is "")`},
		{"0", "encoder mlp: hidden=0 is out of range [1,65536]"},
		{"65537", "encoder mlp: hidden=65537 is out of range [1,65536]"},
		{"0:5", "encoder mlp: hidden=0:5: element 1 of 2 (0) is out of range [1,65536]"},
		{"128:-4", "encoder mlp: hidden=128:-4: element 2 of 2 (-4) is out of range [1,65536]"},
		{"128:512:99999", "encoder mlp: hidden=128:512:99999: element 3 of 3 (99999) is out of range [1,65536]"},
		{"99999999999999999999", `encoder mlp.hidden="99999999999999999999": want an integer or integers separated by colons, e.g. 128 or 128:512`},
	} {
		_, err := NewParams("encoder mlp", listSpecs, map[string]string{"hidden": c.v})
		if err == nil || err.Error() != c.want {
			t.Errorf("hidden=%s: error %v, want %q", c.v, err, c.want)
		}
	}
}

func TestIntListSpecs(t *testing.T) {
	if err := CheckSpecs("encoder mlp", listSpecs); err != nil {
		t.Fatal(err)
	}
	if got, want := listSpecs[0].Allowed(), "int[:int...] each in [1,65536]"; got != want {
		t.Errorf("Allowed() = %q, want %q", got, want)
	}
	ok := []ParamSpec{
		{Name: "a", Default: "4:8", Kind: "intlist", Range: "[1,inf)"},
		{Name: "a", Default: "4", Kind: "intlist", Range: "[1,16]", Search: "int:1:16"},
	}
	for _, s := range ok {
		if err := CheckSpecs("test", []ParamSpec{s}); err != nil {
			t.Errorf("%+v: %v", s, err)
		}
	}
	for name, s := range map[string]ParamSpec{
		"no range":          {Name: "a", Default: "1", Kind: "intlist"},
		"float range":       {Name: "a", Default: "1", Kind: "intlist", Range: "[0.5,2]"},
		"default out":       {Name: "a", Default: "4:0", Kind: "intlist", Range: "[1,inf)"},
		"default malformed": {Name: "a", Default: "4:", Kind: "intlist", Range: "[1,inf)"},
		"default spelling":  {Name: "a", Default: "04:8", Kind: "intlist", Range: "[1,inf)"},
		"choice out":        {Name: "a", Default: "4", Kind: "intlist", Range: "[1,16]", Search: "choice:4|8:32"},
		"int search out":    {Name: "a", Default: "4", Kind: "intlist", Range: "[1,16]", Search: "int:0:8"},
		"lin search":        {Name: "a", Default: "4", Kind: "intlist", Range: "[1,16]", Search: "lin:1:8"},
	} {
		if err := CheckSpecs("test", []ParamSpec{s}); err == nil {
			t.Errorf("%s: %+v accepted", name, s)
		}
	}
}

func TestOmitDefaultLeavesMap(t *testing.T) {
	specs := []ParamSpec{
		{Name: "hidden", Default: "128", Kind: "intlist", Range: "[1,65536]"},
		{Name: "last_relu", Default: "true", Kind: "bool", OmitDefault: true},
	}
	p, err := NewParams("encoder mlp", specs, nil)
	if err != nil {
		t.Fatal(err)
	}
	if m := p.Map(); len(m) != 1 || m["hidden"] != "128" {
		t.Errorf("defaults: Map = %v, want only hidden", m)
	}
	if !p.Bool("last_relu") {
		t.Error("last_relu default lost")
	}
	for v, inMap := range map[string]bool{"true": false, "false": true} {
		p, err := NewParams("encoder mlp", specs, map[string]string{"last_relu": v})
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := p.Map()["last_relu"]; ok != inMap {
			t.Errorf("last_relu=%s: in Map %v, want %v (%v)", v, ok, inMap, p.Map())
		}
		if got := len(p.NonDefault()); got != map[bool]int{false: 0, true: 1}[inMap] {
			t.Errorf("last_relu=%s: NonDefault %v", v, p.NonDefault())
		}
	}
}
