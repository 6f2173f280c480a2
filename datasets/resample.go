package datasets

import (
	"math"
	"sync"

	"gonum.org/v1/gonum/floats"
)

// resampleSinc converts x from rate from to rate to (Hz) as librosa.resample(res_type="soxr_hq")
// (the default of librosa.load since 0.10) does: a linear-phase Kaiser-windowed-sinc low-pass,
// applied by polyphase interpolation and designed to soxr's "HQ" recipe:
//
//   - precision 20 bits: stopband attenuation A = (20+1)·20·log10(2) ≈ 126 dB (soxr adds a bit
//     for passband ripple plus stopband), Kaiser β = 0.1102·(A − 8.7) ≈ 13.0;
//   - passband to Fp = 1 − 0.05/(0.646 − 7.5e-4·A' + 1.6e-6·A'²) ≈ 0.914 of the lower of the
//     two Nyquist frequencies (A' = 20·20·log10(2); soxr's formula), stopband from Fs = 1, the
//     lower Nyquist frequency (nothing above it is kept when downsampling or imaged when
//     upsampling);
//   - the sinc's cut-off (its −6 dB point) midway, Fc = (Fp + Fs)/2 ≈ 0.957, and Kaiser's length
//     estimate N = (A − 7.95)/(2.285·π·(Fs − Fp)) + 1 ≈ 192 taps at the lower rate (soxr's
//     filter length to within a tap).
//
// soxr may split a conversion into stages (16 → 22.05 kHz: ×2 by FFT convolution, then a 441/320
// polyphase stage with a wide transition band); the overall response is that of its one sharp
// stage, the filter here, applied in one pass. TestResampleSincResponse compares the transition
// band with soxr's; the CREMA-D cross-check (TestXCheckAudio, scripts/xcheck/audio.py) compares
// spectrograms with librosa's.
//
// Output sample n sits at input time t = n·from/to (soxr compensates the filter's delay; zero
// outside the signal). It is Σ_k x[k]·h(t − k) with, in input-sample units,
// h(u) = fc·sinc(fc·u)·kaiser(u/R), fc = Fc·min(1, to/from), R = N/2·max(1, from/to). As
// librosa, the output holds ⌈len(x)·to/from⌉ samples, of which soxr computes the first
// ⌊len(x)·to/from + 1/2⌋ and librosa's fix_length zero-pads the rest (at most one sample).
//
// For a rational ratio to/from = up/down in lowest terms the kernel has up distinct phases; their
// table (up rows of 2·⌈R⌉ taps) is built once per rate pair and shared. CREMA-D's 16 kHz →
// 22,050 Hz has 441 phases of 194 taps, about 7 ms of CPU per 3 s clip; 44.1 kHz → 22,050 Hz one
// phase of 386 taps. Ratios with more than resampleMaxPhases phases evaluate the kernel per output
// sample (slow but exact).
//
// Pure Go rather than a binding of libsoxr: the only cgo in the module is libtorch's, and a new
// system library would be one more thing for every build machine and CI image to install; the
// filter is a few dozen lines, and its agreement with soxr is measured, not assumed.
func resampleSinc(x []float64, from, to int) []float64 {
	if from == to || len(x) == 0 {
		return append([]float64(nil), x...)
	}
	k := resampleKernelFor(from, to)
	nOut := int((int64(len(x))*int64(to) + int64(from) - 1) / int64(from))
	nComputed := int((2*int64(len(x))*int64(to) + int64(from)) / (2 * int64(from))) // ⌊len·to/from + ½⌋
	out := make([]float64, nOut)
	var scratch []float64
	// Outputs n ≡ n0 (mod up) share a phase: visit them phase by phase so that one row of the table
	// serves ~nComputed/up outputs while it is in cache (CREMA-D's 441 × 194 taps = 680 KB would
	// otherwise stream from memory for every output). Each output's sum is the same either way.
	step := min(k.up, nComputed)
	for n0 := 0; n0 < step; n0++ {
		phase := int(int64(n0) * int64(k.down) % int64(k.up))
		var taps []float64
		if k.table != nil {
			taps = k.table[phase]
		} else {
			scratch = k.taps(scratch, float64(phase)/float64(k.up))
			taps = scratch
		}
		for n := n0; n < nComputed; n += k.up {
			k0 := int(int64(n) * int64(k.down) / int64(k.up)) // the input sample at or before t
			// taps[j] weighs x[k0 − half + 1 + j].
			lo := k0 - k.half + 1
			j0, j1 := 0, len(taps)
			if lo < 0 {
				j0 = -lo
			}
			if lo+j1 > len(x) {
				j1 = len(x) - lo
			}
			if j0 >= j1 {
				continue
			}
			out[n] = resampleDot(taps[j0:j1], x[lo+j0:lo+j1])
		}
	}
	return out
}

