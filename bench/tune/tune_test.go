package tune_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
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
		Train: store.TrainConfig{Optimizer: "sgd", Momentum: 0.9, WeightDecay: 1e-4, Epochs: 2, LR: 0.01, BatchSize: 32},
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
			cfg, err := tune.Sample(e.Value, 3, trial, nil)
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
