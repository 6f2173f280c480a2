package datasets

import (
	"fmt"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mmfusion/bench/bench/data"
)

// cremadFixture writes a tiny CREMA-D copy in the real layout under dir/cremad: per class nTr
// training and nTe test clips; each clip a 0.4 s 16 kHz WAV (a sine on STFT bin 20+10k of the 22050 Hz
// spectrogram, k = class) and three 8×6 JPEG frames 00000.jpg, 00001.jpg, 00002.jpg whose red level
// is 40·k+10·frame and green level 200. train.csv has a BOM and CRLF endings, test.csv LF.
func cremadFixture(t *testing.T, dir string, nTr, nTe int) string {
	t.Helper()
	root := filepath.Join(dir, "cremad")
	var tr, te strings.Builder
	tr.WriteString("\uFEFF")
	for k, emo := range CremadClasses {
		for i := 0; i < nTr+nTe; i++ {
			clip := fmt.Sprintf("10%02d_IEO_%s_XX", i, emo)
			if i < nTr {
				fmt.Fprintf(&tr, "%s,%s\r\n", clip, emo)
			} else {
				fmt.Fprintf(&te, "%s,%s\n", clip, emo)
			}
			freq := float64(20+10*k) * 22050 / 512
			writeFile(t, filepath.Join(root, "AudioWAV", clip+".wav"), wavBytes(16000, 1, 16, 1, sine(freq, 0.5, 16000, 6400)))
			for f := 0; f < 3; f++ {
				writeFile(t, filepath.Join(root, "Image-01-FPS", clip, fmt.Sprintf("%05d.jpg", f)),
					solidJPEG(t, 8, 6, color.RGBA{uint8(40*k + 10*f), 200, 0, 255}))
			}
		}
	}
	writeFile(t, filepath.Join(root, "train.csv"), []byte(tr.String()))
	writeFile(t, filepath.Join(root, "test.csv"), []byte(te.String()))
	return root
}

func TestCremadFixture(t *testing.T) {
	dir := t.TempDir()
	cremadFixture(t, dir, 5, 1)
	s := loadSpec(t, "cremad", 7, dir)
	if s.NumClasses != 6 || len(s.Modalities) != 2 {
		t.Fatalf("classes %d, modalities %+v", s.NumClasses, s.Modalities)
	}
	if a, v := s.Modalities[0], s.Modalities[1]; a.Name != "audio" || !slices.Equal(a.Shape, []int64{1, 257, 188}) ||
		v.Name != "visual" || !slices.Equal(v.Shape, []int64{3, 1, 224, 224}) {
		t.Fatalf("modalities %+v", s.Modalities)
	}
	// 5 training clips per class: round(0.1·5) = 1 per class held out.
	if s.Train.Len() != 24 || s.Val.Len() != 6 || s.Test.Len() != 6 {
		t.Fatalf("sizes %d/%d/%d, want 24/6/6", s.Train.Len(), s.Val.Len(), s.Test.Len())
	}
	for c := int64(0); c < 6; c++ {
		if count(s.Val.Y, c) != 1 || count(s.Test.Y, c) != 1 {
			t.Errorf("class %d: %d val, %d test samples", c, count(s.Val.Y, c), count(s.Test.Y, c))
		}
	}
	for _, k := range []string{"frames", "fps", "sr", "val", "split_seed", "missing"} {
		if s.Params[k] == "" {
			t.Errorf("Params lacks %s: %v", k, s.Params)
		}
	}
	if _, ok := s.Params["dir"]; ok {
		t.Errorf("Params records the folder: %v", s.Params)
	}
	for _, i := range []int{0, 23} {
		checkCremadSample(t, s, i, s.Train.Y[i])
	}
	x := readOne(t, s, s.Test, 5)
	if s.Test.Y[5] != 5 || !closeTo(float64(x[1][0]), imagenet(200, 0), 0.1) {
		t.Errorf("test sample 5: label %d, red %g", s.Test.Y[5], x[1][0])
	}
	// The validation split does not depend on the run seed; the checksum covers file sizes.
	if again := loadSpec(t, "cremad", 8, dir); again.SHA256 != s.SHA256 {
		t.Error("run seed changed the dataset")
	}
	if other := loadSpec(t, "cremad:split_seed=3", 7, dir); other.SHA256 == s.SHA256 {
		t.Error("split_seed did not change the validation split")
	}
}

