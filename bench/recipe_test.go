package bench_test

import (
	"context"
	"fmt"
	"math"
	"runtime/debug"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/mmfusion/bench/bench"
	"github.com/mmfusion/bench/bench/benchtest"
	"github.com/mmfusion/bench/bench/store"
	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"
)

func epochLRs(rec *store.Record) []float64 {
	var out []float64
	for _, c := range rec.Curves {
		out = append(out, c.LR)
	}
	return out
}

func sameLRs(t *testing.T, what string, got, want []float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d epochs %v, want %v", what, len(got), got, want)
	}
	for i := range got {
		if math.Abs(got[i]-want[i]) > 1e-12*want[i] {
			t.Fatalf("%s: learning rates %v, want %v (epoch %d)", what, got, want, i+1)
		}
	}
}

// StepLR(2, 0.5) halves the rate after every second epoch, as PyTorch's scheduler.step() after
// each epoch does: epochs 1–2 at lr, 3–4 at lr/2, 5 at lr/4.
func TestStepScheduleHalvesEveryTwoEpochs(t *testing.T) {
	c := benchtest.Cell(t, "joint", nil, 1, 5)
	c.Train.Schedule = &store.Schedule{Kind: "step", StepSize: 2, Gamma: 0.5}
	rec, err := bench.Train(context.Background(), c, benchtest.Set(t, "synthetic:train=200,val=100,test=100", 1), gotch.CPU, nil)
	if err != nil {
		t.Fatal(err)
	}
	lr := c.Train.LR
	sameLRs(t, "StepLR(2, 0.5)", epochLRs(rec), []float64{lr, lr, lr / 2, lr / 2, lr / 4})
}

