package datasets

import (
	"bufio"
	"fmt"
	"image"
	_ "image/png" // frames are JPEG (jpeg.go) or PNG files
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/image/draw"
)

// Video frames: decoding, resizing, normalisation and the choice of frames within a clip, shared by
// the video datasets (cremad, ks, ucf101).

// FrameSize is the side of the square every frame is resized to (torchvision Resize((224, 224))).
const FrameSize = 224

// ImageNet statistics used by torchvision's Normalize in every reference loader.
var (
	imagenetMean = [3]float32{0.485, 0.456, 0.406}
	imagenetStd  = [3]float32{0.229, 0.224, 0.225}
)

// loadFrame decodes a JPEG or PNG file and resizes it to size × size: decodeFrame + resizeFrame.
func loadFrame(path string, size int) (*image.RGBA, error) {
	img, err := decodeFrame(path)
	if err != nil {
		return nil, err
	}
	return resizeFrame(img, size), nil
}

// decodeFrame decodes a JPEG or PNG file to a full-resolution RGBA image (alpha opaque for JPEG);
// grayscale images come back with R = G = B. JPEG files (recognised by their SOI marker, whatever
// the extension) decode as libjpeg-turbo, PIL's decoder, does: see decodeJPEG.
func decodeFrame(path string) (*image.RGBA, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("file %s: %w", path, err)
	}
	defer f.Close()
	br := bufio.NewReader(f)
	var src image.Image
	if magic, _ := br.Peek(2); string(magic) == "\xff\xd8" {
		src, err = decodeJPEG(br) // as libjpeg-turbo (PIL) decodes: jpeg.go
	} else {
		src, _, err = image.Decode(br)
	}
	if err != nil {
		return nil, fmt.Errorf("file %s: decoding image (want JPEG or PNG): %w", path, err)
	}
	b := src.Bounds()
	if b.Dx() < 1 || b.Dy() < 1 {
		return nil, fmt.Errorf("file %s: empty image", path)
	}
	if rgba, ok := src.(*image.RGBA); ok && b.Min == (image.Point{}) {
		return rgba, nil
	}
	dst := image.NewRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
	draw.Draw(dst, dst.Bounds(), src, b.Min, draw.Src)
	return dst, nil
}

// resizeFrame resizes img to size × size (aspect ratio not kept, as Resize((224, 224))) with
// x/image/draw's bilinear kernel, which widens when shrinking, like PIL's antialiased bilinear resize.
func resizeFrame(img image.Image, size int) *image.RGBA {
	dst := image.NewRGBA(image.Rect(0, 0, size, size))
	draw.BiLinear.Scale(dst, dst.Bounds(), img, img.Bounds(), draw.Src, nil)
	return dst
}

// putRGBFrame writes img as frame t of a clip laid out [3, T, H, W] (channel first), each channel
// scaled to [0, 1] and normalised with the ImageNet mean and standard deviation.
func putRGBFrame(dst []float32, img *image.RGBA, t, frames int) {
	hw := img.Rect.Dx() * img.Rect.Dy()
	for c := 0; c < 3; c++ {
		out := dst[(c*frames+t)*hw : (c*frames+t+1)*hw]
		scale, shift := 1/(255*imagenetStd[c]), imagenetMean[c]/imagenetStd[c]
		for i := range out {
			out[i] = float32(img.Pix[4*i+c])*scale - shift
		}
	}
}

// putGrayFrame writes the red channel of img (= the gray level of a grayscale image), scaled to
// [0, 1] as torchvision's ToTensor, as channel c of frame t of a clip laid out [C, T, H, W].
func putGrayFrame(dst []float32, img *image.RGBA, c, t, frames int) {
	hw := img.Rect.Dx() * img.Rect.Dy()
	out := dst[(c*frames+t)*hw : (c*frames+t+1)*hw]
	for i := range out {
		out[i] = float32(img.Pix[4*i]) / 255
	}
}

