package methods

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/mmfusion/bench/bench"
	"github.com/mmfusion/bench/bench/benchtest"
	"github.com/mmfusion/bench/bench/data"
	"github.com/mmfusion/bench/bench/store"
	"github.com/mmfusion/bench/bench/sweep"
	"github.com/mmfusion/bench/bench/torchrt"
	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"
)

// cenImages is a small image-like two-modality set: an "audio" spectrogram [1, ah, aw] and a
// "visual" clip [3, frames, 12, 12], K = 3. Class k brightens a class-specific quarter of each
// modality's map (both modalities carry the label) under Gaussian noise of σ = noise.
func cenImages(t testing.TB, seed uint64, n [3]int, ah, aw, frames int64, noise float64) *data.Set {
	t.Helper()
	const K = 3
	mods := []data.Modality{{Name: "audio", Shape: []int64{1, ah, aw}, Role: data.RoleAudio},
		{Name: "visual", Shape: []int64{3, frames, 12, 12}, Role: data.RoleVisual}}
	r := rand.New(rand.NewPCG(seed, 7))
	fill := func(dst []float32, c, hgt, wid int64, k int64) {
		per := hgt * wid
		for i := range dst {
			pos := int64(i) % per
			y, x := pos/wid, pos%wid
			v := noise * r.NormFloat64()
			quad := int64(0)
			if y >= hgt/2 {
				quad += 2
			}
			if x >= wid/2 {
				quad++
			}
			if quad == k {
				v += 1
			}
			dst[i] = float32(v)
		}
		_ = c
	}
	split := func(count int) *data.Split {
		sp := &data.Split{X: make([][]float32, 2)}
		for i := range count {
			k := int64(i % K)
			sp.Y = append(sp.Y, k)
			a := make([]float32, mods[0].Size())
			fill(a, 1, ah, aw, k)
			v := make([]float32, mods[1].Size())
			fill(v, 3*frames, 12, 12, k)
			sp.X[0] = append(sp.X[0], a...)
			sp.X[1] = append(sp.X[1], v...)
		}
		return sp
	}
	set := &data.Set{Name: "cen-test-images", NumClasses: K, Modalities: mods, Train: split(n[0]), Val: split(n[1]), Test: split(n[2])}
	if err := set.Finish(); err != nil {
		t.Fatal(err)
	}
	return set
}

// cenCell is a cen cell (sets over its defaults) on resnet18 of width 4.
func cenCell(t testing.TB, sets map[string]string, epochs int) *bench.Cell {
	t.Helper()
	c := benchtest.CellOn(t, "cen", sets, "resnet18", map[string]string{"width": "4"}, 1, epochs)
	c.Train.BatchSize = 16
	return c
}

// cenBuild builds cen on a tiny image set and returns it with its run and a training batch of 6.
func cenBuild(t *testing.T, s *torchrt.Scope, sets map[string]string, set *data.Set) (*CEN, *bench.Run, *bench.Batch) {
	t.Helper()
	if set == nil {
		set = cenImages(t, 1, [3]int{12, 3, 3}, 10, 8, 1, 0.5)
	}
	run, train := benchtest.Build(t, cenCell(t, sets, 2), set)
	return run.Method.(*CEN), run, benchtest.Batch(s, train, 0, 6, 1)
}

// cenValues is t's values in row-major order.
func cenValues(t *ts.Tensor) []float32 {
	v := t.MustDetach(false)
	defer v.MustDrop()
	c := v.MustContiguous(false)
	defer c.MustDrop()
	f := c.MustTotype(gotch.Float, false)
	defer f.MustDrop()
	n := int64(1)
	for _, d := range f.MustSize() {
		n *= d
	}
	out := make([]float32, n)
	f.MustCopyData(out, uint(n))
	return out
}

func cenSet(v *ts.Tensor, vals []float32) {
	src := ts.MustOfSlice(vals)
	defer src.MustDrop()
	r := src.MustView(v.MustSize(), false)
	defer r.MustDrop()
	ts.NoGrad(func() { v.Copy_(r) })
}

