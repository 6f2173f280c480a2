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
	rev    []int32    // bit reversal of log2(m) bits
	stages []fftStage // the complex FFT's stages of size 8 and up
	postRe []float64  // exp(−2πi·k/n), k ≤ m: the split step's twiddles
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
		p.stages = fftStages(m)
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
	fftBitReversed(re, im, p.stages)
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

// fftStage is one pass of the complex FFT over blocks of size: a radix-2 stage (half = size/2,
// twiddles w[j] = exp(−2πi·j/size)), or with double set two radix-2 stages at once (blocks of
// size, quarter = size/4 = L: twiddles w2[j] = exp(−2πi·j/(2L)) of the first, w[j] =
// exp(−2πi·j/(4L)) of the second, j < L).
type fftStage struct {
	size       int
	double     bool
	wRe, wIm   []float64
	w2Re, w2Im []float64
}

// fftStages plans the stages of sizes 8 … m (those of size 2 and 4 are fftBitReversed's first pass),
// two at a time while two remain.
func fftStages(m int) []fftStage {
	tw := func(j, n int) (float64, float64) {
		s, c := math.Sincos(-2 * math.Pi * float64(j) / float64(n))
		return c, s
	}
	var st []fftStage
	for size := 8; size <= m; {
		if 2*size <= m {
			l := size / 2
			g := fftStage{size: 2 * size, double: true, wRe: make([]float64, l), wIm: make([]float64, l), w2Re: make([]float64, l), w2Im: make([]float64, l)}
			for j := 0; j < l; j++ {
				g.w2Re[j], g.w2Im[j] = tw(j, 2*l)
				g.wRe[j], g.wIm[j] = tw(j, 4*l)
			}
			st = append(st, g)
			size *= 4
			continue
		}
		g := fftStage{size: size, wRe: make([]float64, size/2), wIm: make([]float64, size/2)}
		for j := range g.wRe {
			g.wRe[j], g.wIm[j] = tw(j, size)
		}
		st = append(st, g)
		size *= 2
	}
	return st
}

// fftBitReversed is an in-place decimation-in-time complex FFT of len(re) = m points (a power of
// two ≥ 2) whose input is already in bit-reversed order, with the stages of fftStages(m).
func fftBitReversed(re, im []float64, stages []fftStage) {
	m := len(re)
	im = im[:m]
	if m == 2 {
		re[0], re[1] = re[0]+re[1], re[0]-re[1]
		im[0], im[1] = im[0]+im[1], im[0]-im[1]
		return
	}
	// Stages of size 2 and 4 have trivial twiddles (1, −i).
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
	for _, g := range stages {
		if !g.double {
			half := g.size / 2
			wRe, wIm := g.wRe[:half], g.wIm[:half]
			for s := 0; s < m; s += g.size {
				lr, li := re[s:s+half], im[s:s+half]
				hr, hi := re[s+half:s+g.size], im[s+half:s+g.size]
				for j := range wRe {
					wr, wi := wRe[j], wIm[j]
					tr := wr*hr[j] - wi*hi[j]
					ti := wr*hi[j] + wi*hr[j]
					ur, ui := lr[j], li[j]
					lr[j], li[j] = ur+tr, ui+ti
					hr[j], hi[j] = ur-tr, ui-ti
				}
			}
			continue
		}
		l := g.size / 4
		wRe, wIm, w2Re, w2Im := g.wRe[:l], g.wIm[:l], g.w2Re[:l], g.w2Im[:l]
		for s := 0; s < m; s += g.size {
			r0, i0 := re[s:s+l], im[s:s+l]
			r1, i1 := re[s+l:s+2*l], im[s+l:s+2*l]
			r2, i2 := re[s+2*l:s+3*l], im[s+2*l:s+3*l]
			r3, i3 := re[s+3*l:s+4*l], im[s+3*l:s+4*l]
			for j := range wRe {
				ar, ai := w2Re[j], w2Im[j]
				// First stage (blocks of 2L): (x0, x1) and (x2, x3) with twiddle w2.
				t1r := ar*r1[j] - ai*i1[j]
				t1i := ar*i1[j] + ai*r1[j]
				t3r := ar*r3[j] - ai*i3[j]
				t3i := ar*i3[j] + ai*r3[j]
				b0r, b0i := r0[j]+t1r, i0[j]+t1i
				b1r, b1i := r0[j]-t1r, i0[j]-t1i
				b2r, b2i := r2[j]+t3r, i2[j]+t3i
				b3r, b3i := r2[j]-t3r, i2[j]-t3i
				// Second stage (blocks of 4L): (b0, b2) with w, (b1, b3) with w·(−i).
				wr, wi := wRe[j], wIm[j]
				u2r := wr*b2r - wi*b2i
				u2i := wr*b2i + wi*b2r
				v3r := wr*b3r - wi*b3i
				v3i := wr*b3i + wi*b3r
				u3r, u3i := v3i, -v3r // ·(−i)
				r0[j], i0[j] = b0r+u2r, b0i+u2i
				r2[j], i2[j] = b0r-u2r, b0i-u2i
				r1[j], i1[j] = b1r+u3r, b1i+u3i
				r3[j], i3[j] = b1r-u3r, b1i-u3i
			}
		}
	}
}

