package bench

import (
	"math/rand/v2"
	"unsafe"

	"github.com/mmfusion/bench/bench/torchrt"
	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"
)

// Noise is a per-cell Gaussian generator. Drawing in Go and copying costs a little, but keeps every
// cell's random stream its own, whatever else runs concurrently.
type Noise struct {
	r   *rand.Rand
	dev gotch.Device
	buf []float32 // reused: the values are copied into the tensor
}

// NewNoise seeds a generator for one cell.
func NewNoise(seed int64, dev gotch.Device) *Noise {
	return &Noise{r: rand.New(rand.NewPCG(uint64(seed), 0x0a15e)), dev: dev}
}

// Randn returns a float32 tensor of the given shape with i.i.d. N(0, 1) entries; it belongs to s.
func (n *Noise) Randn(s *torchrt.Scope, shape []int64) *ts.Tensor {
	numel := int64(1)
	for _, d := range shape {
		numel *= d
	}
	if int64(cap(n.buf)) < numel {
		n.buf = make([]float32, numel)
	}
	v := n.buf[:numel]
	for i := range v {
		v[i] = float32(n.r.NormFloat64())
	}
	b := unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(v))), len(v)*4)
	t := s.T(ts.MustOfDataSize(b, shape, gotch.Float))
	if n.dev.IsCuda() {
		t = s.T(t.MustTo(n.dev, false))
	}
	return t
}
