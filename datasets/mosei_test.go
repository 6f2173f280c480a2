package datasets

import (
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// moseiFixture writes a tiny converted MOSEI under dir/mosei: T = 4 steps, d = 3 (vision), 2 (audio),
// 5 (text). Sample i of a split has i%3 zero steps in front (MultiBench's front padding) and the value
// 1 + i + 0.1·t + 0.01·j at step t ≥ i%3, feature j. Training sample 9 has no text. Audio sample 0,
// step 3, feature 1 is −inf. Labels: see moseiFixtureLabels. Labels are stored (N, 1, 1) in train,
// (N,) in valid and (N, 1) float64 in test.
var moseiFixtureLabels = map[string][]float64{
	"train": {-3.4, -2, -1.2, 0, 0.5, 1, 1.5, 2.5, 3, 0.3},
	"valid": {1, -1, 0, 2},
	"test":  {-1, 1, 2, -2},
}

var moseiFixtureDims = map[string]int{"vision": 3, "audio": 2, "text": 5}

func moseiFixture(t *testing.T, dir string) string {
	t.Helper()
	root := filepath.Join(dir, "mosei")
	const T = 4
	for split, labels := range moseiFixtureLabels {
		n := len(labels)
		for m, d := range moseiFixtureDims {
			vals := make([]float64, n*T*d)
			for i := 0; i < n; i++ {
				for s := i % 3; s < T; s++ {
					for j := 0; j < d; j++ {
						if !(split == "train" && i == 9 && m == "text") {
							vals[(i*T+s)*d+j] = 1 + float64(i) + 0.1*float64(s) + 0.01*float64(j)
						}
					}
				}
			}
			if m == "audio" {
				vals[(0*T+3)*d+1] = math.Inf(-1)
			}
			writeFile(t, moseiFile(root, split, m), npyBytes("<f4", []int{n, T, d}, vals))
		}
		shape := map[string][]int{"train": {n, 1, 1}, "valid": {n}, "test": {n, 1}}[split]
		descr := map[string]string{"train": "<f4", "valid": "<f4", "test": "<f8"}[split]
		writeFile(t, moseiFile(root, split, "labels"), npyBytes(descr, shape, labels))
	}
	return root
}

func TestMoseiFixture(t *testing.T) {
	dir := t.TempDir()
	moseiFixture(t, dir)
	s := loadSpec(t, "mosei", 1, dir)
	want := []struct {
		name  string
		shape []int64
	}{{"vision", []int64{4, 3}}, {"audio", []int64{4, 2}}, {"text", []int64{4, 5}}}
	for m, w := range want {
		if s.Modalities[m].Name != w.name || !slices.Equal(s.Modalities[m].Shape, w.shape) {
			t.Fatalf("modalities %+v", s.Modalities)
		}
	}
	// Training sample 9 (no text) is dropped; label 0 counts as negative.
	if s.NumClasses != 2 || s.Train.Len() != 9 || s.Val.Len() != 4 || s.Test.Len() != 4 {
		t.Fatalf("classes %d, sizes %d/%d/%d", s.NumClasses, s.Train.Len(), s.Val.Len(), s.Test.Len())
	}
	if !slices.Equal(s.Train.Y, []int64{0, 0, 0, 0, 1, 1, 1, 1, 1}) || !slices.Equal(s.Val.Y, []int64{1, 0, 0, 1}) || !slices.Equal(s.Test.Y, []int64{0, 1, 1, 0}) {
		t.Errorf("labels %v / %v / %v", s.Train.Y, s.Val.Y, s.Test.Y)
	}
	if s.Train.Source != nil || s.Params["pad"] != "end" || s.Params["zero"] != "neg" || s.Params["drop_empty"] != "true" {
		t.Errorf("params %v", s.Params)
	}
	// pad=end: sample i starts at its first non-zero step i%3 and is zero-padded at the end.
	vision := s.Train.X[0]
	for i := 0; i < 9; i++ {
		row := vision[i*12 : (i+1)*12]
		first := 1 + float64(i) + 0.1*float64(i%3)
		if !closeTo(float64(row[0]), first, 1e-5) || (i%3 > 0 && row[11] != 0) {
			t.Errorf("train sample %d vision %v, want it to start at %g", i, row, first)
		}
	}
	if a := s.Train.X[1]; a[3*2+1] != 0 || !closeTo(float64(a[3*2]), 1.3, 1e-6) {
		t.Errorf("audio −inf not set to 0: %v", a[:8])
	}
	// pad=front keeps the arrays as stored.
	f := loadSpec(t, "mosei:pad=front,modalities=text+audio", 1, dir)
	if f.Modalities[0].Name != "text" || f.Modalities[1].Name != "audio" || len(f.Modalities) != 2 {
		t.Fatalf("modalities %+v", f.Modalities)
	}
	if text := f.Train.X[0]; text[20] != 0 || !closeTo(float64(text[25]), 2.1, 1e-6) {
		t.Errorf("pad=front moved the text: %v", text[20:30])
	}
	// Label conventions.
	if p := loadSpec(t, "mosei:zero=pos", 1, dir); !slices.Equal(p.Train.Y, []int64{0, 0, 0, 1, 1, 1, 1, 1, 1}) || !slices.Equal(p.Val.Y, []int64{1, 0, 1, 1}) {
		t.Errorf("zero=pos: %v %v", p.Train.Y, p.Val.Y)
	}
	if d := loadSpec(t, "mosei:zero=drop", 1, dir); d.Train.Len() != 8 || d.Val.Len() != 3 || !slices.Equal(d.Val.Y, []int64{1, 0, 1}) {
		t.Errorf("zero=drop: %v %v", d.Train.Y, d.Val.Y)
	}
	seven := loadSpec(t, "mosei:classes=7", 1, dir)
	if seven.NumClasses != 7 || !slices.Equal(seven.Train.Y, []int64{0, 1, 2, 3, 3, 4, 5, 5, 6}) || seven.Params["zero"] != "n/a" {
		t.Errorf("classes=7: %d classes, %v, %v", seven.NumClasses, seven.Train.Y, seven.Params)
	}
	if k := loadSpec(t, "mosei:drop_empty=false,classes=7", 1, dir); k.Train.Len() != 10 {
		t.Errorf("drop_empty=false kept %d training samples", k.Train.Len())
	}
}

func TestMoseiMissingAndMalformed(t *testing.T) {
	empty := t.TempDir()
	msg := loadSpecErr(t, "mosei", 1, empty)
	wantErrContains(t, msg, "dataset mosei: 12 of 12 files not found", "mosei_convert.py")
	for _, sp := range moseiSplitNames {
		for _, a := range []string{"vision", "audio", "text", "labels"} {
			wantErrContains(t, msg, filepath.Join(empty, "mosei", sp+"_"+a+".npy"))
		}
	}
	for spec, want := range map[string]string{
		"mosei:classes=3":            `classes="3": want 2`,
		"mosei:zero=maybe":           `zero="maybe"`,
		"mosei:pad=middle":           `pad="middle"`,
		"mosei:drop_empty=yes":       `drop_empty="yes"`,
		"mosei:modalities=audio+eeg": `unknown modality "eeg"`,
		"mosei:modalities=text+text": "text given twice",
	} {
		wantErrContains(t, loadSpecErr(t, spec, 1, empty), want)
	}

	dir := t.TempDir()
	root := moseiFixture(t, dir)
	check := func(file string, content []byte, want ...string) {
		t.Helper()
		path := filepath.Join(root, file)
		old, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, path, content)
		wantErrContains(t, loadSpecErr(t, "mosei", 1, dir), append([]string{"file " + path}, want...)...)
		writeFile(t, path, old)
	}
	check("valid_text.npy", []byte("PK\x03\x04 a zip, not npy"), "npy: not a .npy file")
	check("valid_text.npy", npyBytes("<f4", []int{4, 4, 5}, make([]float64, 79)), "npy: 316 data bytes after the header, but shape [4 4 5] of <f4 needs 320")
	check("test_audio.npy", npyBytes("<f4", []int{4, 3, 2}, make([]float64, 24)), "shape [4 3 2], but", "train_audio.npy has (T, d) = (4, 2)")
	check("test_vision.npy", npyBytes("<f4", []int{5, 4, 3}, make([]float64, 60)), "has 5 samples but", "test_labels.npy has 4")
	check("test_vision.npy", npyBytes("<f4", []int{4, 12}, make([]float64, 48)), "shape [4 12], want (N, T, d)")
	check("train_labels.npy", npyBytes("<f4", []int{10, 2}, make([]float64, 20)), "labels of shape [10 2]")
	nan := make([]float64, 4*4*3)
	nan[30] = math.NaN()
	check("valid_vision.npy", npyBytes("<f4", []int{4, 4, 3}, nan), "non-finite value NaN in sample 2")
	check("valid_labels.npy", npyBytes("<f4", []int{4}, []float64{1, math.Inf(1), 0, 0}), "label of sample 1 is +Inf")
	// Every test sample without text: nothing is left.
	writeFile(t, moseiFile(root, "test", "text"), npyBytes("<f4", []int{4, 4, 5}, make([]float64, 80)))
	wantErrContains(t, loadSpecErr(t, "mosei", 1, dir), "no test sample is left")
}

