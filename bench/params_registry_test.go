package bench_test

import (
	"strings"
	"testing"

	"github.com/mmfusion/bench/bench"
	"github.com/mmfusion/bench/bench/data"
	_ "github.com/mmfusion/bench/bench/encoders"
	"github.com/mmfusion/bench/bench/store"
	_ "github.com/mmfusion/bench/methods"
)

// TestEveryParamHasAValidRange walks every registered method and encoder: each numeric parameter
// declares a valid Range, its default lies inside it, and its Search range (bench tune) too; enums,
// bools and strings take no Range.
func TestEveryParamHasAValidRange(t *testing.T) {
	n := 0
	for _, e := range bench.Methods.Entries() {
		if err := bench.CheckSpecs("method "+e.Name, e.Value.Params); err != nil {
			t.Error(err)
		}
		n += len(e.Value.Params)
	}
	for _, e := range bench.Encoders.Entries() {
		if err := bench.CheckSpecs("encoder "+e.Name, e.Value.Params); err != nil {
			t.Error(err)
		}
		n += len(e.Value.Params)
	}
	if n < 40 {
		t.Fatalf("only %d parameters registered: are the methods and encoders linked in?", n)
	}
}

// The values of the issue: on the previous NewParams (kind checks only) every one was accepted (run
// against HEAD's params.go with these kinds: all nine returned nil), and trained nothing, was stored
// as a failed record, killed the process (joint.fusion_hidden=-5: a libtorch panic) or ran silently.
var issueBadValues = []struct {
	owner string // "method NAME" or "encoder NAME"
	sets  map[string]string
	want  string
}{
	{"encoder mlp", map[string]string{"hidden": "0"}, "encoder mlp: hidden=0 is out of range [1,65536]"},
	{"method dmi", map[string]string{"stage1_epochs": "-3"}, "method dmi: stage1_epochs=-3 is out of range [0,inf)"},
	{"method mmml", map[string]string{"dropout": "1.5"}, "method mmml: dropout=1.5 is out of range [0,1)"},
	{"method mib", map[string]string{"d": "0"}, "method mib: d=0 is out of range [1,inf)"},
	{"method joint", map[string]string{"fusion": "mlp", "fusion_hidden": "-5"}, "method joint: fusion_hidden=-5 is out of range [1,inf)"},
	{"method ogm", map[string]string{"alpha": "-1"}, "method ogm: alpha=-1 is out of range [0,inf)"},
	{"method qmf", map[string]string{"lambda": "-10"}, "method qmf: lambda=-10 is out of range [0,inf)"},
	{"method pmr", map[string]string{"momentum": "5"}, "method pmr: momentum=5 is out of range [0,1]"},
	{"method mmml", map[string]string{"w_fused": "-1"}, "method mmml: w_fused=-1 is out of range (0,inf)"},
}

func specParams(t *testing.T, owner string) []bench.ParamSpec {
	t.Helper()
	kind, name, _ := strings.Cut(owner, " ")
	if kind == "method" {
		e, err := bench.Methods.Lookup(name)
		if err != nil {
			t.Fatal(err)
		}
		return e.Value.Params
	}
	e, err := bench.Encoders.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	return e.Value.Params
}

func TestIssueBadParamValuesAreRefused(t *testing.T) {
	for _, c := range issueBadValues {
		_, err := bench.NewParams(c.owner, specParams(t, c.owner), c.sets)
		if err == nil || err.Error() != c.want {
			t.Errorf("%s %v: error %v, want %q", c.owner, c.sets, err, c.want)
		}
	}
	// NewCell (what bench run builds its cells with) refuses them too.
	_, err := bench.NewCell("joint", map[string]string{"fusion": "mlp", "fusion_hidden": "-5"}, "synthetic", "mlp", nil, 1, store.TrainConfig{Epochs: 1})
	if err == nil {
		t.Error("NewCell accepted joint.fusion_hidden=-5")
	}
}

