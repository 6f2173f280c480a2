package encoders

// A reader of the safetensors format (https://github.com/huggingface/safetensors), enough for
// pretrained weights: gotch v0.9.1 reads only PyTorch's own .pt archives (through libtorch's jit
// loader) and npz files. The format is an 8-byte little-endian header length N, N bytes of JSON
// {name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {…}}, then the raw
// little-endian, row-major data; offsets count from the end of the header.

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math"
	"os"
	"slices"
)

// stTensor is one tensor of a safetensors file.
type stTensor struct {
	DType   string   `json:"dtype"`
	Shape   []int64  `json:"shape"`
	Offsets [2]int64 `json:"data_offsets"`
}

// safetensors is a parsed file: its header and its data (the bytes after the header), which is nil
// when only the header was read.
type safetensors struct {
	tensors map[string]stTensor
	data    []byte
}

// stItemSize is the size in bytes of an element of the dtypes we read (floats are converted to
// float32; integers, e.g. BatchNorm's num_batches_tracked, are recognised but never read).
var stItemSize = map[string]int64{"F16": 2, "BF16": 2, "F32": 4, "F64": 8, "I64": 8, "I32": 4, "U8": 1, "I8": 1, "BOOL": 1}

// maxSTHeader bounds the JSON header (the format's own limit is 100 MB).
const maxSTHeader = 100 << 20

// stHeaderLen reads the 8-byte header length at the start of a file of fileSize bytes.
func stHeaderLen(first8 []byte, fileSize int64) (int64, error) {
	if len(first8) < 8 || fileSize < 8 {
		return 0, fmt.Errorf("not a safetensors file: shorter than its 8-byte header length")
	}
	n := binary.LittleEndian.Uint64(first8)
	if n > maxSTHeader || int64(n) > fileSize-8 {
		return 0, fmt.Errorf("not a safetensors file: header length %d does not fit the file's %d bytes", n, fileSize)
	}
	return int64(n), nil
}

// parseSTHeader parses the JSON header and checks every tensor's dtype, shape and offsets against
// dataSize, the number of bytes after the header.
func parseSTHeader(hdr []byte, dataSize int64) (*safetensors, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(hdr, &raw); err != nil {
		return nil, fmt.Errorf("not a safetensors file: header is not a JSON object: %w", err)
	}
	f := &safetensors{tensors: map[string]stTensor{}}
	for _, name := range slices.Sorted(maps.Keys(raw)) {
		if name == "__metadata__" {
			continue
		}
		var t stTensor
		if err := json.Unmarshal(raw[name], &t); err != nil {
			return nil, fmt.Errorf("tensor %s: bad header entry: %w", name, err)
		}
		size, ok := stItemSize[t.DType]
		if !ok {
			return nil, fmt.Errorf("tensor %s: unknown dtype %q", name, t.DType)
		}
		for _, d := range t.Shape {
			if d < 0 {
				return nil, fmt.Errorf("tensor %s: negative dimension in shape %v", name, t.Shape)
			}
			size *= d
		}
		b, e := t.Offsets[0], t.Offsets[1]
		if b < 0 || e < b || e > dataSize || e-b != size {
			return nil, fmt.Errorf("tensor %s: data_offsets [%d, %d] do not hold its %s%v (%d bytes) within the %d data bytes",
				name, b, e, t.DType, t.Shape, size, dataSize)
		}
		f.tensors[name] = t
	}
	return f, nil
}

// parseSafetensors parses a whole file held in memory.
func parseSafetensors(b []byte) (*safetensors, error) {
	n, err := stHeaderLen(b, int64(len(b)))
	if err != nil {
		return nil, err
	}
	f, err := parseSTHeader(b[8:8+n], int64(len(b))-8-n)
	if err != nil {
		return nil, err
	}
	f.data = b[8+n:]
	return f, nil
}

// readSTHeader reads and checks the header of a safetensors file, without its data.
func readSTHeader(path string) (*safetensors, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	fi, err := fh.Stat()
	if err != nil {
		return nil, err
	}
	var first8 [8]byte
	if _, err := io.ReadFull(fh, first8[:]); err != nil && fi.Size() >= 8 {
		return nil, err
	}
	n, err := stHeaderLen(first8[:], fi.Size())
	if err != nil {
		return nil, err
	}
	hdr := make([]byte, n)
	if _, err := io.ReadFull(fh, hdr); err != nil {
		return nil, err
	}
	return parseSTHeader(hdr, fi.Size()-8-n)
}

// float32s returns a floating-point tensor's elements as float32, row-major.
func (f *safetensors) float32s(name string) ([]float32, error) {
	t, ok := f.tensors[name]
	if !ok {
		return nil, fmt.Errorf("tensor %s: not in the file", name)
	}
	raw := f.data[t.Offsets[0]:t.Offsets[1]]
	var out []float32
	switch t.DType {
	case "F32":
		out = make([]float32, len(raw)/4)
		for i := range out {
			out[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
		}
	case "F64":
		out = make([]float32, len(raw)/8)
		for i := range out {
			out[i] = float32(math.Float64frombits(binary.LittleEndian.Uint64(raw[8*i:])))
		}
	case "F16":
		out = make([]float32, len(raw)/2)
		for i := range out {
			out[i] = halfToFloat32(binary.LittleEndian.Uint16(raw[2*i:]))
		}
	case "BF16":
		out = make([]float32, len(raw)/2)
		for i := range out {
			out[i] = math.Float32frombits(uint32(binary.LittleEndian.Uint16(raw[2*i:])) << 16)
		}
	default:
		return nil, fmt.Errorf("tensor %s: dtype %s is not a floating-point type", name, t.DType)
	}
	return out, nil
}

// isFloatDType reports whether float32s can read a dtype.
func isFloatDType(d string) bool { return d == "F32" || d == "F64" || d == "F16" || d == "BF16" }

// halfToFloat32 converts an IEEE 754 binary16 value.
func halfToFloat32(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	mant := uint32(h) & 0x3ff
	switch {
	case exp == 0 && mant == 0:
		return math.Float32frombits(sign)
	case exp == 0: // subnormal: mant · 2⁻²⁴
		v := float32(mant) * float32(math.Ldexp(1, -24))
		if sign != 0 {
			v = -v
		}
		return v
	case exp == 0x1f:
		return math.Float32frombits(sign | 0xff<<23 | mant<<13)
	}
	return math.Float32frombits(sign | (exp+127-15)<<23 | mant<<13)
}
