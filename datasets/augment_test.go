package datasets

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mmfusion/bench/bench/data"
)

// Hand-computed draws: on a 100×100 image, uniforms ½ and ½ give the target area
// 10⁴·(0.08 + 0.92·½) = 5400 and the ratio exp(½(log ¾ + log 4/3)) = 1, so w = h = round(√5400) =
// round(73.48) = 73; the position draws are randint(0, 28) twice, here 27 and 5: rows 27…99, columns
// 5…77. Exactly two uniforms and two integers are drawn, in that order.
func TestRandomResizedCropBoxByHand(t *testing.T) {
	var draws []string
	u := func() float64 { draws = append(draws, "u"); return 0.5 }
	ints := []int{27, 5}
	intn := func(n int) int {
		draws = append(draws, "i")
		if n != 28 {
			t.Errorf("randint bound %d, want 28 (100 − 73 + 1)", n)
		}
		v := ints[0]
		ints = ints[1:]
		return v
	}
	box, fb := randomResizedCropBox(100, 100, u, intn)
	if fb || box != image.Rect(5, 27, 78, 100) {
		t.Errorf("box %v (fallback %v), want (5,27)-(78,100)", box, fb)
	}
	if got := strings.Join(draws, ""); got != "uuii" {
		t.Errorf("draw sequence %q, want uuii (area, ratio, top, left)", got)
	}
}

// When no attempt fits, ten attempts (20 uniforms, no integer) are made and the crop is torchvision's
// centred fallback: the whole image if its ratio is within [¾, 4/3], else the widest (tallest) crop
// of ratio 4/3 (¾).
func TestRandomResizedCropBoxFallback(t *testing.T) {
	for _, c := range []struct {
		w, h int
		want image.Rectangle
	}{
		{10, 10, image.Rect(0, 0, 10, 10)},   // u → 1: w = round(√(100·4/3)) = 12 > 10 each time
		{100, 10, image.Rect(43, 0, 56, 10)}, // h = 10, w = round(10·4/3) = 13, j = (100−13)/2 = 43
		{10, 100, image.Rect(0, 43, 10, 56)}, // w = 10, h = round(10/(3/4)) = 13, i = 43
	} {
		uniforms := 0
		u := func() float64 { uniforms++; return math.Nextafter(1, 0) }
		intn := func(int) int { t.Fatal("a position drawn for a crop that does not fit"); return 0 }
		box, fb := randomResizedCropBox(c.w, c.h, u, intn)
		if !fb || box != c.want || uniforms != 2*cropAttempts {
			t.Errorf("%d×%d: box %v fallback %v after %d uniforms, want %v after %d", c.w, c.h, box, fb, uniforms, c.want, 2*cropAttempts)
		}
	}
}

// Over many draws on images of several shapes, every crop lies inside the image, and a crop that is
// not the fallback has an area in [0.08, 1] of the image's and a ratio in [¾, 4/3], up to the rounding
// of w and h to integers.
func TestRandomResizedCropBoxBounds(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, sz := range [][2]int{{8, 6}, {224, 224}, {320, 240}, {640, 90}, {3, 200}, {1, 1}} {
		W, H := sz[0], sz[1]
		A := float64(W * H)
		fallbacks := 0
		for range 2000 {
			box, fb := randomResizedCropBox(W, H, r.Float64, r.IntN)
			if !box.In(image.Rect(0, 0, W, H)) || box.Empty() {
				t.Fatalf("%d×%d: box %v outside the image", W, H, box)
			}
			if fb {
				fallbacks++
				continue
			}
			w, h := float64(box.Dx()), float64(box.Dy())
			if (w+0.5)*(h+0.5) < cropScale[0]*A || (w-0.5)*(h-0.5) > A {
				t.Errorf("%d×%d: box %v has area share %.3f", W, H, box, w*h/A)
			}
			if (w+0.5)/math.Max(h-0.5, 0.5) < cropRatio[0] || (w-0.5)/(h+0.5) > cropRatio[1] {
				t.Errorf("%d×%d: box %v has ratio %.3f", W, H, box, w/h)
			}
		}
		t.Logf("%d×%d: %d fallbacks in 2000", W, H, fallbacks)
	}
}