// cenGrad is the gradient of x as values (nil when it has none).
func cenGrad(x *ts.Tensor) []float32 {
	g := x.MustGrad(false)
	defer g.MustDrop()
	if !g.MustDefined() {
		return nil
	}
	return cenValues(g)
}

// cenZeroGrad sets the gradient of every variable of run to none.
func cenZeroGrad(run *bench.Run) {
	for _, v := range run.VS.Variables() {
		g := v.MustGrad(false)
		if g.MustDefined() {
			ts.NoGrad(func() { g.MustZero_() })
		}
		g.MustDrop()
	}
}

// The mask from given γ and θ = 0.02: keep where |γ| ≥ θ (sign ignored, θ itself kept), and the
// exchanged maps equal the other stream's channels exactly where |γ| < θ and the own ones elsewhere;
// for M = 3 the donor is the mean of the two others (yikaiw/CEN #6), computed here in float32.
func TestCENExchangeMaskAndOutputByHand(t *testing.T) {
	benchtest.LockThread(t)
	s := torchrt.NewScope()
	defer s.Drop()
	gammas := [][]float32{{0.5, -0.01, 0.019, -0.3, 0.02}, {0.015, 0.2, -0.5, 0, -0.021}, {-0.001, 0.03, 0.01, 1, 0}}
	wantKeep := [][]float32{{1, 0, 0, 1, 1}, {0, 1, 1, 0, 1}, {0, 1, 0, 1, 0}}
	var keep []*ts.Tensor
	for m, g := range gammas {
		k := cenKeep(s, s.T(ts.MustOfSlice(g)), 0.02)
		if got := k.MustSize(); !slices.Equal(got, []int64{1, 5, 1, 1}) {
			t.Fatalf("mask shape %v", got)
		}
		if got := cenValues(k); !slices.Equal(got, wantKeep[m]) {
			t.Fatalf("stream %d: mask %v, want %v (|γ| ≥ θ)", m, got, wantKeep[m])
		}
		keep = append(keep, k)
	}
	const B, C, H, W = 2, 5, 2, 3
	r := rand.New(rand.NewPCG(3, 4))
	var ys [][]float32
	var yt []*ts.Tensor
	for range 3 {
		v := make([]float32, B*C*H*W)
		for i := range v {
			v[i] = float32(r.NormFloat64())
		}
		ys = append(ys, v)
		yt = append(yt, mmtmTensor(s, v, B, C, H, W))
	}
	at := func(v []float32, b, c, i int) float32 { return v[(b*C+c)*H*W+i] }
	for _, M := range []int{2, 3} {
		out := cenExchange(s, yt[:M], keep[:M], make([]int64, M))
		for m := range M {
			got := cenValues(out[m])
			for b := range B {
				for c := range C {
					for i := range H * W {
						want := at(ys[m], b, c, i)
						if wantKeep[m][c] == 0 {
							if M == 2 {
								want = at(ys[1-m], b, c, i)
							} else {
								var sum float32
								for o := range M {
									if o != m {
										sum += at(ys[o], b, c, i)
									}
								}
								want = sum / float32(M-1)
							}
						}
						if g := at(got, b, c, i); g != want {
							t.Fatalf("M=%d stream %d sample %d channel %d: %v, want %v exactly", M, m, b, c, g, want)
						}
					}
				}
			}
		}
	}
}

// Donor alignment: a 2-frame donor given to a 1-frame stream is its mean over frames; a 1-frame
// donor given to 2 frames is repeated; a 2×2 map given to a 1×1 stream is bilinearly resized
// (align_corners false: the centre sample, the mean of the four values).
func TestCENDonorAlignmentByHand(t *testing.T) {
	benchtest.LockThread(t)
	s := torchrt.NewScope()
	defer s.Drop()
	// (B·T = 1·2, C = 1, 1, 2): frames [1, 2] and [5, 10].
	y := mmtmTensor(s, []float32{1, 2, 5, 10}, 2, 1, 1, 2)
	if got := cenValues(cenAlign(s, y, 2, 1, []int64{1, 2})); !slices.Equal(got, []float32{3, 6}) {
		t.Fatalf("mean over frames %v, want [3 6]", got)
	}
	one := mmtmTensor(s, []float32{1, 2}, 1, 1, 1, 2)
	if got := cenValues(cenAlign(s, one, 1, 3, []int64{1, 2})); !slices.Equal(got, []float32{1, 2, 1, 2, 1, 2}) {
		t.Fatalf("broadcast over frames %v", got)
	}
	sq := mmtmTensor(s, []float32{1, 2, 3, 6}, 1, 1, 2, 2)
	if got := cenValues(cenAlign(s, sq, 1, 1, []int64{1, 1})); len(got) != 1 || math.Abs(float64(got[0])-3) > 1e-6 {
		t.Fatalf("bilinear 2×2 → 1×1 %v, want [3]", got)
	}
}