// resampleDot is Σ a[i]·b[i] over equal-length slices: gonum's floats.Dot (internal/asm/f64.DotUnitary: SSE2 assembly on amd64,
// two products per instruction and two partial sums; portable Go elsewhere).
func resampleDot(a, b []float64) float64 {
	return floats.Dot(a, b[:len(a)])
}

// soxr's HQ recipe (see resampleSinc).
const (
	resampleBits      = 20
	resampleMaxPhases = 4096 // largest phase table built (22050/16000 needs 441)
)

// The design's parameters (see resampleSinc): stopband attenuation A in dB, Kaiser β, passband end
// Fp, stopband start Fs and cut-off Fc relative to the lower Nyquist frequency, filter length N in
// taps at the lower rate.
var (
	resampleAtten    = (resampleBits + 1) * 20 * math.Log10(2)
	resampleBeta     = 0.1102 * (resampleAtten - 8.7)
	resamplePassband = 1 - 0.05/soxrTo3dB(resampleBits*20*math.Log10(2))
	resampleStopband = 1.0
	resampleCutoff   = (resamplePassband + resampleStopband) / 2
	resampleLength   = (resampleAtten-7.95)/(2.285*math.Pi*(resampleStopband-resamplePassband)) + 1
)

// soxrTo3dB is soxr's empirical factor (TO_3dB in its soxr.c) that places a recipe's passband edge
// from its rejection a dB.
func soxrTo3dB(a float64) float64 { return (1.6e-6*a-7.5e-4)*a + .646 }

// resampleKernel is the low-pass for one rate pair.
type resampleKernel struct {
	up, down int         // t = n·down/up (in input samples)
	fc, r    float64     // cut-off (share of the input's Nyquist frequency), window half-width (input samples)
	half     int         // taps each side of t
	table    [][]float64 // [phase][2·half] weights, nil when up > resampleMaxPhases
}

var resampleKernels sync.Map // [2]int{from, to} → *resampleKernel

func resampleKernelFor(from, to int) *resampleKernel {
	key := [2]int{from, to}
	if k, ok := resampleKernels.Load(key); ok {
		return k.(*resampleKernel)
	}
	g := resampleGCD(from, to)
	k := &resampleKernel{up: to / g, down: from / g}
	ratio := float64(to) / float64(from)
	k.fc = resampleCutoff * min(1, ratio)
	k.r = resampleLength / 2 * max(1, 1/ratio)
	k.half = int(math.Ceil(k.r))
	if k.up <= resampleMaxPhases {
		k.table = make([][]float64, k.up)
		for p := range k.table {
			k.table[p] = k.taps(nil, float64(p)/float64(k.up))
		}
	}
	actual, _ := resampleKernels.LoadOrStore(key, k)
	return actual.(*resampleKernel)
}

// taps returns (reusing buf) the 2·half weights for input samples k0−half+1 … k0+half when the
// output sits frac samples after k0.
func (k *resampleKernel) taps(buf []float64, frac float64) []float64 {
	buf = append(buf[:0], make([]float64, 2*k.half)...)
	norm := 1 / besselI0(resampleBeta)
	for j := range buf {
		u := frac - float64(j-k.half+1) // t − k, input samples
		y := u / k.r
		if y <= -1 || y >= 1 {
			continue
		}
		v := k.fc * u
		s := 1.0
		if v != 0 {
			s = math.Sin(math.Pi*v) / (math.Pi * v)
		}
		buf[j] = k.fc * s * besselI0(resampleBeta*math.Sqrt(1-y*y)) * norm
	}
	return buf
}

// besselI0 is the modified Bessel function of the first kind, order 0 (power series; converges
// quickly for the β ≈ 13 used here).
func besselI0(x float64) float64 {
	sum, term, q := 1.0, 1.0, x*x/4
	for k := 1.0; term > sum*1e-17; k++ {
		term *= q / (k * k)
		sum += term
	}
	return sum
}

func resampleGCD(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}
