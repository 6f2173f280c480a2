package bench

import (
	"context"
	"fmt"

	"github.com/mmfusion/bench/bench/data"
	"github.com/mmfusion/bench/bench/torchrt"
	"github.com/sugarme/gotch"
)

// ReadTrainingEpoch reads the first n samples of a training split in order, in batches of batchSize,
// exactly as epoch 1 of a cell with the given seed reads them in Run.TrainEpoch (training transform,
// prefetch batches ahead, tensors on the CPU), with no model: what `bench perf --loader` times. It
// returns the number of samples read.
func ReadTrainingEpoch(ctx context.Context, sp *data.Split, mods []data.Modality, seed int64, batchSize, n, prefetch int) (read int, err error) {
	if sp.Source == nil {
		return 0, fmt.Errorf("the split is in memory; the loader benchmark needs a lazily read split (a video dataset)")
	}
	n = min(n, sp.Len())
	st := SplitOnDevice(sp, mods, gotch.CPU)
	defer st.Drop()
	order := make([]int64, n)
	for i := range order {
		order[i] = int64(i)
	}
	defer func() {
		if r := recover(); r != nil {
			if re, ok := r.(ReadError); ok {
				err = re
				return
			}
			panic(r)
		}
	}()
	batches := st.epochBatches(ctx, seed, 1, batchSize, order, prefetch)
	defer batches.close()
	for start := 0; start < n; start += batchSize {
		s := torchrt.NewScope()
		_, err := batches.next(s, order[start:min(start+batchSize, n)], gotch.CPU)
		s.Drop()
		if err != nil {
			return read, err
		}
		read += min(batchSize, n-start)
	}
	return read, nil
}