func planCell(t *testing.T, method string, msets map[string]string, encoder string, esets map[string]string, epochs int) *bench.Cell {
	t.Helper()
	c, err := bench.NewCell(method, msets, "synthetic", encoder, esets, 1, store.TrainConfig{Epochs: epochs})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// CheckCell: the plan-time checks a planner runs once the dataset's modalities are known.
func TestCheckCellValidatesBeforeTraining(t *testing.T) {
	vec := []data.Modality{{Name: "m1", Shape: []int64{48}}, {Name: "m2", Shape: []int64{48}}}
	img := []data.Modality{{Name: "image", Shape: []int64{1, 28, 28}}, {Name: "audio", Shape: []int64{1, 64, 32}}}
	three := append(vec[:2:2], data.Modality{Name: "m3", Shape: []int64{8}})
	for _, c := range []struct {
		cell *bench.Cell
		mods []data.Modality
		want string // "" = accepted
	}{
		{planCell(t, "joint", nil, "mlp", nil, 30), vec, ""},
		{planCell(t, "joint", nil, "lenet", nil, 30), img, ""},
		{planCell(t, "joint", nil, "lenet", nil, 30), vec, "encoder lenet for modality m1: shape [48]: want an image [C,H,W]"},
		{planCell(t, "joint", nil, "lstm", nil, 30), img, "encoder lstm for modality image: shape [1 28 28]: want a sequence [T,F]"},
		{planCell(t, "joint", nil, "vit", map[string]string{"heads": "3"}, 30), img, "encoder vit for modality image: heads=3 does not divide dim=64"},
		{planCell(t, "joint", map[string]string{"fusion": "mlp", "fusion_hidden": "16"}, "mlp", nil, 30), vec, ""},
		{planCell(t, "joint", map[string]string{"fusion_hidden": "16"}, "mlp", nil, 30), vec,
			"method joint: fusion_hidden=16 has no effect with fusion=linear (only the mlp head has a hidden layer); set fusion=mlp or drop fusion_hidden"},
		{planCell(t, "ogm", map[string]string{"modulation_start": "9", "modulation_end": "3"}, "mlp", nil, 30), vec,
			"method ogm: modulation_start=9 > modulation_end=3: the modulation window is empty"},
		{planCell(t, "agm", map[string]string{"modulation_start": "40"}, "mlp", nil, 30), vec,
			"method agm: modulation_start=40 is after the run's last epoch (--epochs 30): nothing would be modulated"},
		{planCell(t, "mmml", map[string]string{"w_uni": "1:-0.5"}, "mlp", nil, 30), vec, `method mmml: w_uni=1:-0.5: "-0.5" is not a finite weight ≥ 0`},
		{planCell(t, "pmr", nil, "mlp", nil, 30), three, ""}, // methods.md §4.6's extension
		{planCell(t, "dmi", nil, "mlp", nil, 30), three, "method dmi is defined for exactly two modalities: R is defined pairwise, S is bilinear in two V's (methods-beyond.md §5.1); for M modalities run dmi-tdm, DMI-TD (our reading); dataset synthetic has 3"},
		{planCell(t, "dmi-tdm", nil, "mlp", nil, 30), three, ""},
		{planCell(t, "mmml", map[string]string{"w_uni": "1:0.5"}, "mlp", nil, 30), three, `method mmml on dataset synthetic (3 modalities): w_uni="1:0.5": want one weight or 3 separated by ':'`},
		{planCell(t, "mmml", map[string]string{"w_uni": "1:0.5:2"}, "mlp", nil, 30), three, ""},
		{planCell(t, "uni-3", nil, "mlp", nil, 30), vec, "method uni-3 needs at least 3 modalities; dataset synthetic has 2"},
		{planCell(t, "dmi", nil, "mlp", nil, 8), vec, ""}, // a schedule longer than the run stays in stage 1 (CI's 8-epoch sweep)
	} {
		err := bench.CheckCell(c.cell, c.mods)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s/%s %v: %v", c.cell.Method, c.cell.Encoder, c.cell.MethodParams.NonDefault(), err)
		case c.want != "" && (err == nil || err.Error() != c.want):
			t.Errorf("%s/%s %v: error %v, want %q", c.cell.Method, c.cell.Encoder, c.cell.MethodParams.NonDefault(), err, c.want)
		}
	}
}
