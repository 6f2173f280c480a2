package sweep

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/mmfusion/bench/bench"
	"github.com/mmfusion/bench/bench/data"
	_ "github.com/mmfusion/bench/bench/encoders"
	"github.com/mmfusion/bench/bench/layers"
	"github.com/mmfusion/bench/bench/store"
	"github.com/mmfusion/bench/bench/torchrt"
	_ "github.com/mmfusion/bench/datasets"
	_ "github.com/mmfusion/bench/methods"
	"github.com/sugarme/gotch/ts"
)

const tiny = "synthetic:train=96,val=32,test=32"

func tinyOptions(methods ...string) Options {
	return Options{Methods: methods, Datasets: []string{tiny}, Encoders: []string{"mlp"}, Seeds: []int64{1, 2},
		Jobs: 2, Device: "cpu", Sets: map[string]map[string]string{"mlp": {"hidden": "16"}},
		Train: store.TrainConfig{Optimizer: "sgd", LR: 0.05, Momentum: 0.9, WeightDecay: 1e-4, BatchSize: 32, Epochs: 2, Threads: 1}}
}

func planAndRun(t *testing.T, opt Options, st *store.Store) ([]*Planned, Summary, error) {
	t.Helper()
	plan, _, err := Plan(opt, st)
	if err != nil {
		t.Fatal(err)
	}
	sum, err := Run(context.Background(), plan, opt, st, io.Discard)
	return plan, sum, err
}

// panicky is a method whose Forward hits a libtorch error (a shape mismatch) while broken is set.
// gotch's Must functions used to end the process with log.Fatal there; now the cell fails and the
// sweep goes on.
type panicky struct {
	fail bool
	head *ts.Tensor
}

func (p *panicky) Forward(s *torchrt.Scope, b *bench.Batch, train bool) (*ts.Tensor, bench.Outputs) {
	x := b.X[0]
	if p.fail {
		x = s.T(x.MustMatmul(x, false)) // (B, D) × (B, D): libtorch refuses
	}
	logits := s.T(x.MustMatmul(p.head, false))
	return layers.CrossEntropy(s, logits, b.Y), bench.Outputs{Fused: logits}
}

// broken switches sweep-test-panics between failing and working; the cell key is the same either way.
var broken atomic.Bool

func init() {
	bench.Methods.Register("sweep-test-panics", "fails while broken is set", bench.MethodSpec{New: func(env *bench.Env) (bench.Method, error) {
		d := env.Modalities[0].Size()
		return &panicky{fail: broken.Load(), head: env.Path.MustZeros("w", []int64{int64(d), env.NumClasses})}, nil
	}})
}

func TestAPanickingCellFailsAloneAndIsRetried(t *testing.T) {
	st, _ := store.Open(t.TempDir())
	opt := tinyOptions("sweep-test-panics")
	opt.Seeds, opt.Jobs = []int64{2}, 1
	broken.Store(true)
	plan, sum, err := planAndRun(t, opt, st)
	if err != nil {
		t.Fatalf("the sweep stopped: %v", err)
	}
	if sum.Failed != 1 {
		t.Fatalf("summary %+v, want 1 failed", sum)
	}
	rec, err := st.Get(plan[0].Key)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Status != store.StatusFailed || strings.Contains(rec.Reason, "\n") || !strings.Contains(rec.Reason, "panic") {
		t.Fatalf("record status %q, reason %q: want failed with a one-line panic reason", rec.Status, rec.Reason)
	}
	log, err := os.ReadFile(filepath.Join(st.Dir, "logs", plan[0].Key+".log"))
	if err != nil || !strings.Contains(string(log), "goroutine") {
		t.Fatalf("no stack in the cell's log file (%v): %.200s", err, log)
	}
	// Failed is not a result: the next plan retries the cell, and the retry overwrites the record.
	broken.Store(false) // the same key, and this time the method works
	plan, _, err = Plan(opt, st)
	if err != nil {
		t.Fatal(err)
	}
	if plan[0].Done || !strings.Contains(plan[0].Note, "failed before") {
		t.Fatalf("a failed cell is planned as done=%v note=%q; want it retried", plan[0].Done, plan[0].Note)
	}
	if _, err := Run(context.Background(), plan, opt, st, io.Discard); err != nil {
		t.Fatal(err)
	}
	if rec, _ := st.Get(plan[0].Key); rec.Status != store.StatusOK {
		t.Fatalf("after the retry the record is %q (%s)", rec.Status, rec.Reason)
	}
}

func TestACorruptRecordIsQuarantinedAndItsCellRetrained(t *testing.T) {
	st, _ := store.Open(t.TempDir())
	opt := tinyOptions("joint")
	plan, _, err := planAndRun(t, opt, st)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(st.Dir, plan[0].Key+".json")
	b, _ := os.ReadFile(path)
	if err := os.WriteFile(path, b[:len(b)/2], 0o644); err != nil { // truncated, as by a full disk
		t.Fatal(err)
	}
	_, sum, err := planAndRun(t, opt, st)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Ran != 1 || sum.Skipped != 1 {
		t.Fatalf("rerun summary %+v; want the corrupt cell retrained and the other skipped", sum)
	}
	if _, err := st.Get(plan[0].Key); err != nil {
		t.Fatalf("the retrained record: %v", err)
	}
	q, _ := filepath.Glob(filepath.Join(st.Dir, ".quarantine", "*"))
	if len(q) != 2 { // the file and its .reason
		t.Fatalf("quarantine holds %v", q)
	}
}

