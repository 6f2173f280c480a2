package datasets

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
)

// NumPy .npy files (format versions 1.0, 2.0 and 3.0): the magic "\x93NUMPY", a major and minor
// version byte, the header length (uint16 little-endian in 1.0, uint32 in 2.0 and 3.0), a Python dict
// literal {'descr': '<f4', 'fortran_order': False, 'shape': (N, T, D), } padded with spaces and a
// newline, then the raw array in C order. Only float32 and float64 of either byte order (all the
// datasets here need) and uint8 (images) are read; values are converted to float32.

// npyHeader is what the header says about the array that follows it.
type npyHeader struct {
	Descr    string // e.g. "<f4"
	Shape    []int
	DataOff  int64 // bytes before the data: magic, version, length field and header text
	itemSize int
	order    binary.ByteOrder
}

// npyArray is a decoded .npy array.
type npyArray struct {
	Shape []int
	Data  []float32
}

const (
	npyMagic     = "\x93NUMPY"
	npyMaxHeader = 1 << 20 // numpy's own limit is far lower; this bounds the read of a corrupt header
	npyMaxElems  = 1 << 36 // bounds the product of the dimensions before any allocation
)

// Len is the number of elements the shape holds.
func (h *npyHeader) Len() int {
	n := 1
	for _, d := range h.Shape {
		n *= d
	}
	return n
}

// DataBytes is the size of the raw array.
func (h *npyHeader) DataBytes() int64 { return int64(h.Len()) * int64(h.itemSize) }

// readNpyHeader reads and checks everything before the data.
func readNpyHeader(r io.Reader) (*npyHeader, error) {
	var pre [8]byte
	if _, err := io.ReadFull(r, pre[:]); err != nil {
		return nil, fmt.Errorf("npy: truncated preamble: %w", err)
	}
	if string(pre[:6]) != npyMagic {
		return nil, fmt.Errorf("npy: not a .npy file (starts with %q, want %q)", pre[:6], npyMagic)
	}
	major := pre[6]
	var hlen int64
	off := int64(8)
	switch major {
	case 1:
		var b [2]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return nil, fmt.Errorf("npy: truncated header length: %w", err)
		}
		hlen, off = int64(binary.LittleEndian.Uint16(b[:])), off+2
	case 2, 3:
		var b [4]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return nil, fmt.Errorf("npy: truncated header length: %w", err)
		}
		hlen, off = int64(binary.LittleEndian.Uint32(b[:])), off+4
	default:
		return nil, fmt.Errorf("npy: format version %d.%d, want 1.0, 2.0 or 3.0", major, pre[7])
	}
	if hlen > npyMaxHeader {
		return nil, fmt.Errorf("npy: header of %d bytes is not plausible", hlen)
	}
	text := make([]byte, hlen)
	if _, err := io.ReadFull(r, text); err != nil {
		return nil, fmt.Errorf("npy: truncated header (%d bytes announced): %w", hlen, err)
	}
	h, err := parseNpyDict(string(text))
	if err != nil {
		return nil, err
	}
	h.DataOff = off + hlen
	return h, nil
}

// parseNpyDict reads the header dict and checks its three keys.
func parseNpyDict(text string) (*npyHeader, error) {
	p := &pyLiteral{s: text}
	v, err := p.parseValue()
	if err != nil {
		return nil, fmt.Errorf("npy: header %q: %w", npyShort(text, 120), err)
	}
	if p.skipSpace(); p.i != len(p.s) {
		return nil, fmt.Errorf("npy: header %q: unexpected text after the dict at byte %d", npyShort(text, 120), p.i)
	}
	d, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("npy: header %q is not a dict", npyShort(text, 120))
	}
	descr, ok1 := d["descr"].(string)
	fortran, ok2 := d["fortran_order"].(bool)
	shape, ok3 := d["shape"].([]int)
	if !ok1 || !ok2 || !ok3 {
		return nil, fmt.Errorf("npy: header %q: want 'descr' (a string), 'fortran_order' (a bool) and 'shape' (a tuple of ints)", npyShort(text, 120))
	}
	if fortran {
		return nil, fmt.Errorf("npy: array is in Fortran order; save it in C order (numpy.ascontiguousarray)")
	}
	h := &npyHeader{Descr: descr, Shape: shape}
	switch descr {
	case "<f4", ">f4", "<f8", ">f8":
		h.itemSize = int(descr[2] - '0')
		h.order = binary.ByteOrder(binary.LittleEndian)
		if descr[0] == '>' {
			h.order = binary.BigEndian
		}
	case "|u1", "<u1", ">u1":
		h.itemSize, h.order = 1, binary.LittleEndian
	default:
		return nil, fmt.Errorf("npy: dtype %q, want float32, float64 or uint8 ('<f4', '<f8', '|u1')", descr)
	}
	n := 1
	for _, dim := range shape {
		if dim < 0 || (dim > 0 && n > npyMaxElems/dim) {
			return nil, fmt.Errorf("npy: shape %v is not plausible", shape)
		}
		n *= dim
	}
	return h, nil
}

