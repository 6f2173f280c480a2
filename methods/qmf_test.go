package methods

import (
	"math"
	"testing"

	"github.com/mmfusion/bench/bench"
	"github.com/mmfusion/bench/bench/benchtest"
	"github.com/mmfusion/bench/bench/torchrt"
	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"
)

// The ranking loss on a constructed history and confidences, against a hand computation.
//
// H = [1, 3, 6, 2, 5] (min 1, max 6) → h̃ = [0, .4, 1, .2, .8]. Batch indices [1, 3, 4, 0] give
// h̃ = [.4, .2, .8, 0] and confidences w = [.9, .3, .1, .5]. Pairs (i, i+1 cyclic):
//
//	i=0: h̃ .4 vs .2 → t=+1, δ=.2; w₀−w₁ = .6  → code max(0, .6−.2)=.4,  conventional .6+.2=.8
//	i=1: h̃ .2 vs .8 → t=−1, δ=.6; w₁−w₂ = .2  → code max(0, −.2−.6)=0, conventional −.2+.6=.4
//	i=2: h̃ .8 vs 0  → t=+1, δ=.8; w₂−w₃ = −.4 → code 0,                 conventional −.4+.8=.4
//	i=3: h̃ 0 vs .4  → t=−1, δ=.4; w₃−w₀ = −.4 → code max(0, .4−.4)=0,  conventional .4+.4=.8
//
// code: mean = .1, gradient wrt w = [¼, −¼, 0, 0] (only i=0 active: +w₀ −w₁);
// conventional: mean = .6, every pair active: ∂/∂w = ¼·(t_i − t_{i−1}) = ¼·[1−(−1), −1−1, 1−(−1), −1−1].
func TestQMFRankLossByHand(t *testing.T) {
	hist := []float64{1, 3, 6, 2, 5}
	idx := []int64{1, 3, 4, 0}
	for _, c := range []struct {
		conventional bool
		loss         float64
		grad         []float64
	}{
		{false, 0.1, []float64{0.25, -0.25, 0, 0}},
		{true, 0.6, []float64{0.5, -0.5, 0.5, -0.5}},
	} {
		s := torchrt.NewScope()
		w := s.T(s.T(ts.MustOfSlice([]float32{0.9, 0.3, 0.1, 0.5})).MustSetRequiresGrad(true, false))
		r, ok := qmfRankLoss(s, w, hist, idx, c.conventional)
		if !ok {
			t.Fatal("rank loss skipped on a history with a non-zero range")
		}
		if got := r.MustFloat64Value(nil); !mibClose(got, c.loss, 1e-6) {
			t.Errorf("conventional=%v: L_rank = %v, by hand %v", c.conventional, got, c.loss)
		}
		r.MustBackward()
		g := mibGo(s.T(w.MustGrad(false)))[0]
		for i := range g {
			if !mibClose(g[i], c.grad[i], 1e-6) {
				t.Errorf("conventional=%v: ∂L/∂w = %v, by hand %v", c.conventional, g, c.grad)
				break
			}
		}
		s.Drop()
	}
	// A history with zero range (the first batch) skips the loss instead of dividing 0/0.
	s := torchrt.NewScope()
	defer s.Drop()
	w := s.T(ts.MustOfSlice([]float32{0.9, 0.3}))
	if _, ok := qmfRankLoss(s, w, []float64{0, 0, 0}, []int64{0, 2}, false); ok {
		t.Fatal("rank loss applied on an all-zero history")
	}
}

// Fused logits are Σ_m w^m ℓ^m with w^m = logsumexp(ℓ^m)/10; with detach the gradient of the fused
// logits with respect to ℓ^m is exactly w^m (no path through the confidence), without it the
// confidence's own derivative adds (Σ_k ℓ^m_k)·softmax(ℓ^m)_j/10.
func TestQMFFusionAndDetach(t *testing.T) {
	vals := [][]float32{{1, -2, 0.5, 3, 0, 1}, {-1, 0.2, 2, 0.3, -0.7, 4}} // two modalities, B=2, K=3
	for _, detach := range []bool{true, false} {
		s := torchrt.NewScope()
		var logits, conf []*ts.Tensor
		for _, v := range vals {
			l := s.T(s.T(s.T(ts.MustOfSlice(v)).MustView([]int64{2, 3}, false)).MustSetRequiresGrad(true, false))
			logits = append(logits, l)
			conf = append(conf, qmfConfidence(s, l))
		}
		fused := qmfFuse(s, logits, conf, detach)
		got := mibGo(fused)
		var goL [][][]float64
		for _, l := range logits {
			goL = append(goL, mibGo(l))
		}
		for i := 0; i < 2; i++ {
			for k := 0; k < 3; k++ {
				var want float64
				for m := range goL {
					want += mibGoLSE(goL[m][i]) / 10 * goL[m][i][k]
				}
				if !mibClose(got[i][k], want, 1e-5) {
					t.Fatalf("fused[%d,%d] = %v, want Σ w ℓ = %v", i, k, got[i][k], want)
				}
			}
		}
		s.T(fused.MustSum(gotch.Float, false)).MustBackward()
		for m, l := range logits {
			g := mibGo(s.T(l.MustGrad(false)))
			for i := 0; i < 2; i++ {
				row := goL[m][i]
				lse := mibGoLSE(row)
				var sum float64
				for _, v := range row {
					sum += v
				}
				for j := range row {
					want := lse / 10
					if !detach {
						want += sum * math.Exp(row[j]-lse) / 10
					}
					if !mibClose(g[i][j], want, 1e-5) {
						t.Fatalf("detach=%v: ∂Σfused/∂ℓ^%d[%d,%d] = %v, want %v", detach, m, i, j, g[i][j], want)
					}
				}
			}
		}
		s.Drop()
	}
}

