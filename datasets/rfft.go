package datasets

import (
	"math"
	"math/bits"
	"sync"

	"gonum.org/v1/gonum/dsp/fourier"
)

// Short-time Fourier transform magnitudes, the hot loop of every audio spectrogram (CREMA-D's 188
// frames of 512 samples per clip). For a power-of-two window the real FFT is computed as a complex
// FFT of half the length (even samples real, odd samples imaginary) followed by the usual split
// step, with the bit-reversal permutation, the twiddle factors and the Hann window tabulated once
// per size (stftPlanFor) and the per-call buffers taken from a pool; other sizes use gonum's FFT.
// Both are double precision, so the magnitudes agree with gonum's (the FFT used before) to rounding
// (TestSTFTMatchesGonum).

// stftPlan is the tabulated real FFT of n samples, n = 2m a power of two ≥ 4, with its window.
type stftPlan struct {
	n, m   int
	rev    []int32   // bit reversal of log2(m) bits
	twRe   []float64 // exp(−2πi·k/m), k < m/2: the complex FFT's twiddles
	twIm   []float64
	postRe []float64 // exp(−2πi·k/n), k ≤ m: the split step's twiddles
	postIm []float64
	win    []float64 // periodic Hann window of n
	gonum  *sync.Pool
	bufs   sync.Pool // *stftScratch
}

// stftScratch holds one call's working arrays.
type stftScratch struct {
	re, im []float64    // the complex FFT of m points
	seg    []float64    // windowed segment (gonum path)
	coef   []complex128 // gonum path
}

var stftPlans sync.Map // n → *stftPlan

// stftPlanFor returns the shared plan for windows of n samples.
func stftPlanFor(n int) *stftPlan {
	if p, ok := stftPlans.Load(n); ok {
		return p.(*stftPlan)
	}
	p := &stftPlan{n: n, m: n / 2, win: hannWindow(n)}
	if n >= 4 && n&(n-1) == 0 {
		m := p.m
		logm := bits.TrailingZeros(uint(m))
		p.rev = make([]int32, m)
		for i := range p.rev {
			p.rev[i] = int32(bits.Reverse32(uint32(i)) >> (32 - logm))
		}
		if logm == 0 {
			p.rev[0] = 0
		}
		p.twRe, p.twIm = make([]float64, max(m/2, 1)), make([]float64, max(m/2, 1))
		for k := range p.twRe {
			s, c := math.Sincos(-2 * math.Pi * float64(k) / float64(m))
			p.twRe[k], p.twIm[k] = c, s
		}
		p.postRe, p.postIm = make([]float64, m+1), make([]float64, m+1)
		for k := range p.postRe {
			s, c := math.Sincos(-2 * math.Pi * float64(k) / float64(n))
			p.postRe[k], p.postIm[k] = c, s
		}
	} else {
		p.gonum = &sync.Pool{New: func() any { return fourier.NewFFT(n) }}
	}
	actual, _ := stftPlans.LoadOrStore(n, p)
	return actual.(*stftPlan)
}

func (p *stftPlan) scratch() *stftScratch {
	if s, ok := p.bufs.Get().(*stftScratch); ok {
		return s
	}
	return &stftScratch{re: make([]float64, p.m), im: make([]float64, p.m), seg: make([]float64, p.n), coef: make([]complex128, p.m+1)}
}

// magnitudes writes |FFT(win · x[:n])| for bins 0 … n/2 into mag (len ≥ n/2+1).
func (p *stftPlan) magnitudes(mag, x []float64, s *stftScratch) {
	x = x[:p.n]
	if p.gonum != nil {
		for i := range s.seg {
			s.seg[i] = x[i] * p.win[i]
		}
		fft := p.gonum.Get().(*fourier.FFT)
		s.coef = fft.Coefficients(s.coef, s.seg)
		p.gonum.Put(fft)
		for k, c := range s.coef {
			mag[k] = math.Hypot(real(c), imag(c))
		}
		return
	}
	m := p.m
	re, im := s.re[:m], s.im[:m]
	win := p.win[:p.n]
	// Load z[j] = w·x[2j] + i·w·x[2j+1] in bit-reversed order.
	for j, r := range p.rev[:m] {
		re[r] = x[2*j] * win[2*j]
		im[r] = x[2*j+1] * win[2*j+1]
	}
	fftRadix2(re, im, p.twRe, p.twIm)
	// Split step: X[k] = E + W^k·O with E = (Z[k] + Z̄[m−k])/2, O = −i(Z[k] − Z̄[m−k])/2.
	mag = mag[:m+1]
	postRe, postIm := p.postRe[:m+1], p.postIm[:m+1]
	for k := 0; k <= m; k++ {
		a, b := k&(m-1), (m-k)&(m-1)
		zr, zi := re[a], im[a]
		cr, ci := re[b], -im[b]
		er, ei := (zr+cr)*0.5, (zi+ci)*0.5
		// O = −i·(d)/2 with d = Z − Z̄': (dr + i·di)·(−i) = di − i·dr.
		or, oi := (zi-ci)*0.5, -(zr-cr)*0.5
		wr, wi := postRe[k], postIm[k]
		xr := er + wr*or - wi*oi
		xi := ei + wr*oi + wi*or
		mag[k] = math.Sqrt(xr*xr + xi*xi)
	}
}

// fftRadix2 is an in-place decimation-in-time complex FFT of len(re) = m points (a power of two)
// whose input is already in bit-reversed order; tw holds exp(−2πi·k/m) for k < m/2.
func fftRadix2(re, im, twRe, twIm []float64) {
	m := len(re)
	im = im[:m]
	// Stages of size 2 and 4 have trivial twiddles (1, −i).
	if m >= 4 {
		for s := 0; s+3 < m; s += 4 {
			r0, i0, r1, i1 := re[s], im[s], re[s+1], im[s+1]
			r2, i2, r3, i3 := re[s+2], im[s+2], re[s+3], im[s+3]
			a0r, a0i, a1r, a1i := r0+r1, i0+i1, r0-r1, i0-i1
			b0r, b0i, b1r, b1i := r2+r3, i2+i3, r2-r3, i2-i3
			re[s], im[s] = a0r+b0r, a0i+b0i
			re[s+2], im[s+2] = a0r-b0r, a0i-b0i
			// (b1)·(−i) = b1i − i·b1r
			re[s+1], im[s+1] = a1r+b1i, a1i-b1r
			re[s+3], im[s+3] = a1r-b1i, a1i+b1r
		}
	} else if m == 2 {
		re[0], re[1] = re[0]+re[1], re[0]-re[1]
		im[0], im[1] = im[0]+im[1], im[0]-im[1]
		return
	}
	for size := 8; size <= m; size <<= 1 {
		half, step := size>>1, m/size
		for s := 0; s < m; s += size {
			lr, li := re[s:s+half], im[s:s+half]
			hr, hi := re[s+half:s+size], im[s+half:s+size]
			for j := 0; j < half; j++ {
				wr, wi := twRe[j*step], twIm[j*step]
				tr := wr*hr[j] - wi*hi[j]
				ti := wr*hi[j] + wi*hr[j]
				ur, ui := lr[j], li[j]
				lr[j], li[j] = ur+tr, ui+ti
				hr[j], hi[j] = ur-tr, ui-ti
			}
		}
	}
}