// readRGBClip fills dst ([3, len(files), size, size]) with the frames, in order.
func readRGBClip(files []fileRef, dst []float32, size int) error {
	if want := 3 * len(files) * size * size; len(dst) != want {
		return fmt.Errorf("visual buffer holds %d values, want %d", len(dst), want)
	}
	for t, f := range files {
		img, err := loadFrame(f.Path, size)
		if err != nil {
			return err
		}
		putRGBFrame(dst, img, t, len(files))
	}
	return nil
}

// isFrameFile reports whether name is a JPEG or PNG file (by extension, any case).
func isFrameFile(name string) bool {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".jpg", ".jpeg", ".png":
		return true
	}
	return false
}

// listFrames returns the names of the image files in dir in natural order: by the number of the last
// run of digits in the name (00030.jpg, frame_00002.jpg, frame000120.jpg), then by name. The reference
// loaders use os.listdir order, which is filesystem-dependent; sorting makes the choice reproducible
// and, for zero-padded names, equals the frame order.
func listFrames(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range entries {
		if !e.IsDir() && isFrameFile(e.Name()) {
			names = append(names, e.Name())
		}
	}
	slices.SortFunc(names, func(a, b string) int {
		if na, nb := lastNumber(a), lastNumber(b); na != nb {
			if na < nb {
				return -1
			}
			return 1
		}
		return strings.Compare(a, b)
	})
	return names, nil
}

// lastNumber is the value of the last run of digits in name (without extension), or -1.
func lastNumber(name string) int64 {
	stem := strings.TrimSuffix(name, filepath.Ext(name))
	end := len(stem)
	for end > 0 && (stem[end-1] < '0' || stem[end-1] > '9') {
		end--
	}
	start := end
	for start > 0 && stem[start-1] >= '0' && stem[start-1] <= '9' {
		start--
	}
	n, err := strconv.ParseInt(stem[start:end], 10, 64)
	if err != nil {
		return -1
	}
	return n
}

// segmentFrames picks T of n frames (0-based positions) by the test-time rule of the reference
// loaders (BalanceBenchmark's KS, UCF101 and CREMA-D datasets): cut the frames into T segments of
// seg = ⌊n/T⌋ and take the 1-based index i·seg + max(⌊seg/2⌋, 1) of segment i. With fewer frames
// than T (seg = 0) frames repeat: position ⌊i·n/T⌋. For CREMA-D's ~3 frames per clip and T ≤ 3 this
// is the first T frames, as OGM-GE takes. The random train-time choice is not reproduced: a Source
// read is deterministic.
func segmentFrames(n, frames int) []int {
	pos := make([]int, frames)
	seg := n / frames
	for i := range pos {
		if seg == 0 {
			pos[i] = i * n / frames
		} else {
			pos[i] = i*seg + max(seg/2, 1) - 1
		}
	}
	return pos
}

// fileRef is one file a sample reads, with its size for the dataset digest.
type fileRef struct {
	Path string
	Size int64
}

// statRegular returns path's size if it is a regular file.
func statRegular(path string) (fileRef, bool) {
	fi, err := os.Stat(path)
	if err != nil || !fi.Mode().IsRegular() {
		return fileRef{}, false
	}
	return fileRef{path, fi.Size()}, true
}

// pickFrames lists dir, picks T frames with segmentFrames and stats them. problem is "" on success,
// else says what is wrong with dir (for the missing-files report).
func pickFrames(dir string, frames, minFrames int) (refs []fileRef, names []string, problem string) {
	all, err := listFrames(dir)
	switch {
	case err != nil && os.IsNotExist(err):
		return nil, nil, absPath(dir) + "/ (frame folder missing)"
	case err != nil:
		return nil, nil, absPath(dir) + "/ (" + err.Error() + ")"
	case len(all) < max(minFrames, 1):
		return nil, nil, fmt.Sprintf("%s/ (%d .jpg/.png frames, need at least %d)", absPath(dir), len(all), max(minFrames, 1))
	}
	for _, p := range segmentFrames(len(all), frames) {
		path := filepath.Join(dir, all[p])
		ref, ok := statRegular(path)
		if !ok {
			return nil, nil, absPath(path) + " (not a regular file)"
		}
		refs, names = append(refs, ref), append(names, all[p])
	}
	return refs, names, ""
}
