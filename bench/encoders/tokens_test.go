package encoders

import (
	"testing"

	"github.com/mmfusion/bench/bench/torchrt"
	"github.com/sugarme/gotch/ts"
)

// tokenStream is the stage-wise view that vit and transformer expose (MBT runs it in lockstep).
type tokenStream interface {
	Width() int64
	NumBlocks() int
	HasCLS() bool
	Tokens(s *torchrt.Scope, x *ts.Tensor, cls bool) *ts.Tensor
	Block(s *torchrt.Scope, i int, x *ts.Tensor) *ts.Tensor
	FinalNorm(s *torchrt.Scope, x *ts.Tensor) *ts.Tensor
}

var (
	_ tokenStream = (*ViT)(nil)
	_ tokenStream = (*SeqTransformer)(nil)
)

func maxAbsDiff(s *torchrt.Scope, a, b *ts.Tensor) float64 {
	return s.T(s.T(a.MustSub(b, false)).MustAbs(false)).MustMax(false).MustFloat64Value(nil)
}

// Tokens, every Block in order and FinalNorm give Forward: token 0 with a class token, the mean of
// the tokens without one (transformer pool=mean); Tokens without the class token is the with-CLS
// sequence minus its first token.
func TestTokenStreamsRunForwardStageWise(t *testing.T) {
	lockThread(t)
	for _, c := range []encoderCase{
		{"vit", map[string]string{"dim": "16", "heads": "2", "depth": "2"}, []int64{1, 8, 12}, 0},
		{"transformer", map[string]string{"pool": "cls", "dim": "16", "heads": "2", "depth": "2"}, []int64{5, 3}, 0},
		{"transformer", map[string]string{"dim": "16", "heads": "2", "depth": "2"}, []int64{5, 3}, 0},
	} {
		t.Run(c.label(), func(t *testing.T) {
			enc, vs := build(t, c.name, c.shape, c.sets)
			defer vs.Destroy()
			st := enc.(tokenStream)
			s := torchrt.NewScope()
			defer s.Drop()
			x := input(s, 3, c.shape)
			want := enc.Forward(s, x, true)
			h := st.Tokens(s, x, st.HasCLS())
			for i := range st.NumBlocks() {
				h = st.Block(s, i, h)
			}
			h = st.FinalNorm(s, h)
			var got *ts.Tensor
			if st.HasCLS() {
				got = s.T(h.MustSelect(1, 0, false))
				noCLS := st.Tokens(s, x, false)
				with := st.Tokens(s, x, true)
				if d := maxAbsDiff(s, noCLS, s.T(with.MustNarrow(1, 1, with.MustSize()[1]-1, false))); d != 0 {
					t.Errorf("tokens without the class token differ from the rest of the sequence by %g", d)
				}
			} else {
				got = meanOver(s, h, 1)
			}
			if d := maxAbsDiff(s, got, want); d > 1e-6 {
				t.Fatalf("stage-wise run differs from Forward by %g", d)
			}
		})
	}
}

// A clip (B, C, T, H, W) through the vit's Tokens: frame f's tokens are the frame's own patch tokens
// (an image of the frame through Tokens), with the same per-frame positions; the class token leads.
func TestViTTokensOfAClipAreItsFramesTokens(t *testing.T) {
	lockThread(t)
	frame := []int64{2, 8, 8}
	enc, vs := build(t, "vit", frame, map[string]string{"dim": "8", "heads": "2", "depth": "1"})
	defer vs.Destroy()
	v := enc.(*ViT)
	s := torchrt.NewScope()
	defer s.Drop()
	const frames = 3
	clip := input(s, 2, []int64{2, frames, 8, 8})
	tok := v.Tokens(s, clip, true)
	n := int64(4) // (8/4)²
	checkShape(t, "clip tokens", tok, 2, 1+frames*n, 8)
	for f := int64(0); f < frames; f++ {
		img := s.T(clip.MustSelect(2, f, false))
		want := v.Tokens(s, img, true)
		if d := maxAbsDiff(s, s.T(tok.MustNarrow(1, 1+f*n, n, false)), s.T(want.MustNarrow(1, 1, n, false))); d > 1e-6 {
			t.Errorf("frame %d: tokens differ by %g", f, d)
		}
		if f == 0 {
			if d := maxAbsDiff(s, s.T(tok.MustNarrow(1, 0, 1, false)), s.T(want.MustNarrow(1, 0, 1, false))); d != 0 {
				t.Errorf("class token differs by %g", d)
			}
		}
	}
}