// checkCremadSample reads training sample i: the audio peaks on bin 20+10·label, and the single frame
// is the first one (red 40·label) resized to 224×224 and normalised.
func checkCremadSample(t *testing.T, s *data.Set, i int, label int64) {
	t.Helper()
	x := readOne(t, s, s.Train, i)
	audio, visual := x[0], x[1]
	col := make([]float64, 257)
	for f := range col {
		col[f] = float64(audio[f*188+94])
		if math.IsNaN(col[f]) || math.IsInf(col[f], 0) {
			t.Fatalf("sample %d: non-finite audio", i)
		}
	}
	if k := argmax(col); k != 20+10*int(label) {
		t.Errorf("sample %d (class %d): audio peaks on bin %d, want %d", i, label, k, 20+10*label)
	}
	if lo := slices.Min(audio); !closeTo(float64(lo), math.Log(1e-7), 8) {
		t.Errorf("sample %d: min log magnitude %g", i, lo)
	}
	hw := 224 * 224
	for c, want := range []uint8{uint8(40 * label), 200, 0} {
		for _, px := range []int{0, hw / 2, hw - 1} {
			if got := float64(visual[c*hw+px]); !closeTo(got, imagenet(want, c), 0.1) {
				t.Errorf("sample %d, channel %d, pixel %d: %g, want ≈ %g", i, c, px, got, imagenet(want, c))
			}
		}
	}
}

func TestCremadFrames(t *testing.T) {
	dir := t.TempDir()
	cremadFixture(t, dir, 5, 1)
	s := loadSpec(t, "cremad:frames=3", 1, dir)
	if !slices.Equal(s.Modalities[1].Shape, []int64{3, 3, 224, 224}) {
		t.Fatalf("visual shape %v", s.Modalities[1].Shape)
	}
	x := readOne(t, s, s.Train, 0)
	hw := 224 * 224
	for f := 0; f < 3; f++ { // channel 0 (red), frame f: level 40·label + 10·f
		want := imagenet(uint8(40*s.Train.Y[0]+int64(10*f)), 0)
		if got := float64(x[1][f*hw+100]); !closeTo(got, want, 0.1) {
			t.Errorf("frame %d: red %g, want ≈ %g", f, got, want)
		}
	}
	// Five frames requested from three: frames repeat in order.
	if got := segmentFrames(3, 5); !slices.Equal(got, []int{0, 0, 1, 1, 2}) {
		t.Errorf("segmentFrames(3, 5) = %v", got)
	}
}

