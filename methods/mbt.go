package methods

import (
	"fmt"
	"math"
	"strconv"

	"github.com/mmfusion/bench/bench"
	"github.com/mmfusion/bench/bench/data"
	"github.com/mmfusion/bench/bench/layers"
	"github.com/mmfusion/bench/bench/torchrt"
	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"
)

func init() {
	bench.Methods.Register("mbt", "attention bottlenecks: one Transformer stream per modality, exchanging only through n_b shared bottleneck tokens (the mean of the streams' updates) from layer L_f on; per-stream CLS logits from one shared head (MBT, methods-beyond.md §1)", bench.MethodSpec{
		Params: []bench.ParamSpec{
			{Name: "fusion_layer", Default: "-1", Kind: "int", Range: "[-1,inf)",
				Help: "L_f: blocks 0…L_f−1 run each stream alone, blocks L_f…L−1 exchange through the bottlenecks (0: from the first block; L: never, late fusion of the CLS logits); must be ≤ L (checked when built); the last block's bottleneck update is dropped, so the streams exchange only if L_f ≤ L−2; -1: round(2L/3) but at most L−2 (and ≥ 0) [our adaptation of the released 8 of 12; L = 2 gives 0]"},
			{Name: "bottlenecks", Default: "4", Kind: "int", Range: "[1,inf)", Search: "choice:1|2|4|8",
				Help: "n_b shared bottleneck tokens (the released config's 4; exactly n_b: the code's extra token with classifier=token is not added)"},
			{Name: "classifier", Default: "token", Kind: "enum:token|gap",
				Help: "token: each stream's CLS through one shared head, training loss the mean of the per-stream CEs, prediction the mean of the per-stream logits (the paper's); gap: the head on the mean of every modality token of every stream, one CE (the released AudioSet config; modalities weighted by their token counts)"},
			{Name: "test_with_bottlenecks", Default: "true", Kind: "bool",
				Help: "false: evaluation runs the fusion blocks without the bottlenecks (the streams then do not exchange), the code's test_with_bottlenecks=False"},
			// The streams' own architecture, used only when the run's encoder is not a token encoder.
			{Name: "dim", Default: "64", Kind: "int", Range: "[4,inf)",
				Help: "own streams only (the run's encoder is not vit or transformer): token width d (the vit encoder's default; at least the default 4 heads)"},
			{Name: "depth", Default: "2", Kind: "int", Range: "[1,inf)", Help: "own streams only: L blocks per stream (the vit encoder's default)"},
			{Name: "heads", Default: "4", Kind: "int", Range: "[1,inf)", Help: "own streams only: attention heads, dividing dim (the vit encoder's default)"},
			{Name: "mlp_ratio", Default: "4", Kind: "int", Range: "[1,inf)", Help: "own streams only: MLP width as a multiple of dim (the reference's 3072/768)"},
			{Name: "patch", Default: "0", Kind: "int", Range: "[0,inf)",
				Help: "own streams only: patch side for images, spectrograms and clip frames; 0: 16 (the reference's) when both sides are ≥ 64, else min(4, H, W) (the vit encoder's 4) [our adaptation]"},
			{Name: "chunk", Default: "16", Kind: "int", Range: "[0,inf)",
				Help: "own streams only: a vector modality [F] is a sequence of ⌈F/chunk⌉ steps of chunk features (the last zero-padded), each step a token through one Linear; 0: one token of all F features [our adaptation: vectors have no tokens]"},
		},
		Validate: func(p bench.Params, _ int) error {
			if d, h := p.Int("dim"), p.Int("heads"); d%h != 0 {
				return fmt.Errorf("heads=%d does not divide dim=%d", h, d)
			}
			return nil
		},
		New: newMBT,
	})
}

