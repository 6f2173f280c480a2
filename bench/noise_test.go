package bench

import (
	"math/rand/v2"
	"testing"

	"github.com/mmfusion/bench/bench/torchrt"
	"github.com/sugarme/gotch"
)

// Drawing a chunk ahead changes nothing: tensors of any sizes (across chunk boundaries, larger than a
// chunk, exactly one) hold the values of the cell's generator drawn one at a time, in order.
func TestNoiseStreamIsSequential(t *testing.T) {
	const seed = 42
	want := rand.New(rand.NewPCG(seed, 0x0a15e))
	n := NewNoise(seed, gotch.CPU)
	s := torchrt.NewScope()
	defer s.Drop()
	for i, size := range []int64{1, 7, 2048, 16383, 1, noiseChunk, 3 * noiseChunk / 2, 2048, 5, 70000, 64} {
		got := n.Randn(s, []int64{size}).Float64Values()
		for j, g := range got {
			if w := float64(float32(want.NormFloat64())); g != w {
				t.Fatalf("tensor %d (%d values), value %d: %v, want %v", i, size, j, g, w)
			}
		}
		s.Drop()
	}
}