func TestCremadMissingAndMalformed(t *testing.T) {
	empty := t.TempDir()
	wantErrContains(t, loadSpecErr(t, "cremad", 1, empty), "dataset cremad: 2 of 2 files not found",
		filepath.Join(empty, "cremad", "train.csv"), filepath.Join(empty, "cremad", "test.csv"))

	dir := t.TempDir()
	root := cremadFixture(t, dir, 5, 1)
	wav := filepath.Join(root, "AudioWAV", "1000_IEO_SAD_XX.wav")
	frames := filepath.Join(root, "Image-01-FPS", "1001_IEO_ANG_XX")
	os.Remove(wav)
	os.RemoveAll(frames)
	wantErrContains(t, loadSpecErr(t, "cremad", 1, dir), "2 of 30 clips of "+filepath.Join(root, "train.csv")+" lack files",
		wav+" (missing)", frames+"/ (frame folder missing)", "missing=skip")
	s := loadSpec(t, "cremad:missing=skip", 1, dir)
	if n := s.Train.Len() + s.Val.Len(); n != 28 {
		t.Errorf("missing=skip kept %d training clips, want 28", n)
	}

	// Malformed files are reported when read, naming the file.
	badWav := filepath.Join(root, "AudioWAV", "1002_IEO_NEU_XX.wav")
	writeFile(t, badWav, []byte("RIFF\x04\x00\x00\x00WAVE"))
	badJpg := filepath.Join(root, "Image-01-FPS", "1003_IEO_HAP_XX", "00000.jpg")
	writeFile(t, badJpg, []byte("not a jpeg"))
	s = loadSpec(t, "cremad:missing=skip", 1, dir)
	var gotWav, gotJpg bool
	for _, sp := range []*data.Split{s.Train, s.Val} {
		for i := 0; i < sp.Len(); i++ {
			msg := readErr(s, sp, i)
			if strings.Contains(msg, "file "+badWav+": WAV") {
				gotWav = true
			}
			if strings.Contains(msg, "file "+badJpg+": decoding image") {
				gotJpg = true
			}
			if msg != "" && !strings.Contains(msg, "dataset cremad:") {
				t.Errorf("error without context: %s", msg)
			}
		}
	}
	if !gotWav || !gotJpg {
		t.Errorf("malformed WAV reported %v, malformed JPEG reported %v", gotWav, gotJpg)
	}

	// Malformed list rows name the file and line.
	writeFile(t, filepath.Join(root, "test.csv"), []byte("1000_IEO_NEU_XX,NEU\n1000_IEO_XYZ_XX,XYZ\n"))
	wantErrContains(t, loadSpecErr(t, "cremad", 1, dir), "test.csv, line 2: emotion \"XYZ\"")
	writeFile(t, filepath.Join(root, "test.csv"), []byte("1000_IEO_NEU_XX NEU\n"))
	wantErrContains(t, loadSpecErr(t, "cremad", 1, dir), "test.csv, line 1:", "want 2 comma-separated fields")
	writeFile(t, filepath.Join(root, "test.csv"), []byte("../x,NEU\n"))
	wantErrContains(t, loadSpecErr(t, "cremad", 1, dir), "not a plain file name")
	wantErrContains(t, loadSpecErr(t, "cremad:missing=maybe", 1, dir), `missing="maybe"`)
	wantErrContains(t, loadSpecErr(t, "cremad:frames=0", 1, dir), `frames="0": must be at least 1`)
	wantErrContains(t, loadSpecErr(t, "cremad:val=1", 1, dir), `val="1"`)
	wantErrContains(t, loadSpecErr(t, "cremad:color=1", 1, dir), "unknown parameter(s) color")
}

func TestOGMSpectrogramShape(t *testing.T) {
	c := newOGMSpectrogram(22050)
	if c.Samples() != 66150 || c.Frames() != 188 || c.Bins() != 257 {
		t.Fatalf("%d samples, %d frames, %d bins", c.Samples(), c.Frames(), c.Bins())
	}
	// Silence gives log(1e-7) everywhere; a short signal is tiled, not zero-padded.
	out := c.compute(make([]float64, 100))
	if len(out) != 257*188 || !closeTo(float64(out[0]), math.Log(1e-7), 1e-4) {
		t.Fatalf("silence: %d values, first %g", len(out), out[0])
	}
	x := make([]float64, 22050)
	for i := range x {
		x[i] = 2 * math.Sin(2*math.Pi*1000*float64(i)/22050) // clipped to [−1, 1]
	}
	spec := c.compute(x)
	last := make([]float64, 257)
	for f := range last {
		last[f] = float64(spec[f*188+180]) // beyond the first second: the tiled signal
	}
	if k := argmax(last); k != 23 { // 1000 Hz · 512 / 22050 = 23.2
		t.Errorf("tiled sine peaks on bin %d, want 23", k)
	}
}