// readNpyData reads h.Len() values of the header's dtype as float32. size is the number of bytes left
// in the stream after the header (or -1 if unknown); a mismatch is an error before anything is
// allocated, so a lying header cannot force a huge allocation.
func readNpyData(r io.Reader, h *npyHeader, size int64) ([]float32, error) {
	want := h.DataBytes()
	if size >= 0 && size != want {
		return nil, fmt.Errorf("npy: %d data bytes after the header, but shape %v of %s needs %d", size, h.Shape, h.Descr, want)
	}
	out := make([]float32, 0, min(h.Len(), 1<<20))
	buf := make([]byte, 1<<16-(1<<16)%h.itemSize)
	for left := want; left > 0; {
		chunk := buf[:min(int64(len(buf)), left)]
		if _, err := io.ReadFull(r, chunk); err != nil {
			return nil, fmt.Errorf("npy: truncated data: %d of %d bytes: %w", want-left, want, err)
		}
		out = appendFloats(out, chunk, h)
		left -= int64(len(chunk))
	}
	return out, nil
}

func appendFloats(out []float32, b []byte, h *npyHeader) []float32 {
	switch h.itemSize {
	case 1:
		for _, v := range b {
			out = append(out, float32(v))
		}
		return out
	case 4:
		for i := 0; i+4 <= len(b); i += 4 {
			out = append(out, math.Float32frombits(h.order.Uint32(b[i:])))
		}
		return out
	}
	for i := 0; i+8 <= len(b); i += 8 {
		out = append(out, float32(math.Float64frombits(h.order.Uint64(b[i:]))))
	}
	return out
}

// decodeNpy decodes a whole .npy file held in memory.
func decodeNpy(b []byte) (*npyArray, error) {
	r := bytes.NewReader(b)
	h, err := readNpyHeader(r)
	if err != nil {
		return nil, err
	}
	data, err := readNpyData(r, h, int64(r.Len()))
	if err != nil {
		return nil, err
	}
	return &npyArray{Shape: h.Shape, Data: data}, nil
}

// openNpy opens a .npy file and reads its header through a buffer of bufSize bytes (small when only
// the header is wanted); the caller closes the file and reads the data from r. dataBytes is what
// follows the header on disk.
func openNpy(path string, bufSize int) (f *os.File, r *bufio.Reader, h *npyHeader, dataBytes int64, err error) {
	if f, err = os.Open(path); err != nil {
		return nil, nil, nil, 0, err
	}
	fi, err := f.Stat()
	if err == nil {
		r = bufio.NewReaderSize(f, bufSize)
		h, err = readNpyHeader(r)
	}
	if err != nil {
		f.Close()
		return nil, nil, nil, 0, err
	}
	return f, r, h, fi.Size() - h.DataOff, nil
}

// readNpyFile reads a .npy file; errors name the file.
func readNpyFile(path string) (*npyArray, error) {
	f, r, h, n, err := openNpy(path, 1<<16)
	if err != nil {
		return nil, fmt.Errorf("file %s: %w", path, err)
	}
	defer f.Close()
	data, err := readNpyData(r, h, n)
	if err != nil {
		return nil, fmt.Errorf("file %s: %w", path, err)
	}
	return &npyArray{Shape: h.Shape, Data: data}, nil
}

// readNpyFileHeader reads only the header of a .npy file and checks the file's size against it.
func readNpyFileHeader(path string) (*npyHeader, error) {
	f, _, h, n, err := openNpy(path, 4096)
	if err != nil {
		return nil, fmt.Errorf("file %s: %w", path, err)
	}
	f.Close()
	if n != h.DataBytes() {
		return nil, fmt.Errorf("file %s: npy: %d data bytes after the header, but shape %v of %s needs %d", path, n, h.Shape, h.Descr, h.DataBytes())
	}
	return h, nil
}