// The history accumulates each training sample's CE(ℓ^m) at its Batch.Index (before any step the
// logits repeat, so a sample seen twice holds twice its loss); samples never seen stay 0; evaluation
// leaves it unchanged; EpochStart sizes it to the training split.
func TestQMFHistoryByIndex(t *testing.T) {
	s := torchrt.NewScope()
	defer s.Drop()
	run, train := benchtest.Build(t, benchtest.Cell(t, "qmf", nil, 3, 1), benchtest.Set(t, tinyMix, 1))
	q := run.Method.(*QMF)
	q.EpochStart(&bench.EpochContext{Epoch: 1, Train: train})
	for m := range q.hist {
		if len(q.hist[m]) != 64 {
			t.Fatalf("history %d has %d entries after EpochStart, want the split's 64", m, len(q.hist[m]))
		}
	}
	b1 := train.Batch(s, []int64{5, 9, 2}, gotch.CPU)
	b2 := train.Batch(s, []int64{9, 40}, gotch.CPU)
	_, out1 := q.Forward(s, b1, true)
	_, out2 := q.Forward(s, b2, true)
	q.Forward(s, train.Batch(s, []int64{0, 1, 2, 3}, gotch.CPU), false) // evaluation: no update
	want := make([][]float64, 2)
	for m := range want {
		want[m] = make([]float64, 64)
		for i, n := range []int64{5, 9, 2} {
			want[m][n] += mibGoCEs(mibGo(out1.PerModality[m]), b1.Y.Int64Values())[i]
		}
		for i, n := range []int64{9, 40} {
			want[m][n] += mibGoCEs(mibGo(out2.PerModality[m]), b2.Y.Int64Values())[i]
		}
		for n := range want[m] {
			if !mibClose(q.hist[m][n], want[m][n], 1e-5) {
				t.Fatalf("H^%d[%d] = %v, want %v", m, n, q.hist[m][n], want[m][n])
			}
		}
	}
	if ce1, ce2 := mibGoCEs(mibGo(out1.PerModality[0]), b1.Y.Int64Values())[1], mibGoCEs(mibGo(out2.PerModality[0]), b2.Y.Int64Values())[0]; !(ce1 > 0) || !mibClose(q.hist[0][9], ce1+ce2, 1e-5) {
		t.Fatalf("sample 9, seen twice, holds %v, want %v + %v", q.hist[0][9], ce1, ce2)
	}
}

// First batch: the history is all zero, the rank term is skipped, and the loss is exactly
// CE(ℓ) + Σ_m CE(ℓ^m) (finite). On the second batch the history has a range and the loss adds
// λ·Σ_m L_rank^m computed from the history as it was before that batch.
func TestQMFFirstBatchGuardAndLoss(t *testing.T) {
	s := torchrt.NewScope()
	defer s.Drop()
	run, train := benchtest.Build(t, benchtest.Cell(t, "qmf", map[string]string{"lambda": "0.7", "rank_margin": "conventional"}, 3, 1), benchtest.Set(t, tinyMix, 1))
	b := benchtest.Batch(s, train, 0, 16, 1)
	q := run.Method.(*QMF)
	q.EpochStart(&bench.EpochContext{Epoch: 1, Train: train})
	plain := func(out bench.Outputs, b *bench.Batch) float64 {
		y := b.Y.Int64Values()
		v := mibGoCE(mibGo(out.Fused), y)
		for _, l := range out.PerModality {
			v += mibGoCE(mibGo(l), y)
		}
		return v
	}
	loss, out := q.Forward(s, b, true)
	if got, want := loss.MustFloat64Value(nil), plain(out, b); math.IsNaN(got) || !mibClose(got, want, 1e-5) {
		t.Fatalf("first batch: loss %v, want CE terms only %v", got, want)
	}
	// Second batch (indices 8..23: half already seen).
	idx := make([]int64, 16)
	for i := range idx {
		idx[i] = int64(8 + i)
	}
	b2 := train.Batch(s, idx, gotch.CPU)
	before := [][]float64{append([]float64(nil), q.hist[0]...), append([]float64(nil), q.hist[1]...)}
	loss2, out2 := q.Forward(s, b2, true)
	want := plain(out2, b2)
	var anyRank bool
	for m := range before {
		// Hand-rolled rank term on the pre-batch history.
		lo, hi := math.Inf(1), math.Inf(-1)
		for _, h := range before[m] {
			lo, hi = math.Min(lo, h), math.Max(hi, h)
		}
		var w []float64
		for _, row := range mibGo(out2.PerModality[m]) {
			w = append(w, mibGoLSE(row)/10)
		}
		var r float64
		for i := range idx {
			j := (i + 1) % len(idx)
			a, c := (before[m][idx[i]]-lo)/(hi-lo), (before[m][idx[j]]-lo)/(hi-lo)
			tgt := 0.0
			if a > c {
				tgt = 1
			} else if a < c {
				tgt = -1
			}
			r += math.Max(0, tgt*(w[i]-w[j])+math.Abs(a-c))
		}
		r /= float64(len(idx))
		anyRank = anyRank || r > 0
		want += 0.7 * r
	}
	if !anyRank {
		t.Fatal("test setup: no rank term active on the second batch")
	}
	if got := loss2.MustFloat64Value(nil); !mibClose(got, want, 1e-5) {
		t.Fatalf("second batch: loss %v, want CE terms + λ·ΣL_rank = %v", got, want)
	}
}
