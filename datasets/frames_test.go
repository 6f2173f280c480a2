package datasets

import (
	"image/color"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestListFramesNaturalOrder(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{"frame_10.jpg", "frame_9.jpg", "frame_00002.JPG", "00001.png", "notes.txt", "frame_1.jpeg"} {
		writeFile(t, filepath.Join(dir, n), []byte("x"))
	}
	os.Mkdir(filepath.Join(dir, "sub.jpg"), 0o755)
	got, err := listFrames(dir)
	want := []string{"00001.png", "frame_1.jpeg", "frame_00002.JPG", "frame_9.jpg", "frame_10.jpg"}
	if err != nil || !slices.Equal(got, want) {
		t.Errorf("listFrames = %v, %v; want %v", got, err, want)
	}
}

func TestSegmentFrames(t *testing.T) {
	for _, c := range []struct {
		n, t int
		want []int
	}{
		{6, 3, []int{0, 2, 4}},    // UCF101 RGB: frames 1, 3, 5
		{10, 3, []int{0, 3, 6}},   // KS: frames 1, 4, 7
		{3, 1, []int{0}},          // CREMA-D at 1 fps: the first frame
		{3, 2, []int{0, 1}},       // … the first two
		{9, 1, []int{3}},          // one frame of 9: the 4th (1-based ⌊9/2⌋)
		{2, 4, []int{0, 0, 1, 1}}, // fewer frames than wanted: repeated
	} {
		if got := segmentFrames(c.n, c.t); !slices.Equal(got, c.want) {
			t.Errorf("segmentFrames(%d, %d) = %v, want %v", c.n, c.t, got, c.want)
		}
	}
}

// A 1×1 red PNG resized to 4×4 is red everywhere; values are ImageNet-normalised and written as
// frame 1 of a [3, 2, 4, 4] clip.
func TestLoadFrameResizeAndNormalise(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "f.png")
	img := solidPNG(t, 1, 1, color.RGBA{255, 0, 0, 255})
	writeFile(t, path, img)
	rgba, err := loadFrame(path, 4)
	if err != nil {
		t.Fatal(err)
	}
	dst := make([]float32, 3*2*16)
	putRGBFrame(dst, rgba, 1, 2)
	if !closeTo(float64(dst[16]), imagenet(255, 0), 1e-5) || !closeTo(float64(dst[2*32+16+15]), imagenet(0, 2), 1e-5) || dst[0] != 0 {
		t.Errorf("frame 1: %v", dst)
	}
	if _, err := loadFrame(filepath.Join(dir, "none.jpg"), 4); err == nil {
		t.Error("missing file: no error")
	}
}
