package bench

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"time"
	"unsafe"

	"github.com/mmfusion/bench/bench/data"
	"github.com/mmfusion/bench/bench/store"
	"github.com/mmfusion/bench/bench/torchrt"
	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"
)

// buildMu serialises seeding and model construction: libtorch's global generator is shared by the
// process, so two cells initialising at once would interleave their draws and lose determinism.
var buildMu sync.Mutex

// ErrDiverged marks a cell whose training loss became NaN or infinite.
var ErrDiverged = errors.New("training diverged")

// Progress receives one line of news per epoch.
type Progress func(ep store.EpochStats)

// SplitTensors is a split held on the device, or, for a split with a Source, read batch by batch.
type SplitTensors struct {
	X    []*ts.Tensor // nil for a lazy split
	Y    *ts.Tensor
	n    int
	y    []int64 // the labels, in Go memory (evaluation reads its targets here)
	lazy *data.Split
	mods []data.Modality
}

// SplitOnDevice copies a split to the device (only its labels, for a split with a Source).
func SplitOnDevice(sp *data.Split, mods []data.Modality, dev gotch.Device) *SplitTensors {
	st := &SplitTensors{n: sp.Len(), y: sp.Y, mods: mods}
	if sp.Source != nil {
		st.lazy = sp
	} else {
		for m, mod := range mods {
			shape := append([]int64{int64(sp.Len())}, mod.Shape...)
			st.X = append(st.X, floatTensor(sp.X[m], shape, dev))
		}
	}
	yb := unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(sp.Y))), len(sp.Y)*8)
	st.Y = ts.MustOfDataSize(yb, []int64{int64(sp.Len())}, gotch.Int64).MustTo(dev, true)
	return st
}

// floatTensor copies v into a new float tensor of the given shape: one copy into libtorch's own buffer
// (gotch's OfDataSize copies twice, through a C buffer written with binary.Write: ~18 % of a lazy
// split's read time, profiled with bench perf --loader).
func floatTensor(v []float32, shape []int64, dev gotch.Device) *ts.Tensor {
	t := ts.MustEmpty(shape, gotch.Float, gotch.CPU)
	if len(v) > 0 {
		copy(unsafe.Slice((*float32)(t.MustDataPtr()), len(v)), v)
	}
	if dev.IsCuda() {
		return t.MustTo(dev, true)
	}
	return t
}

// Len is the number of samples.
func (st *SplitTensors) Len() int { return st.n }

// Drop frees the tensors.
func (st *SplitTensors) Drop() {
	for _, x := range st.X {
		x.MustDrop()
	}
	st.Y.MustDrop()
}

// ReadError is what Batch panics with when a lazy split cannot read a sample (a file vanished or is
// malformed); Train recovers it and ends the cell as failed with the message.
type ReadError struct{ Err error }

func (e ReadError) Error() string { return e.Err.Error() }

// Batch gathers the rows idx of the split; the tensors belong to s. A lazy split is read with the
// test transform (its Source's Read); only TrainEpoch's batches go through the training transform.
func (st *SplitTensors) Batch(s *torchrt.Scope, idx []int64, dev gotch.Device) *Batch {
	if st.lazy != nil {
		return st.batchFrom(s, idx, st.readLazy(idx), dev)
	}
	it := st.indexTensor(s, idx, dev)
	b := &Batch{Y: s.T(st.Y.MustIndexSelect(0, it, false)), Index: idx}
	for _, x := range st.X {
		b.X = append(b.X, s.T(x.MustIndexSelect(0, it, false)))
	}
	return b
}

// indexTensor is idx as an int64 tensor on dev, owned by s.
func (st *SplitTensors) indexTensor(s *torchrt.Scope, idx []int64, dev gotch.Device) *ts.Tensor {
	ib := unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(idx))), len(idx)*8)
	it := s.T(ts.MustOfDataSize(ib, []int64{int64(len(idx))}, gotch.Int64))
	if dev.IsCuda() {
		it = s.T(it.MustTo(dev, false))
	}
	return it
}

// labels gathers the labels of the rows idx, owned by s.
func (st *SplitTensors) labels(s *torchrt.Scope, idx []int64, dev gotch.Device) *ts.Tensor {
	return s.T(st.Y.MustIndexSelect(0, st.indexTensor(s, idx, dev), false))
}

