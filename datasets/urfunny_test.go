package datasets

import (
	"maps"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mmfusion/bench/bench/data"
)

// urfunnyFixture writes a tiny UR-FUNNY in urfunny_convert.py's output layout under dir/urfunny:
// T = 4, d = 6 (vision), 3 (audio), 5 (text). Sample i of a split has i%2 zero steps in front and the
// value 1 + i + 0.1·t + 0.01·j at step t ≥ i%2, feature j (text: + 0.5). Training sample 5 has no
// text. Audio sample 0, step 3, feature 2 is −inf. Labels 0/1 stored (N, 1, 1) in train, (N,) in
// valid and (N, 1) float64 in test.
var urfunnyFixtureLabels = map[string][]float64{
	"train": {0, 1, 1, 0, 1, 0},
	"valid": {1, 0},
	"test":  {0, 1, 1},
}

var urfunnyFixtureDims = map[string]int{"vision": 6, "audio": 3, "text": 5}

func urfunnyValue(i, s, j int, m string) float64 {
	v := 1 + float64(i) + 0.1*float64(s) + 0.01*float64(j)
	if m == "text" {
		v += 0.5
	}
	return v
}

func urfunnyFixture(t *testing.T, dir string) string {
	t.Helper()
	root := filepath.Join(dir, "urfunny")
	const T = 4
	for split, labels := range urfunnyFixtureLabels {
		n := len(labels)
		for m, d := range urfunnyFixtureDims {
			vals := make([]float64, n*T*d)
			for i := range n {
				for s := i % 2; s < T; s++ {
					for j := range d {
						if !(split == "train" && i == 5 && m == "text") {
							vals[(i*T+s)*d+j] = urfunnyValue(i, s, j, m)
						}
					}
				}
			}
			if m == "audio" {
				vals[(0*T+3)*d+2] = math.Inf(-1)
			}
			writeFile(t, moseiFile(root, split, m), npyBytes("<f4", []int{n, T, d}, vals))
		}
		shape := map[string][]int{"train": {n, 1, 1}, "valid": {n}, "test": {n, 1}}[split]
		descr := map[string]string{"train": "<f4", "valid": "<f4", "test": "<f8"}[split]
		writeFile(t, moseiFile(root, split, "labels"), npyBytes(descr, shape, labels))
	}
	return root
}

func TestURFunnyFixture(t *testing.T) {
	dir := t.TempDir()
	urfunnyFixture(t, dir)
	s := loadSpec(t, "urfunny", 1, dir)
	if len(s.Modalities) != 2 || s.Modalities[0].Name != "vision" || !slices.Equal(s.Modalities[0].Shape, []int64{4, 6}) ||
		s.Modalities[1].Name != "text" || !slices.Equal(s.Modalities[1].Shape, []int64{4, 5}) ||
		s.Modalities[0].Role != data.RoleVisual || s.Modalities[1].Role != data.RoleText {
		t.Fatalf("modalities %+v, want vision [4 6] + text [4 5] (the V+T default)", s.Modalities)
	}
	// Training sample 5 (no text) is dropped; labels are the humour labels as is.
	if s.NumClasses != 2 || s.Train.Len() != 5 || s.Val.Len() != 2 || s.Test.Len() != 3 {
		t.Fatalf("classes %d, sizes %d/%d/%d, want 2, 5/2/3", s.NumClasses, s.Train.Len(), s.Val.Len(), s.Test.Len())
	}
	if !slices.Equal(s.Train.Y, []int64{0, 1, 1, 0, 1}) || !slices.Equal(s.Val.Y, []int64{1, 0}) || !slices.Equal(s.Test.Y, []int64{0, 1, 1}) {
		t.Errorf("labels %v / %v / %v", s.Train.Y, s.Val.Y, s.Test.Y)
	}
	want := map[string]string{"modalities": "vision+text", "pad": "end", "drop_empty": "true"}
	if !maps.Equal(s.Params, want) {
		t.Errorf("params %v, want %v", s.Params, want)
	}
	// pad=end: every modality is cut at the first non-zero text step (i%2) and zero-padded at the end.
	for m, name := range []string{"vision", "text"} {
		d := urfunnyFixtureDims[name]
		for i := range 5 {
			row := s.Train.X[m][i*4*d : (i+1)*4*d]
			first := urfunnyValue(i, i%2, 0, name)
			if !closeTo(float64(row[0]), first, 1e-5) || (i%2 == 1 && row[len(row)-1] != 0) {
				t.Errorf("train sample %d %s %v, want it to start at %g", i, name, row, first)
			}
		}
	}
	// All three modalities, in the order given; the audio's −inf is 0.
	all := loadSpec(t, "urfunny:modalities=text+audio+vision", 1, dir)
	if names := []string{all.Modalities[0].Name, all.Modalities[1].Name, all.Modalities[2].Name}; !slices.Equal(names, []string{"text", "audio", "vision"}) ||
		!slices.Equal(all.Modalities[1].Shape, []int64{4, 3}) || all.Modalities[1].Role != data.RoleAudio {
		t.Fatalf("modalities %+v", all.Modalities)
	}
	if a := all.Train.X[1]; a[3*3+2] != 0 || !closeTo(float64(a[3*3+1]), urfunnyValue(0, 3, 1, "audio"), 1e-6) {
		t.Errorf("audio −inf not set to 0: %v", a[:12])
	}
	if s.SHA256 == all.SHA256 {
		t.Error("other modalities, same checksum")
	}
	// pad=front keeps the arrays as stored; drop_empty=false keeps the sample without text.
	f := loadSpec(t, "urfunny:pad=front,drop_empty=false", 1, dir)
	if f.Train.Len() != 6 || f.Train.X[0][1*4*6] != 0 || !slices.Equal(f.Train.Y, []int64{0, 1, 1, 0, 1, 0}) {
		t.Errorf("pad=front, drop_empty=false: %d samples, labels %v", f.Train.Len(), f.Train.Y)
	}
	if got, err := data.Canonical("urfunny:modalities=vision+text", s.Params, s.Params); err != nil || got != "urfunny" {
		t.Errorf("Canonical = %q, %v; want urfunny", got, err)
	}
}

