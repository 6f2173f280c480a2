package datasets

import (
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/mmfusion/bench/bench/data"
)

// UCF101 RGB + optical flow in the layout BalanceBenchmark's ucf101_dataset.py reads
// (dataset-formats.md §9), with the official split files:
//
//	<dir>/classInd.txt                  rows "1 ApplyEyeMakeup" (the second token is the class)
//	<dir>/trainlist0{split}.txt         rows "ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi 1"
//	<dir>/testlist0{split}.txt          rows "ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01.avi"
//	                                    (the three lists may sit in <dir>/ucfTrainTestlist/ instead)
//	<dir>/frames/<video>/*.jpg          RGB frames, frame_00001.jpg … frame_00006.jpg
//	<dir>/u/<video>/*.jpg               horizontal flow, grayscale, frame000001.jpg …
//	<dir>/v/<video>/*.jpg               vertical flow, the same file names
//
// <video> is the list entry's part after '/' up to the first '.', and its class the part before '/'.
// Class index = position in the sorted class names of classInd.txt (as the reference; the numbers in
// the lists are ignored). dir defaults to <data root>/ucf101; rgb_dir, flow_u_dir and flow_v_dir
// point at the media folders elsewhere; split (1, 2 or 3, default 1) picks the official split.
//
// Modalities:
//   - rgb [3, T, 224, 224] (T = frames, default 3): frames chosen by segmentFrames (of 6: frames 1, 3
//     and 5, the reference's test-time choice), resized to 224×224, ImageNet-normalised.
//   - flow [2, Tf, 224, 224] (Tf = flow_frames, default 3; channel 0 = u/x, 1 = v/y): Tf flow frames
//     chosen by segmentFrames from the u folder (the reference's test-time rule), the v frame of the
//     same name beside each, resized to 224×224 and scaled to [0, 1] without normalisation, as the
//     reference. The reference returns flow as (T, 2, H, W); here it is channel first like rgb, the
//     (C, T, H, W) clip layout the encoders fold.
//
// The reference uses a video only if its three folders exist; missing=skip does the same, the default
// reports them. The validation split holds out whole groups of the training list (the gNN of
// v_<Class>_gNN_cMM; clips of one group come from one long video): a share val (default 0.1) of the
// groups, at least one, drawn with split_seed (default 0). The test list is only the test split.
// Train-time augmentation (random frames, horizontal flip) is omitted.
const (
	UCF101DefaultFrames     = 3
	UCF101DefaultFlowFrames = 3
	UCF101DefaultSplit      = 1
)

var ucf101Params = []string{"split", "frames", "flow_frames", "val", "split_seed", "missing", "cache", "dir", "rgb_dir", "flow_u_dir", "flow_v_dir"}

func init() {
	data.Register("ucf101",
		"UCF101 (101 classes): RGB frames [3,T,224,224] + optical flow u/v [2,T,224,224]; e.g. ucf101:split=1,frames=3",
		loadUCF101)
}

// ucfConfig is what resolving and reading need.
type ucfConfig struct {
	rgbDir, uDir, vDir string
	frames, flowFrames int
}