// One dataset is one cell whatever the spelling of its spec, and a method named twice trains once.
func TestSpellingsOfOneDatasetAreOneCell(t *testing.T) {
	st, _ := store.Open(t.TempDir())
	opt := tinyOptions("joint", "joint")
	opt.Datasets = []string{"synthetic:mix=S,train=96", "synthetic:train=96,mix=S", "synthetic:train=96,mix=S,sigma=0.5"}
	opt.Seeds = []int64{1}
	plan, _, err := Plan(opt, st)
	if err != nil {
		t.Fatal(err)
	}
	if len(plan) != 1 {
		for _, p := range plan {
			t.Logf("%s %s", p.Cell.Dataset, p.Key)
		}
		t.Fatalf("%d cells; want 1", len(plan))
	}
	if got := plan[0].Cell.Dataset; got != "synthetic:mix=S,train=96" {
		t.Fatalf("canonical spec %q", got)
	}
}

// A run loads each (dataset, seed) once, when its first cell starts, shares it between its cells and
// lets it go after the last: never more datasets held than cells running.
func TestDatasetsAreLoadedOnceAndDroppedAfterTheirLastCell(t *testing.T) {
	st, _ := store.Open(t.TempDir())
	opt := tinyOptions("joint", "ensemble", "uni-1")
	opt.Seeds = []int64{1, 2, 3}
	opt.Jobs = 2
	var mu sync.Mutex
	loads, live, maxLive := map[int64]int{}, 0, 0
	defer func(old func(string, int64, string) (*data.Set, error)) { loadDataset = old }(loadDataset)
	loadDataset = func(spec string, seed int64, dir string) (*data.Set, error) {
		mu.Lock()
		loads[seed]++
		mu.Unlock()
		return data.Load(spec, seed, dir)
	}
	plan, _, err := Plan(opt, st)
	if err != nil {
		t.Fatal(err)
	}
	if len(loads) != 0 {
		t.Fatalf("planning loaded datasets through the run's loader: %v", loads)
	}
	r := newSharedSets("", plan)
	r.load = func(spec string, seed int64, dir string) (*data.Set, error) {
		mu.Lock()
		loads[seed]++
		live++
		maxLive = max(maxLive, live)
		mu.Unlock()
		return data.Load(spec, seed, dir)
	}
	// Walk the plan as two concurrent jobs would, in order.
	var wg sync.WaitGroup
	sem := make(chan struct{}, 2)
	for _, p := range plan {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			if _, err := r.acquire(p); err != nil {
				t.Error(err)
			}
			mu.Lock()
			k := dataKey{p.Cell.Dataset, p.Cell.Seed}
			last := r.sets[k].refs == 1
			if last {
				live--
			}
			mu.Unlock()
			r.release(p)
		}()
	}
	wg.Wait()
	for seed, n := range loads {
		if n != 1 {
			t.Errorf("seed %d loaded %d times", seed, n)
		}
	}
	if len(r.sets) != 0 || maxLive > 2 {
		t.Fatalf("%d datasets still held after the run; at most %d held at once (want ≤ 2 with 2 jobs)", len(r.sets), maxLive)
	}
}

// Two runs with overlapping grids on one store: every cell is trained and stored exactly once.
func TestOverlappingRunsTrainEachCellOnce(t *testing.T) {
	st, _ := store.Open(t.TempDir())
	a, b := tinyOptions("joint", "ensemble"), tinyOptions("ensemble", "uni-1")
	a.Jobs, b.Jobs = 1, 1
	planA, _, errA := Plan(a, st)
	planB, _, errB := Plan(b, st)
	if errA != nil || errB != nil {
		t.Fatal(errA, errB)
	}
	var wg sync.WaitGroup
	var sums [2]Summary
	for i, run := range []struct {
		plan []*Planned
		opt  Options
	}{{planA, a}, {planB, b}} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var err error
			if sums[i], err = Run(context.Background(), run.plan, run.opt, st, io.Discard); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	recs, probs, err := st.All()
	if err != nil || len(probs) > 0 {
		t.Fatal(err, probs)
	}
	if len(recs) != 6 || sums[0].Ran+sums[1].Ran != 6 {
		t.Fatalf("%d records, %d + %d cells trained; want 6 unique cells each trained once (summaries %+v)",
			len(recs), sums[0].Ran, sums[1].Ran, sums)
	}
	if got := sums[0].Skipped + sums[1].Skipped; got != 2 {
		t.Fatalf("%d cells skipped by one of the runs; want the 2 shared cells", got)
	}
	b2, _ := json.Marshal(sums)
	t.Logf("summaries %s", b2)
}