// ReduceLROnPlateau on validation loss, replayed by hand from the record's own validation losses
// with PyTorch's rule (relative threshold 1e-4, reduce after more than patience bad epochs).
func TestPlateauScheduleFollowsPyTorchsRule(t *testing.T) {
	c := benchtest.Cell(t, "joint", nil, 1, 12)
	c.Train.LR = 0.5 // large enough to make validation loss stall and rise
	c.Train.Schedule = &store.Schedule{Kind: "plateau", Monitor: "val_loss", Factor: 0.5, Patience: 1}
	rec, err := bench.Train(context.Background(), c, benchtest.Set(t, "synthetic:train=200,val=100,test=100", 1), gotch.CPU, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []float64{}
	lr, best, bad := c.Train.LR, math.Inf(1), 0
	for _, ep := range rec.Curves {
		want = append(want, lr)
		if ep.ValLoss < best*(1-1e-4) {
			best, bad = ep.ValLoss, 0
		} else {
			bad++
		}
		if bad > 1 {
			lr, bad = lr*0.5, 0
		}
	}
	sameLRs(t, "ReduceLROnPlateau(val_loss, 0.5, 1)", epochLRs(rec), want)
	if want[len(want)-1] == c.Train.LR {
		t.Fatalf("the rate was never reduced (val losses %v): the test does not exercise the schedule", rec.Curves)
	}
}

// A staged method under a recipe uses each stage's learning rate from the first epoch of the stage,
// with a fresh optimiser and schedule at each switch.
func TestStagesUseTheRecipesLearningRates(t *testing.T) {
	c := benchtest.Cell(t, "dmi", map[string]string{"stage1_epochs": "2", "stage2_epochs": "2"}, 1, 6)
	c.Train.Stages = []store.StageConfig{
		{LR: 0.04},
		{LR: 0.02, Schedule: &store.Schedule{Kind: "step", StepSize: 1, Gamma: 0.5}},
		{LR: 0.01},
	}
	rec, err := bench.Train(context.Background(), c, benchtest.Set(t, "synthetic:train=200,val=100,test=100", 1), gotch.CPU, nil)
	if err != nil {
		t.Fatal(err)
	}
	sameLRs(t, "stages", epochLRs(rec), []float64{0.04, 0.04, 0.02, 0.01, 0.01, 0.01})
	for i, st := range []int{1, 1, 2, 2, 3, 3} {
		if rec.Curves[i].Stage != st {
			t.Fatalf("epoch %d in stage %d, want %d", i+1, rec.Curves[i].Stage, st)
		}
	}
}

// Early stopping ends training after EarlyStop epochs without a better validation accuracy.
func TestEarlyStopEndsAfterPatienceEpochs(t *testing.T) {
	c := benchtest.Cell(t, "joint", nil, 1, 40)
	c.Train.EarlyStop = 2
	rec, err := bench.Train(context.Background(), c, benchtest.Set(t, "synthetic:train=200,val=100,test=100", 1), gotch.CPU, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rec.StoppedEarly == 0 || rec.StoppedEarly != len(rec.Curves) || rec.StoppedEarly >= 40 {
		t.Fatalf("stopped early at %d with %d epochs trained", rec.StoppedEarly, len(rec.Curves))
	}
	if rec.BestEpoch != rec.StoppedEarly-2 {
		t.Fatalf("best epoch %d, stopped at %d: want 2 epochs without improvement", rec.BestEpoch, rec.StoppedEarly)
	}
	for _, ep := range rec.Curves[rec.BestEpoch:] {
		if ep.ValAcc > rec.Val.Acc {
			t.Fatalf("epoch %d beat the best epoch's validation accuracy", ep.Epoch)
		}
	}
}

// Xavier-normal initialisation: linear weights with std √(2/(fan_in+fan_out)), zero biases; the
// default keeps PyTorch's uniform ±1/√fan_in.
func TestXavierNormalInitialisation(t *testing.T) {
	set := benchtest.Set(t, "synthetic:train=50,val=20,test=20", 1)
	c := benchtest.CellOn(t, "joint", nil, "mlp", map[string]string{"hidden": "256"}, 1, 1)
	c.Train.Init = bench.InitXavierNormal
	r, err := bench.Build(c, set, gotch.CPU)
	if err != nil {
		t.Fatal(err)
	}
	defer r.VS.Destroy()
	checked := 0
	for name, v := range bench.Variables(r.VS, "") {
		shape := v.MustSize()
		if !strings.HasSuffix(name, "weight") || len(shape) != 2 {
			if strings.HasSuffix(name, "bias") {
				if m := v.MustAbs(false).MustMax(true).Float64Values()[0]; m != 0 {
					t.Fatalf("%s: bias not zero (max |b| %g)", name, m)
				}
			}
			continue
		}
		if shape[0]*shape[1] < 2000 {
			continue // too few values for a std estimate
		}
		want := math.Sqrt(2 / float64(shape[0]+shape[1]))
		got := v.MustStd(true, false).Float64Values()[0]
		if math.Abs(got-want) > 0.05*want {
			t.Fatalf("%s %v: std %.4f, want %.4f", name, shape, got, want)
		}
		checked++
	}
	if checked == 0 {
		t.Fatal("no linear weight large enough was checked")
	}
}

func TestResolveRecipe(t *testing.T) {
	shared := store.TrainConfig{Optimizer: "sgd", LR: 0.01, Momentum: 0.9, WeightDecay: 1e-4, BatchSize: 64, Epochs: 30, Threads: 2}
	got, err := bench.ResolveRecipe(bench.RecipeShared, "dmi", "cremad", shared)
	if err != nil || got.Recipe != "" || got.LR != shared.LR {
		t.Fatalf("shared: %+v, %v", got, err)
	}
	dmi, err := bench.ResolveRecipe(bench.RecipeReference, "dmi", "cremad", shared)
	if err != nil {
		t.Fatal(err)
	}
	if dmi.Recipe != bench.RecipeReference || dmi.Epochs != 70 || dmi.BatchSize != 64 || len(dmi.Stages) != 3 ||
		dmi.Stages[0].LR != 4e-3 || dmi.Stages[1].LR != 1e-3 || dmi.Stages[2].LR != 1e-5 ||
		dmi.Stages[0].Schedule.Factor != 0.2 || dmi.Stages[0].Schedule.Patience != 2 ||
		dmi.Stages[2].Schedule.Patience != 10 || dmi.Threads != 2 {
		t.Fatalf("dmi reference recipe on CREMA-D: %+v", dmi)
	}
	for _, n := range dmi.RecipeNotes {
		if strings.Contains(n, "closest") {
			t.Fatalf("CREMA-D is the recipe's own dataset, yet: %q", n)
		}
	}
	joint, _ := bench.ResolveRecipe(bench.RecipeReference, "joint", "synthetic", shared)
	if joint.LR != 1e-3 || joint.Init != bench.InitXavierNormal || joint.Schedule == nil || joint.Schedule.StepSize != 70 ||
		!strings.Contains(strings.Join(joint.RecipeNotes, ";"), "closest: cremad") {
		t.Fatalf("joint on synthetic: %+v", joint)
	}
	mlb, _ := bench.ResolveRecipe(bench.RecipeReference, "mlb", "cremad", shared)
	if mlb.Optimizer != "adam" || mlb.Momentum != 0 || mlb.Epochs != 30 ||
		!strings.Contains(strings.Join(mlb.RecipeNotes, ";"), "kept from the shared protocol: epochs") {
		t.Fatalf("mlb: the reference gives no epochs, which must be kept and noted: %+v", mlb)
	}
	ens, _ := bench.ResolveRecipe(bench.RecipeReference, "ensemble", "cremad", shared)
	if ens.Recipe != bench.RecipeReference || ens.LR != shared.LR || len(ens.RecipeNotes) == 0 {
		t.Fatalf("ensemble (no reference recipe) must fall back to shared, recorded: %+v", ens)
	}
	if _, err := bench.ResolveRecipe("mine", "dmi", "cremad", shared); err == nil {
		t.Fatal("an unknown recipe name was accepted")
	}
}

// Every registered method declares its reference recipe (or why it has none), so --recipe
// reference never meets a method it cannot resolve.
func TestEveryMethodDeclaresARecipe(t *testing.T) {
	shared := store.TrainConfig{Optimizer: "sgd", LR: 0.01, Momentum: 0.9, WeightDecay: 1e-4, BatchSize: 64, Epochs: 30}
	for _, m := range benchtest.Methods() {
		tc, err := bench.ResolveRecipe(bench.RecipeReference, m, "synthetic", shared)
		if err != nil {
			t.Errorf("%s: %v", m, err)
			continue
		}
		if err := bench.CheckTrain(tc); err != nil {
			t.Errorf("%s: its recipe does not pass CheckTrain: %v", m, err)
		}
	}
}

// Shared cells keep the keys they had before recipes existed; a reference cell has its own key.
func TestRecipeIsPartOfTheKey(t *testing.T) {
	c := benchtest.Cell(t, "joint", nil, 1, 5)
	shared := c.Key("abc")
	ref := *c
	ref.Train.Recipe = bench.RecipeReference
	if ref.Key("abc") == shared {
		t.Fatal("a reference-recipe cell has the shared cell's key")
	}
	if !strings.HasSuffix(ref.Label(), "(reference recipe)") {
		t.Fatalf("label %q", ref.Label())
	}
	// The key of this shared cell: at Version 0.1.0 it was joint-synthetic-mlp-s1_0d5425bd91ff5f35
	// both at commit 11bb32c, before recipes existed, and with them (checked when they were added);
	// this is the same key fields at Version 0.2.0.
	if want := "joint-synthetic-mlp-s1_5b7d948f59829924"; shared != want {
		t.Fatalf("shared cell key %q, want %q: adding recipes changed the keys of shared cells", shared, want)
	}
}

// MMTM's reference recipe is the official NTU training (haamoon/mmtm main_mmtm_ntu.py): Adam lr
// 1e-4, wd 1e-4, batch 20, 70 epochs, ×0.1 before 1-based epochs 6 and 21, alternating per-branch
// steps; its cell key differs from the shared cell's and from the same recipe without alternation.
func TestMMTMReferenceRecipeAlternates(t *testing.T) {
	shared := store.TrainConfig{Optimizer: "sgd", LR: 0.01, Momentum: 0.9, WeightDecay: 1e-4, BatchSize: 64, Epochs: 30, Threads: 2}
	tc, err := bench.ResolveRecipe(bench.RecipeReference, "mmtm", "synthetic", shared)
	if err != nil {
		t.Fatal(err)
	}
	if !tc.Alternate || tc.Optimizer != "adam" || tc.LR != 1e-4 || tc.WeightDecay != 1e-4 || tc.BatchSize != 20 || tc.Epochs != 70 ||
		tc.Schedule == nil || tc.Schedule.Kind != "multistep" || fmt.Sprint(tc.Schedule.Milestones) != "[5 20]" || tc.Schedule.Gamma != 0.1 ||
		!strings.Contains(tc.RecipeSource, "haamoon/mmtm main_mmtm_ntu.py") {
		t.Fatalf("mmtm reference recipe: %+v", tc)
	}
	if err := bench.CheckTrain(tc); err != nil {
		t.Fatal(err)
	}
	if d := bench.DescribeRecipe(tc); !strings.Contains(d, "MultiStepLR([5, 20], 0.1)") || !strings.Contains(d, "alternating per-branch steps") {
		t.Fatalf("DescribeRecipe: %q", d)
	}
	c := benchtest.Cell(t, "mmtm", nil, 1, 5)
	sharedKey := c.Key("abc")
	ref := *c
	ref.Train = tc
	noAlt := ref
	noAlt.Train.Alternate = false
	if k := ref.Key("abc"); k == sharedKey || k == noAlt.Key("abc") {
		t.Fatalf("alternating reference cell key %s: shared %s, without alternation %s", k, sharedKey, noAlt.Key("abc"))
	}
	staged := tc
	staged.Stages = []store.StageConfig{{LR: 1e-3}}
	if bench.CheckTrain(staged) == nil {
		t.Fatal("alternating steps with stages were accepted")
	}
	for _, bad := range []*store.Schedule{{Kind: "multistep", Gamma: 0.1}, {Kind: "multistep", Milestones: []int{5, 5}, Gamma: 0.1},
		{Kind: "multistep", Milestones: []int{0}, Gamma: 0.1}, {Kind: "multistep", Milestones: []int{5}, Gamma: 2}} {
		bt := tc
		bt.Schedule = bad
		if bench.CheckTrain(bt) == nil {
			t.Fatalf("schedule %+v accepted", *bad)
		}
	}
	joint := benchtest.Cell(t, "joint", nil, 1, 5)
	if err := bench.CheckTrain(joint.Train); err != nil {
		t.Fatal(err)
	}
	alt := joint.Train
	alt.Alternate = true
	if _, err := bench.Train(context.Background(), &bench.Cell{Method: "joint", Dataset: joint.Dataset, Encoder: joint.Encoder,
		MethodParams: joint.MethodParams, EncoderParams: joint.EncoderParams, Seed: 1, Train: alt},
		benchtest.Set(t, "synthetic:train=40,val=20,test=20", 1), gotch.CPU, nil); err == nil || !strings.Contains(err.Error(), "no branches") {
		t.Fatalf("joint with alternating steps: %v, want a refusal", err)
	}
}

// A cell under MMTM's reference recipe (22 of its epochs) records the rates of the official code's
// update_lr calls: 1e-4 for epochs 1–5, 1e-5 for 6–20, 1e-6 from 21; it alternates, and frees every
// tensor it created.
func TestMMTMReferenceScheduleAndFrees(t *testing.T) {
	tc, err := bench.ResolveRecipe(bench.RecipeReference, "mmtm", "synthetic", benchtest.Config(5))
	if err != nil {
		t.Fatal(err)
	}
	tc.Epochs = 22
	c := benchtest.Cell(t, "mmtm", nil, 1, 22)
	c.Train = tc
	set := benchtest.Set(t, "synthetic:train=60,val=30,test=30", 1)
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	tensors, scalars := atomic.LoadInt64(&ts.LiveTensors), atomic.LoadInt64(&ts.LiveScalars)
	rec, err := bench.Train(context.Background(), c, set, gotch.CPU, nil)
	if err != nil {
		t.Fatal(err)
	}
	if dt, dsc := atomic.LoadInt64(&ts.LiveTensors)-tensors, atomic.LoadInt64(&ts.LiveScalars)-scalars; dt != 0 || dsc != 0 {
		t.Errorf("an alternating cell left %d tensors and %d scalars alive", dt, dsc)
	}
	var want []float64
	for e := 1; e <= 22; e++ {
		switch {
		case e <= 5:
			want = append(want, 1e-4)
		case e <= 20:
			want = append(want, 1e-5)
		default:
			want = append(want, 1e-6)
		}
	}
	sameLRs(t, "mmtm reference", epochLRs(rec), want)
	if !rec.Train.Alternate || rec.Status != store.StatusOK {
		t.Fatalf("record: alternate %v, status %s", rec.Train.Alternate, rec.Status)
	}
}
