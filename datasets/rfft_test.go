package datasets

import (
	"math"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/dsp/fourier"
)

// The tabulated real FFT (power-of-two sizes) and the gonum fallback (other sizes) give gonum's
// magnitudes to rounding.
func TestSTFTMatchesGonum(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, n := range []int{4, 8, 16, 256, 512, 1024, 6, 400} {
		const frames, hop = 5, 37
		x := make([]float64, (frames-1)*hop+n)
		for i := range x {
			x[i] = r.Float64()*2 - 1
		}
		got := stftMagnitude(x, n, hop, frames)
		fft := fourier.NewFFT(n)
		win := hannWindow(n)
		seg := make([]float64, n)
		var worst float64
		for f := 0; f < frames; f++ {
			for i := range seg {
				seg[i] = x[f*hop+i] * win[i]
			}
			coef := fft.Coefficients(nil, seg)
			if len(got[f]) != len(coef) {
				t.Fatalf("n %d: %d bins, want %d", n, len(got[f]), len(coef))
			}
			for k, c := range coef {
				worst = max(worst, math.Abs(got[f][k]-math.Hypot(real(c), imag(c))))
			}
		}
		if worst > 1e-12*float64(n) {
			t.Errorf("n %d: max |Δ| %g from gonum", n, worst)
		}
	}
}

func TestFastLog(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	var worst, worst32 float64
	for i := 0; i < 200000; i++ {
		x := math.Exp(r.Float64()*60 - 30)
		if i < 1000 {
			x = 1 + (r.Float64()-0.5)*1e-3 // near 1, where log is near 0
		}
		d := math.Abs(fastLog(x) - math.Log(x))
		worst = max(worst, d/max(1, math.Abs(math.Log(x))))
		var got [1]float32
		logRow32(got[:], []float64{x}, 0)
		worst32 = max(worst32, math.Abs(float64(got[0])-float64(float32(math.Log(x))))-ulp32(math.Log(x)))
	}
	if worst > 1e-15 {
		t.Errorf("fastLog: max error %g (relative to max(1, |log x|))", worst)
	}
	if worst32 > 1e-10 { // beyond one float32 rounding step
		t.Errorf("logRow32: max error %g beyond float32 rounding", worst32)
	}
	for _, x := range []float64{0, -1, math.Inf(1), math.NaN(), 1e-310, 1, 2, 0.5} {
		if got, want := fastLog(x), math.Log(x); got != want && !(math.IsNaN(got) && math.IsNaN(want)) && math.Abs(got-want) > 1e-15 {
			t.Errorf("fastLog(%g) = %g, want %g", x, got, want)
		}
	}
}

// ulp32 is the spacing of float32 values at v.
func ulp32(v float64) float64 {
	f := float32(math.Abs(v))
	return float64(math.Nextafter32(f, float32(math.Inf(1))) - f)
}