func TestURFunnyMissingAndMalformed(t *testing.T) {
	empty := t.TempDir()
	msg := loadSpecErr(t, "urfunny", 1, empty)
	wantErrContains(t, msg, "dataset urfunny: 12 of 12 files not found", "urfunny_convert.py", filepath.Join(empty, "urfunny", "valid_text.npy"))
	for spec, want := range map[string]string{
		"urfunny:classes=2":             "classes",
		"urfunny:zero=pos":              "zero",
		"urfunny:pad=middle":            `pad="middle"`,
		"urfunny:modalities=vision+eeg": `unknown modality "eeg"`,
	} {
		wantErrContains(t, loadSpecErr(t, spec, 1, empty), want)
	}
	dir := t.TempDir()
	root := urfunnyFixture(t, dir)
	writeFile(t, moseiFile(root, "valid", "labels"), npyBytes("<f4", []int{2}, []float64{1, 0.5}))
	wantErrContains(t, loadSpecErr(t, "urfunny", 1, dir), "valid_labels.npy", "label of sample 1 is 0.5, want 0 or 1")
	root = urfunnyFixture(t, dir)
	writeFile(t, moseiFile(root, "test", "text"), npyBytes("<f4", []int{3, 4, 5}, make([]float64, 60)))
	wantErrContains(t, loadSpecErr(t, "urfunny", 1, dir), "every test sample has empty text")
	root = urfunnyFixture(t, dir)
	writeFile(t, moseiFile(root, "test", "vision"), npyBytes("<f4", []int{3, 4, 7}, make([]float64, 84)))
	wantErrContains(t, loadSpecErr(t, "urfunny", 1, dir), "test_vision.npy: shape [3 4 7]")
}

// pythonWithNumpy returns a Python interpreter that imports numpy ($BENCH_PYTHON, the repository's
// .deps/xcheck-venv, python3), or skips.
func pythonWithNumpy(t *testing.T) string {
	t.Helper()
	var cands []string
	if p := os.Getenv("BENCH_PYTHON"); p != "" {
		cands = append(cands, p)
	}
	if abs, err := filepath.Abs(filepath.Join("..", ".deps", "xcheck-venv", "bin", "python")); err == nil {
		cands = append(cands, abs)
	}
	cands = append(cands, "python3")
	for _, c := range cands {
		if exec.Command(c, "-c", "import numpy").Run() == nil {
			return c
		}
	}
	t.Skip("no Python with numpy ($BENCH_PYTHON, .deps/xcheck-venv, python3)")
	return ""
}

