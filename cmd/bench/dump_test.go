package main

import (
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/mmfusion/bench/bench/data"
	"github.com/mmfusion/bench/datasets"
)

// readNpyF32 decodes a .npy file as bench dump writes it (version 1.0, '<f4', C order).
func readNpyF32(t *testing.T, path string) ([]int64, []float32) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) < 10 || string(b[:6]) != "\x93NUMPY" || b[6] != 1 {
		t.Fatalf("%s: not a version 1 .npy file", path)
	}
	hl := int(binary.LittleEndian.Uint16(b[8:10]))
	hdr := string(b[10 : 10+hl])
	if !strings.Contains(hdr, "'descr': '<f4'") || !strings.Contains(hdr, "'fortran_order': False") || (10+hl)%64 != 0 {
		t.Fatalf("%s: header %q", path, hdr)
	}
	m := regexp.MustCompile(`'shape': \(([0-9, ]*)\)`).FindStringSubmatch(hdr)
	if m == nil {
		t.Fatalf("%s: no shape in %q", path, hdr)
	}
	var shape []int64
	for _, f := range strings.Split(m[1], ",") {
		if f = strings.TrimSpace(f); f != "" {
			d, _ := strconv.ParseInt(f, 10, 64)
			shape = append(shape, d)
		}
	}
	raw := b[10+hl:]
	v := make([]float32, len(raw)/4)
	for i := range v {
		v[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
	}
	return shape, v
}

// checkDump compares what bench dump wrote for sample i of split with that sample as the dataset
// reads it, and returns label.txt.
func checkDump(t *testing.T, out string, set *data.Set, split string, i int) string {
	t.Helper()
	var sp *data.Split
	for _, ns := range set.Splits() {
		if ns.Name == split {
			sp = ns.Split
		}
	}
	want := make([][]float32, len(set.Modalities))
	for m, mod := range set.Modalities {
		want[m] = make([]float32, mod.Size())
	}
	if err := sp.ReadSample(i, set.Modalities, want); err != nil {
		t.Fatal(err)
	}
	for m, mod := range set.Modalities {
		shape, v := readNpyF32(t, filepath.Join(out, mod.Name+".npy"))
		if !slices.Equal(shape, mod.Shape) {
			t.Errorf("%s.npy shape %v, want %v", mod.Name, shape, mod.Shape)
		}
		if !slices.Equal(v, want[m]) {
			t.Errorf("%s.npy: values differ from the dataset's sample %d", mod.Name, i)
		}
	}
	b, err := os.ReadFile(filepath.Join(out, "label.txt"))
	if err != nil {
		t.Fatal(err)
	}
	label := strings.TrimSuffix(string(b), "\n")
	if !strings.HasPrefix(label+" ", fmt.Sprint(sp.Y[i])+" ") {
		t.Errorf("label.txt %q, want label %d", label, sp.Y[i])
	}
	return label
}

func TestDumpSynthetic(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "s")
	if code := runOS([]string{"dump", "--dataset", "synthetic", "--split", "val", "--index", "7", "--seed", "2", "--out", out}); code != 0 {
		t.Fatalf("exit %d", code)
	}
	set, err := data.Load("synthetic", 2, "")
	if err != nil {
		t.Fatal(err)
	}
	checkDump(t, out, set, "val", 7)
	// The seed is the load's seed: seed 1 gives other values.
	other, _ := data.Load("synthetic", 1, "")
	if _, v := readNpyF32(t, filepath.Join(out, "m1.npy")); slices.Equal(v, other.Val.X[0][7*48:8*48]) {
		t.Error("--seed 2 wrote seed 1's sample")
	}
	// Bad input: exit 2, nothing written.
	bad := filepath.Join(dir, "bad")
	n := set.Test.Len()
	for name, args := range map[string][]string{
		"index past the end": {"--dataset", "synthetic", "--split", "test", "--index", fmt.Sprint(n)},
		"negative index":     {"--dataset", "synthetic", "--split", "test", "--index", "-2"},
		"unknown split":      {"--dataset", "synthetic", "--split", "valid", "--index", "0"},
		"no index":           {"--dataset", "synthetic", "--split", "test"},
		"no dataset":         {"--split", "test", "--index", "0"},
		"unknown dataset":    {"--dataset", "imagenet", "--split", "test", "--index", "0"},
	} {
		if code := runOS(append([]string{"dump", "--out", bad}, args...)); code != 2 {
			t.Errorf("%s: exit %d, want 2", name, code)
		}
	}
	if code := runOS([]string{"dump", "--split", "test", "--index", "0", "--dataset", "synthetic"}); code != 2 {
		t.Errorf("no --out: exit %d, want 2", code)
	}
	if _, err := os.Stat(bad); err == nil {
		t.Error("bad input created the output folder")
	}
}