func TestNpyDecode(t *testing.T) {
	a, err := decodeNpy(npyBytes("<f8", []int{2, 3}, []float64{1, 2, 3, 4, 5, 6}))
	if err != nil || !slices.Equal(a.Shape, []int{2, 3}) || !slices.Equal(a.Data, []float32{1, 2, 3, 4, 5, 6}) {
		t.Fatalf("%+v, %v", a, err)
	}
	// Version 2.0 header, big-endian float32, a scalar.
	v2 := []byte("\x93NUMPY\x02\x00")
	hdr := "{'descr': '>f4', 'fortran_order': False, 'shape': (), }\n"
	v2 = append(v2, byte(len(hdr)), 0, 0, 0)
	v2 = append(v2, hdr...)
	v2 = append(v2, 0x3f, 0x80, 0, 0) // 1.0
	if a, err := decodeNpy(v2); err != nil || len(a.Shape) != 0 || !slices.Equal(a.Data, []float32{1}) {
		t.Errorf("v2 scalar: %+v, %v", a, err)
	}
	for hdr, want := range map[string]string{
		"{'descr': '<i4', 'fortran_order': False, 'shape': (2,), }":                        "dtype \"<i4\"",
		"{'descr': '<f4', 'fortran_order': True, 'shape': (2,), }":                         "Fortran order",
		"{'descr': '<f4', 'shape': (2,), }":                                                "want 'descr'",
		"{'descr': '<f4', 'fortran_order': False, 'shape': (2, -1), }":                     "want a non-negative integer",
		"{'descr': '<f4', 'fortran_order': False, 'shape': (9999999, 9999999, 9999999), }": "not plausible",
		"{'descr': '<f4', 'fortran_order': False, 'shape': (2,) ":                          "want ',' or '}'",
		"{'descr': '<f4', 'descr': '<f4'}":                                                 "given twice",
		"[1, 2]":                                                                           "unexpected '['",
	} {
		b := append([]byte(npyMagic+"\x01\x00"), byte(len(hdr)), 0)
		b = append(b, hdr...)
		if _, err := decodeNpy(b); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("header %s: error %v, want %q", hdr, err, want)
		}
	}
	if _, err := decodeNpy([]byte("\x93NUMPY\x04\x00")); err == nil || !strings.Contains(err.Error(), "version 4.0") {
		t.Errorf("version 4: %v", err)
	}
}

