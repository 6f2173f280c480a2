package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mmfusion/bench/bench/data"
	"github.com/mmfusion/bench/bench/torchrt"
	"github.com/sugarme/gotch"
)

// fakeSource is a lazy split whose sample i holds i + j/1000 (test transform) and, under the
// training transform, those values plus noise drawn from the read's seed. It can sleep per read, fail
// at one sample, and call a function on every read.
type fakeSource struct {
	mods   []data.Modality
	delay  time.Duration
	failAt int // -1: never
	onRead func(i int)
	reads  atomic.Int64
}

func (f *fakeSource) Read(i int, dst [][]float32) error { return f.fill(i, dst, nil) }

func (f *fakeSource) ReadAugmented(i int, dst [][]float32, seed uint64) error {
	return f.fill(i, dst, rand.New(rand.NewPCG(seed, 1)))
}

func (f *fakeSource) fill(i int, dst [][]float32, r *rand.Rand) error {
	f.reads.Add(1)
	if f.onRead != nil {
		f.onRead(i)
	}
	if f.delay > 0 {
		time.Sleep(f.delay)
	}
	if i == f.failAt {
		return fmt.Errorf("file /data/clips/clip%04d/00000.jpg: unexpected EOF", i)
	}
	for m := range dst {
		for j := range dst[m] {
			dst[m][j] = float32(i) + float32(m*len(dst[m])+j)/1000
			if r != nil {
				dst[m][j] += float32(r.NormFloat64())
			}
		}
	}
	return nil
}

func (f *fakeSource) Digest(h io.Writer) { fmt.Fprint(h, "fake") }

func fakeSplit(t *testing.T, n int, src *fakeSource) *SplitTensors {
	t.Helper()
	src.mods = []data.Modality{{Name: "a", Shape: []int64{2, 3}}, {Name: "v", Shape: []int64{5}}}
	y := make([]int64, n)
	for i := range y {
		y[i] = int64(i % 3)
	}
	st := SplitOnDevice(&data.Split{Source: src, Y: y}, src.mods, gotch.CPU)
	t.Cleanup(st.Drop)
	return st
}

func shuffled(n int, seed uint64) []int64 {
	order := make([]int64, n)
	for i := range order {
		order[i] = int64(i)
	}
	r := rand.New(rand.NewPCG(seed, 0))
	r.Shuffle(n, func(i, j int) { order[i], order[j] = order[j], order[i] })
	return order
}

// epochValues runs one epoch's stream and returns, per batch, the labels and the values of every
// modality, copied out of the tensors.
func epochValues(t *testing.T, st *SplitTensors, order []int64, batchSize, prefetch int, epoch int) [][][]float32 {
	t.Helper()
	s := torchrt.NewScope()
	defer s.Drop()
	stream := st.epochBatches(context.Background(), 11, epoch, batchSize, order, prefetch)
	defer stream.close()
	var out [][][]float32
	for start := 0; start < len(order); start += batchSize {
		idx := order[start:min(start+batchSize, len(order))]
		b, err := stream.next(s, idx, gotch.CPU)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(b.Index, idx) {
			t.Fatalf("batch at %d: index %v, want %v", start, b.Index, idx)
		}
		var vals [][]float32
		ys := b.Y.Int64Values()
		for k, y := range ys {
			if y != int64(idx[k]%3) {
				t.Fatalf("batch at %d: label %d of sample %d", start, y, idx[k])
			}
		}
		for _, x := range b.X {
			v := make([]float32, x.Numel())
			x.MustCopyData(v, uint(len(v)))
			vals = append(vals, v)
		}
		out = append(out, vals)
		s.Drop()
	}
	return out
}

// Prefetched batches are bit-identical to synchronous ones, in the same order, with the training
// transform; each sample's values are exactly its ReadAugmented with AugmentSeed(cell seed, epoch,
// sample); another epoch gives other values; at most `prefetch` buffer sets are allocated.
func TestPrefetchMatchesSynchronous(t *testing.T) {
	src := &fakeSource{failAt: -1}
	st := fakeSplit(t, 203, src)
	order := shuffled(203, 3)
	want := epochValues(t, st, order, 32, 0, 2)
	for _, p := range []int{1, 3, 8} {
		if got := epochValues(t, st, order, 32, p, 2); !slices.EqualFunc(got, want, func(a, b [][]float32) bool {
			return slices.EqualFunc(a, b, slices.Equal)
		}) {
			t.Fatalf("prefetch %d: batches differ from the synchronous ones", p)
		}
	}
	dst := [][]float32{make([]float32, 6), make([]float32, 5)}
	for bi, batch := range want {
		for k := range len(batch[0]) / 6 {
			i := int(order[32*bi+k])
			if err := src.ReadAugmented(i, dst, data.AugmentSeed(11, 2, i)); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(batch[0][6*k:6*k+6], dst[0]) || !slices.Equal(batch[1][5*k:5*k+5], dst[1]) {
				t.Fatalf("batch %d, row %d (sample %d): not the sample's augmented read", bi, k, i)
			}
		}
	}
	if other := epochValues(t, st, order, 32, 3, 3); slices.Equal(other[0][0], want[0][0]) {
		t.Error("epochs 2 and 3 give the same augmented values")
	}
	p := startPrefetch(context.Background(), st, st.trainReader(11, 1), order, 32, 2)
	p.close()
	if p.sets > 2 {
		t.Errorf("%d buffer sets for depth 2", p.sets)
	}
	// Bounded: with nothing consumed, the producer stops after filling depth sets.
	src.reads.Store(0)
	p = startPrefetch(context.Background(), st, st.trainReader(11, 1), order, 32, 2)
	time.Sleep(100 * time.Millisecond)
	if n := src.reads.Load(); n != 64 {
		t.Errorf("%d samples read ahead with depth 2 and nothing consumed, want 64", n)
	}
	p.close()
	if p.sets != 2 {
		t.Errorf("%d buffer sets, want 2", p.sets)
	}
}