// fastLog is math.Log for the spectrograms' log(|STFT| + ε), without a division: x = 2^e·f with f
// in [1, 2), f ≈ c_i (the 128 table points 1 + (i + ½)/128), log x = e·ln 2 + log c_i + log1p(r)
// with r = f/c_i − 1, |r| < 2^−8, log1p by six terms of its series (truncation < 1e-15 relative
// to 1). The result is within a few 1e-16 of math.Log (TestFastLog), far below the float32 the
// spectrograms store. Zero, negative, subnormal, infinite and NaN arguments go to math.Log.
func fastLog(x float64) float64 {
	if !(x >= 0x1p-1022 && x <= math.MaxFloat64) {
		return math.Log(x)
	}
	b := math.Float64bits(x)
	e := int(b>>52) - 1023
	i := (b >> (52 - 7)) & 127
	f := math.Float64frombits(b&(1<<52-1) | 1023<<52)
	t := &logTable[i]
	r := f*t.inv - 1
	// log1p(r) = r − r²/2 + r³/3 − r⁴/4 + r⁵/5 − r⁶/6
	p := r * (1 + r*(-0.5+r*(1.0/3+r*(-0.25+r*(0.2+r*(-1.0/6))))))
	return float64(e)*math.Ln2 + t.log + p
}

// logTable[i] holds inv = 1/c_i rounded and log = −log(inv), so that log f = log + log1p(f·inv − 1)
// exactly up to rounding (inv need not be exactly 1/c_i).
var logTable = func() (t [128]struct{ inv, log float64 }) {
	for i := range t {
		c := 1 + (float64(i)+0.5)/128
		t[i].inv = 1 / c
		t[i].log = -math.Log(t[i].inv)
	}
	return
}()

// logRow32 sets row[i] = float32(log(mag[i] + eps)) with fastLog's table and three terms of log1p's
// series (truncation below r⁴/4 < 6e-11), plenty for float32's resolution (6e-8 relative;
// TestFastLog bounds the error by 1e-10 beyond float32 rounding). The loop body is inline: a call
// per bin would cost as much as the logarithm. Arguments outside the normal range go to math.Log.
func logRow32(row []float32, mag []float64, eps float64) {
	mag = mag[:len(row)]
	for i, m := range mag {
		x := m + eps
		if !(x >= 0x1p-1022 && x <= math.MaxFloat64) {
			row[i] = float32(math.Log(x))
			continue
		}
		b := math.Float64bits(x)
		e := int(b>>52) - 1023
		t := &logTable[(b>>(52-7))&127]
		r := math.Float64frombits(b&(1<<52-1)|1023<<52)*t.inv - 1
		row[i] = float32(float64(e)*math.Ln2 + t.log + r*(1+r*(-0.5+r*(1.0/3))))
	}
}
