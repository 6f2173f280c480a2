package tune_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/mmfusion/bench/bench"
	"github.com/mmfusion/bench/bench/data"
	_ "github.com/mmfusion/bench/bench/encoders"
	"github.com/mmfusion/bench/bench/store"
	"github.com/mmfusion/bench/bench/tune"
	_ "github.com/mmfusion/bench/datasets"
	_ "github.com/mmfusion/bench/methods"
)

// testReads counts every read of the guarded dataset's test split.
var testReads atomic.Int64

// guardSource serves the test split on demand and counts the reads.
type guardSource struct {
	sp   *data.Split
	mods []data.Modality
}

func (g guardSource) Read(i int, dst [][]float32) error {
	testReads.Add(1)
	return g.sp.ReadSample(i, g.mods, dst)
}

func (g guardSource) Digest(h io.Writer) { fmt.Fprint(h, "guarded test split", g.sp.Len()) }

func init() {
	// A small synthetic dataset whose test split can only be read through a counting Source.
	data.Register("tune-guard", "test only", func(opt data.Options) (*data.Set, error) {
		set, err := data.Load("synthetic:mix=R,train=200,val=100,test=100", opt.Seed, "")
		if err != nil {
			return nil, err
		}
		set.Test = &data.Split{Y: set.Test.Y, Source: guardSource{sp: set.Test, mods: set.Modalities}}
		set.Name = "tune-guard"
		return set, set.Finish()
	})
}

func options(t *testing.T) tune.Options {
	return tune.Options{Methods: []string{"joint", "ogm", "dmi"}, Dataset: "tune-guard", Encoder: "mlp", Budget: 3,
		SamplerSeed: 7, TuneSeed: 0, Seeds: []int64{1, 2},
		// 3 epochs: the fewest in which a DMI trial runs all three stages (1 + 1 + 1).
		Train: store.TrainConfig{Optimizer: "sgd", Momentum: 0.9, WeightDecay: 1e-4, Epochs: 3, LR: 0.01, BatchSize: 32},
		Jobs:  2, Device: "cpu", WithDefaults: true, PresetDir: t.TempDir()}
}