// The flip mirrors every row exactly, also for an image whose bounds do not start at the origin,
// and flipping twice gives the image back.
func TestFlipHorizontal(t *testing.T) {
	img := texture(5, 3)
	sub := img.SubImage(image.Rect(1, 1, 4, 3)).(*image.RGBA)
	orig, origSub := clonePix(img), cloneRGBA(sub)
	flipHorizontal(img)
	for y := 0; y < 3; y++ {
		for x := 0; x < 5; x++ {
			if img.RGBAAt(x, y) != orig.RGBAAt(4-x, y) {
				t.Fatalf("pixel (%d,%d) = %v, want the mirror %v", x, y, img.RGBAAt(x, y), orig.RGBAAt(4-x, y))
			}
		}
	}
	flipHorizontal(img)
	if !bytes.Equal(img.Pix, orig.Pix) {
		t.Fatal("two flips changed the image")
	}
	flipHorizontal(sub)
	for y := 1; y < 3; y++ {
		for x := 1; x < 4; x++ {
			if sub.RGBAAt(x, y) != origSub.RGBAAt(4-x, y) {
				t.Fatalf("sub-image pixel (%d,%d) = %v, want %v", x, y, sub.RGBAAt(x, y), origSub.RGBAAt(4-x, y))
			}
		}
	}
	if img.RGBAAt(0, 1) != orig.RGBAAt(0, 1) || img.RGBAAt(4, 2) != orig.RGBAAt(4, 2) || img.RGBAAt(2, 0) != orig.RGBAAt(2, 0) {
		t.Fatal("flipping a sub-image touched pixels outside it")
	}
}

// augmentFrame with a generator whose flip draw is known: the frame equals resizeFrame of the
// crop, mirrored when the draw is below ½.
func TestAugmentFrameIsCropResizeFlip(t *testing.T) {
	img := texture(64, 48)
	for seed := uint64(0); seed < 20; seed++ {
		r := augmentRand(seed)
		box, _ := randomResizedCropBox(64, 48, r.Float64, r.IntN)
		flip := r.Float64() < 0.5
		want := resizeFrame(img.SubImage(box), 32)
		if flip {
			flipHorizontal(want)
		}
		if got := augmentFrame(img, 32, augmentRand(seed)); !bytes.Equal(got.Pix, want.Pix) {
			t.Fatalf("seed %d: augmentFrame is not crop %v, resize, flip %v", seed, box, flip)
		}
	}
}

// texture is a w×h image whose pixels all differ: red by column, green by row, blue mixed.
func texture(w, h int) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.SetRGBA(x, y, color.RGBA{uint8(x * 255 / max(w-1, 1)), uint8(y * 255 / max(h-1, 1)), uint8((x*7 + y*13) % 256), 255})
		}
	}
	return img
}

func clonePix(img *image.RGBA) *image.RGBA {
	c := *img
	c.Pix = slices.Clone(img.Pix)
	return &c
}

func cloneRGBA(img *image.RGBA) *image.RGBA {
	c := image.NewRGBA(img.Rect)
	for y := img.Rect.Min.Y; y < img.Rect.Max.Y; y++ {
		for x := img.Rect.Min.X; x < img.Rect.Max.X; x++ {
			c.SetRGBA(x, y, img.RGBAAt(x, y))
		}
	}
	return c
}

