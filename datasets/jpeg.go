package datasets

import (
	"image"
	"image/jpeg"
	"io"
)

// JPEG decoding that matches libjpeg-turbo, the decoder behind PIL's Image.open(...).convert('RGB')
// in every reference loader (and behind OpenCV's imread).
//
// Go's image/jpeg returns the colour planes at their stored (subsampled) resolution, and
// image.YCbCr's conversion to RGB replicates each chroma sample over its 2×2 block. libjpeg-turbo
// (default settings, do_fancy_upsampling) instead interpolates chroma with a triangle filter before
// converting, so on 4:2:0 files, PIL's and OpenCV's default and so every CREMA-D frame, the stock
// decode differs from PIL by tens of levels on coloured edges (about 1 level on average). Here the
// subsampled planes from image/jpeg are upsampled exactly as jdsample.c (h2v2_fancy_upsample for
// 4:2:0, h2v1_fancy_upsample for 4:2:2, h1v2_fancy_upsample for 4:4:0, replication otherwise),
// including its edge handling and alternating rounding biases, and converted with jdcolor.c's
// fixed-point tables. What remains is the inverse DCT: image/jpeg's integer IDCT is not
// libjpeg's ISLOW, which moves some samples by 1 level (see TestXCheckFrames for the figures).
//
// This is pure Go on purpose: a binding to libjpeg-turbo would need its headers and library on
// every machine that builds the benchmark (CI installs no extra system packages), for a difference
// that is down to IDCT rounding once chroma upsampling and colour conversion are reproduced.

// decodeJPEG decodes a JPEG stream into an RGBA image (alpha opaque) as libjpeg-turbo decodes it
// to RGB, or into an *image.Gray for greyscale files; CMYK files come back as image/jpeg returns
// them.
func decodeJPEG(r io.Reader) (image.Image, error) {
	img, err := jpeg.Decode(r)
	if err != nil {
		return nil, err
	}
	if m, ok := img.(*image.YCbCr); ok {
		return ycbcrToRGBALibjpeg(m), nil
	}
	return img, nil
}

// ycbcrToRGBALibjpeg upsamples m's chroma planes as libjpeg-turbo's jdsample.c and converts to RGB
// as its jdcolor.c.
func ycbcrToRGBALibjpeg(m *image.YCbCr) *image.RGBA {
	b := m.Rect
	w, h := b.Dx(), b.Dy()
	dst := image.NewRGBA(image.Rect(0, 0, w, h))
	if w == 0 || h == 0 {
		return dst
	}
	hs, vs := chromaFactors(m.SubsampleRatio)
	// Chroma planes as jdsample.c sees them: downsampled_width × downsampled_height samples,
	// ⌈w/hs⌉ × ⌈h/vs⌉, starting at the plane's origin (image/jpeg's rectangles start at 0, 0).
	cw, ch := (w+hs-1)/hs, (h+vs-1)/vs
	c0 := m.COffset(b.Min.X, b.Min.Y)
	cb := chromaPlane{m.Cb[c0:], m.CStride, cw, ch}
	cr := chromaPlane{m.Cr[c0:], m.CStride, cw, ch}
	// One row of each upsampled chroma plane, cw·hs wide (≥ w).
	cbRow, crRow := make([]uint8, cw*hs), make([]uint8, cw*hs)
	y0 := m.YOffset(b.Min.X, b.Min.Y)
	for y := 0; y < h; y++ {
		cb.upsampleRow(cbRow, y, hs, vs)
		cr.upsampleRow(crRow, y, hs, vs)
		yrow := m.Y[y0+y*m.YStride : y0+y*m.YStride+w]
		out := dst.Pix[y*dst.Stride : y*dst.Stride+4*w]
		cbs, crs := cbRow[:len(yrow)], crRow[:len(yrow)]
		for x, yy := range yrow {
			r, g, bl := ycc2rgbLibjpeg(yy, cbs[x], crs[x])
			o := out[4*x : 4*x+4 : 4*x+4]
			o[0], o[1], o[2], o[3] = r, g, bl, 255
		}
	}
	return dst
}

// chromaFactors is the horizontal and vertical subsampling factor of the chroma planes.
func chromaFactors(r image.YCbCrSubsampleRatio) (hs, vs int) {
	switch r {
	case image.YCbCrSubsampleRatio422:
		return 2, 1
	case image.YCbCrSubsampleRatio420:
		return 2, 2
	case image.YCbCrSubsampleRatio440:
		return 1, 2
	case image.YCbCrSubsampleRatio411:
		return 4, 1
	case image.YCbCrSubsampleRatio410:
		return 4, 2
	}
	return 1, 1
}

// chromaPlane is a subsampled plane of cw × ch samples.
type chromaPlane struct {
	pix    []uint8
	stride int
	cw, ch int
}

