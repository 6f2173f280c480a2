package encoders

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/mmfusion/bench/bench"
	"github.com/mmfusion/bench/bench/data"
	"github.com/mmfusion/bench/bench/layers"
	"github.com/mmfusion/bench/bench/torchrt"
	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"
)

// varShapes lists a var store's variables as "name [shape]", sorted.
func varShapes(vs *nn.VarStore) []string {
	var out []string
	for name, v := range vs.Variables() {
		out = append(out, fmt.Sprintf("%s %v", name, v.MustSize()))
	}
	slices.Sort(out)
	return out
}

// TestMLPWidthList: hidden=W1:W2:... builds one Linear per width, in → W1 → W2 → ..., and reports the
// last width as the feature size; each layer is a stage of its width.
func TestMLPWidthList(t *testing.T) {
	lockThread(t)
	for _, c := range []struct {
		sets   map[string]string
		shape  []int64
		vars   []string
		stages []int64
	}{
		{map[string]string{"hidden": "128:512"}, []int64{6}, []string{
			"enc0.0.bias [128]", "enc0.0.weight [128 6]", "enc0.1.bias [512]", "enc0.1.weight [512 128]",
		}, []int64{128, 512}},
		// The DMI reference encoder; an explicit layers equal to the list's length is accepted.
		{map[string]string{"hidden": "128:512", "last_relu": "false", "layers": "2"}, []int64{2, 5}, []string{
			"enc0.0.bias [128]", "enc0.0.weight [128 10]", "enc0.1.bias [512]", "enc0.1.weight [512 128]",
		}, []int64{128, 512}},
		// A list sets the depth: layers stays at its default (2) and three layers are built.
		{map[string]string{"hidden": "16:8:4"}, []int64{3}, []string{
			"enc0.0.bias [16]", "enc0.0.weight [16 3]", "enc0.1.bias [8]", "enc0.1.weight [8 16]",
			"enc0.2.bias [4]", "enc0.2.weight [4 8]",
		}, []int64{16, 8, 4}},
		{map[string]string{"hidden": "7", "layers": "1"}, []int64{3}, []string{"enc0.0.bias [7]", "enc0.0.weight [7 3]"}, []int64{7}},
		{map[string]string{"hidden": "1:1"}, []int64{3}, []string{
			"enc0.0.bias [1]", "enc0.0.weight [1 3]", "enc0.1.bias [1]", "enc0.1.weight [1 1]",
		}, []int64{1, 1}},
	} {
		label := fmt.Sprintf("%v %v", c.sets, c.shape)
		enc, vs := build(t, "mlp", c.shape, c.sets)
		if got := varShapes(vs); !slices.Equal(got, c.vars) {
			t.Errorf("%s: variables %v, want %v", label, got, c.vars)
		}
		last := c.stages[len(c.stages)-1]
		if enc.OutDim() != last {
			t.Errorf("%s: OutDim %d, want %d", label, enc.OutDim(), last)
		}
		if got := stageChannels(enc, vs); !slices.Equal(got, c.stages) {
			t.Errorf("%s: stage channels %v, want %v", label, got, c.stages)
		}
		s := torchrt.NewScope()
		checkShape(t, label, enc.Forward(s, input(s, 3, c.shape), true), 3, last)
		s.Drop()
	}
}

// TestMLPLastReLU: with last_relu=true (the default) every feature is ≥ 0; with false the last layer
// is linear and features are negative too, and they are the pre-ReLU values of the same weights.
func TestMLPLastReLU(t *testing.T) {
	lockThread(t)
	s := torchrt.NewScope()
	defer s.Drop()
	torchrt.ManualSeed(5)
	shape := []int64{10}
	x := input(s, 64, shape)
	for _, hidden := range []string{"32", "128:512"} {
		on, _ := build(t, "mlp", shape, map[string]string{"hidden": hidden})
		off, _ := build(t, "mlp", shape, map[string]string{"hidden": hidden, "last_relu": "false"})
		yOn, yOff := on.Forward(s, x, false), off.Forward(s, x, false)
		if m := s.T(yOn.MustMin(false)).MustFloat64Value(nil); m < 0 {
			t.Errorf("hidden=%s last_relu=true: min feature %g < 0", hidden, m)
		}
		if m := s.T(yOff.MustMin(false)).MustFloat64Value(nil); m >= 0 {
			t.Errorf("hidden=%s last_relu=false: min feature %g, want some negative", hidden, m)
		}
		// Same seed, same weights: the ReLU of the linear features is the default's features.
		if !s.T(yOff.MustRelu(false)).MustEqual(yOn, false) {
			t.Errorf("hidden=%s: relu(last_relu=false features) differs from last_relu=true features", hidden)
		}
		// Only the last layer changes: the earlier stages still apply their ReLU.
		if off.(bench.StagedEncoder).NumStages() > 1 {
			h := off.(bench.StagedEncoder).ForwardStage(s, 0, x, false)
			if m := s.T(h.MustMin(false)).MustFloat64Value(nil); m < 0 {
				t.Errorf("hidden=%s last_relu=false: stage 0 has negative values (%g)", hidden, m)
			}
		}
	}
}

