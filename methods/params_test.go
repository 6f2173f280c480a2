package methods

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/mmfusion/bench/bench"
	"github.com/mmfusion/bench/bench/benchtest"
	"github.com/mmfusion/bench/bench/data"
	"github.com/mmfusion/bench/bench/torchrt"
	"github.com/sugarme/gotch"
)

// The Validate hooks (cross-parameter and epoch-budget constraints), through MethodSpec.CheckParams
// as a planner calls them.
func TestValidateHooks(t *testing.T) {
	for _, c := range []struct {
		method string
		sets   map[string]string
		epochs int
		want   string // "" = accepted
	}{
		{"joint", nil, 30, ""},
		{"joint", map[string]string{"fusion": "mlp", "fusion_hidden": "7"}, 30, ""},
		{"joint", map[string]string{"fusion": "linear", "fusion_hidden": "7"}, 30, "fusion_hidden=7 has no effect with fusion=linear"},
		{"joint", map[string]string{"fusion": "linear", "fusion_hidden": "128"}, 30, ""}, // the default: nothing set
		{"mmml", map[string]string{"w_uni": "0:2.5"}, 30, ""},
		{"mmml", map[string]string{"w_uni": "-1"}, 30, `w_uni=-1: "-1" is not a finite weight ≥ 0`},
		{"mmml", map[string]string{"w_uni": "1:NaN"}, 30, `"NaN" is not a finite weight ≥ 0`},
		{"mmml", map[string]string{"w_uni": "1:x"}, 30, `"x" is not a finite weight ≥ 0`},
		{"dmi", nil, 1, ""},
		{"dmi", map[string]string{"stage1_epochs": "20", "stage2_epochs": "8"}, 10, ""},
		{"dmi-td", nil, 1, ""},
	} {
		err := checkMethodParams(t, c.method, c.sets, c.epochs)
		if c.want == "" && err != nil || c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)) {
			t.Errorf("%s %v --epochs %d: error %v, want %q", c.method, c.sets, c.epochs, err, c.want)
		}
	}
	for _, method := range []string{"ogm", "pmr", "pmr-per", "agm", "mlb"} {
		for _, w := range []struct {
			start, end string
			epochs     int
			want       string
		}{
			{"1", "1", 1, ""},
			{"3", "3", 30, ""},
			{"2", "1000000", 2, ""},
			{"5", "4", 30, "modulation_start=5 > modulation_end=4: the modulation window is empty"},
			{"31", "40", 30, "modulation_start=31 is after the run's last epoch (--epochs 30): nothing would be modulated"},
		} {
			err := checkMethodParams(t, method, map[string]string{"modulation_start": w.start, "modulation_end": w.end}, w.epochs)
			if w.want == "" && err != nil || w.want != "" && (err == nil || err.Error() != "method "+method+": "+w.want) {
				t.Errorf("%s window [%s,%s] --epochs %d: error %v, want %q", method, w.start, w.end, w.epochs, err, w.want)
			}
		}
	}
}

func checkMethodParams(t *testing.T, method string, sets map[string]string, epochs int) error {
	t.Helper()
	spec, p := benchtest.Method(t, method, sets)
	return spec.CheckParams(p, epochs)
}

// rangeEdges returns in-range values at the finite ends of a numeric spec's Range (the end itself
// where it is closed, a value just inside where it is open).
func rangeEdges(t *testing.T, s bench.ParamSpec) []string {
	t.Helper()
	r := s.Range
	lo, hi, _ := strings.Cut(r[1:len(r)-1], ",")
	var out []string
	edge := func(end string, closed bool, inward float64) {
		if strings.Contains(end, "inf") {
			return
		}
		f, err := strconv.ParseFloat(strings.TrimSpace(end), 64)
		if err != nil {
			t.Fatalf("%s: range %q", s.Name, r)
		}
		switch {
		case closed:
		case s.Kind == "int":
			f += inward
		default:
			f += inward * 1e-3
		}
		out = append(out, strconv.FormatFloat(f, 'g', -1, 64))
	}
	edge(lo, r[0] == '[', 1)
	edge(hi, r[len(r)-1] == ']', -1)
	return out
}