// The converter on a tiny synthetic humor.pkl (protocol 4, numpy arrays, an 'id' key, the real
// feature sizes 371/81/300, labels (N, 1, 1) float64): the Go loader reads what it writes, values
// unchanged. Labels other than 0/1 are refused.
func TestURFunnyConverter(t *testing.T) {
	py := pythonWithNumpy(t)
	dir := t.TempDir()
	pkl := filepath.Join(dir, "humor.pkl")
	gen := `
import pickle, sys
import numpy as np
T = 3
def split(n, labels, empty=()):
    d = {}
    for k, dim in (("vision", 371), ("audio", 81), ("text", 300)):
        i, s, j = np.meshgrid(np.arange(n), np.arange(T), np.arange(dim), indexing="ij")
        a = (1 + i + 0.1 * s + 0.001 * j).astype(np.float64)
        a[:, 0, :] = 0  # one step of front padding
        if k == "text":
            for e in empty:
                a[e] = 0
        if k == "audio":
            a[0, 2, 5] = -np.inf
        d[k] = a
    d["labels"] = np.array(labels, dtype=np.float64).reshape(n, 1, 1)
    d["id"] = np.array(["v%d" % x for x in range(n)])
    return d
bad = len(sys.argv) > 2
data = {"train": split(4, [0, 1, 1, 0], empty=(2,)), "valid": split(2, [1, 0]), "test": split(2, [0, 2 if bad else 1])}
with open(sys.argv[1], "wb") as f:
    pickle.dump(data, f, protocol=4)
`
	run := func(args ...string) (string, error) {
		out, err := exec.Command(py, args...).CombinedOutput()
		return string(out), err
	}
	if out, err := run("-c", gen, pkl); err != nil {
		t.Fatalf("writing the pickle: %v\n%s", err, out)
	}
	out := filepath.Join(dir, "urfunny")
	if msg, err := run(filepath.Join("tools", "urfunny_convert.py"), pkl, out); err != nil {
		t.Fatalf("converter: %v\n%s", err, msg)
	}
	s := loadSpec(t, "urfunny:modalities=vision+audio+text", 1, dir)
	if !slices.Equal(s.Modalities[0].Shape, []int64{3, 371}) || !slices.Equal(s.Modalities[1].Shape, []int64{3, 81}) || !slices.Equal(s.Modalities[2].Shape, []int64{3, 300}) {
		t.Fatalf("modalities %+v", s.Modalities)
	}
	if s.Train.Len() != 3 || !slices.Equal(s.Train.Y, []int64{0, 1, 0}) || !slices.Equal(s.Val.Y, []int64{1, 0}) || !slices.Equal(s.Test.Y, []int64{0, 1}) {
		t.Fatalf("sizes %d/%d/%d, labels %v %v %v", s.Train.Len(), s.Val.Len(), s.Test.Len(), s.Train.Y, s.Val.Y, s.Test.Y)
	}
	// Training sample 3 (kept as the third), cut at step 1: step 0 holds 1 + 3 + 0.1, step 2 is padding.
	v := s.Train.X[0][2*3*371 : 3*3*371]
	if !closeTo(float64(v[0]), 4.1, 1e-5) || !closeTo(float64(v[371+7]), 4.2+0.007, 1e-5) || v[2*371] != 0 {
		t.Errorf("vision of training sample 3: %v %v %v", v[0], v[371+7], v[2*371])
	}
	if a := s.Train.X[1]; a[1*81+5] != 0 { // −inf at step 2 → step 1 after the cut, set to 0
		t.Errorf("audio −inf: %v", a[1*81+5])
	}
	if msg, err := run("-c", gen, pkl, "bad"); err != nil {
		t.Fatalf("writing the pickle: %v\n%s", err, msg)
	}
	msg, err := run(filepath.Join("tools", "urfunny_convert.py"), pkl, filepath.Join(dir, "bad"))
	if err == nil || !strings.Contains(msg, "label of sample 1 is 2.0, want 0 or 1") {
		t.Errorf("label 2: %v\n%s", err, msg)
	}
}
