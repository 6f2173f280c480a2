package encoders

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mmfusion/bench/bench"
	"github.com/mmfusion/bench/bench/data"
	"github.com/mmfusion/bench/bench/store"
	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/nn"
)

// goldenWeights writes the golden copy's formula weights (every torchvision tensor, fc and
// num_batches_tracked included) with edit applied, and returns the file.
func goldenWeights(t *testing.T, name string, edit func([]stEntry) []stEntry) string {
	t.Helper()
	e := formulaWeights(t, filepath.Join("testdata", "xcheck", "resnet", "state_dict.json"))
	if edit != nil {
		e = edit(e)
	}
	path := filepath.Join(t.TempDir(), name)
	writeSafetensors(t, path, e)
	return path
}

// planCheck is what the planner runs: NewParams, then Accepts on one modality; the error names
// the encoder and modality.
func planCheck(sets map[string]string, shape []int64) error {
	spec, _ := bench.Encoders.Lookup("resnet18")
	params, err := bench.NewParams("encoder resnet18", spec.Value.Params, sets)
	if err != nil {
		return err
	}
	return spec.Value.CheckModality(data.Modality{Name: "audio", Shape: shape}, params)
}

func TestResNet18WeightsRefused(t *testing.T) {
	without := func(name string) func([]stEntry) []stEntry {
		return func(e []stEntry) []stEntry {
			return slices.DeleteFunc(e, func(x stEntry) bool { return x.name == name })
		}
	}
	reshape := func(e []stEntry) []stEntry {
		for i := range e {
			if e[i].name == "layer2.0.downsample.0.weight" {
				e[i].shape = []int64{128, 64, 1, 1, 1}
			}
		}
		return e
	}
	extra := func(e []stEntry) []stEntry {
		return append(e, stEntry{name: "layer5.0.conv1.weight", dtype: "F32", shape: []int64{2}, f32: []float32{1, 2}})
	}
	notST := filepath.Join(t.TempDir(), "resnet18.pth")
	if err := os.WriteFile(notST, []byte("PK\x03\x04 a zip archive, not safetensors"), 0o644); err != nil {
		t.Fatal(err)
	}
	ok := goldenWeights(t, "ok.safetensors", nil)
	cases := []struct {
		sets  map[string]string
		shape []int64
		want  []string // substrings of the error; nil: accepted
	}{
		{map[string]string{"weights": ok}, []int64{3, 32, 32}, nil},
		{map[string]string{"weights": ok}, []int64{1, 40, 30}, nil},
		{map[string]string{"weights": ok}, []int64{2, 4, 16, 16}, nil},
		{map[string]string{"weights": ok, "width": "16"}, []int64{1, 40, 30},
			[]string{"encoder resnet18 for modality audio: weights=" + ok + " needs width=64 (torchvision's ResNet-18), not width=16"}},
		{map[string]string{"weights": goldenWeights(t, "a.safetensors", without("layer3.1.bn2.running_var"))}, []int64{1, 8, 8},
			[]string{"encoder resnet18 for modality audio: weights ", "tensor layer3.1.bn2.running_var is missing (want shape [256])"}},
		{map[string]string{"weights": goldenWeights(t, "b.safetensors", reshape)}, []int64{1, 8, 8},
			[]string{"tensor layer2.0.downsample.0.weight has shape [128 64 1 1 1], want [128 64 1 1]"}},
		{map[string]string{"weights": goldenWeights(t, "c.safetensors", extra)}, []int64{1, 8, 8},
			[]string{"unknown tensor layer5.0.conv1.weight"}},
		{map[string]string{"weights": notST}, []int64{1, 8, 8}, []string{"not a safetensors file"}},
		{map[string]string{"weights": filepath.Join(t.TempDir(), "missing.safetensors")}, []int64{1, 8, 8},
			[]string{"encoder resnet18.weights=", "no such file"}},
		{map[string]string{"weights": t.TempDir()}, []int64{1, 8, 8}, []string{"not a regular file"}},
	}
	for _, c := range cases {
		err := planCheck(c.sets, c.shape)
		if c.want == nil {
			if err != nil {
				t.Errorf("%v %v: %v", c.sets, c.shape, err)
			}
			continue
		}
		if err == nil {
			t.Errorf("%v %v: accepted, want an error with %q", c.sets, c.shape, c.want)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%v %v: error %q, want it to contain %q", c.sets, c.shape, err, w)
			}
		}
	}
}

