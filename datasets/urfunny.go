package datasets

import (
	"fmt"
	"slices"

	"github.com/mmfusion/bench/bench/data"
)

// UR-FUNNY humour detection from MultiBench's humor.pkl (methods-beyond.md §5.4, dataset-formats.md
// §8): the same pickle layout as MOSEI, a dict {'train','valid','test'} of dicts of numpy arrays.
// datasets/tools/urfunny_convert.py converts it once into the .npy layout of mosei (one file per split
// and array), which this loader reads; Go never reads the pickle:
//
//	<dir>/{train,valid,test}_vision.npy   float32 (N, T, 371)   OpenFace features
//	<dir>/{train,valid,test}_audio.npy    float32 (N, T, 81)    COVAREP features; may hold −inf
//	<dir>/{train,valid,test}_text.npy     float32 (N, T, 300)   GloVe vectors, zero padding in front
//	<dir>/{train,valid,test}_labels.npy   float32 (N, 1, 1), (N, 1) or (N,): humour 0 or 1
//
// dir defaults to <data root>/urfunny. T is read from the arrays (MultiBench's max_seq_len default
// is 50); the feature sizes too (371/81/300 in the released file, not enforced). The processing is
// mosei's (mosei.go), as MultiBench's get_dataloader applies it to every affect pickle: audio −inf → 0;
// drop_empty=true (default) drops samples whose text is all zeros, in every split; pad=end (default)
// cuts every modality at the first non-zero text step and zero-pads at the end (pad=front keeps the
// arrays as stored). Labels: MultiBench's task='classification' uses the humour label as is, so K = 2
// with class = label; any label other than 0 or 1 is an error naming the file (regression's ±1 mapping
// is not offered). Splits are the file's: train, valid (the validation split) and test.
//
// modalities (default vision+text, the seed's V+T setting of Table 5; vision+audio+text for all three)
// picks the modalities and their order; each has shape [T, d]. The reference encoders for V+T are
// Transformer(371→400) and Transformer(300→600) (and 81→100 for audio): transformer with dim set.
const URFunnyDefaultModalities = "vision+text"

var urfunnyParams = []string{"modalities", "pad", "drop_empty", "dir"}

func init() {
	data.Register("urfunny",
		"UR-FUNNY humour (2 classes; MultiBench humor.pkl converted to .npy by datasets/tools/urfunny_convert.py): vision [T,371] + text [T,300] (audio [T,81] with modalities=vision+audio+text); e.g. urfunny:modalities=vision+text",
		loadURFunny)
}

func loadURFunny(opt data.Options) (*data.Set, error) {
	params := map[string]string{}
	for k, v := range opt.Params {
		params[k] = v
	}
	if _, ok := params["modalities"]; !ok {
		params["modalities"] = URFunnyDefaultModalities
	}
	p, err := newSpecParams("urfunny", params, urfunnyParams...)
	if err != nil {
		return nil, err
	}
	// mosei's options with the labels mapped to signs: 1 → +1 (class 1), 0 → −1 (class 0).
	mo, err := parseMoseiOptions(p)
	if err != nil {
		return nil, err
	}
	delete(p.used, "classes")
	delete(p.used, "zero")
	mo.classes, mo.zero = 2, "neg"
	dir, source := datasetDir(opt.DataDir, "urfunny", p.path("dir"))
	var files []string
	for _, sp := range moseiSplitNames {
		for _, a := range append(slices.Clone(moseiArrays), "labels") {
			files = append(files, moseiFile(dir, sp, a))
		}
	}
	if err := requireFiles("urfunny", source, files...); err != nil {
		return nil, fmt.Errorf("%w (convert MultiBench's humor.pkl with datasets/tools/urfunny_convert.py)", err)
	}
	raw := make([]*moseiRaw, len(moseiSplitNames))
	for k, sp := range moseiSplitNames {
		if raw[k], err = readMoseiSplit(dir, sp); err != nil {
			return nil, err
		}
		for i, y := range raw[k].y {
			switch y {
			case 0:
				raw[k].y[i] = -1
			case 1:
				raw[k].y[i] = 1
			default:
				return nil, fmt.Errorf("dataset urfunny: file %s: label of sample %d is %v, want 0 or 1 (humour)", moseiFile(dir, sp, "labels"), i, y)
			}
		}
		if mo.dropEmpty {
			kept := 0
			for i := range raw[k].n {
				if firstNonZeroStep(raw[k].x["text"], i) >= 0 {
					kept++
				}
			}
			if kept == 0 {
				return nil, fmt.Errorf("dataset urfunny: every %s sample has empty text (all zeros), so drop_empty=true leaves none (file %s)", sp, moseiFile(dir, sp, "text"))
			}
		}
	}
	return moseiSet("urfunny", p.used, 2, dir, raw, mo)
}
