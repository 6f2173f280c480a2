package datasets

import (
	"bufio"
	"fmt"
	"image"
	_ "image/png" // frames are JPEG (jpeg.go) or PNG files
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"

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

// resizeFrame resizes img to size × size (aspect ratio not kept, as Resize((224, 224))) with PIL's
// bilinear resampling (Image.resize(..., BILINEAR), the PIL path of torchvision's Resize and
// resized_crop): see resizeRGBAPIL. A sub-image (img.SubImage(box), RandomResizedCrop's crop) is
// resized as the cropped image, as PIL's crop then resize does. The result is opaque.
func resizeFrame(img image.Image, size int) *image.RGBA {
	src, ok := img.(*image.RGBA)
	if !ok {
		b := img.Bounds()
		src = image.NewRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
		draw.Draw(src, src.Bounds(), img, b.Min, draw.Src)
	}
	dst := image.NewRGBA(image.Rect(0, 0, size, size))
	resizeRGBAPIL(dst, src)
	return dst
}

// pilPrecisionBits is Resample.c's PRECISION_BITS for 8-bit images: coefficients in fixed point
// with 32 − 8 − 2 fractional bits.
const pilPrecisionBits = 32 - 8 - 2

// pilCoeffs is Resample.c's precompute_coeffs + normalize_coeffs_8bpc for the bilinear filter
// (support 1, triangle 1 − |x|) resampling inSize pixels to outSize over the whole input (box 0 …
// inSize): output pixel xx reads count[xx] input pixels from first[xx] with weights
// k[xx·ksize : xx·ksize+count[xx]], in fixed point.
type pilCoeffs struct {
	ksize        int
	first, count []int
	k            []int32
}

func newPILCoeffs(inSize, outSize int) pilCoeffs {
	scale := float64(inSize) / float64(outSize)
	filterscale := max(scale, 1)
	support := 1.0 * filterscale // bilinear_filter's support is 1
	ksize := int(math.Ceil(support))*2 + 1
	c := pilCoeffs{ksize: ksize, first: make([]int, outSize), count: make([]int, outSize), k: make([]int32, outSize*ksize)}
	w := make([]float64, ksize)
	ss := 1 / filterscale
	for xx := 0; xx < outSize; xx++ {
		center := (float64(xx) + 0.5) * scale
		xmin := max(int(center-support+0.5), 0) // C's (int) truncates, as Go's conversion
		xmax := min(int(center+support+0.5), inSize) - xmin
		var ww float64
		for x := 0; x < xmax; x++ {
			t := math.Abs((float64(x+xmin) - center + 0.5) * ss)
			w[x] = 0
			if t < 1 {
				w[x] = 1 - t
			}
			ww += w[x]
		}
		k := c.k[xx*ksize : xx*ksize+max(xmax, 0)]
		for x := range k {
			if ww != 0 {
				w[x] /= ww
			}
			k[x] = int32(0.5 + w[x]*(1<<pilPrecisionBits)) // bilinear weights are ≥ 0
		}
		// Zero weights at either end add nothing to Resample.c's sums: drop them (upsampling
		// windows hold three pixels of which one often weighs 0).
		lo, hi := 0, len(k)
		for lo < hi && k[lo] == 0 {
			lo++
		}
		for hi > lo && k[hi-1] == 0 {
			hi--
		}
		copy(k, k[lo:hi])
		c.first[xx], c.count[xx] = xmin+lo, hi-lo
	}
	return c
}

// pilClip8 is Resample.c's clip8: the fixed-point sum to a byte, saturating (0 for v ≤ 0, 255 for
// v ≥ 256·2^PRECISION_BITS), without branches.
func pilClip8(v int32) uint8 {
	return uint8(min(max(v, 0), 1<<pilPrecisionBits<<8-1) >> pilPrecisionBits)
}

// Work buffers of resizeRGBAPIL: the horizontal pass's output (*[]uint8) and the vertical pass's
// sums (*[]int32).
var resizeTmpBuffers, resizeAccBuffers sync.Pool

// resizeRGBAPIL resizes src (its Rect, any origin) to fill dst (origin 0, 0) as Pillow's
// ImagingResample with the bilinear filter on an RGB image: coefficients by pilCoeffs, a horizontal
// pass over the input rows the vertical pass needs, then a vertical pass, each rounding to 8 bits
// (ImagingResampleHorizontal_8bpc / Vertical_8bpc); a pass whose size does not change is skipped, so
// a same-size resize is a copy. Alpha is set opaque.
func resizeRGBAPIL(dst, src *image.RGBA) {
	w, h := src.Rect.Dx(), src.Rect.Dy()
	ow, oh := dst.Rect.Dx(), dst.Rect.Dy()
	if w <= 0 || h <= 0 || ow <= 0 || oh <= 0 {
		return
	}
	srcRow := func(y int) []uint8 {
		i := src.PixOffset(src.Rect.Min.X, src.Rect.Min.Y+y)
		return src.Pix[i : i+4*w]
	}
	dstRow := func(y int) []uint8 { return dst.Pix[y*dst.Stride : y*dst.Stride+4*ow] }
	needH, needV := ow != w, oh != h
	if !needH && !needV {
		for y := 0; y < h; y++ {
			out := dstRow(y)
			copy(out, srcRow(y))
			for i := 3; i < len(out); i += 4 {
				out[i] = 255
			}
		}
		return
	}
	vc := newPILCoeffs(h, oh)
	// Rows of the horizontal pass: those the vertical pass reads.
	yFirst, yLast := vc.first[0], vc.first[oh-1]+vc.count[oh-1]
	if !needV {
		yFirst, yLast = 0, h
	}
	var tmp []uint8 // the horizontal pass's output, rows yFirst … yLast−1, 4·ow bytes each
	var tmpBuf *[]uint8
	if needH {
		hc := newPILCoeffs(w, ow)
		rows := yLast - yFirst
		outRow := dstRow
		if needV {
			tmpBuf = pooledBytes(4 * ow * rows)
			tmp = *tmpBuf
			outRow = func(y int) []uint8 { return tmp[(y-yFirst)*4*ow : (y-yFirst+1)*4*ow] }
		}
		for y := yFirst; y < yLast; y++ {
			in, out := srcRow(y), outRow(y)
			for xx := 0; xx < ow; xx++ {
				first, n := hc.first[xx], hc.count[xx]
				k := hc.k[xx*hc.ksize : xx*hc.ksize+n]
				px := in[4*first : 4*(first+n)]
				const half = 1 << (pilPrecisionBits - 1)
				var s0, s1, s2 int32
				if n == 2 { // the common case when enlarging
					c0, c1 := k[0], k[1]
					p := px[:8]
					s0 = half + int32(p[0])*c0 + int32(p[4])*c1
					s1 = half + int32(p[1])*c0 + int32(p[5])*c1
					s2 = half + int32(p[2])*c0 + int32(p[6])*c1
				} else {
					s0, s1, s2 = half, half, half
					for i, c := range k {
						p := px[4*i : 4*i+3]
						s0 += int32(p[0]) * c
						s1 += int32(p[1]) * c
						s2 += int32(p[2]) * c
					}
				}
				o := out[4*xx : 4*xx+4]
				o[0], o[1], o[2], o[3] = pilClip8(s0), pilClip8(s1), pilClip8(s2), 255
			}
		}
		if !needV {
			return
		}
	}
	inRow := func(y int) []uint8 { return tmp[(y-yFirst)*4*ow : (y-yFirst+1)*4*ow] }
	if !needH {
		inRow = srcRow
	}
	accBuf := pooledInt32(4 * ow)
	acc := (*accBuf)[:4*ow]
	for yy := 0; yy < oh; yy++ {
		first, n := vc.first[yy], vc.count[yy]
		k := vc.k[yy*vc.ksize : yy*vc.ksize+n]
		out := dstRow(yy)[:4*ow]
		const half = 1 << (pilPrecisionBits - 1)
		switch n {
		case 1:
			a, c := inRow(first)[:len(out)], k[0]
			for i := 0; i < len(out); i += 4 {
				o, p := out[i:i+4], a[i:i+3]
				o[0], o[1], o[2], o[3] = pilClip8(half+int32(p[0])*c), pilClip8(half+int32(p[1])*c), pilClip8(half+int32(p[2])*c), 255
			}
		case 2: // the common case when enlarging
			a, b := inRow(first)[:len(out)], inRow(first + 1)[:len(out)]
			c0, c1 := k[0], k[1]
			for i := 0; i < len(out); i += 4 {
				o, p, q := out[i:i+4], a[i:i+3], b[i:i+3]
				o[0] = pilClip8(half + int32(p[0])*c0 + int32(q[0])*c1)
				o[1] = pilClip8(half + int32(p[1])*c0 + int32(q[1])*c1)
				o[2] = pilClip8(half + int32(p[2])*c0 + int32(q[2])*c1)
				o[3] = 255
			}
		default:
			for i := range acc {
				acc[i] = half
			}
			for j, c := range k {
				in := inRow(first + j)[:len(acc)]
				for i, v := range in {
					acc[i] += int32(v) * c
				}
			}
			for i := 0; i < len(acc); i += 4 {
				o, a := out[i:i+4], acc[i:i+4]
				o[0], o[1], o[2], o[3] = pilClip8(a[0]), pilClip8(a[1]), pilClip8(a[2]), 255
			}
		}
	}
	resizeAccBuffers.Put(accBuf)
	if tmpBuf != nil {
		resizeTmpBuffers.Put(tmpBuf)
	}
}

func pooledBytes(n int) *[]uint8 {
	if b, ok := resizeTmpBuffers.Get().(*[]uint8); ok && cap(*b) >= n {
		*b = (*b)[:n]
		return b
	}
	b := make([]uint8, n)
	return &b
}

func pooledInt32(n int) *[]int32 {
	if b, ok := resizeAccBuffers.Get().(*[]int32); ok && cap(*b) >= n {
		*b = (*b)[:n]
		return b
	}
	b := make([]int32, n)
	return &b
}

// putRGBFrame writes img as frame t of a clip laid out [3, T, H, W] (channel first), each channel
// scaled to [0, 1] and normalised with the ImageNet mean and standard deviation.
func putRGBFrame(dst []float32, img *image.RGBA, t, frames int) {
	hw := img.Rect.Dx() * img.Rect.Dy()
	var out [3][]float32
	var scale, shift [3]float32
	for c := range out {
		out[c] = dst[(c*frames+t)*hw : (c*frames+t+1)*hw]
		scale[c], shift[c] = 1/(255*imagenetStd[c]), imagenetMean[c]/imagenetStd[c]
	}
	r, g, b := out[0], out[1][:len(out[0])], out[2][:len(out[0])]
	pix := img.Pix[:4*len(r)]
	for i := range r { // one pass over the pixels, the three planes written side by side
		p := pix[4*i : 4*i+3 : 4*i+3]
		r[i] = float32(p[0])*scale[0] - shift[0]
		g[i] = float32(p[1])*scale[1] - shift[1]
		b[i] = float32(p[2])*scale[2] - shift[2]
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
// is the first T frames, as OGM-GE takes. Training reads with augment=true draw within the segments
// instead (clips.go, trainSegmentFrames).
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
