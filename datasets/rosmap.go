package datasets

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/mmfusion/bench/bench/data"
)

// ROSMAP in the MOGONET layout (../shared/docs/dataset-formats.md §1): per view k, k_tr.csv and
// k_te.csv (samples × features), plus labels_tr.csv and labels_te.csv. The shipped test split is
// used for test only; validation is carved out of the shipped training split.
const (
	RosmapDefaultViews     = "1+2" // mRNA + METH, the seed paper's setting
	RosmapDefaultVal       = 0.2   // share of the training file held out for validation
	RosmapDefaultSplitSeed = 0     // fixed, so the validation split is the same for every run seed
)

// rosmapViewNames names the MOGONET views; they become the modality names.
var rosmapViewNames = map[int]string{1: "mRNA", 2: "METH", 3: "miRNA"}

var rosmapParams = []string{"views", "val", "split_seed", "dir"}

func init() {
	data.Register("rosmap",
		"ROSMAP multi-omics (MOGONET layout), AD vs NC; views 1=mRNA 2=METH 3=miRNA; e.g. rosmap:views=1+2,val=0.2",
		loadRosmap)
}

// loadRosmap reads the MOGONET files of the chosen views. The validation split is a stratified
// random share val of the training file drawn with split_seed (default 0), independent of the run
// seed, so every seed trains and selects on the same samples and differences between seeds come from
// the methods alone. Features are min-max scaled with the statistics of the remaining training rows
// only; validation and test values use the same scaling and are not clipped, and a feature that is
// constant in training becomes 0 everywhere.
func loadRosmap(opt data.Options) (*data.Set, error) {
	p, err := newSpecParams("rosmap", opt.Params, rosmapParams...)
	if err != nil {
		return nil, err
	}
	views, err := parseRosmapViews(p.str("views", RosmapDefaultViews))
	if err != nil {
		return nil, fmt.Errorf("dataset rosmap: parameter views: %w", err)
	}
	p.set("views", joinInts(views, "+"))
	valShare, err := p.float("val", RosmapDefaultVal, 0, 1)
	if err != nil {
		return nil, err
	}
	if valShare <= 0 || valShare >= 1 {
		return nil, fmt.Errorf("dataset rosmap: parameter val=%g: must be strictly between 0 and 1", valShare)
	}
	splitSeed, err := p.seed("split_seed", RosmapDefaultSplitSeed)
	if err != nil {
		return nil, err
	}
	dir, source := datasetDir(opt.DataDir, "rosmap", p.path("dir"))
	raw, err := readRosmapFiles(dir, source, views)
	if err != nil {
		return nil, err
	}
	set, err := raw.build(views, valShare, splitSeed)
	if err != nil {
		return nil, err
	}
	set.Params = p.used
	if err := set.Finish(); err != nil {
		return nil, err
	}
	return set, nil
}

// parseRosmapViews reads two or three distinct views separated by '+' (',' and spaces are accepted
// too, though a dataset spec cannot carry ','), given as numbers 1-3 or names mRNA, METH, miRNA.
// The order given is the modality order.
func parseRosmapViews(s string) ([]int, error) {
	fields := strings.FieldsFunc(s, func(r rune) bool { return r == '+' || r == ',' || r == ' ' })
	var views []int
	for _, f := range fields {
		v, err := rosmapViewIndex(f)
		if err != nil {
			return nil, err
		}
		if slices.Contains(views, v) {
			return nil, fmt.Errorf("view %d given twice in %q", v, s)
		}
		views = append(views, v)
	}
	if len(views) < 2 {
		return nil, fmt.Errorf("%q: give two or three views of 1 (mRNA), 2 (METH), 3 (miRNA), e.g. 1+2", s)
	}
	return views, nil
}

func rosmapViewIndex(f string) (int, error) {
	for k, name := range rosmapViewNames {
		if strings.EqualFold(f, name) || f == strconv.Itoa(k) {
			return k, nil
		}
	}
	return 0, fmt.Errorf("unknown view %q (want 1, 2, 3 or mRNA, METH, miRNA)", f)
}

