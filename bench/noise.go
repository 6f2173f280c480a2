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
//
// The stream is drawn a chunk ahead: while a step uses one chunk of values, a goroutine draws the next
// (at ~5 ns a value, DMI's ~18,000 values per step were ~4 % of its step on the training thread). The
// values and their order are exactly those of drawing one at a time (TestNoiseStreamIsSequential): one
// filler at a time owns the generator, and a chunk is handed over through a channel. Each filler draws
// one chunk and ends, so an abandoned Noise leaves no goroutine behind.
type Noise struct {
	r    *rand.Rand
	dev  gotch.Device
	cur  []float32 // the chunk being used; cur[pos:] are the next values of the stream
	pos  int
	next chan []float32 // the chunk being drawn ahead (nil: none)
	free []float32      // a used chunk, for the next fill
	out  []float32      // reused: a tensor's values, copied into it
}

// noiseChunk is the number of values drawn ahead.
const noiseChunk = 1 << 14

// NewNoise seeds a generator for one cell.
func NewNoise(seed int64, dev gotch.Device) *Noise {
	return &Noise{r: rand.New(rand.NewPCG(uint64(seed), 0x0a15e)), dev: dev}
}

// fill draws len(v) values of the stream into v.
func fill(r *rand.Rand, v []float32) {
	for i := range v {
		v[i] = float32(r.NormFloat64())
	}
}

// take copies the next len(v) values of the stream into v.
func (n *Noise) take(v []float32) {
	for len(v) > 0 {
		if n.pos == len(n.cur) {
			n.advance()
		}
		k := copy(v, n.cur[n.pos:])
		n.pos += k
		v = v[k:]
	}
}

// advance makes the chunk drawn ahead current (drawing it here on first use) and starts drawing the
// one after it.
func (n *Noise) advance() {
	used := n.cur
	if n.next != nil {
		n.cur = <-n.next // the filler is done with n.r
	} else {
		n.cur = make([]float32, noiseChunk)
		fill(n.r, n.cur)
	}
	n.pos = 0
	buf := n.free
	if buf == nil {
		buf = make([]float32, noiseChunk)
	}
	n.free = used
	ch := make(chan []float32, 1)
	n.next = ch
	go func(r *rand.Rand) {
		fill(r, buf)
		ch <- buf
	}(n.r)
}

// Randn returns a float32 tensor of the given shape with i.i.d. N(0, 1) entries; it belongs to s.
func (n *Noise) Randn(s *torchrt.Scope, shape []int64) *ts.Tensor {
	numel := int64(1)
	for _, d := range shape {
		numel *= d
	}
	if int64(cap(n.out)) < numel {
		n.out = make([]float32, numel)
	}
	v := n.out[:numel]
	n.take(v)
	b := unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(v))), len(v)*4)
	t := s.T(ts.MustOfDataSize(b, shape, gotch.Float))
	if n.dev.IsCuda() {
		t = s.T(t.MustTo(n.dev, false))
	}
	return t
}
