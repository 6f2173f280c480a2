package datasets

import (
	"bytes"
	"path/filepath"
	"slices"
	"testing"
)

func TestReadIDXFilePlainAndGzip(t *testing.T) {
	vals := make([]byte, 2*28*28)
	for i := range vals {
		vals[i] = byte(i)
	}
	raw := idxBytes([]int{2, 28, 28}, vals)
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "plain"), raw)
	writeFile(t, filepath.Join(dir, "zipped.gz"), gzipBytes(t, raw))
	for _, name := range []string{"plain", "zipped.gz"} {
		a, err := readIDXFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !slices.Equal(a.Dims, []int{2, 28, 28}) || !bytes.Equal(a.Data, vals) {
			t.Errorf("%s: dims %v", name, a.Dims)
		}
		if n, err := mnistImages(a, name); n != 2 || err != nil {
			t.Errorf("%s: mnistImages = %d, %v", name, n, err)
		}
	}
}

func TestReadIDXErrors(t *testing.T) {
	good := idxBytes([]int{3}, []byte{1, 2, 3})
	cases := []struct {
		name string
		in   []byte
		want string
	}{
		{"empty", nil, "IDX: truncated header (magic)"},
		{"bad magic", []byte{1, 2, 8, 1, 0, 0, 0, 0}, "IDX: bad magic 01020801"},
		{"float type", []byte{0, 0, 0x0d, 1, 0, 0, 0, 1, 0, 0, 0, 0}, "IDX: data type 0x0d not supported"},
		{"zero dims", []byte{0, 0, 8, 0}, "IDX: bad magic: 0 dimensions"},
		{"truncated dims", []byte{0, 0, 8, 3, 0, 0, 0, 1}, "IDX: truncated header (3 dimensions)"},
		{"truncated data", good[:len(good)-1], "IDX: truncated data: 2 of 3 bytes for dims [3]"},
		{"trailing data", append(slices.Clone(good), 9), "IDX: trailing bytes after the 3 data bytes"},
		{"huge", []byte{0, 0, 8, 3, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 2}, "hold more than"},
	}
	for _, c := range cases {
		_, err := readIDX(bytes.NewReader(c.in))
		if err == nil {
			t.Errorf("%s: no error", c.name)
			continue
		}
		wantErrContains(t, err.Error(), c.want)
	}
}

func TestReadIDXFileErrorsNameTheFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "t10k-images-idx3-ubyte.gz")
	full := gzipBytes(t, idxBytes([]int{1, 28, 28}, make([]byte, 784)))
	writeFile(t, p, full[:len(full)-12]) // cut inside the gzip stream
	_, err := readIDXFile(p)
	if err == nil {
		t.Fatal("truncated gzip: no error")
	}
	wantErrContains(t, err.Error(), "file "+p+": IDX:")

	wrong := &idxArray{Dims: []int{1, 28, 27}, Data: make([]byte, 28*27)}
	_, err = mnistImages(wrong, "img")
	wantErrContains(t, err.Error(), "file img: dims [1 28 27], want [N 28 28] images")
	_, err = mnistLabels(&idxArray{Dims: []int{2}, Data: []byte{3, 10}}, "lab")
	wantErrContains(t, err.Error(), "file lab: label 10 at index 1 is not a digit 0-9")
	_, err = mnistLabels(&idxArray{Dims: []int{1, 1}, Data: []byte{3}}, "lab")
	wantErrContains(t, err.Error(), "file lab: dims [1 1], want [N] labels")
}

func FuzzReadIDX(f *testing.F) {
	f.Add(idxBytes([]int{2, 2}, []byte{1, 2, 3, 4}))
	f.Add(idxBytes([]int{1, 28, 28}, make([]byte, 784)))
	f.Add([]byte{0, 0, 8, 1, 0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{0, 0, 8})
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := readIDX(bytes.NewReader(b))
		if err != nil {
			return
		}
		n := 1
		for _, d := range a.Dims {
			n *= d
		}
		if n != len(a.Data) {
			t.Fatalf("dims %v but %d values", a.Dims, len(a.Data))
		}
		mnistImages(a, "fuzz") // must not panic
		mnistLabels(a, "fuzz")
	})
}
