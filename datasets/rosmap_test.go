package datasets

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// rosmapFixture describes a tiny MOGONET-layout dataset written by the test.
type rosmapFixture struct {
	nTr, nTe int
	feats    map[int]int // view → number of features
}

var defaultRosmapFixture = rosmapFixture{nTr: 20, nTe: 6, feats: map[int]int{1: 4, 2: 3, 3: 5}}

// value is a deterministic feature value; feature 1 of view 2 is constant (0.3) in train and test.
func (rosmapFixture) value(view, row, col int, test bool) float64 {
	if view == 2 && col == 1 {
		return 0.3
	}
	off := 0
	if test {
		off = 100
	}
	return float64(((row+off)*7+col*3+view)%11)/10 + float64(view)
}

// write creates the files under dir/rosmap and returns that folder.
func (f rosmapFixture) write(t *testing.T, dir string) string {
	t.Helper()
	root := filepath.Join(dir, "rosmap")
	labels := func(n int) [][]float64 {
		var rows [][]float64
		for i := 0; i < n; i++ {
			rows = append(rows, []float64{float64(i % 2)})
		}
		return rows
	}
	writeFile(t, filepath.Join(root, "labels_tr.csv"), csvBytes(labels(f.nTr)))
	writeFile(t, filepath.Join(root, "labels_te.csv"), csvBytes(labels(f.nTe)))
	for v, nf := range f.feats {
		for _, part := range []struct {
			name string
			n    int
			test bool
		}{{"tr", f.nTr, false}, {"te", f.nTe, true}} {
			rows := make([][]float64, part.n)
			for i := range rows {
				for j := 0; j < nf; j++ {
					rows[i] = append(rows[i], f.value(v, i, j, part.test))
				}
			}
			writeFile(t, filepath.Join(root, fmt.Sprintf("%d_%s.csv", v, part.name)), csvBytes(rows))
		}
	}
	return root
}

func TestRosmapFixtureLoads(t *testing.T) {
	dir := t.TempDir()
	defaultRosmapFixture.write(t, dir)
	s := loadSpec(t, "rosmap", 1, dir)
	if s.NumClasses != 2 || len(s.Modalities) != 2 || s.Modalities[0].Name != "mRNA" || s.Modalities[1].Name != "METH" {
		t.Fatalf("modalities %+v, classes %d", s.Modalities, s.NumClasses)
	}
	if !slices.Equal(s.Modalities[0].Shape, []int64{4}) || !slices.Equal(s.Modalities[1].Shape, []int64{3}) {
		t.Errorf("shapes %v %v", s.Modalities[0].Shape, s.Modalities[1].Shape)
	}
	// 20 training rows, 10 per class: val = round(0.2·10) = 2 per class.
	if s.Train.Len() != 16 || s.Val.Len() != 4 || s.Test.Len() != 6 {
		t.Errorf("sizes %d/%d/%d, want 16/4/6", s.Train.Len(), s.Val.Len(), s.Test.Len())
	}
	for _, c := range []int64{0, 1} {
		if n := count(s.Val.Y, c); n != 2 {
			t.Errorf("val has %d samples of class %d, want 2 (stratified)", n, c)
		}
	}
	want := map[string]string{"views": "1+2", "val": "0.2", "split_seed": "0"}
	if !mapsEqual(s.Params, want) {
		t.Errorf("Params %v, want %v", s.Params, want)
	}
	// Training features span exactly [0, 1]; the constant feature (METH column 1) is 0 everywhere.
	for m, mod := range s.Modalities {
		d := int(mod.Shape[0])
		for j := 0; j < d; j++ {
			lo, hi := column(s.Train.X[m], d, j)
			if m == 1 && j == 1 {
				if lo != 0 || hi != 0 {
					t.Errorf("constant feature scaled to [%g, %g], want 0", lo, hi)
				}
				tlo, thi := column(s.Test.X[m], d, j)
				if tlo != 0 || thi != 0 {
					t.Errorf("constant feature in test scaled to [%g, %g], want 0", tlo, thi)
				}
				continue
			}
			if lo != 0 || hi != 1 {
				t.Errorf("%s feature %d: train range [%g, %g], want [0, 1]", mod.Name, j, lo, hi)
			}
		}
	}
}

// The test split must be scaled with the training statistics, not its own.
func TestRosmapScalesTestWithTrainingStats(t *testing.T) {
	dir := t.TempDir()
	root := defaultRosmapFixture.write(t, dir)
	// Replace the mRNA test file with values far outside the training range.
	rows := make([][]float64, 6)
	for i := range rows {
		rows[i] = []float64{100, 100, 100, 100}
	}
	writeFile(t, filepath.Join(root, "1_te.csv"), csvBytes(rows))
	s := loadSpec(t, "rosmap", 1, dir)
	for _, v := range s.Test.X[0] {
		if v <= 1 {
			t.Fatalf("test value %g: scaled with its own statistics or clipped", v)
		}
	}
}