// oldMLP is the encoder as it was before width lists and last_relu: depth × Linear(in→hidden) →
// ReLU, created under p.Sub("0"), p.Sub("1"), ... in that order.
func oldMLP(p *nn.Path, in, hidden int64, depth int) []*layers.Linear {
	var ls []*layers.Linear
	for i := 0; i < depth; i++ {
		ls = append(ls, layers.NewLinear(p.Sub(fmt.Sprint(i)), in, hidden))
		in = hidden
	}
	return ls
}

func oldForward(s *torchrt.Scope, ls []*layers.Linear, x *ts.Tensor) *ts.Tensor {
	x = s.T(x.MustFlatten(1, -1, false))
	for _, l := range ls {
		x = s.T(l.Forward(s, x).MustRelu(false))
	}
	return x
}

// TestMLPSingleWidthUnchanged: one width (default, explicit, or spelled "+W"/"0W", with last_relu
// left at its default) gives the variables, values and features of the encoder before width lists,
// for a fixed seed, so existing results and the CI baseline do not move.
func TestMLPSingleWidthUnchanged(t *testing.T) {
	lockThread(t)
	s := torchrt.NewScope()
	defer s.Drop()
	for _, c := range []struct {
		sets   map[string]string
		shape  []int64
		hidden int64
		depth  int
	}{
		{nil, []int64{1, 8, 8}, 128, 2},
		{map[string]string{"hidden": "128"}, []int64{12}, 128, 2},
		{map[string]string{"hidden": "+32", "layers": "3"}, []int64{2, 5}, 32, 3},
		{map[string]string{"hidden": "016", "layers": "1", "last_relu": "true"}, []int64{7}, 16, 1},
	} {
		label := fmt.Sprintf("%v %v", c.sets, c.shape)
		torchrt.ManualSeed(3)
		x := input(s, 4, c.shape)
		enc, vs := build(t, "mlp", c.shape, c.sets)

		torchrt.ManualSeed(1) // as build does
		ref := nn.NewVarStore(gotch.CPU)
		n := int64(1)
		for _, d := range c.shape {
			n *= d
		}
		ls := oldMLP(ref.Root().Sub("enc0"), n, c.hidden, c.depth)

		got, want := vs.Variables(), ref.Variables()
		if g, w := slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(want)); !slices.Equal(g, w) {
			t.Fatalf("%s: variables %v, want %v", label, g, w)
		}
		for name, w := range want {
			g := got[name]
			if !slices.Equal(g.MustSize(), w.MustSize()) || !g.MustEqual(&w, false) {
				t.Errorf("%s: variable %s differs from the old encoder's", label, name)
			}
		}
		if enc.OutDim() != c.hidden {
			t.Errorf("%s: OutDim %d, want %d", label, enc.OutDim(), c.hidden)
		}
		if !enc.Forward(s, x, true).MustEqual(oldForward(s, ls, x), false) {
			t.Errorf("%s: features differ from the old encoder's", label)
		}
	}
	// One width and a one-element list are one value: the same cell.
	spec, _ := bench.Encoders.Lookup("mlp")
	a, _ := bench.NewParams("encoder mlp", spec.Value.Params, map[string]string{"hidden": "128"})
	b, _ := bench.NewParams("encoder mlp", spec.Value.Params, map[string]string{"hidden": "0128"})
	if !maps.Equal(a.Map(), b.Map()) || len(b.NonDefault()) != 0 {
		t.Errorf("hidden=128 %v and hidden=0128 %v (NonDefault %v) differ", a.Map(), b.Map(), b.NonDefault())
	}
}