func joinInts(v []int, sep string) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = strconv.Itoa(x)
	}
	return strings.Join(s, sep)
}

// rosmapRaw is what the files hold: per view the train and test matrices, and the labels.
type rosmapRaw struct {
	tr, te     []*csvMatrix // per view, in the order of views
	yTr, yTe   []int64
	numClasses int
}

// readRosmapFiles checks that every needed file exists (listing all missing ones at once), parses
// them, and checks that rows agree with the labels and that train and test have the same features.
func readRosmapFiles(dir, source string, views []int) (*rosmapRaw, error) {
	labTr, labTe := filepath.Join(dir, "labels_tr.csv"), filepath.Join(dir, "labels_te.csv")
	files := []string{labTr, labTe}
	for _, v := range views {
		files = append(files, rosmapViewFile(dir, v, "tr"), rosmapViewFile(dir, v, "te"))
	}
	if err := requireFiles("rosmap", source, files...); err != nil {
		return nil, err
	}
	raw := &rosmapRaw{}
	var err error
	if raw.yTr, err = readLabels(labTr); err != nil {
		return nil, err
	}
	if raw.yTe, err = readLabels(labTe); err != nil {
		return nil, err
	}
	if err := raw.checkLabels(labTr, labTe); err != nil {
		return nil, err
	}
	for _, v := range views {
		tr, te, err := readRosmapView(dir, v, len(raw.yTr), len(raw.yTe))
		if err != nil {
			return nil, err
		}
		raw.tr, raw.te = append(raw.tr, tr), append(raw.te, te)
	}
	return raw, nil
}

func rosmapViewFile(dir string, view int, part string) string {
	return filepath.Join(dir, fmt.Sprintf("%d_%s.csv", view, part))
}

func readLabels(path string) ([]int64, error) {
	m, err := readCSVMatrix(path)
	if err != nil {
		return nil, err
	}
	return labelsFromMatrix(m, path)
}

// rosmapClasses is ROSMAP's task: Alzheimer's disease (1) vs normal control (0).
const rosmapClasses = 2

// checkLabels refuses a label outside the declared classes in either file: a stray 2 used to make a
// silent 3-class task (the class count came from the largest training label).
func (raw *rosmapRaw) checkLabels(trainName, testName string) error {
	raw.numClasses = rosmapClasses
	for _, f := range []struct {
		name string
		y    []int64
	}{{trainName, raw.yTr}, {testName, raw.yTe}} {
		for i, y := range f.y {
			if y < 0 || y >= rosmapClasses {
				return fmt.Errorf("file %s, line %d: label %d; ROSMAP has %d classes (0 = NC, 1 = AD)", f.name, i+1, y, rosmapClasses)
			}
		}
	}
	return nil
}

// readRosmapView reads one view's train and test matrices and checks their shapes.
func readRosmapView(dir string, view, nTr, nTe int) (tr, te *csvMatrix, err error) {
	trPath, tePath := rosmapViewFile(dir, view, "tr"), rosmapViewFile(dir, view, "te")
	if tr, err = readCSVMatrix(trPath); err != nil {
		return nil, nil, err
	}
	if te, err = readCSVMatrix(tePath); err != nil {
		return nil, nil, err
	}
	if tr.Rows != nTr {
		return nil, nil, fmt.Errorf("file %s has %d rows but labels_tr.csv has %d", trPath, tr.Rows, nTr)
	}
	if te.Rows != nTe {
		return nil, nil, fmt.Errorf("file %s has %d rows but labels_te.csv has %d", tePath, te.Rows, nTe)
	}
	if te.Cols != tr.Cols {
		return nil, nil, fmt.Errorf("file %s has %d features per row but %s has %d", tePath, te.Cols, trPath, tr.Cols)
	}
	return tr, te, nil
}