// In the network, at every exchange BN (bn1 of every block by default) the map a block continues
// with equals, channel by channel, the other stream's BN output exactly where |γ| < θ and its own
// elsewhere; other BNs are not touched. γ is set by hand so that about a third of the channels of
// each stream cross θ, on disjoint positions.
func TestCENExchangeInTheNetwork(t *testing.T) {
	s := torchrt.NewScope()
	defer s.Drop()
	c, _, b := cenBuild(t, s, nil, nil)
	for blk := range c.net.NumBlocks() {
		for m, g := range c.gammas(blk) {
			v := cenValues(g)
			for i := range v {
				v[i] = 0.5
				if i%3 == m {
					v[i] = -0.01
				}
			}
			cenSet(g, v)
		}
	}
	seen := map[[2]int]bool{}
	xs := c.prepare(s, b.X)
	c.net.Forward(s, xs, true, func(s *torchrt.Scope, block, bn int, ys []*ts.Tensor, frames []int64) []*ts.Tensor {
		out := c.exchange(s, block, bn, ys, frames)
		seen[[2]int{block, bn}] = true
		for m := range ys {
			sz := ys[m].MustSize()
			per := int(sz[2] * sz[3])
			own, other, got := cenValues(ys[m]), cenValues(ys[1-m]), cenValues(out[m])
			for i := range got {
				ch := (i / per) % int(sz[1])
				want := own[i]
				if bn == 1 && ch%3 == m {
					want = other[i]
				}
				if got[i] != want {
					t.Fatalf("block %d bn%d stream %d channel %d: %v, want %v", block, bn, m, ch, got[i], want)
				}
			}
		}
		return out
	})
	if len(seen) != 16 {
		t.Fatalf("hook called at %d BNs, want 16 (8 blocks × 2)", len(seen))
	}
}

// The ℓ1 term's value is the sum of |γ| of stream 0 over the first half and of stream 1 over the
// second half of every exchange BN's channels, computed here from γ set by hand, and its gradient
// is sign(γ) exactly on those subsets, zero on the other halves, and absent from every BN that does
// not exchange (stem, bn2, shortcuts). With exchange_layers=3:4 only the blocks of layer3 and
// layer4 count.
func TestCENL1ValueAndGradientOnTheRightSubsets(t *testing.T) {
	for _, sets := range []map[string]string{nil, {"exchange_layers": "3:4", "exchange_at": "bn2"}} {
		t.Run(fmt.Sprint(sets), func(t *testing.T) {
			s := torchrt.NewScope()
			defer s.Drop()
			c, run, _ := cenBuild(t, s, sets, nil)
			var want float64
			type ref struct {
				g    *ts.Tensor
				sign []float32
			}
			var penalised []ref
			for blk := range c.net.NumBlocks() {
				for m, g := range c.gammas(blk) {
					v := cenValues(g)
					sign := make([]float32, len(v))
					for i := range v {
						v[i] = float32(0.1*float64(i+1) + float64(m))
						if i%2 == 1 {
							v[i] = -v[i]
						}
						if c.exchanges[blk] && (m == 0) == (i < len(v)/2) {
							want += math.Abs(float64(v[i]))
							sign[i] = 1
							if v[i] < 0 {
								sign[i] = -1
							}
						}
					}
					cenSet(g, v)
					if c.exchanges[blk] {
						penalised = append(penalised, ref{g, sign})
					}
				}
			}
			wantBlocks := 8
			if sets != nil {
				wantBlocks = 4
			}
			if len(penalised) != 2*wantBlocks {
				t.Fatalf("%d penalised γ tensors, want %d", len(penalised), 2*wantBlocks)
			}
			cenZeroGrad(run)
			l1 := c.l1(s)
			if got := l1.MustFloat64Value(nil); math.Abs(got-want) > 1e-4*want {
				t.Fatalf("L1 = %v, want %v", got, want)
			}
			l1.MustBackward()
			for _, p := range penalised {
				if got := cenGrad(p.g); !slices.Equal(got, p.sign) {
					t.Fatalf("∂L1/∂γ = %v, want %v", got, p.sign)
				}
			}
			pen := map[string]bool{}
			for blk, on := range c.exchanges {
				for m := range 2 {
					if on {
						pen[fmt.Sprintf("enc%d.%s.bn%d.weight", m, c.net.BlockName(blk), c.bn)] = true
					}
				}
			}
			for name, v := range run.VS.Variables() {
				if g := cenGrad(&v); !pen[name] && g != nil && cenNonZero(g) {
					t.Fatalf("%s (not an exchange γ) has an ℓ1 gradient", name)
				}
			}
		})
	}
}

