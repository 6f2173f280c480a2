package datasets

import (
	"bytes"
	"errors"
	"image/jpeg"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestEncodeNpyFloat32RoundTrip(t *testing.T) {
	for _, shape := range [][]int64{{5}, {2, 3}, {1, 2, 2}} {
		n := 1
		for _, d := range shape {
			n *= int(d)
		}
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(i)*0.5 - 1
		}
		b := EncodeNpyFloat32(shape, v)
		a, err := decodeNpy(b)
		if err != nil {
			t.Fatalf("shape %v: %v", shape, err)
		}
		if !slices.Equal(a.Data, v) || len(a.Shape) != len(shape) {
			t.Fatalf("shape %v: got shape %v data %v", shape, a.Shape, a.Data)
		}
		for i, d := range shape {
			if int64(a.Shape[i]) != d {
				t.Fatalf("shape %v: got %v", shape, a.Shape)
			}
		}
		if hl := int(b[8]) | int(b[9])<<8; (10+hl)%64 != 0 || b[10+hl-1] != '\n' {
			t.Errorf("shape %v: header of %d bytes is not padded to 64 with a final newline", shape, hl)
		}
	}
	if got := string(EncodeNpyFloat32([]int64{3}, make([]float32, 3))[10:]); !strings.HasPrefix(got, "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }") {
		t.Errorf("1-D header %q, want numpy's (3,) tuple", got[:60])
	}
}

func TestEncodeWAVRoundTrip(t *testing.T) {
	s := sine(440, 0.5, 16000, 1000)
	w, err := readWAV(bytes.NewReader(EncodeWAVPCM16(16000, s)))
	if err != nil {
		t.Fatal(err)
	}
	if w.SampleRate != 16000 || !slices.Equal(w.Samples, s) {
		t.Fatalf("rate %d, %d samples", w.SampleRate, len(w.Samples))
	}
}

// exportReal exports the shared data's AV-MNIST in layout with a cap per split into a new folder.
func exportReal(t *testing.T, layout string, limit int, spec string) (string, *ExportSummary) {
	t.Helper()
	root := realDataRoot(t, "mnist")
	realDataRoot(t, "fsdd")
	out := filepath.Join(t.TempDir(), "export")
	sum, err := Export(ExportOptions{Spec: spec, Layout: layout, Out: out, DataDir: root, Limit: limit})
	if err != nil {
		t.Fatal(err)
	}
	return out, sum
}

// readTree returns every file under dir by relative path.
func readTree(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		rel, _ := filepath.Rel(dir, p)
		files[rel] = b
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func TestExportCremadLoadsAndIsDeterministic(t *testing.T) {
	out, sum := exportReal(t, "cremad", 30, "avmnist")
	if sum.Train != 30 || sum.Test != 30 || sum.Classes != 6 || sum.Files != 3+60*4 {
		t.Fatalf("summary %+v", sum)
	}
	files := readTree(t, out)
	if len(files) != sum.Files {
		t.Errorf("%d files on disk, summary says %d", len(files), sum.Files)
	}
	// The frames are 3-component (YCbCr) JPEGs of the loaders' frame size.
	for rel, b := range files {
		if strings.HasSuffix(rel, ".jpg") {
			cfg, err := jpeg.DecodeConfig(bytes.NewReader(b))
			if err != nil || cfg.Width != FrameSize || cfg.Height != FrameSize {
				t.Fatalf("%s: %+v %v", rel, cfg, err)
			}
			if b[0] != 0xff || !bytes.Contains(b[:1024], []byte{0xff, 0xc0, 0, 17, 8, 0, 224, 0, 224, 3, 1, 0x22}) {
				t.Fatalf("%s: not a 3-component 4:2:0 baseline 224x224 JPEG", rel)
			}
			break
		}
	}
	s := loadSpec(t, "cremad", 1, out)
	if s.Train.Len()+s.Val.Len() != 30 || s.Test.Len() != 30 || s.Val.Len() != 6 {
		t.Fatalf("sizes %d/%d/%d", s.Train.Len(), s.Val.Len(), s.Test.Len())
	}
	x := readOne(t, s, s.Test, 0)
	if len(x[1]) != 3*FrameSize*FrameSize {
		t.Fatalf("visual %d values", len(x[1]))
	}
	// Same inputs, same bytes; replacing a previous export in place is allowed.
	again := filepath.Join(t.TempDir(), "again")
	for range 2 {
		if _, err := Export(ExportOptions{Spec: "avmnist", Layout: "cremad", Out: again, DataDir: realDataRoot(t, "mnist"), Limit: 30}); err != nil {
			t.Fatal(err)
		}
	}
	other := readTree(t, again)
	if len(other) != len(files) {
		t.Fatalf("second export has %d files, first %d", len(other), len(files))
	}
	for rel, b := range files {
		if !bytes.Equal(other[rel], b) {
			t.Fatalf("%s differs between two exports", rel)
		}
	}
}

func TestExportKSLoads(t *testing.T) {
	out, sum := exportReal(t, "ks", 40, "avmnist")
	if sum.Classes != 10 || sum.Files != 3+80*11 {
		t.Fatalf("summary %+v", sum)
	}
	s := loadSpec(t, "ks:classes=10,val=0.25", 1, out)
	want := []int64{1, int64(ksExportSpectrogram.OutFrames()), int64(ksExportSpectrogram.Bins())}
	if !slices.Equal(s.Modalities[0].Shape, want) {
		t.Fatalf("audio shape %v, want %v", s.Modalities[0].Shape, want)
	}
	readOne(t, s, s.Test, 3)
}

func TestExportRefusesForeignFolders(t *testing.T) {
	root := realDataRoot(t, "mnist")
	realDataRoot(t, "fsdd")
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "notes.txt"), []byte("mine"))
	var ue *ExportUsageError
	_, err := Export(ExportOptions{Spec: "avmnist", Layout: "cremad", Out: dir, DataDir: root, Limit: 6})
	if !errors.As(err, &ue) || !strings.Contains(err.Error(), "notes.txt") {
		t.Fatalf("non-empty folder: %v", err)
	}
	os.Remove(filepath.Join(dir, "notes.txt"))
	writeFile(t, filepath.Join(dir, "cremad", "train.csv"), []byte("x,NEU\n"))
	_, err = Export(ExportOptions{Spec: "avmnist", Layout: "cremad", Out: dir, DataDir: root, Limit: 6})
	if !errors.As(err, &ue) || !strings.Contains(err.Error(), ExportManifest) {
		t.Fatalf("cremad/ without manifest: %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "cremad", "train.csv")); string(b) != "x,NEU\n" {
		t.Fatal("a refused export changed the folder")
	}
	for _, o := range []ExportOptions{
		{Spec: "avmnist", Layout: "ucf101", Out: dir},
		{Spec: "synthetic", Layout: "cremad", Out: dir},
		{Spec: "avmnist:n_val=5", Layout: "cremad", Out: dir},
		{Spec: "avmnist:bogus=1", Layout: "cremad", Out: dir},
		{Spec: "avmnist", Layout: "cremad", Out: dir, Limit: -1},
	} {
		if _, err := Export(o); !errors.As(err, &ue) {
			t.Errorf("%+v: %v, want a usage error", o, err)
		}
	}
}