// Rows returns the batch of the n consecutive rows from start: views of the split's tensors (no copy)
// for an in-memory split, a read for a lazy one. The tensors belong to s.
func (st *SplitTensors) Rows(s *torchrt.Scope, start, n int, dev gotch.Device) *Batch {
	idx := make([]int64, n)
	for i := range idx {
		idx[i] = int64(start + i)
	}
	if st.lazy != nil {
		return st.Batch(s, idx, dev)
	}
	b := &Batch{Y: s.T(st.Y.MustNarrow(0, int64(start), int64(n), false)), Index: idx}
	for _, x := range st.X {
		b.X = append(b.X, s.T(x.MustNarrow(0, int64(start), int64(n), false)))
	}
	return b
}

// readLazy reads the samples idx from the split's Source (its test transform), in parallel
// (readInto), checks that every value is finite, and returns one buffer per modality; a failed read
// panics with ReadError.
func (st *SplitTensors) readLazy(idx []int64) [][]float32 {
	bufs := newBuffers(st.mods, len(idx))
	if err := readInto(context.Background(), st.lazy.Source.Read, st.mods, idx, bufs); err != nil {
		panic(ReadError{err})
	}
	return bufs
}

// PanicError is a panic inside a cell, recovered by Train: the value and the stack where it happened.
type PanicError struct {
	Value any
	Stack []byte
}

func (e *PanicError) Error() string { return fmt.Sprintf("panic: %v", e.Value) }

// Run holds a built model ready to train.
type Run struct {
	Cell     *Cell
	Set      *data.Set
	Device   gotch.Device
	VS       *nn.VarStore
	Method   Method
	Encoders []Encoder
	alt      *alternation // per-branch optimisers while alternating (StartAlternating), else nil
}

// alternation is the state of alternating per-branch steps: the method's branches and one C
// optimiser per branch over that branch's trainable variables.
type alternation struct {
	m    Alternating
	opts []*ts.COptimizer
}

// StartAlternating makes every later Step an alternating one (store.TrainConfig.Alternate): it
// builds one optimiser of t's kind and weight decay per branch of the method, at rate lr, over the
// branch's trainable variables (a variable in several branches is in several optimisers, each with
// its own state). StopAlternating frees them; Train calls both when t.Alternate is set.
func (r *Run) StartAlternating(t store.TrainConfig, lr float64) error {
	am, ok := r.Method.(Alternating)
	if !ok {
		return fmt.Errorf("method %s has no branches to alternate (bench.Alternating)", r.Cell.Method)
	}
	r.StopAlternating()
	alt := &alternation{m: am}
	for k := range am.Branches() {
		opt, err := newCOptimizer(t, lr)
		if err != nil {
			alt.drop()
			return err
		}
		alt.opts = append(alt.opts, opt)
		n := 0
		for _, v := range am.BranchVars(k) {
			if !v.MustRequiresGrad() {
				continue
			}
			if err := opt.AddParameter(v, 0); err != nil {
				alt.drop()
				return fmt.Errorf("branch %d optimiser: %w", k, err)
			}
			n++
		}
		if n == 0 {
			alt.drop()
			return fmt.Errorf("method %s: branch %d has no trainable variables", r.Cell.Method, k)
		}
	}
	r.alt = alt
	return nil
}

// SetBranchLR sets the learning rate of every branch optimiser (no-op when not alternating).
func (r *Run) SetBranchLR(lr float64) {
	if r.alt == nil {
		return
	}
	for _, o := range r.alt.opts {
		if err := o.SetLearningRate(lr); err != nil {
			panic(err)
		}
	}
}

// StopAlternating frees the branch optimisers (their state and references to the variables); later
// steps are plain ones.
func (r *Run) StopAlternating() {
	if r.alt != nil {
		r.alt.drop()
		r.alt = nil
	}
}

func (a *alternation) drop() {
	for _, o := range a.opts {
		o.Drop()
	}
	a.opts = nil
}

