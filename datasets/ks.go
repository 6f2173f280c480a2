package datasets

import (
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"strconv"
	"strings"
	"unicode"

	"github.com/mmfusion/bench/bench/data"
)

// Kinetics-Sounds (31 classes) in the BalanceBenchmark layout that dataset-formats.md §3 recommends,
// with separate folders for the training and test lists:
//
//	<dir>/train.txt (or my_train.txt)   rows "name,10,label" (OGM-GE's lists) or "name … label"
//	<dir>/test.txt  (or my_test.txt)    (BalanceBenchmark: space-separated; first token the clip
//	                                     name, last token its integer label 0 … classes−1)
//	<dir>/train_spec/<name>.npy          the audio: AST-style Kaldi fbank, float32 (1024, 128)
//	<dir>/test_spec/<name>.npy           (frames × mel bins), as OGM-GE's process_audio.py writes it
//	<dir>/train_frames/<name>/*.jpg      frames at 1 fps, frame_00001.jpg … frame_00010.jpg
//	<dir>/test_frames/<name>/*.jpg
//
// dir defaults to <data root>/ks; train_audio, test_audio, train_visual and test_visual point at
// the media folders elsewhere. No class-name list is shipped with the reference lists: labels are the
// integers in the list, and classes (default 31) is their count.
//
// Modalities:
//   - audio [1, F, M]: the .npy array as stored (F × M = 1024 × 128 for the reference recipe; the shape is
//     read from the first training file, and every file must match it), float32 or float64.
//   - visual [3, T, 224, 224] (T = frames, default 3): frames chosen by segmentFrames (the reference's
//     test-time rule: with 10 frames, frames 1, 4 and 7), resized to 224×224, ImageNet-normalised.
//
// As in BalanceBenchmark a clip is usable only if its .npy exists and its frame folder holds at least
// 4 frames ("more than 3 files"); with missing=skip other clips are dropped as the reference does, by
// default they are an error listing the files looked for. The validation split is a stratified share
// val (default 0.1) of the training list drawn with split_seed (default 0); the test list is only the
// test split. Training frames get the reference's training transform, RandomResizedCrop(224) and a
// horizontal flip drawn per frame (augment.go), in the trainer's training epochs; augment=false
// (default true) gives every read the test-time transform. Training reads (augment=true) draw each
// frame at random within its segment, BalanceBenchmark's training-time rule (clips.go:
// trainSegmentFrames; with 10 frames and T = 3 one of 1–3, 4–6, 7–9); evaluation reads take
// segmentFrames' picks. frames=8 (Table 7) thus segment-samples 8 of a clip's 10 frames.
const (
	KSDefaultClasses = 31
	KSDefaultFrames  = 3
	ksMinFrames      = 4
)

var ksParams = []string{"classes", "frames", "val", "split_seed", "missing", "cache", "augment", "dir",
	"train_audio", "test_audio", "train_visual", "test_visual"}

func init() {
	data.Register("ks",
		"Kinetics-Sounds (31 classes, BalanceBenchmark layout): audio fbank .npy [1,1024,128] + visual frames [3,T,224,224]; e.g. ks:frames=3",
		loadKS)
}

// ksPart is one of the two lists with its media folders.
type ksPart struct {
	list, audioDir, visualDir string
}

// ksConfig is what resolving and reading need.
type ksConfig struct {
	frames     int
	audioShape []int64 // [1, F, M], set from the first training file
}

func loadKS(opt data.Options) (*data.Set, error) {
	p, err := newSpecParams("ks", opt.Params, ksParams...)
	if err != nil {
		return nil, err
	}
	classes, err := p.int("classes", KSDefaultClasses, 2)
	if err != nil {
		return nil, err
	}
	cfg := &ksConfig{}
	if cfg.frames, err = p.int("frames", KSDefaultFrames, 1); err != nil {
		return nil, err
	}
	valShare, splitSeed, skip, err := clipCommonParams(p)
	if err != nil {
		return nil, err
	}
	cacheDir, err := clipCacheParam(p)
	if err != nil {
		return nil, err
	}
	augmentOn, err := clipAugmentParam(p)
	if err != nil {
		return nil, err
	}
	dir, source := datasetDir(opt.DataDir, "ks", p.path("dir"))
	parts, err := ksParts(dir, source, p)
	if err != nil {
		return nil, err
	}
	var entries [2][]clipEntry
	for k, part := range parts {
		if entries[k], err = readKSList(part.list, classes); err != nil {
			return nil, err
		}
	}
	var splits [2][]clipSample
	for k, part := range parts {
		// The training list keeps every frame of a clip when training reads choose frames at random.
		if splits[k], err = resolveClips("ks", part.list, source, entries[k], cfg.resolver(part, k == 0 && augmentOn), skip); err != nil {
			return nil, err
		}
	}
	if cfg.audioShape, err = ksAudioShape(splits[0][0].Files[0].Path); err != nil {
		return nil, err
	}
	train, val := carveValidation(splits[0], nil, valShare, splitSeed)
	set := &data.Set{
		Name:       "ks",
		Params:     p.used,
		NumClasses: classes,
		Modalities: []data.Modality{
			{Name: "audio", Shape: cfg.audioShape, Role: data.RoleAudio},
			{Name: "visual", Shape: []int64{3, int64(cfg.frames), FrameSize, FrameSize}, Role: data.RoleVisual},
		},
	}
	digest := digestParams(p.used)
	tmpl := clipSource{dataset: "ks", digest: digest, cache: cacheDir, root: dir, read: cfg.read}
	var augment func(c *clipSample, dst [][]float32, r *rand.Rand) error
	if augmentOn {
		augment = cfg.readAugmented
	}
	return finishClipSet(set, tmpl, augment, train, val, splits[1])
}