// cenLossGrads returns the gradients (by variable name) of the loss built by terms from one
// training forward.
func cenLossGrads(t *testing.T, c *CEN, run *bench.Run, b *bench.Batch, terms func(s *torchrt.Scope, ce []*ts.Tensor, ceEns, pen *ts.Tensor) *ts.Tensor) map[string][]float32 {
	t.Helper()
	s := torchrt.NewScope()
	defer s.Drop()
	cenZeroGrad(run)
	ce, ceEns, pen, _ := c.terms(s, b, true)
	terms(s, ce, ceEns, pen).MustBackward()
	out := map[string][]float32{}
	for name, v := range run.VS.Variables() {
		if g := cenGrad(&v); g != nil {
			out[name] = g
		}
	}
	return out
}

func cenNonZero(g []float32) bool {
	return slices.ContainsFunc(g, func(x float32) bool { return x != 0 })
}

// Gradients of the loss L = Σ_m CE(ℓ^m) + CE(ℓ_ens) + 3λ·L1 and of its terms:
//   - the shared conv weights (enc0's) get gradient from stream 0's CE and from stream 1's CE, and
//     with the exchange off ∂L/∂W = ∂CE(ℓ¹)/∂W + ∂CE(ℓ²)/∂W (the ensemble is detached);
//   - stream m's private BN gets no gradient from the other stream's CE when nothing exchanges, and
//     modality 1's own convolutions after conv1 get none at all (unused);
//   - each term changes the gradient: dropping CE(ℓ¹) or CE(ℓ²) changes the shared conv's gradient;
//     CE(ℓ_ens) is the only term that reaches α, with ∂/∂α_k = Σ_m g·ℓ^m w_m(δ_mk − w_k), g =
//     ∂CE/∂ℓ_ens (by hand); the ℓ1 term adds exactly 3λ·sign(γ) on the penalised subsets.
func TestCENGradientsOfEachTerm(t *testing.T) {
	s := torchrt.NewScope()
	defer s.Drop()
	c, run, b := cenBuild(t, s, map[string]string{"lambda": "0.01"}, nil)
	conv := "enc0.layer2.0.conv1.weight"
	sum := func(s *torchrt.Scope, ce []*ts.Tensor, ceEns, pen *ts.Tensor) *ts.Tensor {
		l := s.T(ceEns.MustAdd(pen, false))
		for _, x := range ce {
			l = s.T(l.MustAdd(x, false))
		}
		return l
	}
	full := cenLossGrads(t, c, run, b, sum)
	// The method's Forward loss is the same sum.
	{
		s := torchrt.NewScope()
		cenZeroGrad(run)
		loss, out := c.Forward(s, b, true)
		loss.MustBackward()
		v := run.VS.Variables()[conv]
		if got := cenGrad(&v); !slices.Equal(got, full[conv]) {
			t.Fatal("Forward's loss differs from Σ CE(ℓ^m) + CE(ℓ_ens) + 3λ·L1")
		}
		if len(out.PerModality) != 2 || out.Readout["cen_exch_frac_1"] == nil || out.Readout["cen_exch_frac_2"] == nil {
			t.Fatalf("outputs %+v", out)
		}
		s.Drop()
	}
	only := func(m int) func(*torchrt.Scope, []*ts.Tensor, *ts.Tensor, *ts.Tensor) *ts.Tensor {
		return func(_ *torchrt.Scope, ce []*ts.Tensor, _, _ *ts.Tensor) *ts.Tensor { return ce[m] }
	}
	c.noExchange = true
	g0, g1 := cenLossGrads(t, c, run, b, only(0)), cenLossGrads(t, c, run, b, only(1))
	ne := cenLossGrads(t, c, run, b, func(s *torchrt.Scope, ce []*ts.Tensor, ceEns, _ *ts.Tensor) *ts.Tensor {
		return s.T(s.T(ce[0].MustAdd(ce[1], false)).MustAdd(ceEns, false))
	})
	c.noExchange = false
	if !cenNonZero(g0[conv]) || !cenNonZero(g1[conv]) {
		t.Fatalf("shared conv %s: gradient from stream 0 %v, from stream 1 %v", conv, cenNonZero(g0[conv]), cenNonZero(g1[conv]))
	}
	for i := range ne[conv] {
		if d := math.Abs(float64(ne[conv][i] - g0[conv][i] - g1[conv][i])); d > 1e-5*(1+math.Abs(float64(ne[conv][i]))) {
			t.Fatalf("∂L/∂W[%d] = %v ≠ %v + %v", i, ne[conv][i], g0[conv][i], g1[conv][i])
		}
	}
	if g := g0["enc1.layer2.0.bn1.weight"]; cenNonZero(g) {
		t.Fatal("stream 1's private BN got gradient from stream 0's loss without exchange")
	}
	if !cenNonZero(g1["enc1.layer2.0.bn1.weight"]) || !cenNonZero(g0["enc0.layer2.0.bn1.weight"]) {
		t.Fatal("a stream's private BN got no gradient from its own loss")
	}
	for name := range full {
		if strings.HasPrefix(name, "enc1.layer") && strings.Contains(name, "conv") {
			t.Fatalf("%s (modality 1's own conv, unused) has a gradient", name)
		}
	}
	if !cenNonZero(full["enc1.conv1.weight"]) || !cenNonZero(full["enc0.conv1.weight"]) {
		t.Fatal("a private conv1 got no gradient")
	}
	// Dropping each CE changes the shared conv's gradient.
	for m := range 2 {
		drop := cenLossGrads(t, c, run, b, func(s *torchrt.Scope, ce []*ts.Tensor, ceEns, pen *ts.Tensor) *ts.Tensor {
			return s.T(s.T(s.T(ce[1-m].MustAdd(ceEns, false))).MustAdd(pen, false))
		})
		if slices.Equal(drop[conv], full[conv]) {
			t.Fatalf("dropping CE(ℓ^%d) left the shared conv's gradient unchanged", m+1)
		}
	}
	// CE(ℓ_ens) alone reaches α, and only α.
	ens := cenLossGrads(t, c, run, b, func(_ *torchrt.Scope, _ []*ts.Tensor, ceEns, _ *ts.Tensor) *ts.Tensor { return ceEns })
	for name, g := range ens {
		if cenNonZero(g) != (name == "method.alpha") {
			t.Fatalf("CE(ℓ_ens): %s has gradient %v; only α should", name, cenNonZero(g))
		}
	}
	if !slices.Equal(full["method.alpha"], ens["method.alpha"]) {
		t.Fatal("∂L/∂α is not ∂CE(ℓ_ens)/∂α")
	}
	{
		s := torchrt.NewScope()
		ls := c.logits(s, b, true)
		l := [][][]float64{mibGo(ls[0]), mibGo(ls[1])}
		w := []float64{0.5, 0.5} // softmax(α) at α = (1, 1)
		y := mmtmGoLabels(b.Y)
		e := make([][]float64, len(l[0]))
		for i := range e {
			e[i] = make([]float64, len(l[0][i]))
			for k := range e[i] {
				e[i][k] = w[0]*l[0][i][k] + w[1]*l[1][i][k]
			}
		}
		g := fuseCEGrad(e, y)
		for k := range 2 {
			var want float64
			for m := range 2 {
				d := -w[k]
				if m == k {
					d++
				}
				for i := range g {
					for j := range g[i] {
						want += g[i][j] * l[m][i][j] * w[m] * d
					}
				}
			}
			if got := float64(ens["method.alpha"][k]); math.Abs(got-want) > 1e-5*(1+math.Abs(want)) {
				t.Fatalf("∂CE(ℓ_ens)/∂α_%d = %v, want %v (by hand)", k, got, want)
			}
		}
		s.Drop()
	}
	// The ℓ1 term adds 3λ·sign(γ) on stream 0's first and stream 1's second half of every exchange BN.
	noPen := cenLossGrads(t, c, run, b, func(s *torchrt.Scope, ce []*ts.Tensor, ceEns, _ *ts.Tensor) *ts.Tensor {
		return s.T(s.T(ce[0].MustAdd(ce[1], false)).MustAdd(ceEns, false))
	})
	for blk := range c.net.NumBlocks() {
		for m := range 2 {
			name := fmt.Sprintf("enc%d.%s.bn1.weight", m, c.net.BlockName(blk))
			bn2 := fmt.Sprintf("enc%d.%s.bn2.weight", m, c.net.BlockName(blk))
			gam := cenValues(c.gammas(blk)[m])
			n := len(gam)
			for i := range n {
				want := 0.0
				if (m == 0) == (i < n/2) {
					want = 3 * 0.01 * math.Copysign(1, float64(gam[i]))
				}
				if d := float64(full[name][i] - noPen[name][i]); math.Abs(d-want) > 1e-5 {
					t.Fatalf("%s[%d]: the ℓ1 term adds %v, want %v", name, i, d, want)
				}
			}
			if !slices.Equal(full[bn2], noPen[bn2]) {
				t.Fatalf("%s (not an exchange BN) changed with the ℓ1 term", bn2)
			}
		}
	}
}