// texturePNG is texture(w, h) as a lossless PNG.
func texturePNG(t *testing.T, w, h int) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, texture(w, h)); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// retexture replaces every frame file under dir with the same textured PNG (decoded by content,
// whatever the extension), so crops and flips change the values.
func retexture(t *testing.T, dir string) {
	t.Helper()
	pic := texturePNG(t, 40, 30)
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && isFrameFile(path) {
			err = os.WriteFile(path, pic, 0o644)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// readAug reads sample i of sp under the training transform with seed.
func readAug(t *testing.T, s *data.Set, sp *data.Split, i int, seed uint64) [][]float32 {
	t.Helper()
	as, ok := sp.Source.(data.AugmentedSource)
	if !ok {
		t.Fatal("split has no training transform")
	}
	dst := make([][]float32, len(s.Modalities))
	for m, mod := range s.Modalities {
		dst[m] = make([]float32, mod.Size())
	}
	if err := as.ReadAugmented(i, dst, seed); err != nil {
		t.Fatalf("augmented read of sample %d: %v", i, err)
	}
	return dst
}

// CREMA-D: the training split augments (each read with a seed is reproducible, another seed gives
// other frames, the audio is untouched, and it differs from the test transform); validation and test
// do not; augment=false gives the training split the test transform, and is a different dataset
// (Params, checksum, canonical spec) from the default.
func TestCremadAugmentation(t *testing.T) {
	dir := t.TempDir()
	retexture(t, cremadFixture(t, dir, 5, 1))
	s := loadSpec(t, "cremad", 7, dir)
	if s.Params["augment"] != "true" {
		t.Errorf("Params %v lack augment=true", s.Params)
	}
	for _, ns := range []data.NamedSplit{{Name: "val", Split: s.Val}, {Name: "test", Split: s.Test}} {
		if _, ok := ns.Split.Source.(data.AugmentedSource); ok {
			t.Errorf("%s split has a training transform", ns.Name)
		}
	}
	checkAugmented(t, s, 1)

	off := loadSpec(t, "cremad:augment=false", 7, dir)
	if _, ok := off.Train.Source.(data.AugmentedSource); ok {
		t.Error("augment=false: the training split still augments")
	}
	for i := 0; i < off.Train.Len(); i++ {
		if a, b := readOne(t, off, off.Train, i), readOne(t, s, s.Train, i); !slices.Equal(a[1], b[1]) || !slices.Equal(a[0], b[0]) {
			t.Fatalf("augment=false: training sample %d differs from the test transform", i)
		}
	}
	if off.Params["augment"] != "false" || off.SHA256 == s.SHA256 {
		t.Errorf("augment=false: Params %v, same checksum %v", off.Params, off.SHA256 == s.SHA256)
	}
	for spec, want := range map[string]string{"cremad:augment=false": "cremad:augment=false", "cremad:augment=true": "cremad"} {
		sp := loadSpec(t, spec, 7, dir)
		if got, err := data.Canonical(spec, sp.Params, s.Params); err != nil || got != want {
			t.Errorf("Canonical(%s) = %q, %v; want %q", spec, got, err, want)
		}
	}
	if msg := loadSpecErr(t, "cremad:augment=yes", 7, dir); !strings.Contains(msg, "augment") {
		t.Errorf("augment=yes: %s", msg)
	}
}

// KS: as CREMA-D, and each of a clip's three frames gets its own crop and flip (every frame file is
// the same image here, so the test transform gives three equal frames and augmentation three
// different ones).
func TestKSAugmentation(t *testing.T) {
	dir := t.TempDir()
	retexture(t, ksFixture(t, dir, 5, 1))
	s := loadSpec(t, "ks:classes=3", 1, dir)
	if _, ok := s.Test.Source.(data.AugmentedSource); ok {
		t.Error("test split has a training transform")
	}
	checkAugmented(t, s, 3)
	plain := readOne(t, s, s.Train, 0)[1]
	aug := readAug(t, s, s.Train, 0, 99)[1]
	hw := 224 * 224
	frame := func(x []float32, c, f int) []float32 { return x[(c*3+f)*hw : (c*3+f+1)*hw] }
	if !slices.Equal(frame(plain, 0, 0), frame(plain, 0, 1)) {
		t.Fatal("fixture: the test transform's frames differ")
	}
	if slices.Equal(frame(aug, 0, 0), frame(aug, 0, 1)) || slices.Equal(frame(aug, 0, 1), frame(aug, 0, 2)) {
		t.Error("frames of one clip share their crop")
	}
	if off := loadSpec(t, "ks:classes=3,augment=false", 1, dir); off.Params["augment"] != "false" {
		t.Errorf("Params %v", off.Params)
	} else if _, ok := off.Train.Source.(data.AugmentedSource); ok {
		t.Error("augment=false: the training split still augments")
	}
}

// checkAugmented checks the training split's transform on its first samples: reproducible per seed,
// different across seeds (epochs) and from the test transform, audio untouched, values those of
// crops of the frame (within the normalised range).
func checkAugmented(t *testing.T, s *data.Set, frames int) {
	t.Helper()
	for i := 0; i < 3; i++ {
		seed := data.AugmentSeed(7, 1, i)
		a, b := readAug(t, s, s.Train, i, seed), readAug(t, s, s.Train, i, seed)
		if !slices.Equal(a[0], b[0]) || !slices.Equal(a[1], b[1]) {
			t.Fatalf("sample %d: two reads with one seed differ", i)
		}
		next := readAug(t, s, s.Train, i, data.AugmentSeed(7, 2, i))
		if slices.Equal(a[1], next[1]) {
			t.Errorf("sample %d: epochs 1 and 2 give the same frames", i)
		}
		plain := readOne(t, s, s.Train, i)
		if !slices.Equal(a[0], plain[0]) {
			t.Errorf("sample %d: augmentation changed the audio", i)
		}
		if slices.Equal(a[1], plain[1]) {
			t.Errorf("sample %d: the training transform equals the test transform", i)
		}
		lo, hi := imagenet(0, 0)-1e-4, imagenet(255, 2)+1e-4
		for _, v := range a[1] {
			if float64(v) < lo || float64(v) > hi {
				t.Fatalf("sample %d: value %g outside the normalised range", i, v)
			}
		}
	}
	if got, want := len(readAug(t, s, s.Train, 0, 1)[1]), 3*frames*224*224; got != want {
		t.Errorf("visual values %d, want %d", got, want)
	}
}