// Build seeds libtorch and constructs the encoders and the method for the cell.
func Build(c *Cell, set *data.Set, dev gotch.Device) (*Run, error) {
	mspec, err := Methods.Lookup(c.Method)
	if err != nil {
		return nil, err
	}
	espec, err := Encoders.Lookup(c.Encoder)
	if err != nil {
		return nil, err
	}
	if err := mspec.Value.CheckModalities(c.Method, c.Dataset, len(set.Modalities), c.MethodParams); err != nil {
		return nil, err
	}
	if err := mspec.Value.Needs.CheckEncoder(c.Method, c.Encoder); err != nil {
		return nil, err
	}
	buildMu.Lock()
	defer buildMu.Unlock()
	torchrt.ManualSeed(c.Seed)
	vs := nn.NewVarStore(dev)
	r := &Run{Cell: c, Set: set, Device: dev, VS: vs}
	for m, mod := range set.Modalities {
		enc, err := espec.Value.New(vs.Root().Sub(fmt.Sprintf("enc%d", m)), mod, c.EncoderParams)
		if err != nil {
			return nil, fmt.Errorf("encoder %s for modality %s: %w", c.Encoder, mod.Name, err)
		}
		if _, ok := enc.(StagedEncoder); mspec.Value.Needs.EncoderStages && !ok {
			return nil, fmt.Errorf("method %s fuses between encoder stages, but encoder %s does not expose its stages", c.Method, c.Encoder)
		}
		r.Encoders = append(r.Encoders, enc)
	}
	env := &Env{Path: vs.Root().Sub("method"), Encoders: r.Encoders, Modalities: set.Modalities,
		NumClasses: int64(set.NumClasses), Params: c.MethodParams, Device: dev,
		Vars: func() map[string]*ts.Tensor { return Variables(vs, "") }, Noise: NewNoise(c.Seed, dev)}
	for m := range set.Modalities {
		env.EncoderVars = append(env.EncoderVars, Variables(vs, fmt.Sprintf("enc%d.", m)))
	}
	if r.Method, err = mspec.Value.New(env); err != nil {
		return nil, fmt.Errorf("method %s: %w", c.Method, err)
	}
	if c.Train.Init == InitXavierNormal {
		initXavierNormal(vs)
	}
	return r, nil
}

// Variables returns the variables of vs whose names start with prefix, by name.
func Variables(vs *nn.VarStore, prefix string) map[string]*ts.Tensor {
	out := map[string]*ts.Tensor{}
	for name, v := range vs.Variables() {
		if strings.HasPrefix(name, prefix) {
			v := v
			out[name] = &v
		}
	}
	return out
}

// evalResult is what one pass over a split gives.
type evalResult struct {
	loss    float64
	pred    []int64
	perMod  [][]int64 // nil entries where the method has no unimodal output
	targets []int64
	readout map[string]float64 // sums over samples of Outputs.Readout
}

const evalBatch = 512

func (r *Run) evaluate(st *SplitTensors, epoch int) evalResult {
	res := evalResult{readout: map[string]float64{}}
	s := torchrt.NewScope()
	defer s.Drop()
	var lossSum float64
	torchrt.NoGrad(func() {
		for start := 0; start < st.n; start += evalBatch {
			n := min(evalBatch, st.n-start)
			b := st.Rows(s, start, n, r.Device)
			b.Epoch = epoch
			loss, out := r.Method.Forward(s, b, false)
			for name, v := range out.Readout {
				res.readout[name] += s.T(v.MustSum(gotch.Double, false)).MustFloat64Value(nil)
			}
			lossSum += loss.MustFloat64Value(nil) * float64(n)
			res.pred = append(res.pred, argmax(s, out.Fused)...)
			if res.perMod == nil {
				res.perMod = make([][]int64, len(r.Set.Modalities))
			}
			for m, l := range out.PerModality {
				if l != nil {
					res.perMod[m] = append(res.perMod[m], argmax(s, l)...)
				}
			}
			res.targets = append(res.targets, st.y[start:start+n]...)
			s.Drop()
		}
	})
	res.loss = lossSum / float64(st.n)
	return res
}

func argmax(s *torchrt.Scope, logits *ts.Tensor) []int64 {
	a := s.T(logits.MustArgmax([]int64{1}, false, false))
	if a.MustDevice().IsCuda() {
		a = s.T(a.MustTo(gotch.CPU, false))
	}
	out := make([]int64, a.Numel())
	a.MustCopyData(out, a.Numel())
	return out
}

func (r *Run) metrics(e evalResult) store.Metrics {
	m := store.Metrics{Acc: Accuracy(e.pred, e.targets), MacroF1: MacroF1(e.pred, e.targets, r.Set.NumClasses), Loss: e.loss}
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
			m.PerModality[r.Set.Modalities[i].Name] = Accuracy(p, e.targets)
		}
	}
	return m
}

// snapshot copies every variable (parameters and buffers) into dst so the best epoch can be
// restored; dst's tensors are allocated on the first snapshot and reused (one copy per variable).
func snapshot(vs *nn.VarStore, dst map[string]*ts.Tensor) map[string]*ts.Tensor {
	if dst == nil {
		dst = map[string]*ts.Tensor{}
	}
	torchrt.NoGrad(func() {
		for name, v := range vs.Variables() {
			c, ok := dst[name]
			if !ok {
				c = v.MustZerosLike(false)
				dst[name] = c
			}
			c.Copy_(&v)
		}
	})
	return dst
}