// mmtmGoLabels reads int64 labels.
func mmtmGoLabels(y *ts.Tensor) []int64 {
	n := y.MustSize()[0]
	out := make([]int64, n)
	y.MustCopyData(out, uint(n))
	return out
}

// conv1=shared: both streams go through the conv1 of the 3-channel modality (the 1-channel
// spectrogram tiled), which then gets gradient from both, and modality 0's own conv1 none.
func TestCENSharedConv1(t *testing.T) {
	s := torchrt.NewScope()
	defer s.Drop()
	c, run, b := cenBuild(t, s, map[string]string{"conv1": "shared"}, nil)
	if c.net.Conv1(0) != c.net.Conv1(1) {
		t.Fatal("conv1=shared: the streams use different conv1")
	}
	c.noExchange = true
	g := cenLossGrads(t, c, run, b, func(_ *torchrt.Scope, ce []*ts.Tensor, _, _ *ts.Tensor) *ts.Tensor { return ce[0] })
	if !cenNonZero(g["enc1.conv1.weight"]) || cenNonZero(g["enc0.conv1.weight"]) {
		t.Fatal("stream 0's (audio) CE should reach the shared (visual) conv1 and not its own")
	}
}

// cen runs only on resnet18: on mlp it is refused at plan time (sweep.Incompatible, with a reason
// that names both; --methods all skips it with that note) and by Build; on resnet18 with vector data
// CheckCell refuses it through the encoder's shape check.
func TestCENRefusedWhereItCannotRun(t *testing.T) {
	err := sweep.Incompatible("cen", "mlp")
	if err == nil || !strings.Contains(err.Error(), "method cen") || !strings.Contains(err.Error(), "resnet18") || !strings.Contains(err.Error(), "encoder mlp") {
		t.Fatalf("Incompatible(cen, mlp) = %v", err)
	}
	if err := sweep.Incompatible("cen", "resnet18"); err != nil {
		t.Fatal(err)
	}
	set := benchtest.Set(t, tinyMix, 1)
	if _, err := bench.Build(benchtest.Cell(t, "cen", nil, 1, 1), set, gotch.CPU); err == nil || !strings.Contains(err.Error(), "resnet18") {
		t.Fatalf("Build on mlp: %v", err)
	}
	c := benchtest.CellOn(t, "cen", nil, "resnet18", nil, 1, 1)
	if err := bench.CheckCell(c, set.Modalities); err == nil || !strings.Contains(err.Error(), "want an image") {
		t.Fatalf("CheckCell on vectors: %v", err)
	}
}

