package bench

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/mmfusion/bench/bench/data"
	"github.com/mmfusion/bench/bench/torchrt"
	"github.com/sugarme/gotch"
)

// Reading a lazy split (one with a data.Source: the video datasets) batch by batch.
//
// A batch's samples are read in parallel (readInto: up to runtime.NumCPU goroutines per batch). In
// a training epoch (Run.TrainEpoch) the reads of a lazy training split go through the split's
// training transform when it has one (data.AugmentedSource, seeded per cell, epoch and sample), and
// the next Prefetch batches are read, decoded and transformed on a background goroutine while the
// current one trains (prefetcher). Only the float32 buffers are prefetched; the tensors are made on
// the training goroutine. Every value depends only on the file, the cell seed, the epoch and the
// sample index, so prefetched and synchronous batches are bit-identical, in the same order. An
// in-memory split keeps indexing its tensors (SplitTensors.Batch).

// Prefetch is how many batches of a lazy training split TrainEpoch reads ahead (default 3; 0 reads
// each batch when the step needs it). At most Prefetch batches of float32 buffers exist per running
// cell, recycled from batch to batch. `bench run --prefetch` sets it before any cell starts; it
// changes no value, so it is not part of any cell key.
var Prefetch = 3

// sampleReader reads sample i of a split into dst (one buffer per modality).
type sampleReader func(i int, dst [][]float32) error

// readInto reads the samples idx into bufs (bufs[m] holds len(idx)·mods[m].Size() values) on up to
// runtime.NumCPU goroutines and checks that every value is finite. It returns the errors of every
// failed sample, joined (each names its file), or ctx.Err() when ctx ends first.
func readInto(ctx context.Context, read sampleReader, mods []data.Modality, idx []int64, bufs [][]float32) error {
	errs := make([]error, len(idx))
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(runtime.NumCPU(), len(idx)) {
		wg.Go(func() {
			dst := make([][]float32, len(mods))
			for k := int(next.Add(1) - 1); k < len(idx); k = int(next.Add(1) - 1) {
				if ctx.Err() != nil {
					return
				}
				for m, mod := range mods {
					dst[m] = bufs[m][k*mod.Size() : (k+1)*mod.Size()]
				}
				errs[k] = readChecked(read, mods, int(idx[k]), dst)
			}
		})
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return err
	}
	return errors.Join(errs...)
}

// readChecked reads sample i and refuses a non-finite value.
func readChecked(read sampleReader, mods []data.Modality, i int, dst [][]float32) error {
	if err := read(i, dst); err != nil {
		return err
	}
	for m, d := range dst {
		for _, v := range d {
			if math.Float32bits(v)&0x7f800000 == 0x7f800000 { // all exponent bits set: NaN or ±Inf
				return fmt.Errorf("sample %d, modality %s: non-finite value %v", i, mods[m].Name, v)
			}
		}
	}
	return nil
}

// newBuffers allocates one buffer per modality for n samples.
func newBuffers(mods []data.Modality, n int) [][]float32 {
	bufs := make([][]float32, len(mods))
	for m, mod := range mods {
		bufs[m] = make([]float32, n*mod.Size())
	}
	return bufs
}

// batchFrom makes the batch of the samples idx from their values in bufs (copied into tensors owned
// by s, so bufs may be reused at once).
func (st *SplitTensors) batchFrom(s *torchrt.Scope, idx []int64, bufs [][]float32, dev gotch.Device) *Batch {
	b := &Batch{Y: st.labels(s, idx, dev), Index: idx}
	for m, mod := range st.mods {
		x := floatTensor(bufs[m][:len(idx)*mod.Size()], append([]int64{int64(len(idx))}, mod.Shape...), dev)
		b.X = append(b.X, s.T(x))
	}
	return b
}

// trainReader is how a training epoch reads the lazy split: through its training transform
// (data.AugmentedSource, with the sample's AugmentSeed) when it has one, else Read.
func (st *SplitTensors) trainReader(seed int64, epoch int) sampleReader {
	if as, ok := st.lazy.Source.(data.AugmentedSource); ok {
		return func(i int, dst [][]float32) error { return as.ReadAugmented(i, dst, data.AugmentSeed(seed, epoch, i)) }
	}
	return st.lazy.Source.Read
}

// batchStream yields the batches of one training epoch in order.
type batchStream interface {
	// next returns the batch of the samples idx (the stream's next batch); tensors belong to s. A
	// failed read panics with ReadError, as Batch does; a cancelled context returns its error.
	next(s *torchrt.Scope, idx []int64, dev gotch.Device) (*Batch, error)
	// close stops any background reading and waits for it; it is safe to call more than once.
	close()
}

