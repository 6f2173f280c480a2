package datasets

import (
	"math"
	"slices"
	"testing"
)

func TestSpectrogramConfig(t *testing.T) {
	c := avmnistSpectrogram
	if err := c.validate(); err != nil {
		t.Fatal(err)
	}
	if c.Length() != 8320 || c.Bins() != 64 || c.OutFrames() != 32 {
		t.Errorf("length %d, bins %d, frames %d; want 8320, 64, 32", c.Length(), c.Bins(), c.OutFrames())
	}
	if (spectrogramConfig{NFFT: 256, Hop: 128, Frames: 64, FreqPool: 3, TimePool: 2, Eps: 1e-7}).validate() == nil {
		t.Error("FreqPool 3 does not divide 128 bins but validated")
	}
}

// A pure sine at 1000 Hz sampled at 8 kHz with n_fft 256 falls exactly on bin 1000/(8000/256) = 32;
// after pooling pairs of bins it is band 16, in every time step.
func TestSpectrogramSinePeak(t *testing.T) {
	const rate, freq = 8000, 1000.0
	c := avmnistSpectrogram
	x := pcm16ToFloat(sine(freq, 0.5, rate, c.Length()))
	mag := stftMagnitude(x, c.NFFT, c.Hop, c.Frames)
	if len(mag) != c.Frames || len(mag[0]) != c.NFFT/2+1 {
		t.Fatalf("STFT %d×%d", len(mag), len(mag[0]))
	}
	wantBin := int(freq * float64(c.NFFT) / rate)
	for f, frame := range mag {
		if k := argmax(frame); k != wantBin {
			t.Fatalf("frame %d peaks at bin %d, want %d", f, k, wantBin)
		}
	}
	// Hann-windowed amplitude-A sine: the peak is A·NFFT/4.
	if got, want := mag[10][wantBin], 0.5*float64(c.NFFT)/4; math.Abs(got-want) > 0.01*want {
		t.Errorf("peak magnitude %g, want about %g", got, want)
	}
	spec := c.compute(x)
	if len(spec) != c.Bins()*c.OutFrames() {
		t.Fatalf("spectrogram has %d values, want %d", len(spec), c.Bins()*c.OutFrames())
	}
	for step := 0; step < c.OutFrames(); step++ {
		col := make([]float64, c.Bins())
		for f := range col {
			col[f] = float64(spec[f*c.OutFrames()+step])
		}
		if k := argmax(col); k != wantBin/c.FreqPool {
			t.Fatalf("step %d peaks at band %d, want %d", step, k, wantBin/c.FreqPool)
		}
	}
}

// Silence gives log(Eps) everywhere; a short sound is centred, so the first and last steps are silent.
func TestSpectrogramSilenceAndCentring(t *testing.T) {
	c := avmnistSpectrogram
	spec := c.compute(make([]float64, 100))
	for _, v := range spec {
		if math.Abs(float64(v)-math.Log(c.Eps)) > 1e-3 {
			t.Fatalf("silence gives %g, want log(eps) = %g", v, math.Log(c.Eps))
		}
	}
	spec = c.compute(pcm16ToFloat(sine(500, 0.5, 8000, 1000)))
	silent := float32(math.Log(c.Eps)) + 0.01
	if spec[16*c.OutFrames()+0] > silent || spec[16*c.OutFrames()+c.OutFrames()-1] > silent {
		t.Error("edges of a centred short sound are not silent")
	}
	if spec[8*c.OutFrames()+c.OutFrames()/2] < 0 { // 500 Hz = bin 16 = band 8, middle step
		t.Error("middle of a centred short sound is silent")
	}
}

func TestFitLength(t *testing.T) {
	if got := fitLength([]float64{1, 2}, 6); !slices.Equal(got, []float64{0, 0, 1, 2, 0, 0}) {
		t.Errorf("pad: %v", got)
	}
	if got := fitLength([]float64{1, 2, 3, 4, 5}, 2); !slices.Equal(got, []float64{2, 3}) {
		t.Errorf("crop: %v", got)
	}
}

func argmax(v []float64) int {
	best := 0
	for i := range v {
		if v[i] > v[best] {
			best = i
		}
	}
	return best
}
