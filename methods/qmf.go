package methods

import (
	"fmt"
	"math"

	"github.com/mmfusion/bench/bench"
	"github.com/mmfusion/bench/bench/layers"
	"github.com/mmfusion/bench/bench/torchrt"
	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"
)

func init() {
	bench.Methods.Register("qmf", "quality-aware fusion: energy-confidence weighted logits + history ranking loss (QMF, methods.md §8)", bench.MethodSpec{
		Params: []bench.ParamSpec{
			{Name: "lambda", Default: "0.1", Kind: "float", Range: "[0,inf)", Search: "log:0.01:1", Help: "weight λ of the ranking regulariser Σ_m L_rank^m (RGBD code 0.1; text-image code 1)"},
			{Name: "detach", Default: "true", Kind: "bool",
				Help: "detach the confidences in the fused logits (text-image code, harness default); false: the fused CE also trains them (RGBD code)"},
			{Name: "rank_margin", Default: "code", Kind: "enum:code|conventional",
				Help: "code: max(0, t·(w_i−w_{i+1}) − δ) as in the reference; conventional: max(0, t·(w_i−w_{i+1}) + δ)"},
		},
		New: newQMF,
	})
}

// QMF (methods.md §8). Per modality m a linear head gives ℓ^m; the confidence is the negative energy
// over 10, w^m = logsumexp(ℓ^m)/10 (one scalar per sample); the fused logits are ℓ = Σ_m w^m ℓ^m
// (w^m detached there when detach=true). The loss is
//
//	L = CE(ℓ) + Σ_m CE(ℓ^m) + λ Σ_m L_rank^m
//
// where L_rank^m pairs every sample i of the batch with i+1 (cyclic roll) and compares their
// confidences w^m (not detached) with a per-training-sample history H^m of accumulated CE(ℓ^m):
// h̃ = (H − min H)/(max H − min H) over the whole array, t_i = sign(h̃_i − h̃_{i+1}),
// δ_i = |h̃_i − h̃_{i+1}|, L_rank = mean_i max(0, t_i(w_i − w_{i+1}) − δ_i) (the code's sign; the
// conventional +δ is a flag). Order within a step as in the RGBD code: the rank loss reads the
// history before the batch's losses are added to it; when max H = min H (first batch) L_rank is
// skipped. The history is indexed by Batch.Index (positions in the training split), never reset,
// updated only by training batches; it is sized to the training split at the first EpochStart
// (grown on demand when Forward is called without the trainer).
//
// Evaluation (train=false) returns CE(ℓ) + Σ_m CE(ℓ^m): the indices of a validation/test batch do
// not address the training history, so the rank term is left out there.
type QMF struct {
	enc          []bench.Encoder
	heads        []*layers.Linear
	lambda       float64
	detach       bool
	conventional bool
	hist         [][]float64 // hist[m][n]: accumulated per-sample CE of modality m for training sample n
	dev          gotch.Device
}

func newQMF(env *bench.Env) (bench.Method, error) {
	q := &QMF{enc: env.Encoders, lambda: env.Params.Float("lambda"), detach: env.Params.Bool("detach"),
		conventional: env.Params.String("rank_margin") == "conventional", dev: env.Device}
	for m, e := range env.Encoders {
		q.heads = append(q.heads, layers.NewLinear(env.Path.Sub(fmt.Sprintf("head%d", m)), e.OutDim(), env.NumClasses))
	}
	q.hist = make([][]float64, len(env.Encoders))
	return q, nil
}

// EpochStart implements bench.EpochStarter: it sizes the histories to the training split, so that
// the normalisation counts every not-yet-seen sample as 0 from the first batch on.
func (q *QMF) EpochStart(ec *bench.EpochContext) { q.growHistory(ec.Train.Len()) }

func (q *QMF) growHistory(n int) {
	for m := range q.hist {
		if len(q.hist[m]) < n {
			q.hist[m] = append(q.hist[m], make([]float64, n-len(q.hist[m]))...)
		}
	}
}

// qmfConfidence is w = logsumexp(ℓ)/10 per sample (B).
func qmfConfidence(s *torchrt.Scope, logits *ts.Tensor) *ts.Tensor {
	lse := s.T(logits.MustLogsumexp([]int64{1}, false, false))
	return mibScalarOp(s, 10, func(c *ts.Scalar) *ts.Tensor { return lse.MustDivScalar(c, false) })
}

