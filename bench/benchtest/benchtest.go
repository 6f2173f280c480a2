// Package benchtest holds the helpers that the trainer's and the methods' tests share: a cell with the
// tiny training configuration, a synthetic set, a built run with its training split, a batch, and one
// training run through bench.Train. Tests only; nothing else imports it.
//
// It registers the encoders and the datasets but not the methods (the methods' own tests import it,
// and package methods cannot be imported from inside itself): a test outside package methods imports
// github.com/mmfusion/bench/methods for its registrations.
package benchtest

import (
	"context"
	"runtime"
	"strings"
	"testing"

	"github.com/mmfusion/bench/bench"
	"github.com/mmfusion/bench/bench/data"
	_ "github.com/mmfusion/bench/bench/encoders" // registers the encoders
	"github.com/mmfusion/bench/bench/store"
	"github.com/mmfusion/bench/bench/torchrt"
	_ "github.com/mmfusion/bench/datasets" // registers the datasets (synthetic among them)
	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"
)

// Config is the training configuration of a test cell: SGD at lr 0.05 with momentum 0.9 and weight
// decay 1e-4, batches of 32, one intra-op thread, epochs epochs.
func Config(epochs int) store.TrainConfig {
	return store.TrainConfig{Optimizer: "sgd", LR: 0.05, Momentum: 0.9, WeightDecay: 1e-4, BatchSize: 32,
		Epochs: epochs, Threads: 1}
}

// Cell is a cell of method (parameters sets over its defaults) on synthetic data with the mlp encoder
// of hidden width 32, seed seed and Config(epochs); a refused parameter fails the test.
func Cell(t testing.TB, method string, sets map[string]string, seed int64, epochs int) *bench.Cell {
	t.Helper()
	return CellOn(t, method, sets, "mlp", nil, seed, epochs)
}

// CellOn is Cell on encoder with encSets (nil: the encoder's defaults, except hidden 32 for mlp).
func CellOn(t testing.TB, method string, sets map[string]string, encoder string, encSets map[string]string, seed int64, epochs int) *bench.Cell {
	t.Helper()
	if encSets == nil && encoder == "mlp" {
		encSets = map[string]string{"hidden": "32"}
	}
	c, err := bench.NewCell(method, sets, "synthetic", encoder, encSets, seed, Config(epochs))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// Set loads the dataset spec (e.g. "synthetic:mix=R,train=300,val=100,test=100") with seed seed.
func Set(t testing.TB, spec string, seed int64) *data.Set {
	t.Helper()
	s, err := data.Load(spec, seed, "")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// LockThread keeps the test's goroutine on one OS thread with grad mode on: libtorch's grad mode and
// intra-op thread count are per OS thread, and tests switch them. The thread is never unlocked, so it
// ends with the test and nothing it changed can reach another test.
func LockThread(t testing.TB) {
	runtime.LockOSThread()
	ts.MustGradSetEnabled(true)
}

// Build locks the test's thread (LockThread) and builds c on set on the CPU as bench.Train builds it,
// with the training split on the CPU. Both are freed when the test ends (the method's Close, if any,
// first).
func Build(t testing.TB, c *bench.Cell, set *data.Set) (*bench.Run, *bench.SplitTensors) {
	t.Helper()
	LockThread(t)
	run, err := bench.Build(c, set, gotch.CPU)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(run.VS.Destroy)
	if cl, ok := run.Method.(bench.Closer); ok {
		t.Cleanup(cl.Close)
	}
	train := bench.SplitOnDevice(set.Train, set.Modalities, gotch.CPU)
	t.Cleanup(train.Drop)
	return run, train
}

// Batch is the batch of the n samples start, start+1, … of st at epoch epoch (tensors owned by s).
func Batch(s *torchrt.Scope, st *bench.SplitTensors, start, n, epoch int) *bench.Batch {
	b := st.Batch(s, Order(start, n), gotch.CPU)
	b.Epoch = epoch
	return b
}

// Order is the indices start, …, start+n−1.
func Order(start, n int) []int64 {
	idx := make([]int64, n)
	for i := range idx {
		idx[i] = int64(start + i)
	}
	return idx
}

// Train trains c on set through bench.Train on the CPU and returns the record; an error (with the
// record's reason, for a diverged run) fails the test.
func Train(t testing.TB, c *bench.Cell, set *data.Set) *store.Record {
	t.Helper()
	rec, err := bench.Train(context.Background(), c, set, gotch.CPU, nil)
	if err != nil {
		if rec != nil {
			t.Fatalf("%s: %v (%s)", c.Method, err, rec.Reason)
		}
		t.Fatalf("%s: %v", c.Method, err)
	}
	return rec
}

// Methods is every registered method but those a test registered (description "test only: …"),
// in name order: what a test that covers every method iterates over.
func Methods() []string {
	var out []string
	for _, e := range bench.Methods.Entries() {
		if !strings.HasPrefix(e.Description, "test only") {
			out = append(out, e.Name)
		}
	}
	return out
}

// MethodsOn is Methods less those refused on the encoder or on a dataset of that many modalities
// (with their default parameters): what a sweep on such a dataset trains.
func MethodsOn(encoder string, modalities int) []string {
	var out []string
	for _, m := range Methods() {
		spec, err := bench.Methods.Lookup(m)
		if err != nil || spec.Value.Needs.CheckEncoder(m, encoder) != nil {
			continue
		}
		params, err := bench.NewParams("method "+m, spec.Value.Params, nil)
		if err == nil && spec.Value.CheckModalities(m, "test", modalities, params) == nil {
			out = append(out, m)
		}
	}
	return out
}

// Method is method's registered spec and its parameters, sets over its defaults; an unknown method
// or a refused value fails the test.
func Method(t testing.TB, method string, sets map[string]string) (bench.MethodSpec, bench.Params) {
	t.Helper()
	spec, err := bench.Methods.Lookup(method)
	if err != nil {
		t.Fatal(err)
	}
	p, err := bench.NewParams("method "+method, spec.Value.Params, sets)
	if err != nil {
		t.Fatalf("%s %v: %v", method, sets, err)
	}
	return spec.Value, p
}