func TestRosmapSplitIndependentOfRunSeed(t *testing.T) {
	dir := t.TempDir()
	defaultRosmapFixture.write(t, dir)
	a, b := loadSpec(t, "rosmap", 1, dir), loadSpec(t, "rosmap", 2, dir)
	if a.SHA256 != b.SHA256 {
		t.Error("run seed changed the rosmap split")
	}
	c := loadSpec(t, "rosmap:split_seed=5", 1, dir)
	if c.SHA256 == a.SHA256 {
		t.Error("split_seed did not change the split")
	}
}

func TestRosmapViews(t *testing.T) {
	dir := t.TempDir()
	defaultRosmapFixture.write(t, dir)
	s := loadSpec(t, "rosmap:views=miRNA+1+METH", 1, dir)
	var names []string
	for _, m := range s.Modalities {
		names = append(names, m.Name)
	}
	if !slices.Equal(names, []string{"miRNA", "mRNA", "METH"}) || s.Params["views"] != "3+1+2" {
		t.Errorf("modalities %v, views %q", names, s.Params["views"])
	}
	if !slices.Equal(s.Modalities[0].Shape, []int64{5}) {
		t.Errorf("miRNA shape %v, want [5]", s.Modalities[0].Shape)
	}
	for spec, want := range map[string]string{
		"rosmap:views=1":     "give two or three views",
		"rosmap:views=1+1":   "view 1 given twice",
		"rosmap:views=1+4":   `unknown view "4"`,
		"rosmap:val=0":       "must be strictly between 0 and 1",
		"rosmap:val=1.5":     "must be in [0, 1]",
		"rosmap:shuffle=yes": "unknown parameter(s) shuffle",
	} {
		wantErrContains(t, loadSpecErr(t, spec, 1, dir), want)
	}
}

func TestRosmapDirParam(t *testing.T) {
	dir := t.TempDir()
	root := defaultRosmapFixture.write(t, dir)
	s := loadSpec(t, "rosmap:dir="+root, 1, "/nonexistent")
	if _, ok := s.Params["dir"]; ok {
		t.Error("dir is machine-specific and should not be recorded in Params")
	}
}

func TestRosmapMalformed(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(t *testing.T, root string)
		want   []string
	}{
		{"missing files", func(t *testing.T, root string) {
			os.Remove(filepath.Join(root, "2_te.csv"))
			os.Remove(filepath.Join(root, "labels_tr.csv"))
		}, []string{"dataset rosmap: 2 of 6 files not found", filepath.Join("rosmap", "labels_tr.csv"), filepath.Join("rosmap", "2_te.csv")}},
		{"test has different feature count", func(t *testing.T, root string) {
			writeFile(t, filepath.Join(root, "2_te.csv"), csvBytes(repeatRows([]float64{1, 2}, 6)))
		}, []string{"2_te.csv has 2 features per row but", "2_tr.csv has 3"}},
		{"row count differs from labels", func(t *testing.T, root string) {
			writeFile(t, filepath.Join(root, "1_tr.csv"), csvBytes(repeatRows([]float64{1, 2, 3, 4}, 19)))
		}, []string{"1_tr.csv has 19 rows but labels_tr.csv has 20"}},
		{"test label out of range", func(t *testing.T, root string) {
			writeFile(t, filepath.Join(root, "labels_te.csv"), []byte("0\n1\n2\n0\n1\n0\n"))
		}, []string{"labels_te.csv, line 3: label 2; ROSMAP has 2 classes"}},
		{"training label outside the two classes", func(t *testing.T, root string) {
			// used to make a silent 3-class task: the class count came from the largest training label
			b, _ := os.ReadFile(filepath.Join(root, "labels_tr.csv"))
			writeFile(t, filepath.Join(root, "labels_tr.csv"), append([]byte("2\n"), b[2:]...))
		}, []string{"labels_tr.csv, line 1: label 2; ROSMAP has 2 classes"}},
		{"label not an integer", func(t *testing.T, root string) {
			writeFile(t, filepath.Join(root, "labels_tr.csv"), []byte("0\n0.5\n"))
		}, []string{"labels_tr.csv, line 2: label 0.5 is not an integer class"}},
		{"NaN feature", func(t *testing.T, root string) {
			writeFile(t, filepath.Join(root, "1_tr.csv"), []byte("1,2,3,4\n1,2,nan,4\n"))
		}, []string{"1_tr.csv, line 2, column 3: non-finite value \"nan\""}},
		{"ragged row", func(t *testing.T, root string) {
			writeFile(t, filepath.Join(root, "2_tr.csv"), []byte("1,2,3\n1,2\n"))
		}, []string{"2_tr.csv, line 2: 2 columns, want 3"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			root := defaultRosmapFixture.write(t, dir)
			c.mutate(t, root)
			wantErrContains(t, loadSpecErr(t, "rosmap", 1, dir), c.want...)
		})
	}
}

func repeatRows(row []float64, n int) [][]float64 {
	rows := make([][]float64, n)
	for i := range rows {
		rows[i] = row
	}
	return rows
}

func count(y []int64, c int64) int {
	n := 0
	for _, v := range y {
		if v == c {
			n++
		}
	}
	return n
}

// column returns the min and max of feature j of a row-major array with d features.
func column(x []float32, d, j int) (lo, hi float32) {
	lo, hi = x[j], x[j]
	for i := j; i < len(x); i += d {
		lo, hi = min(lo, x[i]), max(hi, x[i])
	}
	return lo, hi
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}