// TestMLPBadWidthsRefused: a malformed or out-of-range list is refused by NewParams (before any
// cell is planned), and a list that contradicts an explicit layers by CheckModality (CheckCell),
// with New refusing the same.
func TestMLPBadWidthsRefused(t *testing.T) {
	lockThread(t)
	spec, _ := bench.Encoders.Lookup("mlp")
	for _, c := range []struct{ v, want string }{
		{"128:", `encoder mlp.hidden="128:": want an integer or integers separated by colons, e.g. 128 or 128:512 (element 2 of 2 is "")`},
		{"a:3", `encoder mlp.hidden="a:3": want an integer or integers separated by colons, e.g. 128 or 128:512 (element 1 of 2 is "a")`},
		{"0:5", "encoder mlp: hidden=0:5: element 1 of 2 (0) is out of range [1,65536]"},
		{"0", "encoder mlp: hidden=0 is out of range [1,65536]"},
		{"128:70000", "encoder mlp: hidden=128:70000: element 2 of 2 (70000) is out of range [1,65536]"},
		{"", `encoder mlp.hidden="": want an integer or integers separated by colons, e.g. 128 or 128:512`},
	} {
		_, err := bench.NewParams("encoder mlp", spec.Value.Params, map[string]string{"hidden": c.v})
		if err == nil || err.Error() != c.want {
			t.Errorf("hidden=%q: error %v, want %q", c.v, err, c.want)
		}
	}
	if _, err := bench.NewParams("encoder mlp", spec.Value.Params, map[string]string{"last_relu": "no"}); err == nil {
		t.Error("last_relu=no accepted")
	}
	mod := data.Modality{Name: "m1", Shape: []int64{6}}
	for _, c := range []struct {
		sets map[string]string
		want string // "" = accepted
	}{
		{map[string]string{"hidden": "128:512", "layers": "3"},
			"encoder mlp for modality m1: hidden=128:512 gives 2 layers but layers=3: a width list sets the depth (drop layers or make it 2)"},
		{map[string]string{"hidden": "8:8:8", "layers": "1"},
			"encoder mlp for modality m1: hidden=8:8:8 gives 3 layers but layers=1: a width list sets the depth (drop layers or make it 3)"},
		{map[string]string{"hidden": "8:8:8", "layers": "3"}, ""},
		{map[string]string{"hidden": "8:8:8"}, ""},
		{map[string]string{"hidden": "8", "layers": "5"}, ""},
	} {
		params, err := bench.NewParams("encoder mlp", spec.Value.Params, c.sets)
		if err != nil {
			t.Fatalf("%v: %v", c.sets, err)
		}
		err = spec.Value.CheckModality(mod, params)
		if c.want == "" {
			if err != nil {
				t.Errorf("%v: %v", c.sets, err)
			}
			continue
		}
		if err == nil || err.Error() != c.want {
			t.Errorf("%v: CheckModality error %v, want %q", c.sets, err, c.want)
		}
		vs := nn.NewVarStore(gotch.CPU)
		if _, err := spec.Value.New(vs.Root(), mod, params); err == nil || !strings.Contains(err.Error(), "a width list sets the depth") {
			t.Errorf("%v: New error %v", c.sets, err)
		}
	}
}

// TestMLPDefaultCellKeyUnchanged: a cell on the default mlp, or on one width, has the key it had
// when hidden was an int and last_relu did not exist, so stored results are found again; setting
// last_relu=false or a width list gives a new cell.
func TestMLPDefaultCellKeyUnchanged(t *testing.T) {
	oldSpecs := []bench.ParamSpec{
		{Name: "hidden", Default: "128", Kind: "int", Range: "[1,inf)"},
		{Name: "layers", Default: "2", Kind: "int", Range: "[1,inf)"},
	}
	spec, _ := bench.Encoders.Lookup("mlp")
	key := func(specs []bench.ParamSpec, sets map[string]string) string {
		t.Helper()
		ep, err := bench.NewParams("encoder mlp", specs, sets)
		if err != nil {
			t.Fatal(err)
		}
		c := &bench.Cell{Method: "joint", Dataset: "synthetic", Encoder: "mlp", EncoderParams: ep, Seed: 1}
		return c.Key("sha")
	}
	for _, sets := range []map[string]string{nil, {"hidden": "32"}, {"hidden": "256", "layers": "3"}} {
		if o, n := key(oldSpecs, sets), key(spec.Value.Params, sets); o != n {
			t.Errorf("%v: key %s, was %s", sets, n, o)
		}
	}
	if o, n := key(oldSpecs, nil), key(spec.Value.Params, map[string]string{"last_relu": "true", "hidden": "0128"}); o != n {
		t.Errorf("explicit defaults: key %s, was %s", n, o)
	}
	def := key(spec.Value.Params, nil)
	for _, sets := range []map[string]string{{"last_relu": "false"}, {"hidden": "128:128"}} {
		if key(spec.Value.Params, sets) == def {
			t.Errorf("%v: same key as the default cell", sets)
		}
	}
}