// Every value at the edges of cen's ranges and every enum value builds and steps on image data (the
// shared test TestParamRangeEdgesBuildWithoutPanic runs on vectors, where cen is refused), including
// clips of 2 frames where the donors are averaged over frames and resized (align=donor, and auto).
func TestCENParamEdgesBuildAndStep(t *testing.T) {
	spec, _ := benchtest.Method(t, "cen", nil)
	variants := []map[string]string{{"theta": "0"}, {"theta": "10"}, {"lambda": "0"}, {"exchange_layers": "4"}, {"exchange_layers": "1"}}
	for _, p := range spec.Params {
		if strings.HasPrefix(p.Kind, "enum:") {
			for _, v := range strings.Split(strings.TrimPrefix(p.Kind, "enum:"), "|") {
				variants = append(variants, map[string]string{p.Name: v})
			}
		}
	}
	images := cenImages(t, 2, [3]int{8, 3, 3}, 10, 8, 1, 0.5)
	clips := cenImages(t, 2, [3]int{8, 3, 3}, 10, 8, 2, 0.5)
	for _, set := range []*data.Set{images, clips} {
		for _, sets := range variants {
			t.Run(fmt.Sprintf("T=%d %v", set.Modalities[1].Shape[1], sets), func(t *testing.T) {
				s := torchrt.NewScope()
				defer s.Drop()
				c, _, b := cenBuild(t, s, sets, set)
				for _, train := range []bool{true, false} {
					loss, out := c.Forward(s, b, train)
					if v := loss.MustFloat64Value(nil); math.IsNaN(v) || math.IsInf(v, 0) {
						t.Fatalf("train=%v: loss %v", train, v)
					}
					if got := out.Fused.MustSize(); !slices.Equal(got, []int64{6, 3}) {
						t.Fatalf("prediction shape %v", got)
					}
					if train {
						loss.MustBackward()
					}
				}
			})
		}
	}
}