// pyLiteral parses the subset of Python literals a .npy header uses: dicts with string keys,
// strings, True/False, and (possibly empty or one-element) tuples of non-negative integers (an 'L'
// suffix, written by Python 2, is accepted).
type pyLiteral struct {
	s     string
	i     int
	depth int
}

func (p *pyLiteral) skipSpace() {
	for p.i < len(p.s) && strings.ContainsRune(" \t\r\n", rune(p.s[p.i])) {
		p.i++
	}
}

func (p *pyLiteral) errorf(format string, args ...any) error {
	return fmt.Errorf("byte %d: %s", p.i, fmt.Sprintf(format, args...))
}

func (p *pyLiteral) parseValue() (any, error) {
	p.skipSpace()
	if p.i >= len(p.s) {
		return nil, p.errorf("unexpected end")
	}
	if p.depth++; p.depth > 8 {
		return nil, p.errorf("nested too deeply")
	}
	defer func() { p.depth-- }()
	switch c := p.s[p.i]; {
	case c == '{':
		return p.parseDict()
	case c == '(':
		return p.parseTuple()
	case c == '\'' || c == '"':
		return p.parseString()
	case strings.HasPrefix(p.s[p.i:], "True"):
		p.i += 4
		return true, nil
	case strings.HasPrefix(p.s[p.i:], "False"):
		p.i += 5
		return false, nil
	case c >= '0' && c <= '9':
		return p.parseInt()
	default:
		return nil, p.errorf("unexpected %q", c)
	}
}

func (p *pyLiteral) parseDict() (any, error) {
	p.i++ // '{'
	d := map[string]any{}
	for {
		p.skipSpace()
		if p.i < len(p.s) && p.s[p.i] == '}' {
			p.i++
			return d, nil
		}
		k, err := p.parseString()
		if err != nil {
			return nil, err
		}
		if p.skipSpace(); p.i >= len(p.s) || p.s[p.i] != ':' {
			return nil, p.errorf("want ':' after key %q", k)
		}
		p.i++
		v, err := p.parseValue()
		if err != nil {
			return nil, err
		}
		if _, dup := d[k]; dup {
			return nil, p.errorf("key %q given twice", k)
		}
		d[k] = v
		if err := p.listSep('}'); err != nil {
			return nil, err
		}
	}
}

// listSep consumes a ',' or leaves the closing bracket for the caller.
func (p *pyLiteral) listSep(closing byte) error {
	p.skipSpace()
	switch {
	case p.i < len(p.s) && p.s[p.i] == ',':
		p.i++
		return nil
	case p.i < len(p.s) && p.s[p.i] == closing:
		return nil
	default:
		return p.errorf("want ',' or %q", closing)
	}
}

func (p *pyLiteral) parseTuple() (any, error) {
	p.i++ // '('
	out := []int{}
	for {
		p.skipSpace()
		if p.i < len(p.s) && p.s[p.i] == ')' {
			p.i++
			return out, nil
		}
		n, err := p.parseInt()
		if err != nil {
			return nil, err
		}
		out = append(out, n)
		if len(out) > 32 {
			return nil, p.errorf("tuple longer than 32")
		}
		if err := p.listSep(')'); err != nil {
			return nil, err
		}
	}
}

func (p *pyLiteral) parseString() (string, error) {
	p.skipSpace()
	if p.i >= len(p.s) || (p.s[p.i] != '\'' && p.s[p.i] != '"') {
		return "", p.errorf("want a quoted string")
	}
	q := p.s[p.i]
	end := strings.IndexByte(p.s[p.i+1:], q)
	if end < 0 {
		return "", p.errorf("unterminated string")
	}
	s := p.s[p.i+1 : p.i+1+end]
	if strings.ContainsRune(s, '\\') {
		return "", p.errorf("escapes in strings are not supported")
	}
	p.i += end + 2
	return s, nil
}

func (p *pyLiteral) parseInt() (int, error) {
	p.skipSpace()
	j := p.i
	for j < len(p.s) && p.s[j] >= '0' && p.s[j] <= '9' {
		j++
	}
	n, err := strconv.ParseInt(p.s[p.i:j], 10, 64)
	if err != nil || n > npyMaxElems {
		return 0, p.errorf("want a non-negative integer, got %q", npyShort(p.s[p.i:j], 20))
	}
	p.i = j
	if p.i < len(p.s) && p.s[p.i] == 'L' {
		p.i++
	}
	return int(n), nil
}

// npyShort shortens s for messages.
func npyShort(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
