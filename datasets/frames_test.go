package datasets

import (
	"image"
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

// libjpeg-turbo's fancy 4:2:0 upsampling, computed by hand (jdsample.c h2v2_fancy_upsample), then
// jdcolor.c's conversion. Y = Cr = 128, so R = 128 and B = 128 + round(1.772·(Cb − 128)), G =
// 128 + ⌊−0.34414·(Cb − 128) + ½⌋. Chroma replication (image/jpeg + image.YCbCr's RGBA) fails both.
func TestJPEGFancyUpsampling420(t *testing.T) {
	ycc := func(w, h int, cb [][]uint8) *image.YCbCr {
		m := image.NewYCbCr(image.Rect(0, 0, w, h), image.YCbCrSubsampleRatio420)
		for i := range m.Y {
			m.Y[i] = 128
		}
		for i := range m.Cr {
			m.Cr[i] = 128
		}
		for y, row := range cb {
			copy(m.Cb[y*m.CStride:], row)
		}
		return m
	}
	check := func(name string, m *image.YCbCr, wantB, wantG [][]uint8) {
		t.Helper()
		got := ycbcrToRGBALibjpeg(m)
		for y := range wantB {
			for x := range wantB[y] {
				r, g, b := got.Pix[y*got.Stride+4*x], got.Pix[y*got.Stride+4*x+1], got.Pix[y*got.Stride+4*x+2]
				if r != 128 || g != wantG[y][x] || b != wantB[y][x] {
					t.Errorf("%s: pixel (%d, %d) = RGB %d %d %d, want 128 %d %d", name, x, y, r, g, b, wantG[y][x], wantB[y][x])
				}
			}
		}
	}
	// Horizontal: one chroma row 128 178 128 (6×2 pixels; the context rows above and below repeat
	// it). Upsampled Cb: (4·512+8)>>4 = 128, (3·512+712+7)>>4 = 140, (3·712+512+8)>>4 = 166,
	// (3·712+512+7)>>4 = 165 (the alternating bias), 141, 128.
	rowB := []uint8{128, 149, 195, 194, 151, 128}
	rowG := []uint8{128, 124, 115, 115, 124, 128}
	check("horizontal", ycc(6, 2, [][]uint8{{128, 178, 128}}), [][]uint8{rowB, rowB}, [][]uint8{rowG, rowG})
	// Vertical: chroma rows 128 and 192 (6×4 pixels). Output rows: 128 (top edge: the row above
	// repeats row 0), ¾·128 + ¼·192 = 144, ¼·128 + ¾·192 = 176, 192 (bottom edge).
	col := func(v uint8) []uint8 { return []uint8{v, v, v, v, v, v} }
	check("vertical", ycc(6, 4, [][]uint8{{128, 128, 128}, {192, 192, 192}}),
		[][]uint8{col(128), col(156), col(213), col(241)}, [][]uint8{col(128), col(122), col(111), col(106)})
	// Odd width 5 (3 chroma columns, the last output column dropped) gives the same first 5 pixels.
	check("odd width", ycc(5, 2, [][]uint8{{128, 178, 128}}), [][]uint8{rowB[:5], rowB[:5]}, [][]uint8{rowG[:5], rowG[:5]})
	// Two chroma columns or fewer: libjpeg-turbo replicates (h2v2_upsample), as image/jpeg does.
	check("narrow", ycc(4, 2, [][]uint8{{128, 178}}), [][]uint8{{128, 128, 217, 217}}, [][]uint8{{128, 128, 111, 111}})
}

// 4:2:2 (h2v1_fancy_upsample): edge samples copied, 3/4 nearer + 1/4 further with biases +1 / +2.
func TestJPEGFancyUpsampling422(t *testing.T) {
	out := make([]uint8, 6)
	h2v1FancyRow(out, []uint8{100, 200, 100})
	// 100, (300+200+2)>>2 = 125, (600+100+1)>>2 = 175, (600+100+2)>>2 = 175, (300+200+1)>>2 = 125, 100
	if want := []uint8{100, 125, 175, 175, 125, 100}; !slices.Equal(out, want) {
		t.Errorf("h2v1FancyRow = %v, want %v", out, want)
	}
	out = make([]uint8, 6)
	h2v1FancyRow(out, []uint8{0, 1, 0})
	// 0, (0+1+2)>>2 = 0, (3+0+1)>>2 = 1, (3+0+2)>>2 = 1, 0, 0
	if want := []uint8{0, 0, 1, 1, 0, 0}; !slices.Equal(out, want) {
		t.Errorf("h2v1FancyRow = %v, want %v", out, want)
	}
}

// jdcolor.c's table conversion at the extremes and a mid value; range limiting clamps.
func TestJPEGColourConversion(t *testing.T) {
	for _, c := range []struct{ y, cb, cr, r, g, b uint8 }{
		{128, 128, 128, 128, 128, 128},
		{0, 0, 255, 178, 0, 0},      // R = 0 + round(1.402·127) = 178; G, B clamp at 0
		{255, 255, 0, 76, 255, 255}, // R = 255 − round(1.402·128) = 76
		{100, 90, 160, 145, 90, 33}, // 100+45, 100+⌊13.08+½−22.85⌋ = 90, 100−67
	} {
		r, g, b := ycc2rgbLibjpeg(c.y, c.cb, c.cr)
		if r != c.r || g != c.g || b != c.b {
			t.Errorf("ycc2rgbLibjpeg(%d, %d, %d) = %d %d %d, want %d %d %d", c.y, c.cb, c.cr, r, g, b, c.r, c.g, c.b)
		}
	}
}
