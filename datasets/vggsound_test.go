package datasets

import (
	"fmt"
	"image/color"
	"math"
	"math/cmplx"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// vggFixtureClasses are the fixture's labels in the order of first appearance in the train rows (not
// sorted; one holds a comma, quoted in the CSV as in the real vggsound.csv).
var vggFixtureClasses = []string{"people marching", "dog barking, growling", "alarm clock ringing"}

// vggFixtureSamples is the length of every fixture WAV (0.5 s at 16 kHz): tiled ×2 five times to 16 s.
const vggFixtureSamples = 8000

// vggFixtureWAV is clip c's signal: a 1 kHz sine (STFT bin 16) whose amplitude rises over the clip, so
// the spectrogram depends on where the crop starts.
func vggFixtureWAV(c int) []int16 {
	s := make([]int16, vggFixtureSamples)
	for i := range s {
		amp := 0.2 + 0.5*float64(i)/vggFixtureSamples
		s[i] = int16(math.Round(32767 * amp * math.Sin(2*math.Pi*(1000+250*float64(c%3))*float64(i)/16000)))
	}
	return s
}

// vggsoundFixture writes, under dir/vggsound, nTr train and nTe test clips per class, each with a WAV and
// six frames (red level 30·f + 10 for frame f = 0…5, green 60·class). Extra rows: a train row without
// media and a train clip with only 3 frames (both dropped by default), a row of split "val" (ignored).
func vggsoundFixture(t *testing.T, dir string, nTr, nTe int) string {
	t.Helper()
	root := filepath.Join(dir, "vggsound")
	var csvText strings.Builder
	c := 0
	for i := range nTr + nTe {
		for k, label := range vggFixtureClasses {
			part, ytid, start := "train", fmt.Sprintf("yt%c%d-x", 'A'+k, i), 10*i
			if i >= nTr {
				part = "test"
			}
			fmt.Fprintf(&csvText, "%s,%d,%q,%s\n", ytid, start, label, part)
			key := fmt.Sprintf("%s_%d", ytid, start)
			writeFile(t, filepath.Join(root, part+"-audios", part+"-set", key+".wav"), wavBytes(16000, 1, 16, 1, vggFixtureWAV(c)))
			for f := range 6 {
				writeFile(t, filepath.Join(root, part+"-videos", part+"-set-img", "Image-01-FPS", key+".mp4", fmt.Sprintf("%05d.jpg", f)),
					solidJPEG(t, 8, 6, color.RGBA{uint8(30*f + 10), uint8(60 * k), 0, 255}))
			}
			c++
		}
	}
	csvText.WriteString("ytMissing,0,people marching,train\n")
	csvText.WriteString("ytFew,5,alarm clock ringing,train\n")
	for f := range 3 {
		writeFile(t, filepath.Join(root, "train-videos", "train-set-img", "Image-01-FPS", "ytFew_5.mp4", fmt.Sprintf("%05d.jpg", f)), solidJPEG(t, 8, 6, color.RGBA{0, 0, 0, 255}))
	}
	writeFile(t, filepath.Join(root, "train-audios", "train-set", "ytFew_5.wav"), wavBytes(16000, 1, 16, 1, vggFixtureWAV(0)))
	csvText.WriteString("ytVal,0,alarm clock ringing,val\n")
	writeFile(t, filepath.Join(root, "vggsound.csv"), []byte(csvText.String()))
	return root
}

// vggReference is the reference recipe computed directly: the signal tiled to ≥ 10 s, the 5-s crop at
// start, centre-padded by 128 zeros, frame t's Hann-windowed DFT, log(|X| + 1e-7) at bin k.
func vggReference(pcm []int16, start, t, k int) float64 {
	x := make([]float64, len(pcm))
	for i, v := range pcm {
		x[i] = float64(v) / 32768
	}
	for len(x) < 160000 {
		x = append(x, x...)
	}
	var sum complex128
	for n := range 256 {
		j := t*128 + n - 128 // index into the crop
		if j < 0 || j >= 80000 {
			continue
		}
		w := 0.5 - 0.5*math.Cos(2*math.Pi*float64(n)/256)
		sum += complex(w*max(-1, min(1, x[start+j])), 0) * cmplx.Exp(complex(0, -2*math.Pi*float64(k*n)/256))
	}
	return math.Log(cmplx.Abs(sum) + 1e-7)
}

func TestVGGSoundFixture(t *testing.T) {
	dir := t.TempDir()
	vggsoundFixture(t, dir, 5, 1)
	s := loadSpec(t, "vggsound", 1, dir)
	if a, v := s.Modalities[0], s.Modalities[1]; a.Name != "audio" || !slices.Equal(a.Shape, []int64{1, 129, 626}) ||
		v.Name != "visual" || !slices.Equal(v.Shape, []int64{3, 3, 224, 224}) {
		t.Fatalf("modalities %+v", s.Modalities)
	}
	// 15 kept train rows (ytMissing and ytFew dropped): round(0.1·5) = 1 per class held out.
	if s.NumClasses != 3 || s.Train.Len() != 12 || s.Val.Len() != 3 || s.Test.Len() != 3 {
		t.Fatalf("classes %d, sizes %d/%d/%d, want 3, 12/3/3", s.NumClasses, s.Train.Len(), s.Val.Len(), s.Test.Len())
	}
	if s.Params["missing"] != "skip" || s.Params["frames"] != "3" || s.Params["fps"] != "1" || s.Params["augment"] != "true" {
		t.Errorf("params %v", s.Params)
	}
	// Labels: the order of first appearance in the train rows; test rows of class k in order.
	if !slices.Equal(s.Test.Y, []int64{0, 1, 2}) {
		t.Errorf("test labels %v, want 0 1 2", s.Test.Y)
	}
	src := s.Test.Source.(*clipSource)
	for i, c := range src.samples {
		if want := fmt.Sprintf("yt%c5-x_50", 'A'+i); c.Name != want || !strings.HasSuffix(filepath.Dir(c.Files[1].Path), want+".mp4") {
			t.Errorf("test sample %d: %s %s", i, c.Name, c.Files[1].Path)
		}
	}
	// Audio: the reference recipe with the crop at 2.5 s (test clip c = 15 + k); frames at the segment
	// picks of 6 frames, T = 3: 0, 2, 4 (red 10, 70, 130).
	for i := range 3 {
		x := readOne(t, s, s.Test, i)
		pcm := vggFixtureWAV(15 + i)
		for _, tk := range [][2]int{{0, 16}, {100, 16}, {100, 20}, {313, 3}, {625, 64}, {400, 128}} {
			want := vggReference(pcm, 40000, tk[0], tk[1])
			if got := float64(x[0][tk[1]*626+tk[0]]); math.Abs(got-want) > 2e-4*math.Max(1, math.Abs(want)) {
				t.Errorf("test clip %d audio frame %d bin %d: %v, reference %v", i, tk[0], tk[1], got, want)
			}
		}
		var levels []int
		for _, l := range frameLevels(x[1], 3) {
			levels = append(levels, (l+5)/30*30+10)
		}
		if !slices.Equal(levels, []int{10, 70, 130}) {
			t.Errorf("test clip %d frames %v, want red 10 70 130", i, frameLevels(x[1], 3))
		}
	}
	// Training reads: the crop start is the generator's first draw, uniform in [0, 80000]; the frames are
	// drawn within their segments {0,1}, {2,3}, {4,5}; reads repeat per seed.
	tr := s.Train.Source.(augmentedClipSource)
	starts := map[int]bool{}
	for seed := uint64(0); seed < 12; seed++ {
		x := readAug(t, s, s.Train, 0, seed)
		start := augmentRand(seed).IntN(80001)
		starts[start] = true
		pcm := vggFixtureWAV(fixtureClipIndex(t, tr.samples[0].Name))
		for _, tk := range [][2]int{{50, 16}, {500, 16}} {
			want := vggReference(pcm, start, tk[0], tk[1])
			if got := float64(x[0][tk[1]*626+tk[0]]); math.Abs(got-want) > 2e-4*math.Max(1, math.Abs(want)) {
				t.Errorf("seed %d (start %d) frame %d bin %d: %v, reference %v", seed, start, tk[0], tk[1], got, want)
			}
		}
		for i, l := range frameLevels(x[1], 3) {
			if f := int(math.Round(float64(l-10) / 30)); f != 2*i && f != 2*i+1 {
				t.Errorf("seed %d: frame %d is frame %d of the clip (level %d), outside segment {%d,%d}", seed, i, f, l, 2*i, 2*i+1)
			}
		}
		if again := readAug(t, s, s.Train, 0, seed); !slices.Equal(again[0], x[0]) || !slices.Equal(again[1], x[1]) {
			t.Fatalf("seed %d: two reads differ", seed)
		}
	}
	if len(starts) < 10 {
		t.Errorf("crop starts %v", starts)
	}
	// augment=false: training reads are the test transform.
	off := loadSpec(t, "vggsound:augment=false", 1, dir)
	x := readOne(t, off, off.Train, 0)
	pcm := vggFixtureWAV(fixtureClipIndex(t, off.Train.Source.(*clipSource).samples[0].Name))
	if want, got := vggReference(pcm, 40000, 200, 16), float64(x[0][16*626+200]); math.Abs(got-want) > 2e-4*math.Max(1, math.Abs(want)) {
		t.Errorf("augment=false training audio %v, reference %v", got, want)
	}
	if off.SHA256 == s.SHA256 {
		t.Error("augment=false has the same checksum")
	}
}

// fixtureClipIndex recovers the WAV index c of a fixture clip "yt<class letter><i>-x_<start>".
func fixtureClipIndex(t *testing.T, name string) int {
	t.Helper()
	var k rune
	var i, start int
	if _, err := fmt.Sscanf(name, "yt%c%d-x_%d", &k, &i, &start); err != nil {
		t.Fatalf("clip name %q: %v", name, err)
	}
	return 3*i + int(k-'A')
}

func TestVGGSoundMissingAndMalformed(t *testing.T) {
	dir := t.TempDir()
	root := vggsoundFixture(t, dir, 5, 1)
	msg := loadSpecErr(t, "vggsound:missing=error", 1, dir)
	wantErrContains(t, msg, "2 of 17 clips", "ytMissing_0: "+filepath.Join(root, "train-audios", "train-set", "ytMissing_0.wav")+" (missing)",
		"ytMissing_0.mp4/ (frame folder missing)", "ytFew_5.mp4/ (3 .jpg/.png frames, need at least 4)")
	// fps=2 reads Image-02-FPS, which the fixture lacks: nothing is left.
	wantErrContains(t, loadSpecErr(t, "vggsound:fps=2", 1, dir), "Image-02-FPS", "missing=skip left no clip")
	wantErrContains(t, loadSpecErr(t, "vggsound", 1, t.TempDir()), "vggsound.csv")
	wantErrContains(t, loadSpecErr(t, "vggsound:classes=3", 1, dir), "classes")

	// A test label no kept train row has.
	list := filepath.Join(root, "vggsound.csv")
	orig, err := os.ReadFile(list)
	if err != nil {
		t.Fatal(err)
	}
	bad := strings.Replace(string(orig), `ytA5-x,50,"people marching",test`, `ytA5-x,50,"cat purring",test`, 1)
	writeFile(t, list, []byte(bad))
	wantErrContains(t, loadSpecErr(t, "vggsound", 1, dir), `test clip ytA5-x_50 has label "cat purring"`)
	writeFile(t, list, []byte(string(orig)+"ytX,1,too,many,fields\n"))
	wantErrContains(t, loadSpecErr(t, "vggsound", 1, dir), "line 22: 5 fields, want 4")
	writeFile(t, list, []byte(string(orig)+"../x,1,alarm clock ringing,train\n"))
	wantErrContains(t, loadSpecErr(t, "vggsound", 1, dir), "line 22", "do not make a file name")
	writeFile(t, list, orig)

	// The class order is the train rows' order of first appearance and part of the checksum: with the
	// first row moved to the end, "dog barking, growling" is class 0.
	s := loadSpec(t, "vggsound", 1, dir)
	lines := strings.SplitAfter(string(orig), "\n")
	writeFile(t, list, []byte(strings.Join(append(lines[1:], lines[0]), "")))
	moved := loadSpec(t, "vggsound", 1, dir)
	if !slices.Equal(moved.Test.Y, []int64{2, 0, 1}) || moved.SHA256 == s.SHA256 {
		t.Errorf("first row moved: test labels %v (want 2 0 1), checksum changed %v", moved.Test.Y, moved.SHA256 != s.SHA256)
	}
}
