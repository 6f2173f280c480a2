package datasets

import "math"

// resampleSinc converts x from rate from to rate to (Hz) by band-limited (windowed-sinc)
// interpolation, a simple stand-in for librosa's resampler (soxr in librosa ≥ 0.10; the results agree
// closely but not bit for bit).
//
// Output sample n sits at input time t = n·from/to. It is Σ_k x[k]·h(t − k) over the input samples
// within resampleZeros·max(1, from/to) of t (zero outside the signal), where
// h(u) = fc·sinc(fc·u)·w(fc·u / resampleZeros), fc = min(1, to/from) is the cut-off relative to the
// input's Nyquist frequency (below 1 when downsampling, so the kernel low-passes to the new Nyquist
// frequency and does not alias), and w is a Hann window over [−1, 1]. The output holds
// ⌈len(x)·to/from⌉ samples, as librosa.resample. For rational ratios the kernel has only to/gcd
// distinct phases; they are tabulated once per call when there are at most resampleMaxPhases.
func resampleSinc(x []float64, from, to int) []float64 {
	if from == to || len(x) == 0 {
		return append([]float64(nil), x...)
	}
	g := resampleGCD(from, to)
	up, down := to/g, from/g // t = n·down/up
	nOut := int((int64(len(x))*int64(to) + int64(from) - 1) / int64(from))
	fc := min(1, float64(to)/float64(from))
	half := int(math.Ceil(resampleZeros / fc)) // taps each side
	out := make([]float64, nOut)
	var table [][]float64
	if up <= resampleMaxPhases {
		table = make([][]float64, up)
	}
	for n := range out {
		k0 := int(int64(n) * int64(down) / int64(up)) // the input sample at or before t
		phase := int(int64(n) * int64(down) % int64(up))
		frac := float64(phase) / float64(up) // t − k0, in [0, 1)
		var taps []float64
		if table != nil {
			if table[phase] == nil {
				table[phase] = sincTaps(frac, fc, half)
			}
			taps = table[phase]
		} else {
			taps = sincTaps(frac, fc, half)
		}
		var sum float64
		for j, w := range taps { // taps[j] weighs x[k0 − half + 1 + j]
			if k := k0 - half + 1 + j; k >= 0 && k < len(x) {
				sum += w * x[k]
			}
		}
		out[n] = sum
	}
	return out
}

const (
	resampleZeros     = 16   // sinc zero crossings on each side of the kernel centre (at fc = 1)
	resampleMaxPhases = 4096 // largest phase table built (22050/16000 needs 441)
)

// sincTaps returns the 2·half kernel weights for input samples k0−half+1 … k0+half when the output
// sits frac samples after k0.
func sincTaps(frac, fc float64, half int) []float64 {
	taps := make([]float64, 2*half)
	for j := range taps {
		u := frac - float64(j-half+1) // t − k
		v := fc * u
		if math.Abs(v) >= resampleZeros {
			continue
		}
		s := 1.0
		if v != 0 {
			s = math.Sin(math.Pi*v) / (math.Pi * v)
		}
		w := 0.5 + 0.5*math.Cos(math.Pi*v/resampleZeros)
		taps[j] = fc * s * w
	}
	return taps
}

func resampleGCD(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}
