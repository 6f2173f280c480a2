package datasets

import (
	"bufio"
	"compress/gzip"
	"encoding/binary"
	"fmt"
	"io"
	"os"
)

// IDX is the MNIST file format (big-endian): two zero bytes, a type byte, the number of dimensions,
// one uint32 per dimension, then the values row-major. Only type 0x08 (unsigned byte) is supported:
// it is the only type the MNIST files use.
const (
	idxTypeUbyte = 0x08
	idxMaxDims   = 8
	idxMaxValues = 1 << 31 // far above MNIST (47 M bytes for the training images)
)

// idxArray is a decoded IDX file of unsigned bytes.
type idxArray struct {
	Dims []int
	Data []byte
}

// readIDXFile opens path, decompressing it when it starts with the gzip magic (whatever its name).
func readIDXFile(path string) (*idxArray, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("file %s: %w", path, err)
	}
	defer f.Close()
	br := bufio.NewReader(f)
	var r io.Reader = br
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("file %s: gzip: %w", path, err)
		}
		defer zr.Close()
		r = zr
	}
	a, err := readIDX(r)
	if err != nil {
		return nil, fmt.Errorf("file %s: %w", path, err)
	}
	return a, nil
}

// readIDX decodes an IDX stream. It reports a bad magic number, an unsupported type, a truncated
// header or body, and trailing bytes after the declared data (a sign of a wrong or corrupt file).
// The body is read incrementally, so a header that claims a huge size cannot force a huge allocation
// before the data run out.
func readIDX(r io.Reader) (*idxArray, error) {
	var magic [4]byte
	if _, err := io.ReadFull(r, magic[:]); err != nil {
		return nil, fmt.Errorf("IDX: truncated header (magic): %w", err)
	}
	if magic[0] != 0 || magic[1] != 0 {
		return nil, fmt.Errorf("IDX: bad magic %02x%02x%02x%02x (want 0000 then type and dimension count)", magic[0], magic[1], magic[2], magic[3])
	}
	if magic[2] != idxTypeUbyte {
		return nil, fmt.Errorf("IDX: data type 0x%02x not supported (want 0x08, unsigned byte)", magic[2])
	}
	nd := int(magic[3])
	if nd < 1 || nd > idxMaxDims {
		return nil, fmt.Errorf("IDX: bad magic: %d dimensions (want 1 to %d)", nd, idxMaxDims)
	}
	dims, total, err := readIDXDims(r, nd)
	if err != nil {
		return nil, err
	}
	body, err := io.ReadAll(io.LimitReader(r, int64(total)+1))
	if err != nil {
		return nil, fmt.Errorf("IDX: reading data: %w", err)
	}
	if len(body) < total {
		return nil, fmt.Errorf("IDX: truncated data: %d of %d bytes for dims %v", len(body), total, dims)
	}
	if len(body) > total {
		return nil, fmt.Errorf("IDX: trailing bytes after the %d data bytes of dims %v", total, dims)
	}
	return &idxArray{Dims: dims, Data: body}, nil
}

// readIDXDims reads nd big-endian uint32 dimensions and returns them with their product.
func readIDXDims(r io.Reader, nd int) ([]int, int, error) {
	raw := make([]byte, 4*nd)
	if _, err := io.ReadFull(r, raw); err != nil {
		return nil, 0, fmt.Errorf("IDX: truncated header (%d dimensions): %w", nd, err)
	}
	dims := make([]int, nd)
	total := 1
	for i := range dims {
		dims[i] = int(binary.BigEndian.Uint32(raw[4*i:]))
		if dims[i] > 0 && total > idxMaxValues/dims[i] {
			return nil, 0, fmt.Errorf("IDX: dims %v hold more than %d values", dims[:i+1], idxMaxValues)
		}
		total *= dims[i]
	}
	return dims, total, nil
}

// mnistImages checks that a is a stack of 28×28 images and returns their count.
func mnistImages(a *idxArray, name string) (int, error) {
	if len(a.Dims) != 3 || a.Dims[1] != 28 || a.Dims[2] != 28 {
		return 0, fmt.Errorf("file %s: dims %v, want [N 28 28] images", name, a.Dims)
	}
	return a.Dims[0], nil
}

// mnistLabels checks that a is a vector of digits 0-9 and returns them.
func mnistLabels(a *idxArray, name string) ([]int64, error) {
	if len(a.Dims) != 1 {
		return nil, fmt.Errorf("file %s: dims %v, want [N] labels", name, a.Dims)
	}
	y := make([]int64, len(a.Data))
	for i, b := range a.Data {
		if b > 9 {
			return nil, fmt.Errorf("file %s: label %d at index %d is not a digit 0-9", name, b, i)
		}
		y[i] = int64(b)
	}
	return y, nil
}
