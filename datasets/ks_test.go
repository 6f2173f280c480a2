package datasets

import (
	"fmt"
	"image/color"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// ksFixture writes a tiny Kinetics-Sounds copy in the BalanceBenchmark layout under dir/ks: 3
// classes, per class nTr training and nTe test clips. Audio: a (16, 8) float32 .npy whose values are
// label + j/1000 (j = flat index). Frames: frame_00001.jpg … frame_00010.jpg (6×4), red 20·t, green
// 50·label. The training list is OGM-GE's "name,10,label" with CRLF (my_train.txt), the test list
// BalanceBenchmark's "name label" (test.txt).
func ksFixture(t *testing.T, dir string, nTr, nTe int) string {
	t.Helper()
	root := filepath.Join(dir, "ks")
	var tr, te strings.Builder
	for k := 0; k < 3; k++ {
		for i := 0; i < nTr+nTe; i++ {
			part, name := "train", fmt.Sprintf("yt%d-%d_%06d_%06d", k, i, 10*i, 10*i+10)
			if i < nTr {
				fmt.Fprintf(&tr, "%s,10,%d\r\n", name, k)
			} else {
				part, name = "test", fmt.Sprintf("yt%d-%d_%d", k, i, i)
				fmt.Fprintf(&te, "%s %d\n", name, k)
			}
			vals := make([]float64, 16*8)
			for j := range vals {
				vals[j] = float64(k) + float64(j)/1000
			}
			writeFile(t, filepath.Join(root, part+"_spec", name+".npy"), npyBytes("<f4", []int{16, 8}, vals))
			for f := 1; f <= 10; f++ {
				writeFile(t, filepath.Join(root, part+"_frames", name, fmt.Sprintf("frame_%05d.jpg", f)),
					solidJPEG(t, 6, 4, color.RGBA{uint8(20 * f), uint8(50 * k), 0, 255}))
			}
		}
	}
	writeFile(t, filepath.Join(root, "my_train.txt"), []byte(tr.String()))
	writeFile(t, filepath.Join(root, "test.txt"), []byte(te.String()))
	return root
}

func TestKSFixture(t *testing.T) {
	dir := t.TempDir()
	ksFixture(t, dir, 5, 1)
	s := loadSpec(t, "ks:classes=3", 1, dir)
	if a, v := s.Modalities[0], s.Modalities[1]; s.NumClasses != 3 || a.Name != "audio" || !slices.Equal(a.Shape, []int64{1, 16, 8}) ||
		v.Name != "visual" || !slices.Equal(v.Shape, []int64{3, 3, 224, 224}) {
		t.Fatalf("classes %d, modalities %+v", s.NumClasses, s.Modalities)
	}
	if s.Train.Len() != 12 || s.Val.Len() != 3 || s.Test.Len() != 3 {
		t.Fatalf("sizes %d/%d/%d, want 12/3/3", s.Train.Len(), s.Val.Len(), s.Test.Len())
	}
	if s.Params["classes"] != "3" || s.Params["frames"] != "3" || s.Params["val"] != "0.1" {
		t.Errorf("Params %v", s.Params)
	}
	hw := 224 * 224
	for _, sp := range []struct {
		name string
		y    []int64
		read func(i int) [][]float32
	}{
		{"train", s.Train.Y, func(i int) [][]float32 { return readOne(t, s, s.Train, i) }},
		{"test", s.Test.Y, func(i int) [][]float32 { return readOne(t, s, s.Test, i) }},
	} {
		for i, y := range sp.y {
			x := sp.read(i)
			if !closeTo(float64(x[0][0]), float64(y), 1e-6) || !closeTo(float64(x[0][127]), float64(y)+0.127, 1e-6) {
				t.Fatalf("%s sample %d (label %d): audio %g … %g", sp.name, i, y, x[0][0], x[0][127])
			}
			// Frames 1, 4, 7 of 10 (segments of 3, the middle-ish of each): red 20, 80, 140.
			for f, red := range []uint8{20, 80, 140} {
				if got := float64(x[1][f*hw+500]); !closeTo(got, imagenet(red, 0), 0.1) {
					t.Errorf("%s sample %d, frame %d: red %g, want ≈ %g", sp.name, i, f, got, imagenet(red, 0))
				}
			}
			if got := float64(x[1][(3+1)*hw+7]); !closeTo(got, imagenet(uint8(50*y), 1), 0.1) {
				t.Errorf("%s sample %d: green %g, want ≈ %g (label %d)", sp.name, i, got, imagenet(uint8(50*y), 1), y)
			}
		}
	}
	if got := segmentFrames(10, 3); !slices.Equal(got, []int{0, 3, 6}) {
		t.Errorf("segmentFrames(10, 3) = %v, want [0 3 6]", got)
	}
}

func TestKSMissingAndMalformed(t *testing.T) {
	empty := t.TempDir()
	wantErrContains(t, loadSpecErr(t, "ks", 1, empty), "dataset ks: list files not found",
		filepath.Join(empty, "ks", "train.txt")+" or "+filepath.Join(empty, "ks", "my_train.txt"),
		filepath.Join(empty, "ks", "test.txt")+" or "+filepath.Join(empty, "ks", "my_test.txt"))

	dir := t.TempDir()
	root := ksFixture(t, dir, 5, 1)
	wantErrContains(t, loadSpecErr(t, "ks", 1, dir), "dataset ks: class 3 is missing from the training split")
	wantErrContains(t, loadSpecErr(t, "ks:classes=2", 1, dir), "my_train.txt, line 11: label 2 out of range [0, 2)")
	npy := filepath.Join(root, "train_spec", "yt0-1_000010_000020.npy")
	os.Remove(npy)
	wantErrContains(t, loadSpecErr(t, "ks:classes=3", 1, dir), "1 of 15 clips of "+filepath.Join(root, "my_train.txt"), npy+" (missing)", "missing=skip")
	writeFile(t, npy, npyBytes("<f4", []int{16, 8}, make([]float64, 128)))
	few := filepath.Join(root, "test_frames", "yt2-5_5")
	for f := 4; f <= 10; f++ {
		os.Remove(filepath.Join(few, fmt.Sprintf("frame_%05d.jpg", f)))
	}
	os.Rename(filepath.Join(root, "my_train.txt"), filepath.Join(root, "train.txt"))
	wantErrContains(t, loadSpecErr(t, "ks:classes=3", 1, dir), "1 of 3 clips of "+filepath.Join(root, "test.txt"),
		few+"/ (3 .jpg/.png frames, need at least 4)")
	if s := loadSpec(t, "ks:classes=3,missing=skip", 1, dir); s.Test.Len() != 2 {
		t.Errorf("missing=skip kept %d test clips, want 2", s.Test.Len())
	}
	for f := 4; f <= 10; f++ {
		writeFile(t, filepath.Join(few, fmt.Sprintf("frame_%05d.jpg", f)), solidJPEG(t, 6, 4, color.RGBA{}))
	}

	// Malformed audio files are reported when read.
	bad := filepath.Join(root, "test_spec", "yt0-5_5.npy")
	writeFile(t, bad, []byte("\x93NUMPY\x01\x00\x10\x00{'descr': '<i4'}"))
	wrongShape := filepath.Join(root, "test_spec", "yt1-5_5.npy")
	writeFile(t, wrongShape, npyBytes("<f8", []int{8, 16}, make([]float64, 128)))
	s := loadSpec(t, "ks:classes=3", 1, dir)
	wantErrContains(t, readErr(s, s.Test, 0), "dataset ks: test sample 0 (yt0-5_5): file "+bad+": npy:")
	wantErrContains(t, readErr(s, s.Test, 1), "file "+wrongShape+": array of shape [8 16], want [16 8]")
	if msg := readErr(s, s.Test, 2); msg != "" {
		t.Errorf("test sample 2: %s", msg)
	}
	if msg := readErr(s, s.Test, 3); !strings.Contains(msg, "out of range [0, 3)") {
		t.Errorf("reading past the end: %q", msg)
	}

	writeFile(t, filepath.Join(root, "test.txt"), []byte("a 1\nb x\n"))
	wantErrContains(t, loadSpecErr(t, "ks:classes=3", 1, dir), "test.txt, line 2: label \"x\" is not an integer")
	writeFile(t, filepath.Join(root, "test.txt"), []byte("justaname\n"))
	wantErrContains(t, loadSpecErr(t, "ks:classes=3", 1, dir), "test.txt, line 1:", "want a clip name and a label")
}

func TestParseKSRow(t *testing.T) {
	for row, want := range map[string]clipEntry{
		"--4-0ihtnBU_000058_000068,10,7": {Name: "--4-0ihtnBU_000058_000068", Label: 7},
		"-3Mwkq-7TV4_2 30":               {Name: "-3Mwkq-7TV4_2", Label: 30},
		"abc 10 extra 0":                 {Name: "abc", Label: 0},
	} {
		if got, err := parseKSRow(row, 31); err != nil || got != want {
			t.Errorf("parseKSRow(%q) = %+v, %v", row, got, err)
		}
	}
	for _, row := range []string{"a,31", "a,-1", "a", "../a 1", "a,1.5"} {
		if _, err := parseKSRow(row, 31); err == nil {
			t.Errorf("parseKSRow(%q): no error", row)
		}
	}
}