// MBT is Nagrani et al.'s Multimodal Bottleneck Transformer (NeurIPS 2021; reference
// google-research/scenic projects/mbt, methods-beyond.md §1), for M ≥ 1 modalities:
//
//	X^m_0 = [c^m ; E_m(x^m)] + P^m                 (c^m with classifier=token only)
//	l < L_f:  X^m_{l+1} = B^m_l(X^m_l)               (no cross-modal flow)
//	l ≥ L_f:  [X^m_{l+1} ; Ẑ^m_{l+1}] = B^m_l([X^m_l ; Z_l]) for every m with the same Z_l,
//	          Z_{l+1} = (1/M) Σ_m Ẑ^m_{l+1}           (Z_{L_f} = the learned bottlenecks, tiled over the batch)
//	H^m = LN([X^m_L])                                 (one shared LayerNorm, token-wise; the last Z is dropped)
//
// Since the last Z is dropped, what stream m writes into the bottlenecks in block l is read by the
// other streams in block l+1: information crosses streams only when at least two blocks fuse
// (L_f ≤ L−2); L_f = L−1 is late fusion as much as L_f = L is (TestMBTNoCrossModalFlowBeforeFusion).
// The default L_f is the released config's 8 of 12 as round(2L/3), capped at L−2 so that the
// streams do exchange [our adaptation]: 0 for our default L = 2 (both blocks fuse), 1 for L = 3.
//
//	token: ℓ^m = W H^m[CLS] + b (one head), loss (1/M) Σ_m CE(ℓ^m, y), prediction (1/M) Σ_m ℓ^m
//	gap:   ℓ = W mean(H^1 … H^M over all their tokens) + b, loss CE(ℓ, y)
//
// The streams (tokeniser, class token, positions and blocks of each modality, run stage-wise in
// lockstep) are the run's encoders when they are token encoders (vit, transformer: the
// encoders' stage-wise view); their own final LayerNorms are not used (MBT's one shared LN
// replaces them). Any other encoder (mlp, lenet, resnet18, lstm) pools features and cannot be run
// token by token, so MBT builds its own streams with the same vit/transformer code and its own
// dim/depth/heads/mlp_ratio/patch/chunk (defaults: the vit encoder's 64/2/4/4); the run's encoder is
// then built but unused (its variables get no gradient and are not stepped). Own streams by
// modality shape (methods-beyond.md §1.2):
//
//	[C,H,W] images and spectrograms  2-D patch×patch patches (a spectrogram as a 1-channel image)
//	[C,T,H,W] clips                   the same 2-D patches per frame, tokens frame-major, per-frame positions tiled over frames
//	[T,F] feature sequences           one Linear per step
//	[F] vectors                       ⌈F/chunk⌉ zero-padded steps of chunk features, one Linear per step [our adaptation]
//
// Deviations from the released code, for parity with the harness's other methods (each also in the
// README): no stochastic depth (released 0.3), dropout, label smoothing (0.3) or mixup (0.5); the
// blocks' initialisation is our encoders' (PyTorch's Linear default, the reference's Xavier-uniform
// kernels), the class token and positions N(0, 0.02²) as our vit (scenic: the class token zero);
// streams from scratch (the reference copies a ViT-B/16 checkpoint into every stream); softmax CE.
// Kept from the code: the bottlenecks N(0, 0.02²) with no position, the head kernel and bias zero,
// exactly n_b bottlenecks (not the code's n_b + 1 with classifier=token).
type MBT struct {
	streams    []*mbtStream
	depth      int        // L
	fusion     int        // L_f
	bottleneck *ts.Tensor // Z (1, n_b, d)
	normW      *ts.Tensor // the shared final LayerNorm
	normB      *ts.Tensor
	head       *layers.Linear
	dim        int64
	token      bool // classifier=token (else gap)
	testWithZ  bool // test_with_bottlenecks
}

// mbtTokens is the stage-wise view of the vit and transformer encoders (bench/encoders vit.go,
// transformer.go).
type mbtTokens interface {
	Width() int64
	NumBlocks() int
	HasCLS() bool
	Tokens(s *torchrt.Scope, x *ts.Tensor, cls bool) *ts.Tensor
	Block(s *torchrt.Scope, i int, x *ts.Tensor) *ts.Tensor
}