// cen trains end to end through bench.Train on the image set (K = 3, chance 1/3), reports both
// per-stream accuracies and the exchanged fractions, and frees every tensor and scalar it created.
// θ = 0.5 with λ = 0.05 makes channels cross θ within the run, so the exchange is exercised.
func TestCENTrainsEndToEndOnImages(t *testing.T) {
	if testing.Short() {
		t.Skip("trains resnet18 cells")
	}
	set := cenImages(t, 5, [3]int{96, 48, 48}, 14, 10, 1, 1.0)
	for _, sets := range []map[string]string{nil, {"theta": "0.5", "lambda": "0.05"}} {
		t.Run(fmt.Sprint(sets), func(t *testing.T) {
			tensors, scalars := atomic.LoadInt64(&ts.LiveTensors), atomic.LoadInt64(&ts.LiveScalars)
			c := cenCell(t, sets, 6)
			c.Train.LR = 0.02
			rec, err := bench.Train(context.Background(), c, set, gotch.CPU, nil)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("test acc %.3f (best epoch %d), per stream %v, exchanged %v / %v, %.1fs", rec.Test.Acc, rec.BestEpoch,
				rec.Test.PerModality, rec.Test.Extra["cen_exch_frac_1"], rec.Test.Extra["cen_exch_frac_2"], rec.WallSeconds)
			if rec.Status != store.StatusOK || len(rec.Curves) != 6 || len(rec.Test.PerModality) != 2 {
				t.Fatalf("status %s, %d epochs, per modality %v", rec.Status, len(rec.Curves), rec.Test.PerModality)
			}
			if rec.Test.Acc < 0.6 {
				t.Errorf("test accuracy %.3f, want ≥ 0.6 (chance 1/3)", rec.Test.Acc)
			}
			if _, ok := rec.Test.Extra["cen_exch_frac_1"]; !ok {
				t.Errorf("no exchanged-fraction readout in %v", rec.Test.Extra)
			}
			if sets != nil && rec.Test.Extra["cen_exch_frac_1"]+rec.Test.Extra["cen_exch_frac_2"] == 0 {
				t.Errorf("θ = 0.5, λ = 0.05: no channel crossed θ")
			}
			if dt, dsc := atomic.LoadInt64(&ts.LiveTensors)-tensors, atomic.LoadInt64(&ts.LiveScalars)-scalars; dt != 0 || dsc != 0 {
				t.Errorf("the cell left %d tensors and %d scalars alive", dt, dsc)
			}
		})
	}
}

