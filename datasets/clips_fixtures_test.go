package datasets

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"math"
	"strings"
	"testing"

	"github.com/mmfusion/bench/bench/data"
)

// Helpers for the video and MOSEI fixtures: tiny frames, .npy files, and reading one sample.

// solidJPEG encodes a w×h JPEG of one colour (quality 95, so values come back within a few levels).
func solidJPEG(t testing.TB, w, h int, c color.RGBA) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for i := 0; i < w*h; i++ {
		img.Pix[4*i], img.Pix[4*i+1], img.Pix[4*i+2], img.Pix[4*i+3] = c.R, c.G, c.B, 255
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: 95}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// grayJPEG encodes a w×h grayscale JPEG of one level, as optical-flow frames are stored.
func grayJPEG(t testing.TB, w, h int, level uint8) []byte {
	t.Helper()
	img := image.NewGray(image.Rect(0, 0, w, h))
	for i := range img.Pix {
		img.Pix[i] = level
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: 95}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// solidPNG encodes a w×h PNG of one colour (lossless).
func solidPNG(t testing.TB, w, h int, c color.RGBA) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for i := 0; i < w*h; i++ {
		img.Pix[4*i], img.Pix[4*i+1], img.Pix[4*i+2], img.Pix[4*i+3] = c.R, c.G, c.B, 255
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// npyBytes encodes a float32 (descr "<f4") or float64 ("<f8") array as .npy version 1.0.
func npyBytes(descr string, shape []int, vals []float64) []byte {
	dims := make([]string, len(shape))
	for i, d := range shape {
		dims[i] = fmt.Sprint(d)
	}
	tuple := strings.Join(dims, ", ")
	if len(shape) == 1 {
		tuple += ","
	}
	hdr := fmt.Sprintf("{'descr': '%s', 'fortran_order': False, 'shape': (%s), }", descr, tuple)
	for (10+len(hdr)+1)%64 != 0 {
		hdr += " "
	}
	hdr += "\n"
	var b bytes.Buffer
	b.WriteString(npyMagic)
	b.Write([]byte{1, 0})
	binary.Write(&b, binary.LittleEndian, uint16(len(hdr)))
	b.WriteString(hdr)
	for _, v := range vals {
		if descr == "<f8" {
			binary.Write(&b, binary.LittleEndian, v)
		} else {
			binary.Write(&b, binary.LittleEndian, float32(v))
		}
	}
	return b.Bytes()
}

// readOne reads sample i of a split into fresh buffers.
func readOne(t *testing.T, s *data.Set, sp *data.Split, i int) [][]float32 {
	t.Helper()
	dst := make([][]float32, len(s.Modalities))
	for m, mod := range s.Modalities {
		dst[m] = make([]float32, mod.Size())
	}
	if err := sp.ReadSample(i, s.Modalities, dst); err != nil {
		t.Fatalf("read sample %d: %v", i, err)
	}
	return dst
}

// readErr reads sample i and returns the error text ("" if none).
func readErr(s *data.Set, sp *data.Split, i int) string {
	dst := make([][]float32, len(s.Modalities))
	for m, mod := range s.Modalities {
		dst[m] = make([]float32, mod.Size())
	}
	if err := sp.ReadSample(i, s.Modalities, dst); err != nil {
		return err.Error()
	}
	return ""
}

// imagenet returns the normalised value of an 8-bit level in channel c.
func imagenet(level uint8, c int) float64 {
	return (float64(level)/255 - float64(imagenetMean[c])) / float64(imagenetStd[c])
}

func closeTo(a, b, tol float64) bool { return math.Abs(a-b) <= tol }
