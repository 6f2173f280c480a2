package datasets

import (
	"math"
	"testing"
)

// Upsampling 16 kHz → 22050 Hz (CREMA-D's case) reproduces a 1 kHz sine away from the edges, with
// librosa's output length ⌈n·to/from⌉.
func TestResampleSincUp(t *testing.T) {
	const from, to, n = 16000, 22050, 4000
	x := make([]float64, n)
	for i := range x {
		x[i] = 0.5 * math.Sin(2*math.Pi*1000*float64(i)/from)
	}
	y := resampleSinc(x, from, to)
	if len(y) != 5513 { // ⌈4000·22050/16000⌉ = ⌈5512.5⌉
		t.Fatalf("%d samples, want 5513", len(y))
	}
	var worst float64
	for i := 100; i < len(y)-100; i++ {
		want := 0.5 * math.Sin(2*math.Pi*1000*float64(i)/to)
		worst = max(worst, math.Abs(y[i]-want))
	}
	if worst > 2e-3 {
		t.Errorf("largest error %g", worst)
	}
}

// Downsampling low-passes: a tone above the new Nyquist frequency almost vanishes, one below stays.
func TestResampleSincDown(t *testing.T) {
	rms := func(freq float64) float64 {
		x := make([]float64, 22050)
		for i := range x {
			x[i] = math.Sin(2 * math.Pi * freq * float64(i) / 22050)
		}
		y := resampleSinc(x, 22050, 8000)
		var s float64
		for _, v := range y[200 : len(y)-200] {
			s += v * v
		}
		return math.Sqrt(s / float64(len(y)-400))
	}
	if r := rms(1000); math.Abs(r-math.Sqrt(0.5)) > 0.01 {
		t.Errorf("1 kHz tone: rms %g, want %g", r, math.Sqrt(0.5))
	}
	if r := rms(6000); r > 0.01 {
		t.Errorf("6 kHz tone above the 4 kHz Nyquist frequency: rms %g", r)
	}
	// Same rate: a copy; odd ratios without a phase table still work.
	if y := resampleSinc([]float64{1, 2}, 8000, 8000); len(y) != 2 || y[1] != 2 {
		t.Errorf("identity: %v", y)
	}
	if y := resampleSinc(make([]float64, 100), 44101, 8009); len(y) != 19 {
		t.Errorf("44101 → 8009 Hz: %d samples", len(y))
	}
}