// Three modalities (the third a copy of the audio one): every stream takes, where its |γ| < θ, the
// mean of the two others (checked in the network, on γ set by hand), and the ℓ1 subsets are thirds
// S_m = [⌊mC/3⌋, ⌊(m+1)C/3⌋); one training step's loss is finite.
func TestCENThreeModalities(t *testing.T) {
	two := cenImages(t, 4, [3]int{9, 3, 3}, 10, 8, 1, 0.5)
	set := &data.Set{Name: "cen-test-3", NumClasses: two.NumClasses, Modalities: append(slices.Clone(two.Modalities), data.Modality{Name: "audio2", Shape: two.Modalities[0].Shape})}
	for _, sp := range []**data.Split{&set.Train, &set.Val, &set.Test} {
		src := map[**data.Split]*data.Split{&set.Train: two.Train, &set.Val: two.Val, &set.Test: two.Test}[sp]
		*sp = &data.Split{X: [][]float32{src.X[0], src.X[1], src.X[0]}, Y: src.Y}
	}
	if err := set.Finish(); err != nil {
		t.Fatal(err)
	}
	s := torchrt.NewScope()
	defer s.Drop()
	c, run, b := cenBuild(t, s, nil, set)
	for blk := range c.net.NumBlocks() {
		for m, g := range c.gammas(blk) {
			v := cenValues(g)
			for i := range v {
				v[i] = 0.5
				if i%3 == m {
					v[i] = 0.001
				}
			}
			cenSet(g, v)
		}
	}
	xs := c.prepare(s, b.X)
	c.net.Forward(s, xs, true, func(s *torchrt.Scope, block, bn int, ys []*ts.Tensor, frames []int64) []*ts.Tensor {
		out := c.exchange(s, block, bn, ys, frames)
		if bn != 1 {
			return out
		}
		vals := [][]float32{cenValues(ys[0]), cenValues(ys[1]), cenValues(ys[2])}
		sz := ys[0].MustSize()
		per := int(sz[2] * sz[3])
		for m := range 3 {
			got := cenValues(out[m])
			for i := range got {
				want := vals[m][i]
				if ch := (i / per) % int(sz[1]); ch%3 == m {
					want = (vals[(m+1)%3][i] + vals[(m+2)%3][i]) / 2
				}
				if math.Abs(float64(got[i]-want)) > 1e-6*(1+math.Abs(float64(want))) {
					t.Fatalf("block %d stream %d: %v, want the mean of the others %v", block, m, got[i], want)
				}
			}
		}
		return out
	})
	cenZeroGrad(run)
	c.l1(s).MustBackward()
	g := c.gammas(0)
	C := len(cenValues(g[0]))
	for m := range 3 {
		grad := cenGrad(g[m])
		for i := range C {
			in := i >= m*C/3 && i < (m+1)*C/3
			if (grad[i] != 0) != in {
				t.Fatalf("stream %d channel %d of %d: ∂L1/∂γ = %v (in S_m: %v)", m, i, C, grad[i], in)
			}
		}
	}
	loss, out := c.Forward(s, b, true)
	if v := loss.MustFloat64Value(nil); math.IsNaN(v) || len(out.PerModality) != 3 {
		t.Fatalf("loss %v, %d per-modality outputs", v, len(out.PerModality))
	}
}
