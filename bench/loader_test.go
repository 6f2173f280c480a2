package bench_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"reflect"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mmfusion/bench/bench"
	"github.com/mmfusion/bench/bench/benchtest"
	"github.com/mmfusion/bench/bench/data"
	"github.com/mmfusion/bench/bench/store"
	"github.com/mmfusion/bench/bench/torchrt"
	"github.com/sugarme/gotch"
)

// augLazySource is lazySource with a training transform: the values plus N(0, 0.3²) noise drawn from
// the read's seed. cancelAt, when set, is called at that read.
type augLazySource struct {
	lazySource
	cancelAt int64
	cancel   func()
	augReads atomic.Int64
}

func (a *augLazySource) ReadAugmented(i int, dst [][]float32, seed uint64) error {
	if n := a.augReads.Add(1); a.cancel != nil && n == a.cancelAt {
		a.cancel()
	}
	if err := a.Read(i, dst); err != nil {
		return err
	}
	r := rand.New(rand.NewPCG(seed, 5))
	for m := range dst {
		for j := range dst[m] {
			dst[m][j] += float32(0.3 * r.NormFloat64())
		}
	}
	return nil
}

func augCopy(set *data.Set) (*data.Set, *augLazySource) {
	c := *set
	src := &augLazySource{lazySource: lazySource{sp: set.Train, mods: set.Modalities}}
	c.Train = &data.Split{Y: set.Train.Y, Source: src}
	return &c, src
}

// A cell on an augmented lazy split trains to bit-identical records whatever the prefetch depth
// (0 = synchronous); its training reads go through ReadAugmented (so the record differs from the same
// split without a training transform), while validation and test read the test transform.
func TestPrefetchedTrainingIsBitIdentical(t *testing.T) {
	defer func(p int) { bench.Prefetch = p }(bench.Prefetch)
	set := benchtest.Set(t, "synthetic:mix=R,train=300,val=100,test=100", 4)
	var recs []store.Record
	for _, p := range []int{0, 1, 3} {
		bench.Prefetch = p
		aug, src := augCopy(set)
		rec, err := bench.Train(context.Background(), benchtest.Cell(t, "joint", nil, 4, 3), aug, gotch.CPU, nil)
		if err != nil {
			t.Fatal(err)
		}
		if n := src.augReads.Load(); n != 3*300 {
			t.Fatalf("prefetch %d: %d augmented reads, want 900 (3 epochs × 300)", p, n)
		}
		rec.WallSeconds, rec.Finished = 0, time.Time{}
		recs = append(recs, *rec)
	}
	for k := 1; k < len(recs); k++ {
		if !reflect.DeepEqual(recs[k], recs[0]) {
			t.Fatalf("records differ with prefetch:\n%+v\n%+v", recs[k], recs[0])
		}
	}
	plain, err := bench.Train(context.Background(), benchtest.Cell(t, "joint", nil, 4, 3), lazyCopy(set, 0), gotch.CPU, nil)
	if err != nil {
		t.Fatal(err)
	}
	if plain.Curves[0].TrainLoss == recs[0].Curves[0].TrainLoss {
		t.Fatal("the training transform did not change training")
	}
}

// Cancelling the context in the middle of a prefetched epoch ends TrainEpoch with context.Canceled,
// and no reading goroutine is left behind.
func TestTrainEpochCancelLeavesNoGoroutine(t *testing.T) {
	set := benchtest.Set(t, "synthetic:mix=R,train=640,val=100,test=100", 4)
	aug, src := augCopy(set)
	c := benchtest.Cell(t, "joint", nil, 4, 1)
	run, train := benchtest.Build(t, c, aug)
	opt, err := bench.NewOptimizer(c.Train, run.VS, c.Train.LR)
	if err != nil {
		t.Fatal(err)
	}
	defer opt.Drop()
	base := runtime.NumGoroutine()
	ctx, cancel := context.WithCancel(context.Background())
	src.cancelAt, src.cancel = 200, cancel
	s := torchrt.NewScope()
	defer s.Drop()
	_, err = run.TrainEpoch(ctx, s, train, opt, 1, 32, benchtest.Order(0, 640))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("TrainEpoch: %v, want context.Canceled", err)
	}
	deadline := time.Now().Add(3 * time.Second)
	for runtime.NumGoroutine() > base {
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines after the cancelled epoch, %d before", runtime.NumGoroutine(), base)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if n := src.augReads.Load(); n >= 640 {
		t.Errorf("%d reads: the cancelled epoch read on", n)
	}
}
