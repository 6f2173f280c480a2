package datasets

import (
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"strings"

	"github.com/mmfusion/bench/bench/data"
)

// CMU-MOSEI sentiment from MultiBench's affect pickle (dataset-formats.md §8: mosei_senti_data.pkl
// or mosei_raw.pkl, a dict {'train','valid','test'} of dicts of numpy arrays). Go cannot read the
// pickle, so datasets/tools/mosei_convert.py converts it once into one NumPy .npy file per split and
// array, which this loader reads (npy.go):
//
//	<dir>/{train,valid,test}_vision.npy   float32 (N, T_v, d_v)   e.g. (16326, 50, 35) for train
//	<dir>/{train,valid,test}_audio.npy    float32 (N, T_a, d_a)   e.g. 74 COVAREP features; may hold −inf
//	<dir>/{train,valid,test}_text.npy     float32 (N, T_t, 300)   GloVe vectors, zero padding in front
//	<dir>/{train,valid,test}_labels.npy   float32 (N, 1, 1), (N, 1) or (N,): sentiment in [−3, 3]
//
// version 1.0 .npy files in C order ('<f4'; '<f8' is accepted and converted). The arrays of one split
// share N; each modality keeps its T and d across splits. dir defaults to <data root>/mosei. The arrays
// are read into memory (about 1.6 GB of float32 for the aligned MOSEI).
//
// Processing, following MultiBench's get_dataloader (datasets/affect/get_data.py) unless a parameter
// says otherwise:
//   - audio −inf → 0 (both references); any other non-finite value is an error naming the file;
//   - drop_empty=true (default): drop samples whose text is all zeros, in every split (MultiBench's
//     drop_entry; BalanceBenchmark keeps them: drop_empty=false);
//   - pad=end (default): cut every modality from the first non-zero text step and zero-pad at the end
//     to T, as MultiBench's aligned=True cut followed by end padding; when the modalities' T differ
//     (unaligned files) each is cut at its own first non-zero step. pad=front keeps the arrays as
//     stored (front padding), as BalanceBenchmark;
//   - classes=2 (default): positive vs negative sentiment; zero=neg (default) counts a label of 0 as
//     negative, as MultiBench (label > 0 → 1); zero=pos counts it as positive, as BalanceBenchmark's
//     acc2 (label ≥ 0 → 1); zero=drop drops those samples (the "non-zero acc2" of the MulT papers);
//   - classes=7: round(clip(label, −3, 3)) + 3 with round half to even (numpy.round), the usual acc7.
//
// Per-sample z-normalisation (MultiBench's z_norm=True) is not implemented. The shipped valid split is
// the validation split; test is only ever the test split. modalities (default vision+audio+text)
// picks the modalities and their order; each has shape [T, d].
const (
	MoseiDefaultModalities = "vision+audio+text"
	MoseiDefaultClasses    = 2
)

var (
	moseiParams     = []string{"modalities", "classes", "zero", "pad", "drop_empty", "dir"}
	moseiSplitNames = []string{"train", "valid", "test"}
	moseiArrays     = []string{"vision", "audio", "text"} // file order; labels separate
	// moseiRoles are the modalities' roles: vision holds facial features (OpenFace/Facet) per step.
	moseiRoles = map[string]string{"vision": data.RoleVisual, "audio": data.RoleAudio, "text": data.RoleText}
)

func init() {
	data.Register("mosei",
		"CMU-MOSEI sentiment (MultiBench pickle converted to .npy by datasets/tools/mosei_convert.py): vision/audio/text [T,d]; e.g. mosei:classes=2,zero=neg",
		loadMosei)
}

// moseiOptions are the parsed parameters.
type moseiOptions struct {
	mods      []string
	classes   int
	zero      string
	padEnd    bool
	dropEmpty bool
}

func loadMosei(opt data.Options) (*data.Set, error) {
	p, err := newSpecParams("mosei", opt.Params, moseiParams...)
	if err != nil {
		return nil, err
	}
	mo, err := parseMoseiOptions(p)
	if err != nil {
		return nil, err
	}
	dir, source := datasetDir(opt.DataDir, "mosei", p.path("dir"))
	var files []string
	for _, sp := range moseiSplitNames {
		for _, a := range append(slices.Clone(moseiArrays), "labels") {
			files = append(files, moseiFile(dir, sp, a))
		}
	}
	if err := requireFiles("mosei", source, files...); err != nil {
		return nil, fmt.Errorf("%w (convert MultiBench's pickle with datasets/tools/mosei_convert.py)", err)
	}
	raw := make([]*moseiRaw, len(moseiSplitNames))
	for k, sp := range moseiSplitNames {
		if raw[k], err = readMoseiSplit(dir, sp); err != nil {
			return nil, err
		}
	}
	return moseiSet("mosei", p.used, mo.classes, dir, raw, mo)
}

