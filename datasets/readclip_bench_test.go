package datasets

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/mmfusion/bench/bench/data"
)

// clipBenchFixture writes a CREMA-D layout of n training clips shaped like the export's (bench export
// --layout cremad): a 0.35 s 16 kHz WAV of noise plus tones and three 224×224 4:2:0 JPEG frames with
// texture, so decode, resample, STFT and resize do the work of a real clip.
func clipBenchFixture(b *testing.B, n int) string {
	b.Helper()
	root := filepath.Join(b.TempDir(), "cremad")
	r := rand.New(rand.NewPCG(1, 2))
	var tr strings.Builder
	for i := 0; i < n; i++ {
		emo := CremadClasses[i%len(CremadClasses)]
		clip := fmt.Sprintf("10%02d_IEO_%s_XX", i, emo)
		fmt.Fprintf(&tr, "%s,%s\n", clip, emo)
		s := make([]int16, 5600) // 0.35 s, as the exported AV-MNIST digits (real CREMA-D clips: 2–3 s)
		for k := range s {
			v := 0.3*math.Sin(2*math.Pi*float64(k)*float64(200+50*i)/16000) + 0.1*(r.Float64()-0.5)
			s[k] = int16(v * 32767)
		}
		benchWriteFile(b, filepath.Join(root, "AudioWAV", clip+".wav"), wavBytes(16000, 1, 16, 1, s))
		for f := 0; f < 3; f++ {
			img := image.NewRGBA(image.Rect(0, 0, 224, 224))
			for y := 0; y < 224; y++ {
				for x := 0; x < 224; x++ {
					img.Set(x, y, color.RGBA{uint8(x + 30*f), uint8(y), uint8((x*y)>>6) + uint8(r.IntN(16)), 255})
				}
			}
			var buf bytes.Buffer
			if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 90}); err != nil {
				b.Fatal(err)
			}
			benchWriteFile(b, filepath.Join(root, "Image-01-FPS", clip, fmt.Sprintf("%05d.jpg", 30*f)), buf.Bytes())
		}
	}
	benchWriteFile(b, filepath.Join(root, "train.csv"), []byte(tr.String()))
	benchWriteFile(b, filepath.Join(root, "test.csv"), []byte(tr.String()))
	return root
}

// BenchmarkReadClip reads one CREMA-D training clip (audio spectrogram + one frame) per iteration,
// under the training transform (ReadAugmented) and the test transform (Read).
func BenchmarkReadClip(b *testing.B) {
	root := clipBenchFixture(b, 24)
	set, err := data.Load("cremad:dir="+root+",frames=1,val=0.25", 1, "")
	if err != nil {
		b.Fatal(err)
	}
	dst := make([][]float32, len(set.Modalities))
	for m, mod := range set.Modalities {
		dst[m] = make([]float32, mod.Size())
	}
	n := set.Train.Len()
	b.Run("augmented", func(b *testing.B) {
		src := set.Train.Source.(data.AugmentedSource)
		b.ReportAllocs()
		defer reportCPU(b)()
		for i := 0; i < b.N; i++ {
			if err := src.ReadAugmented(i%n, dst, data.AugmentSeed(1, 0, i)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("test", func(b *testing.B) {
		b.ReportAllocs()
		defer reportCPU(b)()
		for i := 0; i < b.N; i++ {
			if err := set.Train.Source.Read(i%n, dst); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func benchWriteFile(b *testing.B, path string, data []byte) {
	b.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		b.Fatal(err)
	}
}

// reportCPU reports the process's CPU time (user + system, GC included) per iteration as cpu-ms/op:
// on a shared machine wall time per op overstates the work.
func reportCPU(b *testing.B) func() {
	cpu := func() float64 {
		var ru syscall.Rusage
		_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
		return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e6
	}
	b.ResetTimer()
	t0 := cpu()
	return func() { b.ReportMetric((cpu()-t0)/float64(b.N), "cpu-ms/op") }
}

// BenchmarkClipStages times the stages of a clip read separately: resampling 0.35 s of 16 kHz audio
// to 22,050 Hz, OGM-GE's spectrogram of it, and the bilinear resize of a 150×120 crop to 224×224.
func BenchmarkClipStages(b *testing.B) {
	r := rand.New(rand.NewPCG(5, 6))
	x := make([]float64, 5600)
	for i := range x {
		x[i] = 0.3*math.Sin(float64(i)/7) + 0.1*(r.Float64()-0.5)
	}
	c := newOGMSpectrogram(22050)
	y := resampleSinc(x, 16000, 22050)
	img := image.NewRGBA(image.Rect(0, 0, 224, 224))
	for i := range img.Pix {
		img.Pix[i] = uint8(r.IntN(256))
	}
	crop := img.SubImage(image.Rect(30, 40, 180, 160))
	b.Run("resample", func(b *testing.B) {
		defer reportCPU(b)()
		for i := 0; i < b.N; i++ {
			resampleSinc(x, 16000, 22050)
		}
	})
	b.Run("spectrogram", func(b *testing.B) {
		defer reportCPU(b)()
		for i := 0; i < b.N; i++ {
			c.compute(y)
		}
	})
	b.Run("resize", func(b *testing.B) {
		defer reportCPU(b)()
		for i := 0; i < b.N; i++ {
			resizeFrame(crop, 224)
		}
	})
}
