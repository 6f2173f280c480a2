package encoders

import (
	"fmt"
	"strings"
	"testing"

	"github.com/mmfusion/bench/bench"
	"github.com/mmfusion/bench/bench/data"
	"github.com/mmfusion/bench/bench/torchrt"
	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/nn"
)

// acceptCases: per encoder, shapes (and parameters) New builds and shapes it refuses. Accepts must
// give the same answer as New on every one.
var acceptCases = []struct {
	name   string
	sets   map[string]string
	shape  []int64
	accept bool
}{
	{"mlp", nil, []int64{48}, true},
	{"mlp", nil, []int64{1, 28, 28}, true},
	{"mlp", nil, []int64{10, 35}, true},
	{"mlp", nil, []int64{3, 2, 8, 8}, true},
	{"mlp", nil, []int64{}, false},
	{"mlp", nil, []int64{4, 0}, false},
	{"lenet", nil, []int64{1, 28, 28}, true},
	{"lenet", nil, []int64{3, 4, 4}, true},
	{"lenet", nil, []int64{48}, false},
	{"lenet", nil, []int64{28, 28}, false},
	{"lenet", nil, []int64{1, 3, 28}, false},
	{"lenet", nil, []int64{3, 2, 8, 8}, false},
	{"resnet18", smallResNet, []int64{1, 40, 30}, true},
	{"resnet18", smallResNet, []int64{3, 1, 1}, true},
	{"resnet18", smallResNet, []int64{3, 2, 16, 16}, true},
	{"resnet18", smallResNet, []int64{48}, false},
	{"resnet18", smallResNet, []int64{10, 35}, false},
	{"resnet18", smallResNet, []int64{1, 2, 3, 4, 5}, false},
	{"resnet34", smallResNet, []int64{1, 40, 30}, true},
	{"resnet34", smallResNet, []int64{3, 2, 16, 16}, true},
	{"resnet34", smallResNet, []int64{48}, false},
	{"resnet34", smallResNet, []int64{10, 35}, false},
	{"vit", nil, []int64{1, 28, 28}, true},
	{"vit", nil, []int64{1, 4, 4}, true},
	{"vit", nil, []int64{1, 3, 28}, false},
	{"vit", nil, []int64{48}, false},
	{"vit", nil, []int64{3, 2, 8, 8}, false},
	{"vit", map[string]string{"heads": "3"}, []int64{1, 8, 8}, false},
	{"vit", map[string]string{"heads": "3", "dim": "48"}, []int64{1, 8, 8}, true},
	{"vit", map[string]string{"patch": "9"}, []int64{1, 8, 8}, false},
	{"transformer", nil, []int64{10, 35}, true},
	{"transformer", nil, []int64{1, 1}, true},
	{"transformer", nil, []int64{48}, false},
	{"transformer", nil, []int64{1, 5, 5}, false},
	{"transformer", map[string]string{"heads": "5"}, []int64{10, 35}, false},
	{"lstm", nil, []int64{10, 35}, true},
	{"lstm", nil, []int64{48}, false},
	{"lstm", nil, []int64{1, 28, 28}, false},
	{"lstm", nil, []int64{0, 3}, false},
}

func TestAcceptsAgreesWithNew(t *testing.T) {
	lockThread(t)
	covered := map[string]bool{}
	for _, c := range acceptCases {
		spec, err := bench.Encoders.Lookup(c.name)
		if err != nil {
			t.Fatal(err)
		}
		if spec.Value.Accepts == nil {
			t.Fatalf("%s declares no Accepts", c.name)
		}
		covered[c.name] = true
		params, err := bench.NewParams("encoder "+c.name, spec.Value.Params, c.sets)
		if err != nil {
			t.Fatal(err)
		}
		mod := data.Modality{Name: "m", Shape: c.shape}
		acc := spec.Value.Accepts(mod, params)
		torchrt.ManualSeed(1)
		vs := nn.NewVarStore(gotch.CPU)
		_, built := spec.Value.New(vs.Root().Sub("enc0"), mod, params)
		vs.Destroy()
		label := fmt.Sprintf("%s %v %v", c.name, c.sets, c.shape)
		if (acc == nil) != c.accept {
			t.Errorf("%s: Accepts = %v, want accept=%v", label, acc, c.accept)
		}
		if (acc == nil) != (built == nil) {
			t.Errorf("%s: Accepts = %v but New = %v", label, acc, built)
		}
		if acc != nil && built != nil && !strings.Contains(built.Error(), acc.Error()) {
			t.Errorf("%s: New's error %q does not carry Accepts' %q", label, built, acc)
		}
		if acc != nil && strings.HasPrefix(acc.Error(), c.name) {
			t.Errorf("%s: Accepts' error %q names the encoder (CheckModality adds it)", label, acc)
		}
	}
	for _, e := range bench.Encoders.Entries() {
		if !strings.Contains(e.Description, "test only") && !covered[e.Name] {
			t.Errorf("encoder %s has no Accepts cases", e.Name)
		}
	}
	// The planner's view: CheckModality names the encoder and the modality.
	spec, _ := bench.Encoders.Lookup("lenet")
	params, _ := bench.NewParams("encoder lenet", spec.Value.Params, nil)
	err := spec.Value.CheckModality(data.Modality{Name: "m1", Shape: []int64{48}}, params)
	if want := "encoder lenet for modality m1: shape [48]: want an image [C,H,W]"; err == nil || err.Error() != want {
		t.Errorf("CheckModality: %v, want %q", err, want)
	}
}

// TestEncoderRangeEdgesBuild builds every encoder with each integer parameter at the lower end of its
// Range (one at a time) on a shape it accepts, and runs a forward pass: no panic, the declared size.
func TestEncoderRangeEdgesBuild(t *testing.T) {
	lockThread(t)
	shapes := map[string][]int64{"mlp": {6}, "lenet": {1, 8, 8}, "resnet18": {1, 8, 8}, "resnet34": {1, 8, 8}, "vit": {1, 8, 8}, "transformer": {5, 3}, "lstm": {5, 3}}
	for name, shape := range shapes {
		spec, _ := bench.Encoders.Lookup(name)
		for _, s := range spec.Value.Params {
			if s.Kind != "int" {
				continue
			}
			lo := strings.TrimSpace(strings.SplitN(s.Range[1:], ",", 2)[0])
			sets := map[string]string{s.Name: lo}
			if (name == "resnet18" || name == "resnet34") && s.Name != "width" {
				sets["width"] = "4"
			}
			if (name == "vit" || name == "transformer") && s.Name == "dim" {
				sets["heads"] = "1" // heads must divide dim
			}
			params, err := bench.NewParams(name, spec.Value.Params, sets)
			if err != nil {
				t.Fatalf("%s %v: %v", name, sets, err)
			}
			if err := spec.Value.Accepts(data.Modality{Name: "m", Shape: shape}, params); err != nil {
				t.Errorf("%s %v %v: %v", name, sets, shape, err)
				continue
			}
			enc, _ := build(t, name, shape, sets)
			sc := torchrt.NewScope()
			checkShape(t, fmt.Sprintf("%s %v", name, sets), enc.Forward(sc, input(sc, 2, shape), true), 2, enc.OutDim())
			sc.Drop()
		}
	}
}