// moseiSet checks the splits' shapes and builds the set of a MultiBench-layout dataset (mosei,
// urfunny) from its raw splits (train, valid, test).
func moseiSet(name string, params map[string]string, classes int, dir string, raw []*moseiRaw, mo *moseiOptions) (*data.Set, error) {
	if err := checkMoseiShapes(dir, raw); err != nil {
		return nil, err
	}
	set := &data.Set{Name: name, Params: params, NumClasses: classes}
	for _, m := range mo.mods {
		a := raw[0].x[m]
		set.Modalities = append(set.Modalities, data.Modality{Name: m, Shape: []int64{int64(a.Shape[1]), int64(a.Shape[2])}, Role: moseiRoles[m]})
	}
	splits := make([]*data.Split, len(raw))
	for k, r := range raw {
		var err error
		if splits[k], err = r.build(mo); err != nil {
			return nil, err
		}
	}
	set.Train, set.Val, set.Test = splits[0], splits[1], splits[2]
	if err := set.Finish(); err != nil {
		return nil, err
	}
	return set, nil
}

func moseiFile(dir, split, array string) string {
	return filepath.Join(dir, split+"_"+array+".npy")
}

func parseMoseiOptions(p *specParams) (*moseiOptions, error) {
	mo := &moseiOptions{}
	spec := p.str("modalities", MoseiDefaultModalities)
	for _, m := range strings.FieldsFunc(spec, func(r rune) bool { return r == '+' || r == ' ' }) {
		if !slices.Contains(moseiArrays, m) {
			return nil, p.errorf("modalities", spec, "unknown modality %q (want vision, audio, text joined by +)", m)
		}
		if slices.Contains(mo.mods, m) {
			return nil, p.errorf("modalities", spec, "%s given twice", m)
		}
		mo.mods = append(mo.mods, m)
	}
	if len(mo.mods) == 0 {
		return nil, p.errorf("modalities", spec, "no modality")
	}
	p.set("modalities", strings.Join(mo.mods, "+"))
	var err error
	if mo.classes, err = p.int("classes", MoseiDefaultClasses, 2); err != nil {
		return nil, err
	}
	if mo.classes != 2 && mo.classes != 7 {
		return nil, p.errorf("classes", p.used["classes"], "want 2 (sentiment sign) or 7 (rounded score)")
	}
	mo.zero = p.str("zero", "neg")
	if !slices.Contains([]string{"neg", "pos", "drop"}, mo.zero) {
		return nil, p.errorf("zero", mo.zero, "want neg (label 0 is negative, MultiBench), pos (BalanceBenchmark) or drop")
	}
	if mo.classes == 7 {
		p.set("zero", "n/a")
	}
	switch pad := p.str("pad", "end"); pad {
	case "end", "front":
		mo.padEnd = pad == "end"
	default:
		return nil, p.errorf("pad", pad, "want end (MultiBench) or front (as stored)")
	}
	switch v := p.str("drop_empty", "true"); v {
	case "true", "false":
		mo.dropEmpty = v == "true"
	default:
		return nil, p.errorf("drop_empty", v, "want true or false")
	}
	return mo, nil
}

// moseiRaw is one split as read: the three feature arrays and the labels.
type moseiRaw struct {
	split string
	x     map[string]*npyArray
	y     []float32
	n     int
}

// readMoseiSplit reads and checks the four arrays of one split.
func readMoseiSplit(dir, split string) (*moseiRaw, error) {
	r := &moseiRaw{split: split, x: map[string]*npyArray{}}
	lab, err := readNpyFile(moseiFile(dir, split, "labels"))
	if err != nil {
		return nil, err
	}
	if err := checkMoseiLabelShape(lab.Shape); err != nil {
		return nil, fmt.Errorf("file %s: %w", moseiFile(dir, split, "labels"), err)
	}
	r.y, r.n = lab.Data, lab.Shape[0]
	for i, v := range r.y {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return nil, fmt.Errorf("file %s: label of sample %d is %v", moseiFile(dir, split, "labels"), i, v)
		}
	}
	for _, m := range moseiArrays {
		path := moseiFile(dir, split, m)
		a, err := readNpyFile(path)
		if err != nil {
			return nil, err
		}
		if len(a.Shape) != 3 || a.Shape[1] < 1 || a.Shape[2] < 1 {
			return nil, fmt.Errorf("file %s: shape %v, want (N, T, d)", path, a.Shape)
		}
		if a.Shape[0] != r.n {
			return nil, fmt.Errorf("file %s has %d samples but %s has %d", path, a.Shape[0], moseiFile(dir, split, "labels"), r.n)
		}
		if err := cleanMoseiValues(a, m == "audio", path); err != nil {
			return nil, err
		}
		r.x[m] = a
	}
	return r, nil
}