// mbtStream is one modality's token stream.
type mbtStream struct {
	enc mbtTokens
	own bool // built by MBT (closed with it), not the run's encoder
	// vectors (own streams): (B, F) is zero-padded to (B, steps·chunk) and viewed as (B, steps, chunk).
	vecLen, steps, chunk int64
	// With classifier=token on an encoder without a class token (transformer pool=mean): MBT's own,
	// zero as the reference's, with its own position N(0, 0.02²).
	cls, clsPos *ts.Tensor
}

// mbtNormal is N(0, std²), drawn once from libtorch's generator (gotch's randn initialiser draws a
// tensor it leaks when the mean is 0).
type mbtNormal float64

func (n mbtNormal) InitTensor(dims []int64, dev gotch.Device, dtype ...gotch.DType) *ts.Tensor {
	dt := gotch.DefaultDType
	if len(dtype) > 0 {
		dt = dtype[0]
	}
	std := ts.FloatScalar(float64(n))
	defer std.MustDrop()
	return ts.MustRandn(dims, dt, dev).MustMulScalar(std, true)
}

func (n mbtNormal) Set(t *ts.Tensor) {
	v := n.InitTensor(t.MustSize(), t.MustDevice(), t.DType())
	ts.NoGrad(func() { t.Copy_(v) })
	v.MustDrop()
}

// mbtPatch is the own streams' patch side for an H×W image (patch = 0: automatic).
func mbtPatch(patch int, h, w int64) int64 {
	if patch > 0 {
		return int64(patch)
	}
	if min(h, w) >= 64 {
		return 16
	}
	return min(4, h, w)
}

// newMBTStream builds modality mod's own stream under p with the vit or transformer code.
func newMBTStream(p *nn.Path, mod data.Modality, params bench.Params, token bool) (*mbtStream, error) {
	sets := map[string]string{}
	for _, k := range []string{"dim", "depth", "heads", "mlp_ratio"} {
		sets[k] = strconv.Itoa(params.Int(k))
	}
	st := &mbtStream{}
	shape := mod.Shape
	encoder := "transformer"
	switch len(shape) {
	case 1: // a vector: chunked steps
		st.vecLen, st.chunk = shape[0], int64(params.Int("chunk"))
		if st.chunk == 0 || st.chunk > st.vecLen {
			st.chunk = st.vecLen
		}
		st.steps = (st.vecLen + st.chunk - 1) / st.chunk
		shape = []int64{st.steps, st.chunk}
	case 2: // a feature sequence
	case 3, 4: // an image / spectrogram, or a clip [C,T,H,W] of such frames
		if len(shape) == 4 {
			shape = []int64{shape[0], shape[2], shape[3]}
		}
		encoder = "vit"
		pt := mbtPatch(params.Int("patch"), shape[1], shape[2])
		if shape[1] < pt || shape[2] < pt {
			return nil, fmt.Errorf("modality %s %v: patch=%d is larger than its frame %d×%d", mod.Name, mod.Shape, pt, shape[1], shape[2])
		}
		sets["patch"] = strconv.FormatInt(pt, 10)
	default:
		return nil, fmt.Errorf("modality %s %v: MBT tokenises vectors [F], sequences [T,F], images [C,H,W] and clips [C,T,H,W]", mod.Name, mod.Shape)
	}
	if encoder == "transformer" {
		sets["pool"] = map[bool]string{true: "cls", false: "mean"}[token]
	}
	spec, err := bench.Encoders.Lookup(encoder)
	if err != nil {
		return nil, err
	}
	ep, err := bench.NewParams("encoder "+encoder, spec.Value.Params, sets)
	if err != nil {
		return nil, err
	}
	enc, err := spec.Value.New(p, data.Modality{Name: mod.Name, Shape: shape, Role: mod.Role}, ep)
	if err != nil {
		return nil, err
	}
	tok, ok := enc.(mbtTokens)
	if !ok {
		return nil, fmt.Errorf("encoder %s has no stage-wise token view", encoder)
	}
	st.enc, st.own = tok, true
	return st, nil
}