// sharedDataOrSkip returns the shared real data root ($BENCH_DATA_DIR, else the repository's
// ../shared/data), skipping the test when it lacks MNIST or FSDD.
func sharedDataOrSkip(t *testing.T) string {
	t.Helper()
	root := os.Getenv("BENCH_DATA_DIR")
	if root == "" {
		root = filepath.Join("..", "..", "..", "shared", "data")
	}
	for _, sub := range []string{"mnist", filepath.Join("fsdd", "recordings")} {
		if fi, err := os.Stat(filepath.Join(root, sub)); err != nil || !fi.IsDir() {
			t.Skipf("real data: %s not found (set $BENCH_DATA_DIR to the folder holding mnist/ and fsdd/)", filepath.Join(root, sub))
		}
	}
	return root
}

// exportCremad runs bench export for a cremad layout under a new data root and returns the root.
func exportCremad(t *testing.T, spec string, limit int) string {
	t.Helper()
	root := sharedDataOrSkip(t)
	out := filepath.Join(t.TempDir(), "data")
	args := []string{"export", "--dataset", spec, "--layout", "cremad", "--out", out, "--data-dir", root, "--limit", fmt.Sprint(limit)}
	if code := runOS(args); code != 0 {
		t.Fatalf("bench %s: exit %d", strings.Join(args, " "), code)
	}
	return out
}

func TestDumpCremadExport(t *testing.T) {
	root := exportCremad(t, "avmnist", 30)
	out := filepath.Join(t.TempDir(), "sample")
	if code := runOS([]string{"dump", "--dataset", "cremad", "--data-dir", root, "--split", "test", "--index", "4", "--out", out}); code != 0 {
		t.Fatalf("exit %d", code)
	}
	set, err := data.Load("cremad", 1, root)
	if err != nil {
		t.Fatal(err)
	}
	label := checkDump(t, out, set, "test", 4)
	// Sample 4 of the test split is the fifth row of test.csv, and label.txt names its class.
	b, err := os.ReadFile(filepath.Join(root, "cremad", "test.csv"))
	if err != nil {
		t.Fatal(err)
	}
	row := strings.Split(strings.Split(string(b), "\n")[4], ",")
	if k := slices.Index(datasets.CremadClasses, row[1]); label != fmt.Sprintf("%d %s", k, row[1]) {
		t.Errorf("label.txt %q, test.csv row 5 %v", label, row)
	}
	if code := runOS([]string{"dump", "--dataset", "cremad", "--data-dir", root, "--split", "test", "--index", "30", "--out", out + "2"}); code != 2 {
		t.Errorf("index 30 of 30 test clips: exit %d, want 2", code)
	}
}

// --augment dumps the training transform with the draws of (--seed, --epoch, index): exactly
// ReadAugmented with data.AugmentSeed, another epoch gives other frames; it is refused for other
// splits and for a training split without a transform (augment=false), exit 2.
func TestDumpAugment(t *testing.T) {
	root := exportCremad(t, "avmnist", 30)
	set, err := data.Load("cremad", 3, root)
	if err != nil {
		t.Fatal(err)
	}
	as, ok := set.Train.Source.(data.AugmentedSource)
	if !ok {
		t.Fatal("cremad's train split has no training transform")
	}
	var frames [][]float32
	for _, epoch := range []int{0, 2} {
		out := filepath.Join(t.TempDir(), "aug")
		args := []string{"dump", "--dataset", "cremad", "--data-dir", root, "--split", "train", "--index", "5", "--seed", "3", "--augment", "--out", out}
		if epoch != 0 {
			args = append(args, "--epoch", fmt.Sprint(epoch))
		}
		if code := runOS(args); code != 0 {
			t.Fatalf("epoch %d: exit %d", epoch, code)
		}
		want := [][]float32{make([]float32, set.Modalities[0].Size()), make([]float32, set.Modalities[1].Size())}
		if err := as.ReadAugmented(5, want, data.AugmentSeed(3, epoch, 5)); err != nil {
			t.Fatal(err)
		}
		for m, mod := range set.Modalities {
			if _, v := readNpyF32(t, filepath.Join(out, mod.Name+".npy")); !slices.Equal(v, want[m]) {
				t.Errorf("epoch %d: %s.npy is not the training transform's values", epoch, mod.Name)
			} else if m == 1 {
				frames = append(frames, v)
			}
		}
	}
	if len(frames) == 2 && slices.Equal(frames[0], frames[1]) {
		t.Error("epochs 0 and 2 dumped the same frames")
	}
	bad := filepath.Join(t.TempDir(), "bad")
	for name, args := range map[string][]string{
		"test split":     {"--dataset", "cremad", "--split", "test", "--augment"},
		"augment=false":  {"--dataset", "cremad:augment=false", "--split", "train", "--augment"},
		"negative epoch": {"--dataset", "cremad", "--split", "train", "--augment", "--epoch", "-1"},
	} {
		if code := runOS(append([]string{"dump", "--data-dir", root, "--index", "0", "--out", bad}, args...)); code != 2 {
			t.Errorf("%s: exit %d, want 2", name, code)
		}
	}
	if _, err := os.Stat(bad); err == nil {
		t.Error("a refused dump created the output folder")
	}
}