func (p chromaPlane) row(cy int) []uint8 { return p.pix[cy*p.stride : cy*p.stride+p.cw] }

// upsampleRow writes output row y of the plane upsampled by hs × vs into out (len cw·hs), with the
// method libjpeg-turbo's jinit_upsampler picks under do_fancy_upsampling.
func (p chromaPlane) upsampleRow(out []uint8, y, hs, vs int) {
	cy := y / vs
	switch {
	case hs == 2 && vs == 2 && p.cw > 2:
		near, far := p.row(cy), p.row(verticalNeighbour(cy, y, p.ch))
		h2v2FancyRow(out, near, far)
	case hs == 2 && vs == 1 && p.cw > 2:
		h2v1FancyRow(out, p.row(cy))
	case hs == 1 && vs == 2:
		near, far := p.row(cy), p.row(verticalNeighbour(cy, y, p.ch))
		for x := range p.cw {
			out[x] = uint8((3*int(near[x]) + int(far[x]) + 1) >> 2)
		}
	default: // full size, or int_upsample / h2v1_upsample / h2v2_upsample: replication
		for x, v := range p.row(cy) {
			for k := range hs {
				out[x*hs+k] = v
			}
		}
	}
}

// verticalNeighbour is the chroma row that output row y (of chroma row cy, 2:1 vertical) is
// interpolated towards: the row above for the upper output row, below for the lower one. At the
// image's top and bottom jdmainct.c's context rows repeat the edge row.
func verticalNeighbour(cy, y, ch int) int {
	if y%2 == 0 {
		return max(cy-1, 0)
	}
	return min(cy+1, ch-1)
}

// h2v2FancyRow is jdsample.c's h2v2_fancy_upsample for one output row: the triangle filter in both
// dimensions (9/16, 3/16, 3/16, 1/16), near being the nearest input row and far the next nearest;
// the +8 / +7 biases alternate so that halves round up and down in turn. len(near) > 2.
func h2v2FancyRow(out, near, far []uint8) {
	n := len(near)
	colsum := func(i int) int { return 3*int(near[i]) + int(far[i]) }
	this, next := colsum(0), colsum(1)
	out[0] = uint8((this*4 + 8) >> 4)
	out[1] = uint8((this*3 + next + 7) >> 4)
	last := this
	this = next
	for i := 1; i < n-1; i++ {
		next = colsum(i + 1)
		out[2*i] = uint8((this*3 + last + 8) >> 4)
		out[2*i+1] = uint8((this*3 + next + 7) >> 4)
		last, this = this, next
	}
	out[2*n-2] = uint8((this*3 + last + 8) >> 4)
	out[2*n-1] = uint8((this*4 + 7) >> 4)
}

// h2v1FancyRow is jdsample.c's h2v1_fancy_upsample: 3/4 nearer + 1/4 further sample, biases +1 / +2
// alternating, edge samples copied. len(in) > 2.
func h2v1FancyRow(out, in []uint8) {
	n := len(in)
	out[0] = in[0]
	out[1] = uint8((3*int(in[0]) + int(in[1]) + 2) >> 2)
	for i := 1; i < n-1; i++ {
		v := 3 * int(in[i])
		out[2*i] = uint8((v + int(in[i-1]) + 1) >> 2)
		out[2*i+1] = uint8((v + int(in[i+1]) + 2) >> 2)
	}
	out[2*n-2] = uint8((3*int(in[n-1]) + int(in[n-2]) + 1) >> 2)
	out[2*n-1] = in[n-1]
}

// jdcolor.c's YCbCr → RGB tables (SCALEBITS 16, FIX(x) = x·2¹⁶ rounded, ONE_HALF folded into the
// Cb→G table), indexed by the 8-bit Cb or Cr sample.
var crR, cbB, crG, cbG = buildYCCTables()

func buildYCCTables() (crR, cbB, crG, cbG [256]int32) {
	const scaleBits = 16
	const oneHalf = 1 << (scaleBits - 1)
	fix := func(x float64) int32 { return int32(x*(1<<scaleBits) + 0.5) }
	for i := range 256 {
		x := int32(i - 128)
		crR[i] = (fix(1.40200)*x + oneHalf) >> scaleBits
		cbB[i] = (fix(1.77200)*x + oneHalf) >> scaleBits
		crG[i] = -fix(0.71414) * x
		cbG[i] = -fix(0.34414)*x + oneHalf
	}
	return
}

// ycc2rgbLibjpeg is jdcolor.c's ycc_rgb_convert for one pixel, with range limiting to [0, 255].
func ycc2rgbLibjpeg(y, cb, cr uint8) (r, g, b uint8) {
	yy := int32(y)
	return clampByte(yy + crR[cr]), clampByte(yy + (cbG[cb]+crG[cr])>>16), clampByte(yy + cbB[cb])
}

func clampByte(v int32) uint8 {
	return uint8(min(max(v, 0), 255))
}