// build carves the validation rows, fits the scaling on the training rows and assembles the set.
func (raw *rosmapRaw) build(views []int, valShare float64, splitSeed int64) (*data.Set, error) {
	trIdx, valIdx := stratifiedSplit(raw.yTr, valShare, splitSeed)
	teIdx := make([]int, len(raw.yTe))
	for i := range teIdx {
		teIdx[i] = i
	}
	set := &data.Set{Name: "rosmap", NumClasses: raw.numClasses}
	set.Train, set.Val, set.Test = newRosmapSplit(len(views)), newRosmapSplit(len(views)), newRosmapSplit(len(views))
	for k, v := range views {
		// Every view is a molecular profile: role omics (neither visual nor audio, so DMI keeps its position rule).
		set.Modalities = append(set.Modalities, data.Modality{Name: rosmapViewNames[v], Shape: []int64{int64(raw.tr[k].Cols)}, Role: data.RoleOmics})
		sc := fitMinMax(raw.tr[k], trIdx)
		set.Train.X[k] = sc.apply(raw.tr[k], trIdx)
		set.Val.X[k] = sc.apply(raw.tr[k], valIdx)
		set.Test.X[k] = sc.apply(raw.te[k], teIdx)
	}
	set.Train.Y, set.Val.Y, set.Test.Y = pickLabels(raw.yTr, trIdx), pickLabels(raw.yTr, valIdx), pickLabels(raw.yTe, teIdx)
	return set, nil
}

func newRosmapSplit(mods int) *data.Split { return &data.Split{X: make([][]float32, mods)} }

func pickLabels(y []int64, idx []int) []int64 {
	out := make([]int64, len(idx))
	for i, j := range idx {
		out[i] = y[j]
	}
	return out
}

// stratifiedSplit holds out round(share·n_c) rows of each class c (keeping at least one in training)
// chosen with a PCG stream seeded by seed. Both index lists are sorted, so rows keep their file order.
func stratifiedSplit(y []int64, share float64, seed int64) (train, val []int) {
	r := rand.New(rand.NewPCG(uint64(seed), 0x205_3a9))
	byClass := map[int64][]int{}
	for i, c := range y {
		byClass[c] = append(byClass[c], i)
	}
	classes := make([]int64, 0, len(byClass))
	for c := range byClass {
		classes = append(classes, c)
	}
	slices.Sort(classes) // map order is random; the draw must not be
	for _, c := range classes {
		idx := byClass[c]
		r.Shuffle(len(idx), func(i, j int) { idx[i], idx[j] = idx[j], idx[i] })
		nVal := min(int(share*float64(len(idx))+0.5), len(idx)-1)
		val = append(val, idx[:nVal]...)
		train = append(train, idx[nVal:]...)
	}
	slices.Sort(train)
	slices.Sort(val)
	return train, val
}

// minMax is a per-feature affine map to [0, 1] fitted on training rows.
type minMax struct{ lo, hi []float64 }

func fitMinMax(m *csvMatrix, rows []int) minMax {
	sc := minMax{lo: make([]float64, m.Cols), hi: make([]float64, m.Cols)}
	for j := range sc.lo {
		sc.lo[j], sc.hi[j] = m.Row(rows[0])[j], m.Row(rows[0])[j]
	}
	for _, i := range rows {
		for j, v := range m.Row(i) {
			sc.lo[j], sc.hi[j] = min(sc.lo[j], v), max(sc.hi[j], v)
		}
	}
	return sc
}

// apply scales the given rows into a new row-major float32 array; constant features map to 0.
func (sc minMax) apply(m *csvMatrix, rows []int) []float32 {
	out := make([]float32, 0, len(rows)*m.Cols)
	for _, i := range rows {
		for j, v := range m.Row(i) {
			var x float64
			if span := sc.hi[j] - sc.lo[j]; span > 0 {
				x = (v - sc.lo[j]) / span
			}
			out = append(out, float32(x))
		}
	}
	return out
}