// An in-memory split and Batch (evaluation, epoch hooks) keep the test transform.
func TestBatchReadsTheTestTransform(t *testing.T) {
	src := &fakeSource{failAt: -1}
	st := fakeSplit(t, 10, src)
	s := torchrt.NewScope()
	defer s.Drop()
	b := st.Batch(s, []int64{4, 7}, gotch.CPU)
	v := make([]float32, 5*2)
	b.X[1].MustCopyData(v, uint(len(v)))
	if v[0] != float32(4)+float32(5)/1000 || v[5] != float32(7)+float32(5)/1000 {
		t.Fatalf("Batch values %v, want the plain read", v)
	}
}

// settleGoroutines waits until at most base goroutines run, or fails.
func settleGoroutines(t *testing.T, base int) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for runtime.NumGoroutine() > base {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("%d goroutines, want ≤ %d:\n%s", runtime.NumGoroutine(), base, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Cancelling the context mid-epoch ends the stream with the context's error and leaves no reading
// goroutine behind; so does closing a stream early (a diverged epoch) without cancelling.
func TestPrefetchStopsOnCancel(t *testing.T) {
	base := runtime.NumGoroutine()
	ctx, cancel := context.WithCancel(context.Background())
	src := &fakeSource{failAt: -1, delay: time.Millisecond}
	st := fakeSplit(t, 640, src)
	order := shuffled(640, 1)
	s := torchrt.NewScope()
	defer s.Drop()
	stream := st.epochBatches(ctx, 1, 1, 32, order, 3)
	for k := 0; k < 2; k++ {
		if _, err := stream.next(s, order[32*k:32*k+32], gotch.CPU); err != nil {
			t.Fatal(err)
		}
	}
	cancel()
	var err error
	for k := 2; k < 20 && err == nil; k++ {
		_, err = stream.next(s, order[32*k:32*k+32], gotch.CPU)
	}
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("after cancel: %v, want context.Canceled", err)
	}
	stream.close()
	stream.close()
	settleGoroutines(t, base)
	if n := src.reads.Load(); n >= 640 {
		t.Errorf("%d reads: cancelling did not stop the reading", n)
	}

	stream = st.epochBatches(context.Background(), 1, 1, 32, order, 3)
	if _, err := stream.next(s, order[:32], gotch.CPU); err != nil {
		t.Fatal(err)
	}
	stream.close()
	settleGoroutines(t, base)
}

// A failed read ends the stream with a ReadError naming the file (after the batches before it), and
// the reading goroutines end.
func TestPrefetchReadErrorNamesTheFile(t *testing.T) {
	base := runtime.NumGoroutine()
	for _, prefetch := range []int{0, 3} {
		src := &fakeSource{failAt: 100}
		st := fakeSplit(t, 320, src)
		order := shuffled(320, 2)
		bad := slices.Index(order, 100) / 32
		s := torchrt.NewScope()
		stream := st.epochBatches(context.Background(), 1, 1, 32, order, prefetch)
		var got any
		func() {
			defer func() { got = recover() }()
			for k := 0; k < 10; k++ {
				if _, err := stream.next(s, order[32*k:32*k+32], gotch.CPU); err != nil {
					t.Fatal(err)
				}
				if k == bad {
					t.Fatalf("prefetch %d: batch %d with the bad sample was served", prefetch, k)
				}
			}
		}()
		stream.close()
		s.Drop()
		re, ok := got.(ReadError)
		if !ok || !strings.Contains(re.Error(), "/data/clips/clip0100/00000.jpg") {
			t.Fatalf("prefetch %d: recovered %v, want a ReadError naming the file", prefetch, got)
		}
	}
	settleGoroutines(t, base)
}