// TestResNet18WeightsChangedAfterPlanning: a file rewritten between planning (NewParams hashes it)
// and building is refused, so a cell never trains under another file's key.
func TestResNet18WeightsChangedAfterPlanning(t *testing.T) {
	lockThread(t)
	path := goldenWeights(t, "w.safetensors", nil)
	spec, _ := bench.Encoders.Lookup("resnet18")
	params, err := bench.NewParams("encoder resnet18", spec.Value.Params, map[string]string{"weights": path})
	if err != nil {
		t.Fatal(err)
	}
	e := formulaWeights(t, filepath.Join("testdata", "xcheck", "resnet", "state_dict.json"))
	e[0].f32[0] += 1 // a valid file with other values
	writeSafetensors(t, path, e)
	vs := nn.NewVarStore(gotch.CPU)
	_, err = spec.Value.New(vs.Root().Sub("enc0"), data.Modality{Name: "m", Shape: []int64{3, 8, 8}}, params)
	if err == nil || !strings.Contains(err.Error(), "changed since the run was planned") {
		t.Fatalf("New after the file changed: %v", err)
	}
}

// TestResNet18WeightsKey: the cell key and record hold the file's SHA-256, not its path: the same
// bytes under two paths are one cell, other bytes another, and no weights keeps the old key.
func TestResNet18WeightsKey(t *testing.T) {
	a := goldenWeights(t, "a.safetensors", nil)
	b, err := os.ReadFile(a)
	if err != nil {
		t.Fatal(err)
	}
	a2 := filepath.Join(t.TempDir(), "copy.safetensors")
	if err := os.WriteFile(a2, b, 0o644); err != nil {
		t.Fatal(err)
	}
	other := goldenWeights(t, "o.safetensors", func(e []stEntry) []stEntry { e[1].f32[0] += 1e-3; return e })
	spec, _ := bench.Encoders.Lookup("resnet18")
	cell := func(sets map[string]string) *bench.Cell { // no methods are registered in this package
		ep, err := bench.NewParams("encoder resnet18", spec.Value.Params, sets)
		if err != nil {
			t.Fatal(err)
		}
		return &bench.Cell{Method: "m", Dataset: "synthetic", Encoder: "resnet18", EncoderParams: ep, Seed: 1,
			Train: store.TrainConfig{Epochs: 1, LR: 0.1, BatchSize: 8}}
	}
	ka, ka2, ko, k0 := cell(map[string]string{"weights": a}).Key("d"), cell(map[string]string{"weights": a2}).Key("d"),
		cell(map[string]string{"weights": other}).Key("d"), cell(nil).Key("d")
	if ka != ka2 {
		t.Errorf("same weights under two paths: keys %s and %s", ka, ka2)
	}
	if ka == ko || ka == k0 || ko == k0 {
		t.Errorf("keys not distinct: weights %s, other weights %s, none %s", ka, ko, k0)
	}
	m := cell(map[string]string{"weights": a}).EncoderParams.Map()
	if v := m["weights"]; !strings.HasPrefix(v, "sha256:") || len(v) != len("sha256:")+64 || strings.Contains(v, a) {
		t.Errorf("record's weights = %q, want sha256:<64 hex>", v)
	}
	if _, ok := cell(nil).EncoderParams.Map()["weights"]; ok {
		t.Errorf("without weights the record has a weights entry (old keys would change)")
	}
}

func init() {
	bench.Methods.Register("weights-plan", "test only: a method with nothing to build, for CheckCell", bench.MethodSpec{})
}

// TestResNet18WeightsWithXavierRecipe: the xavier-normal init runs after the encoders are built and
// would overwrite loaded weights, so the planner refuses the combination.
func TestResNet18WeightsWithXavierRecipe(t *testing.T) {
	spec, _ := bench.Encoders.Lookup("resnet18")
	ep, err := bench.NewParams("encoder resnet18", spec.Value.Params, map[string]string{"weights": goldenWeights(t, "w.safetensors", nil)})
	if err != nil {
		t.Fatal(err)
	}
	mods := []data.Modality{{Name: "audio", Shape: []int64{1, 16, 16}}, {Name: "visual", Shape: []int64{3, 16, 16}}}
	c := &bench.Cell{Method: "weights-plan", Dataset: "synthetic", Encoder: "resnet18", EncoderParams: ep,
		Train: store.TrainConfig{Epochs: 1, LR: 0.1, BatchSize: 8}}
	if err := bench.CheckCell(c, mods); err != nil {
		t.Fatalf("default init: %v", err)
	}
	c.Train.Init = bench.InitXavierNormal
	if err := bench.CheckCell(c, mods); err == nil || !strings.Contains(err.Error(), "resnet18.weights: loaded weights would be re-drawn by the xavier-normal") {
		t.Fatalf("xavier-normal init with weights: %v", err)
	}
}