// qmfFuse is ℓ = Σ_m w^m ℓ^m, with w^m detached when detach is set.
func qmfFuse(s *torchrt.Scope, logits, conf []*ts.Tensor, detach bool) *ts.Tensor {
	var fused *ts.Tensor
	for m, l := range logits {
		w := conf[m]
		if detach {
			w = s.T(w.MustDetach(false))
		}
		term := s.T(l.MustMul(s.T(w.MustUnsqueeze(1, false)), false))
		if fused == nil {
			fused = term
		} else {
			fused = s.T(fused.MustAdd(term, false))
		}
	}
	return fused
}

// qmfRankLoss is L_rank for confidences w (B) of the samples idx against history hist (the whole
// array); ok is false (and the loss nil) when the history's range is 0.
func qmfRankLoss(s *torchrt.Scope, w *ts.Tensor, hist []float64, idx []int64, conventional bool) (loss *ts.Tensor, ok bool) {
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, h := range hist {
		lo, hi = math.Min(lo, h), math.Max(hi, h)
	}
	if !(hi > lo) {
		return nil, false
	}
	n := len(idx)
	target, margin := make([]float32, n), make([]float32, n)
	for i := range idx {
		a := (hist[idx[i]] - lo) / (hi - lo)
		b := (hist[idx[(i+1)%n]] - lo) / (hi - lo)
		switch {
		case a > b:
			target[i] = 1
		case a < b:
			target[i] = -1
		}
		margin[i] = float32(math.Abs(a - b))
		if !conventional {
			margin[i] = -margin[i]
		}
	}
	dev := w.MustDevice()
	tt := s.T(ts.MustOfSlice(target))
	mt := s.T(ts.MustOfSlice(margin))
	if dev.IsCuda() {
		tt, mt = s.T(tt.MustTo(dev, false)), s.T(mt.MustTo(dev, false))
	}
	next := s.T(w.MustRoll([]int64{-1}, []int64{0}, false)) // next[i] = w[i+1], cyclic
	diff := s.T(s.T(w.MustSub(next, false)).MustMul(tt, false))
	shifted := s.T(diff.MustAdd(mt, false))
	hinge := mibScalarOp(s, 0, func(c *ts.Scalar) *ts.Tensor { return shifted.MustClampMin(c, false) })
	return s.T(hinge.MustMean(hinge.DType(), false)), true
}

// qmfValues copies a 1-D tensor to float64 values, freeing the copies through s.
func qmfValues(s *torchrt.Scope, t *ts.Tensor) []float64 {
	d := s.T(t.MustDetach(false))
	if d.MustDevice().IsCuda() {
		d = s.T(d.MustTo(gotch.CPU, false))
	}
	d = s.T(d.MustTotype(gotch.Double, false))
	out := make([]float64, d.Numel())
	d.MustCopyData(out, d.Numel())
	return out
}

// Forward implements bench.Method.
func (q *QMF) Forward(s *torchrt.Scope, b *bench.Batch, train bool) (*ts.Tensor, bench.Outputs) {
	z := encodeAll(s, q.enc, b, train)
	logits := make([]*ts.Tensor, len(z))
	conf := make([]*ts.Tensor, len(z))
	for m := range z {
		logits[m] = q.heads[m].Forward(s, z[m])
		conf[m] = qmfConfidence(s, logits[m])
	}
	out := bench.Outputs{Fused: qmfFuse(s, logits, conf, q.detach), PerModality: logits}
	loss := layers.CrossEntropy(s, out.Fused, b.Y)
	for m := range logits {
		loss = s.T(loss.MustAdd(layers.CrossEntropy(s, logits[m], b.Y), false))
	}
	if !train {
		return loss, out
	}
	var maxIdx int64 = -1
	for _, i := range b.Index {
		maxIdx = max(maxIdx, i)
	}
	q.growHistory(int(maxIdx) + 1)
	for m := range logits {
		// RGBD order: rank against the history before this batch, then add the batch's losses.
		if r, ok := qmfRankLoss(s, conf[m], q.hist[m], b.Index, q.conventional); ok {
			loss = s.T(loss.MustAdd(mibMulScalar(s, r, q.lambda), false))
		}
		ce := qmfValues(s, s.T(logits[m].MustCrossEntropyLoss(b.Y, ts.None, 0 /* none */, -100, 0, false)))
		for i, n := range b.Index {
			q.hist[m][n] += ce[i]
		}
	}
	return loss, out
}