// checkMoseiLabelShape accepts (N,), (N, 1) and (N, 1, 1).
func checkMoseiLabelShape(s []int) error {
	if len(s) < 1 || len(s) > 3 || s[0] < 1 {
		return fmt.Errorf("labels of shape %v, want (N,), (N, 1) or (N, 1, 1) with N ≥ 1", s)
	}
	for _, d := range s[1:] {
		if d != 1 {
			return fmt.Errorf("labels of shape %v, want (N,), (N, 1) or (N, 1, 1)", s)
		}
	}
	return nil
}

// cleanMoseiValues sets audio −inf to 0, as both references do, and rejects any other non-finite value.
func cleanMoseiValues(a *npyArray, audio bool, path string) error {
	per := a.Shape[1] * a.Shape[2]
	for i, v := range a.Data {
		if audio && math.IsInf(float64(v), -1) {
			a.Data[i] = 0
		} else if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return fmt.Errorf("file %s: non-finite value %v in sample %d", path, v, i/per)
		}
	}
	return nil
}

// checkMoseiShapes requires every modality to keep its (T, d) across the splits.
func checkMoseiShapes(dir string, raw []*moseiRaw) error {
	for _, m := range moseiArrays {
		ref := raw[0].x[m].Shape
		for _, r := range raw[1:] {
			if s := r.x[m].Shape; s[1] != ref[1] || s[2] != ref[2] {
				return fmt.Errorf("file %s: shape %v, but %s has (T, d) = (%d, %d)", moseiFile(dir, r.split, m), s,
					moseiFile(dir, raw[0].split, m), ref[1], ref[2])
			}
		}
	}
	return nil
}

// build applies the processing in place (kept samples move forward, so no array is copied) and
// returns the split with the chosen modalities.
func (r *moseiRaw) build(mo *moseiOptions) (*data.Split, error) {
	aligned := r.x["vision"].Shape[1] == r.x["audio"].Shape[1] && r.x["audio"].Shape[1] == r.x["text"].Shape[1]
	sp := &data.Split{}
	kept := 0
	for i := 0; i < r.n; i++ {
		textStart := firstNonZeroStep(r.x["text"], i)
		if mo.dropEmpty && textStart < 0 {
			continue
		}
		y, ok := moseiClass(r.y[i], mo)
		if !ok {
			continue
		}
		for _, m := range moseiArrays {
			start := textStart
			if !aligned {
				start = firstNonZeroStep(r.x[m], i)
			}
			if !mo.padEnd {
				start = 0
			}
			moveMoseiSample(r.x[m], i, kept, max(start, 0))
		}
		sp.Y = append(sp.Y, y)
		kept++
	}
	if kept == 0 {
		return nil, fmt.Errorf("dataset mosei: no %s sample is left (all text empty or all labels dropped)", r.split)
	}
	for _, m := range mo.mods {
		a := r.x[m]
		per := a.Shape[1] * a.Shape[2]
		sp.X = append(sp.X, slices.Clip(a.Data[:kept*per]))
	}
	return sp, nil
}

// firstNonZeroStep is the first time step of sample i with a non-zero value, or −1.
func firstNonZeroStep(a *npyArray, i int) int {
	t, d := a.Shape[1], a.Shape[2]
	block := a.Data[i*t*d : (i+1)*t*d]
	for s := 0; s < t; s++ {
		for _, v := range block[s*d : (s+1)*d] {
			if v != 0 {
				return s
			}
		}
	}
	return -1
}

// moveMoseiSample writes sample from, cut at time step start and zero-padded at the end, to position
// to ≤ from.
func moveMoseiSample(a *npyArray, from, to, start int) {
	t, d := a.Shape[1], a.Shape[2]
	src := a.Data[from*t*d : (from+1)*t*d]
	dst := a.Data[to*t*d : (to+1)*t*d]
	n := copy(dst, src[start*d:])
	clear(dst[n:])
}

// moseiClass maps a sentiment score to a class; ok is false for a dropped sample (zero=drop).
func moseiClass(y float32, mo *moseiOptions) (int64, bool) {
	if mo.classes == 7 {
		return int64(math.RoundToEven(max(-3, min(3, float64(y))))) + 3, true
	}
	switch {
	case y > 0:
		return 1, true
	case y < 0:
		return 0, true
	case mo.zero == "pos":
		return 1, true
	case mo.zero == "neg":
		return 0, true
	default:
		return 0, false
	}
}