// epochBatches is the stream of a training epoch over order in batches of batchSize: indexing for an
// in-memory split; for a lazy one, reads through trainReader, prefetch batches ahead (0: when asked).
func (st *SplitTensors) epochBatches(ctx context.Context, seed int64, epoch, batchSize int, order []int64, prefetch int) batchStream {
	if st.lazy == nil {
		return memoryBatches{st}
	}
	read := st.trainReader(seed, epoch)
	if prefetch <= 0 {
		return &syncBatches{st: st, ctx: ctx, read: read}
	}
	return startPrefetch(ctx, st, read, order, batchSize, prefetch)
}

// memoryBatches indexes an in-memory split.
type memoryBatches struct{ st *SplitTensors }

func (m memoryBatches) next(s *torchrt.Scope, idx []int64, dev gotch.Device) (*Batch, error) {
	return m.st.Batch(s, idx, dev), nil
}
func (memoryBatches) close() {}

// syncBatches reads each batch of a lazy split when it is asked for, into one reused set of buffers.
type syncBatches struct {
	st   *SplitTensors
	ctx  context.Context
	read sampleReader
	bufs [][]float32
}

func (b *syncBatches) next(s *torchrt.Scope, idx []int64, dev gotch.Device) (*Batch, error) {
	if b.bufs == nil || len(b.bufs[0]) < len(idx)*b.st.mods[0].Size() {
		b.bufs = newBuffers(b.st.mods, len(idx))
	}
	if err := readInto(b.ctx, b.read, b.st.mods, idx, b.bufs); err != nil {
		if cerr := b.ctx.Err(); cerr != nil {
			return nil, cerr
		}
		panic(ReadError{err})
	}
	return b.st.batchFrom(s, idx, b.bufs, dev), nil
}
func (*syncBatches) close() {}

// prefetcher reads the batches of an epoch ahead on one background goroutine (each batch's samples
// in parallel, readInto). At most depth buffer sets exist: the producer takes a free one (or waits),
// fills it and queues it; next copies it into tensors and hands it back at once.
type prefetcher struct {
	st     *SplitTensors
	ctx    context.Context
	cancel context.CancelFunc
	ready  chan prefetched
	free   chan [][]float32
	done   chan struct{}
	sets   int // buffer sets allocated (≤ depth); read only after done
}

// prefetched is one read batch, or the error that ended the reading.
type prefetched struct {
	idx  []int64
	bufs [][]float32
	err  error
}

func startPrefetch(parent context.Context, st *SplitTensors, read sampleReader, order []int64, batchSize, depth int) *prefetcher {
	ctx, cancel := context.WithCancel(parent)
	p := &prefetcher{st: st, ctx: ctx, cancel: cancel,
		ready: make(chan prefetched, depth), free: make(chan [][]float32, depth), done: make(chan struct{})}
	for range depth {
		p.free <- nil // a token; the buffers are allocated on first use
	}
	go func() {
		defer close(p.done)
		for start := 0; start < len(order); start += batchSize {
			idx := order[start:min(start+batchSize, len(order))]
			var bufs [][]float32
			select {
			case bufs = <-p.free:
			case <-ctx.Done():
				return
			}
			if bufs == nil {
				bufs = newBuffers(st.mods, batchSize)
				p.sets++
			}
			err := readInto(ctx, read, st.mods, idx, bufs)
			select {
			case p.ready <- prefetched{idx: idx, bufs: bufs, err: err}:
			case <-ctx.Done():
				return
			}
			if err != nil {
				return
			}
		}
	}()
	return p
}

func (p *prefetcher) next(s *torchrt.Scope, idx []int64, dev gotch.Device) (*Batch, error) {
	var got prefetched
	select {
	case got = <-p.ready:
	case <-p.ctx.Done():
		return nil, p.ctx.Err()
	}
	if got.err != nil {
		if cerr := p.ctx.Err(); cerr != nil {
			return nil, cerr
		}
		panic(ReadError{got.err})
	}
	if !slices.Equal(got.idx, idx) {
		panic(fmt.Sprintf("prefetcher: batch of %d samples out of step with the epoch's order (want %d)", len(got.idx), len(idx)))
	}
	b := p.st.batchFrom(s, idx, got.bufs, dev)
	p.free <- got.bufs // never blocks: at most depth sets exist
	return b, nil
}

func (p *prefetcher) close() {
	p.cancel()
	<-p.done
}
