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

// mmmlGoForward recomputes the unimodal and fused logits in float64 from the weights; masks (one per
// dropout, in draw order: modality heads, then fused input) are N(0,1) draws or nil for no dropout.
func mmmlGoForward(m *MMML, feats [][][]float64, masks [][][]float64) (uni [][][]float64, fused [][]float64) {
	drop := func(x, eps [][]float64) [][]float64 {
		if eps == nil {
			return x
		}
		out := make([][]float64, len(x))
		for i := range x {
			out[i] = make([]float64, len(x[i]))
			for j := range x[i] {
				if eps[i][j] >= m.dropCut {
					out[i][j] = x[i][j] / (1 - m.p)
				}
			}
		}
		return out
	}
	at := func(k int) [][]float64 {
		if masks == nil {
			return nil
		}
		return masks[k]
	}
	for i := range feats {
		uni = append(uni, mibGoLinear(drop(feats[i], at(i)), m.heads[i]))
	}
	h := drop(mibGoConcat(feats...), at(len(feats)))
	for i, l := range m.fused.Layers {
		h = mibGoLinear(h, l)
		if i < len(m.fused.Layers)-1 {
			h = mibGoMap(h, mibGoRelu)
		}
	}
	return uni, h
}

// The loss is w_M·CE(fused) + w_1·CE(ℓ¹) + w_2·CE(ℓ²), recomputed in float64 with non-default weights,
// at evaluation (no dropout) and in training (dropout masks replayed from the same generator); the
// fused MLP has the reference's shape F → F/2 → F/2 → F/3 → K.
func TestMMMLLossIsWeightedSum(t *testing.T) {
	const wM, w1, w2 = 0.7, 1.3, 0.4
	for _, train := range []bool{false, true} {
		s := torchrt.NewScope()
		c := benchtest.CellOn(t, "mmml", map[string]string{"w_fused": "0.7", "w_uni": "1.3:0.4"}, "mlp", map[string]string{"hidden": "16"}, 3, 1)
		run, split := benchtest.Build(t, c, benchtest.Set(t, tinyMix, 1))
		b := benchtest.Batch(s, split, 0, 16, 1)
		m := run.Method.(*MMML)
		var widths []int64
		for _, l := range m.fused.Layers {
			widths = append(widths, l.Out)
		}
		if want := []int64{16, 16, 10, 4}; len(widths) != 4 || widths[0] != want[0] || widths[1] != want[1] || widths[2] != want[2] || widths[3] != want[3] || m.fused.Layers[0].In != 32 {
			t.Fatalf("fused MLP widths %v from %d, want 32 → %v", widths, m.fused.Layers[0].In, want)
		}
		m.noise = bench.NewNoise(9, gotch.CPU)
		replay := bench.NewNoise(9, gotch.CPU)
		var feats [][][]float64
		for i, e := range run.Encoders {
			feats = append(feats, mibGo(e.Forward(s, b.X[i], false)))
		}
		var masks [][][]float64
		if train {
			for i := range feats {
				masks = append(masks, mibGo(replay.Randn(s, []int64{16, int64(len(feats[i][0]))})))
			}
			masks = append(masks, mibGo(replay.Randn(s, []int64{16, 32})))
		}
		loss, out := m.Forward(s, b, train)
		uni, fused := mmmlGoForward(m, feats, masks)
		y := b.Y.Int64Values()
		want := wM*mibGoCE(fused, y) + w1*mibGoCE(uni[0], y) + w2*mibGoCE(uni[1], y)
		if got := loss.MustFloat64Value(nil); !mibClose(got, want, 1e-5) {
			t.Errorf("train=%v: loss %v, want %v", train, got, want)
		}
		if got := mibGo(out.Fused); !mibClose(got[3][1], fused[3][1], 1e-5) {
			t.Errorf("train=%v: fused logit %v, recomputed %v", train, got[3][1], fused[3][1])
		}
		s.Drop()
	}
}

// Dropout is off at evaluation (repeated passes agree and draw no noise) and on in training (the
// outputs change); the mask keeps a fraction 1−p of the elements, scaled by 1/(1−p).
func TestMMMLDropout(t *testing.T) {
	s := torchrt.NewScope()
	defer s.Drop()
	run, train := benchtest.Build(t, benchtest.Cell(t, "mmml", nil, 3, 1), benchtest.Set(t, tinyMix, 1))
	b := benchtest.Batch(s, train, 0, 16, 1)
	m := run.Method.(*MMML)
	_, e1 := m.Forward(s, b, false)
	_, e2 := m.Forward(s, b, false)
	_, tr := m.Forward(s, b, true)
	a, c, d := mibGo(e1.Fused), mibGo(e2.Fused), mibGo(tr.Fused)
	var differs bool
	for i := range a {
		for j := range a[i] {
			if a[i][j] != c[i][j] {
				t.Fatalf("evaluation is not deterministic: %v vs %v", a[i][j], c[i][j])
			}
			differs = differs || math.Abs(a[i][j]-d[i][j]) > 1e-6
		}
	}
	if !differs {
		t.Fatal("training outputs equal evaluation outputs: dropout not applied")
	}
	ones := s.T(ts.MustOnes([]int64{200, 500}, gotch.Float, gotch.CPU))
	dropped := mibGo(m.dropout(s, ones, true))
	var zeros, n int
	for _, row := range dropped {
		for _, v := range row {
			n++
			switch {
			case v == 0:
				zeros++
			case !mibClose(v, 1/(1-0.3), 1e-6):
				t.Fatalf("kept element %v, want 1/(1−p) = %v", v, 1/(1-0.3))
			}
		}
	}
	if frac := float64(zeros) / float64(n); math.Abs(frac-0.3) > 0.01 {
		t.Fatalf("dropped fraction %.4f, want p = 0.3", frac)
	}
	if m.dropout(s, ones, false) != ones {
		t.Fatal("dropout applied at evaluation")
	}
}

func TestMMMLWeightsParam(t *testing.T) {
	if w, err := mmmlWeights("2", 3); err != nil || len(w) != 3 || w[2] != 2 {
		t.Fatalf("broadcast: %v %v", w, err)
	}
	if w, err := mmmlWeights("1:0.5", 2); err != nil || w[0] != 1 || w[1] != 0.5 {
		t.Fatalf("per modality: %v %v", w, err)
	}
	for _, bad := range []string{"1:2:3", "x", "1:NaN"} {
		if _, err := mmmlWeights(bad, 2); err == nil {
			t.Errorf("%q accepted for two modalities", bad)
		}
	}
}