// ksParts finds the two list files (train.txt or my_train.txt, test.txt or my_test.txt) and names
// the media folders.
func ksParts(dir, source string, p *specParams) ([2]ksPart, error) {
	var parts [2]ksPart
	var missing []string
	for k, name := range []string{"train", "test"} {
		list, looked := findOneOf(filepath.Join(dir, name+".txt"), filepath.Join(dir, "my_"+name+".txt"))
		if list == "" {
			missing = append(missing, looked)
		}
		parts[k] = ksPart{
			list:      list,
			audioDir:  clipRelDir(dir, name+"_spec", p.path(name+"_audio")),
			visualDir: clipRelDir(dir, name+"_frames", p.path(name+"_visual")),
		}
	}
	if len(missing) > 0 {
		return parts, fmt.Errorf("dataset ks: list files not found (folder from %s): %s", source, strings.Join(missing, ", "))
	}
	return parts, nil
}

// readKSList parses the rows of one list.
func readKSList(path string, classes int) ([]clipEntry, error) {
	return readClipList(path, func(row string) (clipEntry, error) { return parseKSRow(row, classes) })
}

// parseKSRow reads "name,10,label" or "name … label": the fields are separated by commas or spaces;
// the first is the clip name and the last its label.
func parseKSRow(text string, classes int) (clipEntry, error) {
	f := strings.FieldsFunc(text, func(r rune) bool { return r == ',' || unicode.IsSpace(r) })
	if len(f) < 2 {
		return clipEntry{}, fmt.Errorf("%q: want a clip name and a label (\"name,10,label\" or \"name label\")", npyShort(text, 80))
	}
	if err := checkClipName(f[0]); err != nil {
		return clipEntry{}, err
	}
	y, err := strconv.Atoi(f[len(f)-1])
	if err != nil {
		return clipEntry{}, fmt.Errorf("label %q is not an integer", npyShort(f[len(f)-1], 20))
	}
	if y < 0 || y >= classes {
		return clipEntry{}, fmt.Errorf("label %d out of range [0, %d) (parameter classes)", y, classes)
	}
	return clipEntry{Name: f[0], Label: int64(y)}, nil
}

// resolver finds one clip's files: Files = [audio .npy, frame 1, …, frame T] (the evaluation picks),
// and with pool every frame of the clip in Pool.
func (cfg *ksConfig) resolver(part ksPart, pool bool) clipResolver {
	return func(e clipEntry) (clipSample, []string) {
		var problems []string
		npy := filepath.Join(part.audioDir, e.Name+".npy")
		ref, ok := statRegular(npy)
		if !ok {
			problems = append(problems, absPath(npy)+" (missing)")
		}
		frames, all, problem := resolveFrames(filepath.Join(part.visualDir, e.Name), cfg.frames, ksMinFrames, pool)
		if problem != "" {
			problems = append(problems, problem)
		}
		return clipSample{Name: e.Name, Label: e.Label, Files: append([]fileRef{ref}, frames...), Pool: all}, problems
	}
}

// ksAudioShape reads the header of one audio file: (F, M) or (1, F, M) gives [1, F, M].
func ksAudioShape(path string) ([]int64, error) {
	h, err := readNpyFileHeader(path)
	if err != nil {
		return nil, err
	}
	s := h.Shape
	if len(s) == 3 && s[0] == 1 {
		s = s[1:]
	}
	if len(s) != 2 || s[0] < 1 || s[1] < 1 {
		return nil, fmt.Errorf("file %s: audio array of shape %v, want a 2-D spectrogram (frames, mel bins)", path, h.Shape)
	}
	return []int64{1, int64(s[0]), int64(s[1])}, nil
}

// read decodes one sample: dst[0] audio, dst[1] visual.
func (cfg *ksConfig) read(c *clipSample, dst [][]float32) error {
	if len(dst) != 2 {
		return fmt.Errorf("want 2 modality buffers, got %d", len(dst))
	}
	if err := readSpectrogramNpy(c.Files[0].Path, cfg.audioShape, dst[0]); err != nil {
		return err
	}
	return readRGBClip(c.Files[1:], dst[1], FrameSize)
}

// readAugmented decodes one training sample under the training transform: the audio as read, the
// frames chosen at random within their segments, then each cropped and flipped, all with draws from r.
func (cfg *ksConfig) readAugmented(c *clipSample, dst [][]float32, r *rand.Rand) error {
	if len(dst) != 2 {
		return fmt.Errorf("want 2 modality buffers, got %d", len(dst))
	}
	if err := readSpectrogramNpy(c.Files[0].Path, cfg.audioShape, dst[0]); err != nil {
		return err
	}
	return readRGBClipAugmented(c.trainFrames(1, r), dst[1], FrameSize, r)
}

// readSpectrogramNpy reads a .npy array that must hold as many values as shape ([1, F, M]; a stored
// (F, M) or (1, F, M) array) and only finite ones, into dst.
func readSpectrogramNpy(path string, shape []int64, dst []float32) error {
	a, err := readNpyFile(path)
	if err != nil {
		return err
	}
	want := shape[1:]
	got := a.Shape
	if len(got) == 3 && got[0] == 1 {
		got = got[1:]
	}
	if len(got) != 2 || int64(got[0]) != want[0] || int64(got[1]) != want[1] {
		return fmt.Errorf("file %s: array of shape %v, want %v like the first training file", path, a.Shape, want)
	}
	if len(dst) != len(a.Data) {
		return fmt.Errorf("audio buffer holds %d values, want %d", len(dst), len(a.Data))
	}
	for i, v := range a.Data {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return fmt.Errorf("file %s: non-finite value %v at index %d", path, v, i)
		}
	}
	copy(dst, a.Data)
	return nil
}
