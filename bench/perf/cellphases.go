package perf

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"time"

	"github.com/mmfusion/bench/bench"
	"github.com/mmfusion/bench/bench/data"
	"github.com/mmfusion/bench/bench/store"
	"github.com/mmfusion/bench/bench/torchrt"
	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"
)

// phasedCell is bench.Train (bench/train.go) with a clock read between its phases: the same calls in
// the same order — bench.Build, bench.SplitOnDevice, SplitTensors.Batch, Run.Step, the method's hooks
// and stages — with copies of the trainer's unexported evaluate, metrics, snapshot and restore. It
// exists only to split a cell's time into phases (bench.Train has no clock inside); RunCells checks in
// every round that it reproduces bench.Train's record bit for bit (curves, losses, test metrics),
// which catches the copy drifting from the trainer in anything that changes results. A change to
// bench.Train that only changes speed must be copied here by hand.
func phasedCell(c *bench.Cell, set *data.Set) (ph, cpu Phases, run CellRun, err error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if c.Train.Threads > 0 {
		torchrt.SetNumThreads(c.Train.Threads)
	}
	dev := gotch.CPU
	// Wall clock and process CPU time per phase: build, data, train, val, snapshot, test, other.
	var wall, cpuNS [7]int64
	mark, cmark := time.Now(), processCPUNS()
	lap := func(k int) {
		now, cnow := time.Now(), processCPUNS()
		wall[k] += int64(now.Sub(mark))
		cpuNS[k] += cnow - cmark
		mark, cmark = now, cnow
	}
	defer func() {
		w, cp := make([]float64, 7), make([]float64, 7)
		for k := range w {
			w[k], cp[k] = float64(wall[k])/1e6, float64(cpuNS[k])/1e6
		}
		ph, cpu = phasesOf(w), phasesOf(cp)
	}()

	r, err := bench.Build(c, set, dev)
	if err != nil {
		return ph, cpu, run, err
	}
	defer lap(6) // the deferred frees below and the trim, as bench.Train's (defers run last-in first-out)
	defer torchrt.ReleaseFreeMemory()
	defer r.VS.Destroy()
	if cl, ok := r.Method.(bench.Closer); ok {
		defer cl.Close()
	}
	lap(0)
	train := bench.SplitOnDevice(set.Train, set.Modalities, dev)
	defer train.Drop()
	val := bench.SplitOnDevice(set.Val, set.Modalities, dev)
	defer val.Drop()
	lap(1)
	newOptimizer := func(lr float64) (*nn.Optimizer, error) {
		return nn.NewSGDConfig(c.Train.Momentum, 0, c.Train.WeightDecay, false).Build(r.VS, lr)
	}
	opt, err := newOptimizer(c.Train.LR)
	if err != nil {
		return ph, cpu, run, err
	}
	defer func() { opt.Drop() }()
	rec := c.NewRecord(set.Meta())
	rec.Status = store.StatusOK
	order := rand.New(rand.NewPCG(uint64(c.Seed), 0xda7a))
	n := train.Len()
	perm := make([]int64, n)
	for i := range perm {
		perm[i] = int64(i)
	}
	afterBackward, _ := r.Method.(bench.AfterBackwarder)
	epochStarter, _ := r.Method.(bench.EpochStarter)
	staged, _ := r.Method.(bench.Staged)
	stage := 0
	var best map[string]*ts.Tensor
	defer func() { dropAll(best) }()
	bestAcc := -1.0
	s := torchrt.NewScope()
	defer s.Drop()
	for epoch := 1; epoch <= c.Train.Epochs; epoch++ {
		if staged != nil {
			if next := staged.Stage(epoch); next != stage {
				if best != nil {
					restoreVars(r.VS, best)
				}
				lr := staged.EnterStage(next)
				if lr <= 0 {
					lr = c.Train.LR
				}
				opt.Drop()
				if opt, err = newOptimizer(lr); err != nil {
					return ph, cpu, run, err
				}
				stage, bestAcc = next, -1
			}
		}
		lap(6)
		order.Shuffle(len(perm), func(i, j int) { perm[i], perm[j] = perm[j], perm[i] })
		if epochStarter != nil {
			epochStarter.EpochStart(&bench.EpochContext{Epoch: epoch, Train: train, BatchSize: c.Train.BatchSize, Device: dev, Order: perm})
		}
		var lossSum float64
		for start := 0; start < n; start += c.Train.BatchSize {
			idx := perm[start:min(start+c.Train.BatchSize, n)]
			b := train.Batch(s, idx, dev)
			b.Epoch = epoch
			lv := r.Step(s, b, opt, afterBackward)
			s.Drop()
			if math.IsNaN(lv) || math.IsInf(lv, 0) {
				return ph, cpu, run, fmt.Errorf("loss %v at epoch %d", lv, epoch)
			}
			lossSum += lv * float64(len(idx))
		}
		lap(2)
		ev := evaluateSplit(r, val, epoch)
		vm := metricsOf(r, ev)
		es := store.EpochStats{Epoch: epoch, TrainLoss: lossSum / float64(n), ValLoss: vm.Loss, ValAcc: vm.Acc, ValF1: vm.MacroF1, Stage: stage}
		rec.Curves = append(rec.Curves, es)
		lap(3)
		if vm.Acc > bestAcc {
			bestAcc = vm.Acc
			dropAll(best)
			best = snapshotVars(r.VS)
			rec.BestEpoch = epoch
			rec.Val = vm
		}
		lap(4)
	}
	restoreVars(r.VS, best)
	test := bench.SplitOnDevice(set.Test, set.Modalities, dev)
	defer test.Drop()
	final := evaluateSplit(r, test, rec.BestEpoch)
	rec.Test, rec.TestPredictions = metricsOf(r, final), final.pred
	lap(5)
	return ph, cpu, runOfRecord(rec), nil
}