// The test split is never read during the trials; the final runs do read it.
func TestTrialsNeverReadTheTestSplit(t *testing.T) {
	o := options(t)
	st, _ := store.Open(t.TempDir())
	testReads.Store(0)
	trials, err := tune.RunTrials(context.Background(), o, st, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if n := testReads.Load(); n != 0 {
		t.Fatalf("the trials read %d test samples", n)
	}
	for m, rs := range trials {
		for _, r := range rs {
			if r.Test.Acc != 0 || r.TestPredictions != nil {
				t.Fatalf("%s trial %d has test metrics", m, r.Trial)
			}
		}
	}
	presets, err := tune.Choose(o, trials)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tune.RunFinal(context.Background(), o, presets, st, io.Discard); err != nil {
		t.Fatal(err)
	}
	if testReads.Load() == 0 {
		t.Fatal("the final runs did not read the test split (the guard does not work)")
	}
}

// Every method gets exactly Budget trials from the same sampler: trial t of every method has the same
// learning rate and batch size, and the method's own knobs are drawn within their ranges.
func TestEqualBudgetsAndSameSampler(t *testing.T) {
	o := options(t)
	cells, err := tune.TrialCells(o)
	if err != nil {
		t.Fatal(err)
	}
	count := map[string]int{}
	lr := map[int]map[float64]bool{}
	for _, c := range cells {
		count[c.Method]++
		if lr[c.Trial] == nil {
			lr[c.Trial] = map[float64]bool{}
		}
		lr[c.Trial][c.Train.LR+float64(c.Train.BatchSize)*1e6] = true
		if c.Seed != o.TuneSeed {
			t.Fatalf("trial on seed %d, want the tuning seed %d", c.Seed, o.TuneSeed)
		}
	}
	for _, m := range o.Methods {
		if count[m] != o.Budget {
			t.Fatalf("%s got %d trials, want %d", m, count[m], o.Budget)
		}
	}
	for trial, set := range lr {
		if len(set) != 1 {
			t.Fatalf("trial %d: methods got different (lr, batch) draws: %v", trial, set)
		}
	}
	distinct := map[float64]bool{}
	for _, c := range cells {
		distinct[c.Train.LR] = true
		if c.Method == "ogm" {
			if a := c.MethodParams.Float("alpha"); a < 0.1 || a > 2 {
				t.Fatalf("ogm alpha %v outside its range", a)
			}
		}
	}
	if len(distinct) != o.Budget {
		t.Fatalf("%d distinct learning rates over %d trials", len(distinct), o.Budget)
	}
	// The same sampler seed gives the same trials; a --set value is not searched.
	o.Sets = map[string]map[string]string{"ogm": {"alpha": "0.5"}}
	again, _ := tune.TrialCells(o)
	for i := range cells {
		if again[i].Train.LR != cells[i].Train.LR {
			t.Fatal("same sampler seed, different trials")
		}
		if again[i].Method == "ogm" && again[i].MethodParams.String("alpha") != "0.5" {
			t.Fatal("a fixed --set value was searched")
		}
	}
}

// Every declared search range parses and draws values its parameter accepts.
func TestSearchRangesAreValid(t *testing.T) {
	for _, e := range bench.Methods.Entries() {
		for trial := 1; trial <= 20; trial++ {
			cfg, err := tune.Sample(e.Value, 3, trial, nil, 30)
			if err != nil {
				t.Fatalf("%s: %v", e.Name, err)
			}
			if _, err := bench.NewParams(e.Name, e.Value.Params, cfg.Params); err != nil {
				t.Fatalf("%s: sampled %v: %v", e.Name, cfg.Params, err)
			}
			if cfg.LR < 1e-3 || cfg.LR > 1e-1 || cfg.BatchSize < 16 || cfg.BatchSize > 128 {
				t.Fatalf("shared draw out of range: %+v", cfg)
			}
		}
	}
}

// A trial whose record has no validation accuracy is not a trial with accuracy 0: it cannot be best.
func TestBestSkipsTrialsWithoutValidationAccuracy(t *testing.T) {
	var r store.Record
	if err := json.Unmarshal([]byte(`{"status":"ok","trial":1,"val":{"acc":null}}`), &r); err != nil {
		t.Fatal(err)
	}
	if b, err := tune.Best([]*store.Record{&r}); err == nil {
		t.Fatalf("Best chose trial %d, whose validation accuracy is missing", b.Trial)
	}
}

// Every DMI trial is the full method: stage 2 lasts at least one epoch and stage 3 starts
// (stage1 + stage2 < epochs), and its stage learning rates are multiples of the trial's shared
// learning rate (stage 1 the shared rate itself, stages 2 and 3 within their multiplier ranges).
func TestDMITrialsAreTheFullMethodAtTheTrialsLR(t *testing.T) {
	for _, method := range []string{"dmi", "dmi-fc"} {
		spec, err := bench.Methods.Lookup(method)
		if err != nil {
			t.Fatal(err)
		}
		for _, epochs := range []int{3, 4, 8, 16, 30} {
			for trial := 1; trial <= 200; trial++ {
				cfg, err := tune.Sample(spec.Value, 11, trial, nil, epochs)
				if err != nil {
					t.Fatalf("%s, %d epochs, trial %d: %v", method, epochs, trial, err)
				}
				p, err := bench.NewParams(method, spec.Value.Params, cfg.Params)
				if err != nil {
					t.Fatal(err)
				}
				s1, s2 := p.Int("stage1_epochs"), p.Int("stage2_epochs")
				if s1 < 1 || s2 < 1 || s1+s2 >= epochs {
					t.Fatalf("%s, %d epochs, trial %d: stage1_epochs=%d stage2_epochs=%d", method, epochs, trial, s1, s2)
				}
				if lr1 := p.Float("lr1"); lr1 != 0 {
					t.Fatalf("trial %d: lr1=%g searched; stage 1 must run at the trial's lr", trial, lr1)
				}
				for name, lim := range map[string][2]float64{"lr2": {1e-2, 1}, "lr3": {1e-4, 1}} {
					m := p.Float(name) / cfg.LR
					if m < lim[0]*(1-1e-9) || m > lim[1]*(1+1e-9) {
						t.Fatalf("trial %d: %s=%g is %g × the trial's lr %g, want a multiplier in [%g, %g]", trial, name, p.Float(name), m, cfg.LR, lim[0], lim[1])
					}
					// The multiplier itself is a 4-digit draw: lr_k / lr reads back as one.
					if r := m * 1e4 / math.Pow(10, math.Floor(math.Log10(m))); math.Abs(r-math.Round(r)) > 1e-6 {
						t.Fatalf("trial %d: %s / lr = %.12g is not a drawn multiplier", trial, name, m)
					}
				}
			}
		}
	}
}

// A configuration that cannot be the full method is refused when the trials are planned, saying
// why: --set values that end the run before stage 3, or too few epochs for three stages.
func TestTrialsRefuseAPartialMethod(t *testing.T) {
	o := options(t)
	o.Train.Epochs = 8
	o.Sets = map[string]map[string]string{"dmi": {"stage1_epochs": "10"}}
	_, err := tune.TrialCells(o)
	if err == nil || !strings.Contains(err.Error(), "method dmi: no trial in its search space is the full method with --epochs 8 and --set stage1_epochs=10") ||
		!strings.Contains(err.Error(), "would run stage 1 only") {
		t.Fatalf("err = %v", err)
	}
	o.Sets = map[string]map[string]string{"dmi": {"stage1_epochs": "3", "stage2_epochs": "5"}}
	if _, err := tune.TrialCells(o); err == nil || !strings.Contains(err.Error(), "would run stages 1 and 2 only") {
		t.Fatalf("err = %v", err)
	}
	o.Sets, o.Train.Epochs = nil, 2
	if _, err := tune.TrialCells(o); err == nil || !strings.Contains(err.Error(), "method dmi: no trial in its search space is the full method with --epochs 2 (") {
		t.Fatalf("err = %v", err)
	}
	o.Sets, o.Train.Epochs = map[string]map[string]string{"dmi": {"stage1_epochs": "3", "stage2_epochs": "4"}}, 8
	cells, err := tune.TrialCells(o)
	if err != nil {
		t.Fatalf("a full configuration was refused: %v", err)
	}
	for _, c := range cells {
		if c.Method == "dmi" && c.Label() != c.Method+"["+strings.Join(c.MethodParams.NonDefault(), ",")+"]" {
			t.Fatalf("a full trial is labelled %q", c.Label())
		}
	}
}