func newMBT(env *bench.Env) (bench.Method, error) {
	m := &MBT{token: env.Params.String("classifier") == "token", testWithZ: env.Params.Bool("test_with_bottlenecks")}
	if len(env.Encoders) == 0 {
		return nil, fmt.Errorf("no modalities")
	}
	for i, e := range env.Encoders {
		var st *mbtStream
		if tok, ok := e.(mbtTokens); ok { // vit, transformer: the run's encoder, stage-wise
			st = &mbtStream{enc: tok}
		} else {
			var mod data.Modality
			if i < len(env.Modalities) {
				mod = env.Modalities[i]
			}
			var err error
			if st, err = newMBTStream(env.Path.Sub(fmt.Sprintf("stream%d", i)), mod, env.Params, m.token); err != nil {
				return nil, err
			}
		}
		if m.token && !st.enc.HasCLS() {
			p := env.Path.Sub(fmt.Sprintf("cls%d", i))
			st.cls = p.MustZeros("token", []int64{1, 1, st.enc.Width()})
			st.clsPos = p.MustNewVar("pos", []int64{1, 1, st.enc.Width()}, mbtNormal(0.02))
		}
		if i == 0 {
			m.dim, m.depth = st.enc.Width(), st.enc.NumBlocks()
		} else if st.enc.Width() != m.dim || st.enc.NumBlocks() != m.depth {
			return nil, fmt.Errorf("the streams share bottleneck tokens, so they need one width and depth: modality 0 has %d×%d, modality %d %d×%d",
				m.dim, m.depth, i, st.enc.Width(), st.enc.NumBlocks())
		}
		m.streams = append(m.streams, st)
	}
	m.fusion = env.Params.Int("fusion_layer")
	if m.fusion == -1 {
		m.fusion = max(min(int(math.Round(2*float64(m.depth)/3)), m.depth-2), 0)
	}
	if m.fusion > m.depth {
		return nil, fmt.Errorf("fusion_layer=%d: the streams have %d blocks (0 … %d allowed)", m.fusion, m.depth, m.depth)
	}
	m.bottleneck = env.Path.MustNewVar("bottleneck", []int64{1, int64(env.Params.Int("bottlenecks")), m.dim}, mbtNormal(0.02))
	np := env.Path.Sub("final_norm")
	m.normW, m.normB = np.MustOnes("weight", []int64{m.dim}), np.MustZeros("bias", []int64{m.dim})
	hp := env.Path.Sub("head")
	m.head = &layers.Linear{W: hp.MustZeros("weight", []int64{env.NumClasses, m.dim}), B: hp.MustZeros("bias", []int64{env.NumClasses}),
		In: m.dim, Out: env.NumClasses}
	return m, nil
}

// tokens is X^m_0 for input x (B, shape…): with the class token first when cls.
func (st *mbtStream) tokens(s *torchrt.Scope, x *ts.Tensor, cls bool) *ts.Tensor {
	if st.steps > 0 {
		bsz := x.MustSize()[0]
		if pad := st.steps*st.chunk - st.vecLen; pad > 0 {
			x = s.T(ts.MustCat([]*ts.Tensor{x, s.T(ts.MustZeros([]int64{bsz, pad}, x.DType(), x.MustDevice()))}, 1))
		}
		x = s.T(x.MustReshape([]int64{bsz, st.steps, st.chunk}, false))
	}
	if !cls || st.enc.HasCLS() {
		return st.enc.Tokens(s, x, cls)
	}
	h := st.enc.Tokens(s, x, false)
	c := s.T(st.cls.MustAdd(st.clsPos, false))
	c = s.T(c.MustExpand([]int64{h.MustSize()[0], 1, h.MustSize()[2]}, false, false))
	return s.T(ts.MustCat([]*ts.Tensor{c, h}, 1))
}