func restore(vs *nn.VarStore, snap map[string]*ts.Tensor) {
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

// BreakTrainingLoss multiplies every training loss by 0, so no method learns anything (its own
// gradient hooks still run, on zero gradients). It is a test seam, false in every real run: the CI
// mutation test sets it to prove that the accuracy regression fails every method once it is broken.
var BreakTrainingLoss bool

// Step is one training step: forward, and unless the loss is not finite, backward, hook (the
// method's AfterBackwarder, or nil) and an optimiser step. It returns the loss value; the tensors it
// creates belong to s. TrainEpoch calls it with the method's own hook; call it directly only to time
// or inspect single steps (after StartEpoch, as TrainEpoch does).
//
// While alternating (StartAlternating) a step is one sub-step per branch k in turn, as the official
// MMTM code's step(0), step(1): a fresh forward (after the previous sub-step's update) whose loss is
// the method's BranchLoss(k), every gradient of the model zeroed (opt's ZeroGrad over the whole
// VarStore, so nothing accumulates across sub-steps), backward, hook, and a step of branch k's
// optimiser only; opt itself never steps. It returns the mean of the sub-steps' losses, or the first
// non-finite one (the later sub-steps are not taken).
func (r *Run) Step(s *torchrt.Scope, b *Batch, opt *nn.Optimizer, hook AfterBackwarder) float64 {
	n := 1
	if r.alt != nil {
		n = len(r.alt.opts)
	}
	var sum float64
	for k := range n {
		var loss *ts.Tensor
		if r.alt == nil {
			loss, _ = r.Method.Forward(s, b, true)
		} else {
			loss = r.alt.m.BranchLoss(s, b, k)
		}
		if BreakTrainingLoss {
			loss = s.T(loss.MustMulScalar(s.Scalar(0), false))
		}
		lv := loss.MustFloat64Value(nil)
		if math.IsNaN(lv) || math.IsInf(lv, 0) {
			return lv
		}
		opt.MustZeroGrad()
		loss.MustBackward()
		if hook != nil {
			hook.AfterBackward(s, b)
		}
		if r.alt == nil {
			opt.MustStep()
		} else if err := r.alt.opts[k].Step(); err != nil {
			panic(err)
		}
		sum += lv
	}
	return sum / float64(n)
}

// StartEpoch tells the method that training epoch epoch (1-based) begins: its EpochStart hook, if
// it has one, gets the training split, the batch size and the epoch's order of the split (the order
// in which TrainEpoch visits it). TrainEpoch calls it first; a caller that times single steps calls it
// once, as the trainer does before epoch 1.
func (r *Run) StartEpoch(train *SplitTensors, epoch, batchSize int, order []int64) {
	if es, ok := r.Method.(EpochStarter); ok {
		es.EpochStart(&EpochContext{Epoch: epoch, Train: train, BatchSize: batchSize, Device: r.Device, Order: order})
	}
}

// DivergedError is TrainEpoch's error for a step whose loss was NaN or infinite; it wraps
// ErrDiverged, and its message is the record's Reason.
type DivergedError struct {
	Loss  float64
	Epoch int
	Step  int // 1-based, within the epoch
}

func (e *DivergedError) Error() string {
	return fmt.Sprintf("loss %v at epoch %d, step %d", e.Loss, e.Epoch, e.Step)
}

func (e *DivergedError) Unwrap() error { return ErrDiverged }

// TrainEpoch is one training epoch, the one Train runs: StartEpoch, then a Step (with the method's
// AfterBackward hook) on every batch of batchSize samples of train taken in order (a permutation of
// the split; the last batch may be smaller), each batch's tensors freed from s after its step. It
// returns the mean training loss over the samples; a non-finite loss stops it with a *DivergedError,
// a cancelled ctx (checked before each batch) with ctx.Err().
//
// A lazy training split is read through its training transform (data.AugmentedSource, seeded by the
// cell seed, epoch and sample) and Prefetch batches ahead on a background goroutine (loader.go); the
// reading stops when the epoch returns, whatever the reason. A failed read panics with ReadError, as
// Batch does.
func (r *Run) TrainEpoch(ctx context.Context, s *torchrt.Scope, train *SplitTensors, opt *nn.Optimizer, epoch, batchSize int, order []int64) (float64, error) {
	r.StartEpoch(train, epoch, batchSize, order)
	hook, _ := r.Method.(AfterBackwarder)
	batches := train.epochBatches(ctx, r.Cell.Seed, epoch, batchSize, order, Prefetch)
	defer batches.close()
	var lossSum float64
	for start := 0; start < len(order); start += batchSize {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		idx := order[start:min(start+batchSize, len(order))]
		b, err := batches.next(s, idx, r.Device)
		if err != nil {
			return 0, err
		}
		b.Epoch = epoch
		lv := r.Step(s, b, opt, hook)
		s.Drop()
		if math.IsNaN(lv) || math.IsInf(lv, 0) {
			return lv, &DivergedError{Loss: lv, Epoch: epoch, Step: start/batchSize + 1}
		}
		lossSum += lv * float64(len(idx))
	}
	return lossSum / float64(len(order)), nil
}

// Phase is a part of a cell, for a PhaseClock.
type Phase int

// The parts of a cell, in the order they first end.
const (
	PhaseBuild    Phase = iota // seeding, encoders and method
	PhaseData                  // training and validation splits to tensors
	PhaseTrain                 // an epoch's training steps (and the method's epoch hook)
	PhaseVal                   // an epoch's validation pass
	PhaseSnapshot              // keeping the best checkpoint
	PhaseTest                  // restoring the best checkpoint and the test pass
	PhaseOther                 // stage switches, optimisers, frees at the end
	NumPhases
)

// PhaseClock is called each time a part of a cell ends, with that part; `bench perf --cells` reads a
// clock in it to split a cell's time. The trainer itself keeps no clock.
type PhaseClock func(ended Phase)

// Train runs the cell's epochs on the training split, selects the epoch with the best validation
// accuracy, restores it and evaluates it once on the test split. The returned record has every field
// but the key and versions filled in. A diverged run returns the record with StatusDiverged and
// ErrDiverged; a cancelled context returns ctx.Err().
func Train(ctx context.Context, c *Cell, set *data.Set, dev gotch.Device, progress Progress) (*store.Record, error) {
	return TrainClocked(ctx, c, set, dev, progress, nil)
}

// TrainClocked is Train calling clock (when not nil) at the end of each of the cell's parts.
func TrainClocked(ctx context.Context, c *Cell, set *data.Set, dev gotch.Device, progress Progress, clock PhaseClock) (rec *store.Record, err error) {
	ended := func(p Phase) {
		if clock != nil {
			clock(p)
		}
	}
	defer func() {
		if r := recover(); r != nil {
			if re, ok := r.(ReadError); ok {
				rec, err = nil, fmt.Errorf("reading dataset %s: %w", c.Dataset, re.Err)
				return
			}
			// A libtorch error (gotch's Must functions panic, see scripts/setup.sh patch 9), out of
			// memory, a bug: this cell fails, the sweep goes on.
			rec, err = nil, &PanicError{Value: r, Stack: debug.Stack()}
		}
	}()
	if err := CheckTrain(c.Train); err != nil {
		return nil, fmt.Errorf("cell %s: %w", c.Method, err)
	}
	// libtorch's grad mode and OpenMP thread count are per OS thread: keep this cell on one.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if c.Train.Threads > 0 {
		torchrt.SetNumThreads(c.Train.Threads)
	}
	began := time.Now()
	r, err := Build(c, set, dev)
	if err != nil {
		return nil, err
	}
	defer ended(PhaseOther)
	defer torchrt.ReleaseFreeMemory() // runs after every deferred free below
	defer r.VS.Destroy()
	if cl, ok := r.Method.(Closer); ok {
		defer cl.Close()
	}

	ended(PhaseBuild)
	train := SplitOnDevice(set.Train, set.Modalities, dev)
	defer train.Drop()
	val := SplitOnDevice(set.Val, set.Modalities, dev)
	defer val.Drop()
	ended(PhaseData)

	newOptimizer := func(lr float64) (*nn.Optimizer, error) { return NewOptimizer(c.Train, r.VS, lr) }
	opt, err := newOptimizer(c.Train.LR)
	if err != nil {
		return nil, fmt.Errorf("optimizer: %w", err)
	}
	sched := newSchedule(opt, c.Train.Schedule)
	if c.Train.Alternate { // opt carries the schedule; the branch optimisers take its rate each epoch
		if err := r.StartAlternating(c.Train, c.Train.LR); err != nil {
			opt.Drop()
			return nil, err
		}
		defer r.StopAlternating()
	}
	// The C optimizer holds every parameter, its gradient and momentum: free it when the cell ends
	// (the closure frees the last stage's optimizer).
	defer func() {
		if opt != nil {
			opt.Drop()
		}
	}()
	rec = c.NewRecord(set.Meta())
	rec.Status, rec.Device = store.StatusOK, torchrt.DeviceName(dev)
	order := rand.New(rand.NewPCG(uint64(c.Seed), 0xda7a))
	perm := make([]int64, train.n)
	for i := range perm {
		perm[i] = int64(i)
	}
	staged, _ := r.Method.(Staged)
	stage := 0
	var best map[string]*ts.Tensor
	defer func() { dropAll(best) }()
	bestAcc, sinceBest := -1.0, 0
	s := torchrt.NewScope()
	defer s.Drop()
	for epoch := 1; epoch <= c.Train.Epochs; epoch++ {
		if staged != nil {
			if next := staged.Stage(epoch); next != stage {
				if best != nil { // continue from the previous stage's best checkpoint
					restore(r.VS, best)
				}
				lr := staged.EnterStage(next)
				if lr <= 0 {
					lr = c.Train.LR
				}
				schedule := c.Train.Schedule
				if next >= 1 && next <= len(c.Train.Stages) { // a recipe's per-stage settings win
					lr, schedule = c.Train.Stages[next-1].LR, c.Train.Stages[next-1].Schedule
				}
				opt.Drop()
				if opt, err = newOptimizer(lr); err != nil {
					return nil, fmt.Errorf("optimizer for stage %d: %w", next, err)
				}
				sched = newSchedule(opt, schedule)
				stage, bestAcc, sinceBest = next, -1, 0
			}
		}
		ended(PhaseOther)
		order.Shuffle(len(perm), func(i, j int) { perm[i], perm[j] = perm[j], perm[i] })
		epochLR := opt.GetLRs()[0]
		r.SetBranchLR(epochLR)
		trainLoss, err := r.TrainEpoch(ctx, s, train, opt, epoch, c.Train.BatchSize, perm)
		if de := (*DivergedError)(nil); errors.As(err, &de) {
			rec.Status, rec.Reason = store.StatusDiverged, de.Error()
			rec.WallSeconds = time.Since(began).Seconds()
			rec.Finished = time.Now().UTC()
			return rec, ErrDiverged
		} else if err != nil {
			return nil, err
		}
		ended(PhaseTrain)
		ev := r.evaluate(val, epoch)
		vm := r.metrics(ev)
		if math.IsNaN(vm.Loss) || math.IsInf(vm.Loss, 0) {
			// The model outputs NaN or ±Inf although the training loss stayed finite (huge weights):
			// its predictions are argmaxes of garbage, not a result.
			rec.Status = store.StatusDiverged
			rec.Reason = fmt.Sprintf("validation loss %v at epoch %d (training loss %.4g)", vm.Loss, epoch, trainLoss)
			rec.WallSeconds = time.Since(began).Seconds()
			rec.Finished = time.Now().UTC()
			return rec, ErrDiverged
		}
		es := store.EpochStats{Epoch: epoch, TrainLoss: trainLoss, ValLoss: vm.Loss, ValAcc: vm.Acc, ValF1: vm.MacroF1, Stage: stage, LR: epochLR}
		rec.Curves = append(rec.Curves, es)
		if progress != nil {
			progress(es)
		}
		ended(PhaseVal)
		if vm.Acc > bestAcc {
			bestAcc = vm.Acc
			best = snapshot(r.VS, best)
			rec.BestEpoch = epoch
			rec.Val = vm
			sinceBest = 0
		} else {
			sinceBest++
		}
		sched.step(vm)
		ended(PhaseSnapshot)
		if c.Train.EarlyStop > 0 && sinceBest >= c.Train.EarlyStop {
			rec.StoppedEarly = epoch
			break
		}
	}
	if c.Trial > 0 { // a tuning trial is scored on validation only: the test split is never read
		rec.WallSeconds = time.Since(began).Seconds()
		rec.Finished = time.Now().UTC()
		return rec, nil
	}
	restore(r.VS, best)
	test := SplitOnDevice(set.Test, set.Modalities, dev)
	defer test.Drop()
	final := r.evaluate(test, rec.BestEpoch)
	rec.Test, rec.TestPredictions = r.metrics(final), final.pred
	ended(PhaseTest)
	rec.WallSeconds = time.Since(began).Seconds()
	rec.Finished = time.Now().UTC()
	return rec, nil
}
