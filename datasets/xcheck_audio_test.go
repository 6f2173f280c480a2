package datasets

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// TestXCheckAudio compares the CREMA-D audio pipeline (ogmSpectrogram.fromWAV: WAV → resample to
// 22,050 Hz → tile, 3 s, clip → STFT → log) with librosa's, on the test media and reference outputs
// of scripts/xcheck/audio.py: read from $XCHECK_DIR when set (make xcheck), else from the committed
// golden copy testdata/xcheck/audio. Bounds: at most 2 % of the spectrogram's entries more than
// 1 nat from librosa's for a WAV that is resampled (16 kHz up, 44.1 kHz down; for scale, librosa's
// own soxr_vhq and soxr_hq differ on about 1 %), and a largest difference under 1e-4 nat for a
// 22,050 Hz WAV, where neither side resamples. The resampled waveform's excerpt is compared too
// (error energy relative to the signal's). Each figure prints as an "XCHECK|" row for make xcheck.
func TestXCheckAudio(t *testing.T) {
	dir := os.Getenv("XCHECK_DIR")
	if dir == "" {
		dir = filepath.Join("testdata", "xcheck", "audio")
	}
	wavs, err := filepath.Glob(filepath.Join(dir, "*.wav"))
	if err != nil || len(wavs) == 0 {
		t.Fatalf("no reference WAVs in %s (scripts/xcheck/audio.py writes them; make xcheck XCHECK_UPDATE=1 refreshes the golden copy): %v", dir, err)
	}
	sort.Strings(wavs)
	c := newOGMSpectrogram(CremadDefaultRate)
	for _, wav := range wavs {
		base := strings.TrimSuffix(wav, ".wav")
		w, err := readWAVFile(wav)
		if err != nil {
			t.Fatal(err)
		}
		ref, err := readNpyFile(base + ".spec.npy")
		if err != nil {
			t.Fatal(err)
		}
		if len(ref.Shape) != 2 || ref.Shape[0] != c.Bins() || ref.Shape[1] != c.Frames() {
			t.Fatalf("%s.spec.npy: shape %v, want [%d %d]", base, ref.Shape, c.Bins(), c.Frames())
		}
		got := make([]float32, c.Bins()*c.Frames())
		if err := c.fromWAV(wav, got); err != nil {
			t.Fatal(err)
		}
		over, worst := audioSpecDiff(got, ref.Data, 1)
		step := fmt.Sprintf("CREMA-D audio, %s kHz WAV", strconv.FormatFloat(float64(w.SampleRate)/1000, 'f', -1, 64))
		if w.SampleRate == c.Rate {
			audioXCheckRow(t, step, "librosa.load + stft", fmt.Sprintf("max Δ %.1e nat", worst), "< 1e-4 nat", worst < 1e-4)
			continue
		}
		audioXCheckRow(t, step, "librosa.load soxr_hq + stft", fmt.Sprintf("%.2f %% of entries > 1 nat", 100*over), "≤ 2 %", over <= 0.02)

		// The resampled waveform itself, before tiling and the STFT: an excerpt from the middle of the
		// clip (the chirp's top octave and white noise, where the transition band shows).
		wave, err := readNpyFile(base + ".wave.npy")
		if err != nil {
			t.Fatal(err)
		}
		ours := resampleSinc(pcm16ToFloat(w.Samples), w.SampleRate, c.Rate)
		start := len(ours)/2 - len(wave.Data)/2
		if start < 0 {
			t.Fatalf("%s: %d resampled samples, the reference excerpt has %d", wav, len(ours), len(wave.Data))
		}
		var sig, errE float64
		for i, v := range wave.Data {
			sig += float64(v) * float64(v)
			d := ours[start+i] - float64(v)
			errE += d * d
		}
		db := 10 * math.Log10(errE/sig)
		audioXCheckRow(t, step+", resampled waveform", "librosa.load soxr_hq",
			fmt.Sprintf("error energy %.0f dB of the signal's (%d samples mid-clip)", db, len(wave.Data)), "≤ -40 dB", db <= -40)
	}
}

// audioSpecDiff returns the share of entries where got and want differ by more than tol, and the
// largest difference.
func audioSpecDiff(got, want []float32, tol float64) (share, worst float64) {
	n := 0
	for i, g := range got {
		d := math.Abs(float64(g) - float64(want[i]))
		worst = max(worst, d)
		if d > tol {
			n++
		}
	}
	return float64(n) / float64(len(got)), worst
}

// audioXCheckRow logs one "XCHECK| step | reference | figure | bound | verdict |" row (scripts/xcheck/run.sh
// collects them into make xcheck's table) and fails the test when the figure is out of bounds.
func audioXCheckRow(t *testing.T, step, reference, figure, bound string, ok bool) {
	t.Helper()
	verdict := "ok"
	if !ok {
		verdict = "FAIL"
		t.Errorf("%s: %s, bound %s", step, figure, bound)
	}
	t.Logf("XCHECK| %s | %s | %s | %s | %s |", step, reference, figure, bound, verdict)
}