// fuse is fusion block l: every stream's block on [X^m ; Z] (modality tokens first) with the same
// Z, giving X^m_{l+1} and Ẑ^m; the new Z is the plain mean of the Ẑ^m over the M streams.
func (m *MBT) fuse(s *torchrt.Scope, l int, x []*ts.Tensor, z *ts.Tensor) (next []*ts.Tensor, zhat []*ts.Tensor, znew *ts.Tensor) {
	nb := z.MustSize()[1]
	for i, st := range m.streams {
		n := x[i].MustSize()[1]
		y := st.enc.Block(s, l, s.T(ts.MustCat([]*ts.Tensor{x[i], z}, 1)))
		next = append(next, s.T(y.MustNarrow(1, 0, n, false)))
		zh := s.T(y.MustNarrow(1, n, nb, false))
		zhat = append(zhat, zh)
		if znew == nil {
			znew = zh
		} else {
			znew = s.T(znew.MustAdd(zh, false))
		}
	}
	if len(m.streams) > 1 {
		znew = mibMulScalar(s, znew, 1/float64(len(m.streams)))
	}
	return next, zhat, znew
}

// run returns every stream's final tokens H^m = LN(X^m_L) (B, N_m[+1], d). Evaluation with
// test_with_bottlenecks=false runs the fusion blocks on the streams alone.
func (m *MBT) run(s *torchrt.Scope, b *bench.Batch, train bool) []*ts.Tensor {
	x := make([]*ts.Tensor, len(m.streams))
	for i, st := range m.streams {
		x[i] = st.tokens(s, b.X[i], m.token)
	}
	withZ := train || m.testWithZ
	var z *ts.Tensor
	for l := range m.depth {
		if l < m.fusion || !withZ || len(m.streams) == 1 { // one modality: no bottlenecks, as the code
			for i, st := range m.streams {
				x[i] = st.enc.Block(s, l, x[i])
			}
			continue
		}
		if z == nil {
			z = s.T(m.bottleneck.MustExpand([]int64{x[0].MustSize()[0], -1, -1}, false, false))
		}
		x, _, z = m.fuse(s, l, x, z)
	}
	for i := range x {
		x[i] = s.T(ts.MustLayerNorm(x[i], []int64{m.dim}, m.normW, m.normB, 1e-5, true))
	}
	return x
}

// streamLogits are the per-stream CLS logits ℓ^m (classifier=token).
func (m *MBT) streamLogits(s *torchrt.Scope, h []*ts.Tensor) []*ts.Tensor {
	out := make([]*ts.Tensor, len(h))
	for i := range h {
		out[i] = m.head.Forward(s, s.T(h[i].MustSelect(1, 0, false)))
	}
	return out
}

// meanOf is (1/n) Σ xs.
func mbtMean(s *torchrt.Scope, xs []*ts.Tensor) *ts.Tensor {
	sum := xs[0]
	for _, x := range xs[1:] {
		sum = s.T(sum.MustAdd(x, false))
	}
	if len(xs) == 1 {
		return sum
	}
	return mibMulScalar(s, sum, 1/float64(len(xs)))
}

// Forward implements bench.Method. classifier=token: loss (1/M) Σ_m CE(ℓ^m, y) in training and
// evaluation alike, Fused the mean of the ℓ^m, PerModality the ℓ^m. gap: one CE of the head on the
// mean over every modality token of every stream (no class tokens), no per-modality logits.
func (m *MBT) Forward(s *torchrt.Scope, b *bench.Batch, train bool) (*ts.Tensor, bench.Outputs) {
	h := m.run(s, b, train)
	if !m.token {
		all := h[0]
		if len(h) > 1 {
			all = s.T(ts.MustCat(h, 1))
		}
		fused := m.head.Forward(s, s.T(all.MustMeanDim([]int64{1}, false, all.DType(), false)))
		return layers.CrossEntropy(s, fused, b.Y), bench.Outputs{Fused: fused}
	}
	per := m.streamLogits(s, h)
	ces := make([]*ts.Tensor, len(per))
	for i, l := range per {
		ces[i] = layers.CrossEntropy(s, l, b.Y)
	}
	return mbtMean(s, ces), bench.Outputs{Fused: mbtMean(s, per), PerModality: per}
}

// Close implements bench.Closer: it frees what MBT's own streams hold outside the variable store
// (their blocks' attention scales); the run's encoders are left alone.
func (m *MBT) Close() {
	for _, st := range m.streams {
		if c, ok := st.enc.(interface{ Close() }); ok && st.own {
			c.Close()
		}
	}
}
