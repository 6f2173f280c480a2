package datasets

import (
	"fmt"
	"math"
	"sync"
)

// spectrogramConfig describes the log-magnitude spectrogram fed to the audio encoder.
//
// The signal (samples scaled to [-1, 1)) is first fitted to exactly Length() samples: centred in the
// window, zero-padded on both sides when shorter and cropped equally at both ends when longer. Then
// a short-time Fourier transform with a periodic Hann window of NFFT samples, hop Hop and no further
// padding gives Frames frames of NFFT/2+1 bins. The Nyquist bin is dropped, the magnitudes are
// averaged over blocks of FreqPool bins × TimePool frames, and the result is log(mean|STFT| + Eps).
// Output layout: [1, Bins(), OutFrames()], frequency-major (row f holds the time series of band f).
type spectrogramConfig struct {
	NFFT, Hop, Frames  int
	FreqPool, TimePool int
	Eps                float64
}

// avmnistSpectrogram is the AV-MNIST audio recipe at FSDD's 8 kHz: 32 ms windows, 16 ms hop, 64
// frames = 8,320 samples (1.04 s; 99.5 % of FSDD recordings fit without cropping, the median is
// 0.42 s), pooled 2 × 2 to 64 bands of 62.5 Hz × 32 steps of 32 ms: small enough for a CPU CNN.
var avmnistSpectrogram = spectrogramConfig{NFFT: 256, Hop: 128, Frames: 64, FreqPool: 2, TimePool: 2, Eps: 1e-7}

// Length is the number of input samples the STFT covers.
func (c spectrogramConfig) Length() int { return (c.Frames-1)*c.Hop + c.NFFT }

// Bins is the number of output frequency bands.
func (c spectrogramConfig) Bins() int { return c.NFFT / 2 / c.FreqPool }

// OutFrames is the number of output time steps.
func (c spectrogramConfig) OutFrames() int { return c.Frames / c.TimePool }

// validate checks that the pooling divides the STFT grid evenly.
func (c spectrogramConfig) validate() error {
	if c.NFFT < 2 || c.NFFT%2 != 0 || c.Hop < 1 || c.Frames < 1 || c.FreqPool < 1 || c.TimePool < 1 ||
		(c.NFFT/2)%c.FreqPool != 0 || c.Frames%c.TimePool != 0 || !(c.Eps > 0) {
		return fmt.Errorf("spectrogram config %+v: need even NFFT, positive sizes, pools dividing NFFT/2 and Frames, Eps > 0", c)
	}
	return nil
}

// compute returns the pooled log-magnitude spectrogram of samples (any length).
func (c spectrogramConfig) compute(samples []float64) []float32 {
	x := fitLength(samples, c.Length())
	bins, steps := c.Bins(), c.OutFrames()
	sum := make([]float64, bins*steps) // Σ of each pooling block, [band][step]
	stftFrames(x, c.NFFT, c.Hop, c.Frames, func(t int, mag []float64) {
		row := sum[t/c.TimePool:]
		for f := 0; f < bins; f++ {
			var s float64
			for df := 0; df < c.FreqPool; df++ {
				s += mag[f*c.FreqPool+df]
			}
			row[f*steps] += s
		}
	})
	out := make([]float32, bins*steps)
	norm := 1 / float64(c.FreqPool*c.TimePool)
	for i, s := range sum {
		out[i] = float32(math.Log(s*norm + c.Eps))
	}
	return out
}

// fitLength returns x centred in n samples: zero-padded at both ends if shorter, cropped at both
// ends if longer (the extra sample of an odd difference goes to the end).
func fitLength(x []float64, n int) []float64 {
	out := make([]float64, n)
	if len(x) <= n {
		copy(out[(n-len(x))/2:], x)
	} else {
		copy(out, x[(len(x)-n)/2:])
	}
	return out
}

// hannWindow is the periodic Hann window w[i] = 0.5 − 0.5·cos(2πi/n), the default of librosa and
// scipy for spectral analysis (it tiles exactly at 50 % overlap).
func hannWindow(n int) []float64 {
	w := make([]float64, n)
	for i := range w {
		w[i] = 0.5 - 0.5*math.Cos(2*math.Pi*float64(i)/float64(n))
	}
	return w
}

// stftMagnitude returns |STFT| as frames × (nfft/2+1) bins; frame t covers x[t·hop : t·hop+nfft]
// (no centre padding: fitLength has already placed the signal). x must hold at least
// (frames−1)·hop + nfft samples. Bin k is frequency k·rate/nfft. The FFT is stftPlan's (rfft.go).
func stftMagnitude(x []float64, nfft, hop, frames int) [][]float64 {
	out := make([][]float64, frames)
	flat := make([]float64, frames*(nfft/2+1))
	for t := range out {
		out[t] = flat[t*(nfft/2+1) : (t+1)*(nfft/2+1)]
	}
	stftFrames(x, nfft, hop, frames, func(t int, mag []float64) { copy(out[t], mag) })
	return out
}

// stftFrames calls emit(t, |FFT| of frame t) for t = 0 … frames−1 in order, with stftMagnitude's
// framing; mag (nfft/2+1 bins) is reused between calls.
func stftFrames(x []float64, nfft, hop, frames int, emit func(t int, mag []float64)) {
	p := stftPlanFor(nfft)
	s := p.scratch()
	mag := make([]float64, nfft/2+1)
	for t := 0; t < frames; t++ {
		p.magnitudes(mag, x[t*hop:t*hop+nfft], s)
		emit(t, mag)
	}
	p.bufs.Put(s)
}

// signalBuffers pools the float64 work buffers of the spectrograms (the tiled 3 s signal of
// ogmSpectrogram: half a megabyte per clip, which would otherwise be garbage after every read).
var signalBuffers sync.Pool // *[]float64

// signalBuffer returns a pooled buffer of n values (contents undefined); Put it back when done.
func signalBuffer(n int) *[]float64 {
	if b, ok := signalBuffers.Get().(*[]float64); ok && cap(*b) >= n {
		*b = (*b)[:n]
		return b
	}
	b := make([]float64, n)
	return &b
}

// float32Buffers pools float32 work buffers (a spectrogram before its transposition).
var float32Buffers sync.Pool // *[]float32

// float32Buffer returns a pooled buffer of n values (contents undefined); Put it back when done.
func float32Buffer(n int) *[]float32 {
	if b, ok := float32Buffers.Get().(*[]float32); ok && cap(*b) >= n {
		*b = (*b)[:n]
		return b
	}
	b := make([]float32, n)
	return &b
}

// transposeFloat32 writes the transpose of in ([rows, cols], row-major) into out ([cols, rows]),
// in tiles of 16 × 16 so that both sides stay in cache.
func transposeFloat32(out, in []float32, rows, cols int) {
	const tile = 16
	in, out = in[:rows*cols], out[:rows*cols]
	for r0 := 0; r0 < rows; r0 += tile {
		r1 := min(r0+tile, rows)
		for c0 := 0; c0 < cols; c0 += tile {
			c1 := min(c0+tile, cols)
			for r := r0; r < r1; r++ {
				row := in[r*cols+c0 : r*cols+c1]
				for j, v := range row {
					out[(c0+j)*rows+r] = v
				}
			}
		}
	}
}

// pcm16ToFloat scales 16-bit samples to [-1, 1).
func pcm16ToFloat(s []int16) []float64 {
	x := make([]float64, len(s))
	for i, v := range s {
		x[i] = float64(v) / 32768
	}
	return x
}