// Copies of bench/train.go's unexported helpers (evalBatch = CellEvalBatch).

type evalOut struct {
	loss    float64
	pred    []int64
	perMod  [][]int64
	targets []int64
	readout map[string]float64
}

func evaluateSplit(r *bench.Run, st *bench.SplitTensors, epoch int) evalOut {
	res := evalOut{readout: map[string]float64{}}
	s := torchrt.NewScope()
	defer s.Drop()
	var lossSum float64
	n := st.Len()
	torchrt.NoGrad(func() {
		for start := 0; start < n; start += CellEvalBatch {
			m := min(CellEvalBatch, n-start)
			idx := make([]int64, m)
			for i := range idx {
				idx[i] = int64(start + i)
			}
			b := st.Batch(s, idx, r.Device)
			b.Epoch = epoch
			loss, out := r.Method.Forward(s, b, false)
			for name, v := range out.Readout {
				res.readout[name] += s.T(v.MustSum(gotch.Double, false)).MustFloat64Value(nil)
			}
			lossSum += loss.MustFloat64Value(nil) * float64(m)
			res.pred = append(res.pred, argmaxRows(s, out.Fused)...)
			if res.perMod == nil {
				res.perMod = make([][]int64, len(r.Set.Modalities))
			}
			for k, l := range out.PerModality {
				if l != nil {
					res.perMod[k] = append(res.perMod[k], argmaxRows(s, l)...)
				}
			}
			res.targets = append(res.targets, b.Y.Int64Values()...)
			s.Drop()
		}
	})
	res.loss = lossSum / float64(n)
	return res
}

func argmaxRows(s *torchrt.Scope, logits *ts.Tensor) []int64 {
	a := s.T(logits.MustArgmax([]int64{1}, false, false))
	out := make([]int64, a.Numel())
	a.MustCopyData(out, a.Numel())
	return out
}

func metricsOf(r *bench.Run, e evalOut) store.Metrics {
	m := store.Metrics{Acc: bench.Accuracy(e.pred, e.targets), MacroF1: bench.MacroF1(e.pred, e.targets, r.Set.NumClasses), Loss: e.loss}
	for name, sum := range e.readout {
		if m.Extra == nil {
			m.Extra = map[string]float64{}
		}
		m.Extra[name] = sum / float64(len(e.targets))
	}
	for i, p := range e.perMod {
		if len(p) == len(e.targets) {
			if m.PerModality == nil {
				m.PerModality = map[string]float64{}
			}
			m.PerModality[r.Set.Modalities[i].Name] = bench.Accuracy(p, e.targets)
		}
	}
	return m
}

func snapshotVars(vs *nn.VarStore) map[string]*ts.Tensor {
	out := map[string]*ts.Tensor{}
	torchrt.NoGrad(func() {
		for name, v := range vs.Variables() {
			c := v.MustZerosLike(false)
			c.Copy_(&v)
			out[name] = c
		}
	})
	return out
}

func restoreVars(vs *nn.VarStore, snap map[string]*ts.Tensor) {
	torchrt.NoGrad(func() {
		for name, v := range vs.Variables() {
			v.Copy_(snap[name])
		}
	})
}

func dropAll(m map[string]*ts.Tensor) {
	for _, t := range m {
		t.MustDrop()
	}
}