// FuzzMoseiNpy fuzzes the parser of the MOSEI format (and of KS audio files): decodeNpy must never
// panic, and on success hold exactly as many values as the shape says.
func FuzzMoseiNpy(f *testing.F) {
	f.Add(npyBytes("<f4", []int{2, 3, 1}, []float64{1, 2, 3, 4, 5, 6}))
	f.Add(npyBytes("<f8", []int{1}, []float64{0.5}))
	f.Add([]byte("\x93NUMPY\x01\x00\x06\x00{'a':}"))
	f.Add([]byte("\x93NUMPY\x03\x00\x00\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := decodeNpy(b)
		if err != nil {
			return
		}
		n := 1
		for _, d := range a.Shape {
			n *= d
		}
		if len(a.Data) != n {
			t.Fatalf("shape %v but %d values", a.Shape, len(a.Data))
		}
	})
}

// FuzzClipListRows fuzzes the list-row parsers of the video datasets: no panics, and accepted names
// are plain file names.
func FuzzClipListRows(f *testing.F) {
	for _, s := range []string{"1001_IEO_HAP_LO,HAP", "--4-0ihtnBU_000058_000068,10,7", "YoYo/v_YoYo_g01_c01.avi 101", "a/../b.avi", ",", "/"} {
		f.Add(s)
	}
	classes := []string{"ApplyEyeMakeup", "YoYo"}
	f.Fuzz(func(t *testing.T, row string) {
		for _, parse := range []func() (clipEntry, error){
			func() (clipEntry, error) { return parseCremadRow(row) },
			func() (clipEntry, error) { return parseKSRow(row, 31) },
			func() (clipEntry, error) { return parseUCFRow(row, classes) },
		} {
			e, err := parse()
			if err == nil && checkClipName(e.Name) != nil {
				t.Fatalf("row %q accepted with name %q", row, e.Name)
			}
		}
	})
}