// TestParamRangeEdgesBuildWithoutPanic builds every registered method with each numeric parameter
// at the ends of its Range (one at a time, the others at their defaults) and each enum value, and
// runs a training and an evaluation forward pass: a value the Range admits must give a model or an
// error from New, never a libtorch panic (joint.fusion_hidden=-5 used to kill the process).
func TestParamRangeEdgesBuildWithoutPanic(t *testing.T) {
	benchtest.LockThread(t)
	set := benchtest.Set(t, tinyMix, 1)
	train := bench.SplitOnDevice(set.Train, set.Modalities, gotch.CPU)
	defer train.Drop()
	builds := 0
	for _, e := range bench.Methods.Entries() {
		if e.Value.Needs.CheckEncoder(e.Name, "mlp") != nil {
			continue // refused on the mlp vectors used here (cen: resnet18 only); its own test covers its edges
		}
		var variants []map[string]string
		for _, s := range e.Value.Params {
			switch {
			case s.Kind == "int" || s.Kind == "float":
				for _, v := range rangeEdges(t, s) {
					variants = append(variants, map[string]string{s.Name: v})
				}
			case strings.HasPrefix(s.Kind, "enum:"):
				for _, v := range strings.Split(strings.TrimPrefix(s.Kind, "enum:"), "|") {
					variants = append(variants, map[string]string{s.Name: v})
				}
			}
		}
		if e.Name == "joint" {
			variants = append(variants, map[string]string{"fusion": "mlp", "fusion_hidden": "1"})
		}
		for _, sets := range variants {
			label := fmt.Sprintf("%s %v", e.Name, sets)
			if err := buildAndStep(t, e.Name, sets, set, train); err != nil {
				if e.Name == "mmtm" && sets["first_stage"] != "" {
					continue // stage count depends on the encoder: New refuses it (tested below)
				}
				t.Errorf("%s: %v", label, err)
			}
			builds++
		}
	}
	// Values the Range admits but the built model refuses: an error, not a panic.
	if err := buildAndStep(t, "mmtm", map[string]string{"first_stage": "2"}, set, train); err == nil || !strings.Contains(err.Error(), "first_stage=2") {
		t.Errorf("mmtm first_stage=2 on the 2-stage mlp encoder: %v", err)
	}
	t.Logf("%d builds", builds)
	if builds < 50 {
		t.Fatalf("only %d builds", builds)
	}
}

// buildAndStep builds method with sets on the mlp encoder and runs one training and one evaluation
// forward pass; a panic is returned as an error.
func buildAndStep(t *testing.T, method string, sets map[string]string, set *data.Set, train *bench.SplitTensors) (err error) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	cfg := benchtest.Config(2)
	cfg.BatchSize = 16
	c, err := bench.NewCell(method, sets, "synthetic", "mlp", map[string]string{"hidden": "8"}, 1, cfg)
	if err != nil {
		return fmt.Errorf("NewCell refused an in-range value: %w", err)
	}
	run, err := bench.Build(c, set, gotch.CPU)
	if err != nil {
		return err
	}
	defer run.VS.Destroy()
	if cl, ok := run.Method.(bench.Closer); ok {
		defer cl.Close()
	}
	s := torchrt.NewScope()
	defer s.Drop()
	b := benchtest.Batch(s, train, 0, 16, 1)
	for _, tr := range []bool{true, false} {
		loss, out := run.Method.Forward(s, b, tr)
		if loss == nil || out.Fused == nil {
			return fmt.Errorf("train=%v: nil loss or prediction", tr)
		}
		if got := out.Fused.MustSize(); !slices.Equal(got, []int64{16, int64(set.NumClasses)}) {
			return fmt.Errorf("train=%v: prediction shape %v", tr, got)
		}
	}
	return nil
}