func loadUCF101(opt data.Options) (*data.Set, error) {
	p, err := newSpecParams("ucf101", opt.Params, ucf101Params...)
	if err != nil {
		return nil, err
	}
	split, err := p.int("split", UCF101DefaultSplit, 1)
	if err != nil {
		return nil, err
	}
	if split > 3 {
		return nil, p.errorf("split", p.used["split"], "want 1, 2 or 3 (the official splits)")
	}
	cfg := &ucfConfig{}
	if cfg.frames, err = p.int("frames", UCF101DefaultFrames, 1); err != nil {
		return nil, err
	}
	if cfg.flowFrames, err = p.int("flow_frames", UCF101DefaultFlowFrames, 1); err != nil {
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
	dir, source := datasetDir(opt.DataDir, "ucf101", p.path("dir"))
	cfg.rgbDir = clipRelDir(dir, "frames", p.path("rgb_dir"))
	cfg.uDir = clipRelDir(dir, "u", p.path("flow_u_dir"))
	cfg.vDir = clipRelDir(dir, "v", p.path("flow_v_dir"))
	lists, err := ucfListFiles(dir, source, split)
	if err != nil {
		return nil, err
	}
	classes, err := readUCFClasses(lists[0])
	if err != nil {
		return nil, err
	}
	var entries [2][]clipEntry
	for k := range entries {
		if entries[k], err = readUCFList(lists[k+1], classes); err != nil {
			return nil, err
		}
	}
	var splits [2][]clipSample
	for k := range splits {
		if splits[k], err = resolveClips("ucf101", lists[k+1], source, entries[k], cfg.resolve, skip); err != nil {
			return nil, err
		}
	}
	groups := make([]string, len(splits[0]))
	for i, s := range splits[0] {
		groups[i] = ucfGroup(s.Name)
	}
	train, val := carveValidation(splits[0], groups, valShare, splitSeed)
	set := &data.Set{
		Name:       "ucf101",
		Params:     p.used,
		NumClasses: len(classes),
		Modalities: []data.Modality{
			{Name: "rgb", Shape: []int64{3, int64(cfg.frames), FrameSize, FrameSize}, Role: data.RoleVisual},
			{Name: "flow", Shape: []int64{2, int64(cfg.flowFrames), FrameSize, FrameSize}, Role: data.RoleFlow},
		},
	}
	digest := digestParams(p.used)
	mk := func(split string, s []clipSample) *data.Split {
		return (&clipSource{dataset: "ucf101", split: split, digest: digest, cache: cacheDir, root: dir, samples: s, read: cfg.read}).dataSplit()
	}
	set.Train, set.Val, set.Test = mk("train", train), mk("val", val), mk("test", splits[1])
	if err := set.Finish(); err != nil {
		return nil, err
	}
	return set, nil
}

// ucfListFiles finds classInd.txt, trainlist0N.txt and testlist0N.txt in dir or dir/ucfTrainTestlist.
func ucfListFiles(dir, source string, split int) ([3]string, error) {
	var found [3]string
	var missing []string
	for k, name := range []string{"classInd.txt", fmt.Sprintf("trainlist%02d.txt", split), fmt.Sprintf("testlist%02d.txt", split)} {
		path, looked := findOneOf(filepath.Join(dir, name), filepath.Join(dir, "ucfTrainTestlist", name))
		if path == "" {
			missing = append(missing, looked)
		}
		found[k] = path
	}
	if len(missing) > 0 {
		return found, fmt.Errorf("dataset ucf101: list files not found (folder from %s): %s", source, strings.Join(missing, ", "))
	}
	return found, nil
}

// readUCFClasses returns the sorted class names of classInd.txt ("index name" rows).
func readUCFClasses(path string) ([]string, error) {
	lines, err := readListFile(path)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, l := range lines {
		f := strings.Fields(l.Text)
		if len(f) != 2 {
			return nil, fmt.Errorf("file %s, line %d: %q: want \"index ClassName\"", path, l.Num, npyShort(l.Text, 80))
		}
		if slices.Contains(names, f[1]) {
			return nil, fmt.Errorf("file %s, line %d: class %q listed twice", path, l.Num, f[1])
		}
		names = append(names, f[1])
	}
	if len(names) < 2 {
		return nil, fmt.Errorf("file %s: %d classes; need at least 2", path, len(names))
	}
	slices.Sort(names)
	return names, nil
}

// readUCFList parses a train or test list.
func readUCFList(path string, classes []string) ([]clipEntry, error) {
	return readClipList(path, func(row string) (clipEntry, error) { return parseUCFRow(row, classes) })
}

// parseUCFRow reads "Class/v_Class_g08_c01.avi [label]": the class before '/', the video name after
// it up to the first '.'.
func parseUCFRow(text string, classes []string) (clipEntry, error) {
	f := strings.Fields(text)
	if len(f) == 0 {
		return clipEntry{}, fmt.Errorf("empty row")
	}
	path := f[0]
	class, file, ok := strings.Cut(path, "/")
	if !ok || class == "" {
		return clipEntry{}, fmt.Errorf("%q: want Class/video.avi", npyShort(path, 80))
	}
	name, _, _ := strings.Cut(file, ".")
	if err := checkClipName(name); err != nil {
		return clipEntry{}, err
	}
	k, found := slices.BinarySearch(classes, class)
	if !found {
		return clipEntry{}, fmt.Errorf("class %q is not in classInd.txt", npyShort(class, 60))
	}
	return clipEntry{Name: name, Label: int64(k)}, nil
}

var ucfGroupRE = regexp.MustCompile(`_g(\d+)_c\d+$`)

// ucfGroup is the gNN of v_<Class>_gNN_cMM, or the whole name if it does not follow the pattern.
// Holding out group numbers across all classes follows UCF101's own train/test convention.
func ucfGroup(name string) string {
	if m := ucfGroupRE.FindStringSubmatch(name); m != nil {
		return "g" + m[1]
	}
	return name
}

// resolve finds one video's files: Files = [rgb 1…T, u 1…Tf, v 1…Tf].
func (cfg *ucfConfig) resolve(e clipEntry) (clipSample, []string) {
	var problems []string
	rgb, _, problem := pickFrames(filepath.Join(cfg.rgbDir, e.Name), cfg.frames, 1)
	if problem != "" {
		problems = append(problems, problem)
	}
	u, names, problem := pickFrames(filepath.Join(cfg.uDir, e.Name), cfg.flowFrames, 1)
	if problem != "" {
		problems = append(problems, problem)
	}
	var v []fileRef
	for _, n := range names {
		path := filepath.Join(cfg.vDir, e.Name, n)
		ref, ok := statRegular(path)
		if !ok {
			problems = append(problems, absPath(path)+" (missing; the v frame beside "+n+" of u)")
			break
		}
		v = append(v, ref)
	}
	return clipSample{Name: e.Name, Label: e.Label, Files: slices.Concat(rgb, u, v)}, problems
}

// read decodes one sample: dst[0] rgb, dst[1] flow.
func (cfg *ucfConfig) read(c *clipSample, dst [][]float32) error {
	if len(dst) != 2 {
		return fmt.Errorf("want 2 modality buffers, got %d", len(dst))
	}
	t, tf := cfg.frames, cfg.flowFrames
	if err := readRGBClip(c.Files[:t], dst[0], FrameSize); err != nil {
		return err
	}
	if want := 2 * tf * FrameSize * FrameSize; len(dst[1]) != want {
		return fmt.Errorf("flow buffer holds %d values, want %d", len(dst[1]), want)
	}
	for ch, files := range [][]fileRef{c.Files[t : t+tf], c.Files[t+tf : t+2*tf]} {
		for i, f := range files {
			img, err := loadFrame(f.Path, FrameSize)
			if err != nil {
				return err
			}
			putGrayFrame(dst[1], img, ch, i, tf)
		}
	}
	return nil
}
