package datasets

import (
	"fmt"
	"image"
	"maps"
	"os"
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
//   - diff [3, Td, 224, 224] (Td = diff_frames, default = frames), only when modalities names it:
//     frame difference, §5.1's harness adaptation of TSN's RGBDiff [our adaptation]. D_t = F_{t+1} − F_t
//     on the [0, 1]-scaled, resized RGB frames, divided by 0.452 (= 2·mean(ImageNet std), RGBDiff's
//     normalisation; mean 0). The Td pairs are chosen by segmentFrames over the n − 1 pair starts of
//     the RGB folder's n frames (pair i, i+1 of each chosen position), so a clip needs at least 2
//     frames. The pairs are adjacent STORED frames: the BalanceBenchmark layout keeps only ~6 sampled
//     frames per video, so this is coarser motion than RGBDiff's consecutive video frames.
//
// modalities (default rgb+flow) picks the modalities and their order: rgb, flow, diff joined by +, each
// at most once (one alone is allowed, as mosei). The default is recorded in Params but left out of the
// source digest, so the bare ucf101 keeps its checksum; diff_frames is only accepted with diff.
//
// The reference uses a video only if its three folders exist; missing=skip does the same, the default
// reports them. The validation split holds out whole groups of the training list (the gNN of
// v_<Class>_gNN_cMM; clips of one group come from one long video): a share val (default 0.1) of the
// groups, at least one, drawn with split_seed (default 0). The test list is only the test split.
// Train-time augmentation (random frames, horizontal flip) is omitted: every split, diff included,
// reads with the test transform.
const (
	UCF101DefaultFrames     = 3
	UCF101DefaultFlowFrames = 3
	UCF101DefaultSplit      = 1
	UCF101DefaultModalities = "rgb+flow"
	// ucfDiffStd is RGBDiff's normalisation: 2·mean(ImageNet std) = 2·(0.229+0.224+0.225)/3 ≈ 0.452.
	ucfDiffStd = 0.452
)

var (
	ucf101Params     = []string{"modalities", "split", "frames", "flow_frames", "diff_frames", "val", "split_seed", "missing", "cache", "dir", "rgb_dir", "flow_u_dir", "flow_v_dir"}
	ucf101Modalities = []string{"rgb", "flow", "diff"}
)

func init() {
	data.Register("ucf101",
		"UCF101 (101 classes): RGB frames [3,T,224,224] + optical flow u/v [2,T,224,224] (+ frame difference [3,T,224,224] with modalities=rgb+flow+diff); e.g. ucf101:split=1,frames=3",
		loadUCF101)
}

// ucfConfig is what resolving and reading need.
type ucfConfig struct {
	rgbDir, uDir, vDir             string
	frames, flowFrames, diffFrames int
	mods                           []string // the modalities in output order (rgb, flow, diff)
}

// has reports whether modality m was chosen.
func (cfg *ucfConfig) has(m string) bool { return slices.Contains(cfg.mods, m) }

// parseUCFModalities reads modalities: names from ucf101Modalities joined by +, each once.
func parseUCFModalities(p *specParams) ([]string, error) {
	spec := p.str("modalities", UCF101DefaultModalities)
	var mods []string
	for _, m := range strings.FieldsFunc(spec, func(r rune) bool { return r == '+' || r == ' ' }) {
		if !slices.Contains(ucf101Modalities, m) {
			return nil, p.errorf("modalities", spec, "unknown modality %q (want %s joined by +)", m, strings.Join(ucf101Modalities, ", "))
		}
		if slices.Contains(mods, m) {
			return nil, p.errorf("modalities", spec, "%s given twice", m)
		}
		mods = append(mods, m)
	}
	if len(mods) == 0 {
		return nil, p.errorf("modalities", spec, "no modality (want %s joined by +)", strings.Join(ucf101Modalities, ", "))
	}
	p.set("modalities", strings.Join(mods, "+"))
	return mods, nil
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
	if cfg.mods, err = parseUCFModalities(p); err != nil {
		return nil, err
	}
	if cfg.frames, err = p.int("frames", UCF101DefaultFrames, 1); err != nil {
		return nil, err
	}
	if cfg.flowFrames, err = p.int("flow_frames", UCF101DefaultFlowFrames, 1); err != nil {
		return nil, err
	}
	if cfg.has("diff") {
		if cfg.diffFrames, err = p.int("diff_frames", cfg.frames, 1); err != nil {
			return nil, err
		}
	} else if v, ok := opt.Params["diff_frames"]; ok {
		return nil, p.errorf("diff_frames", v, "needs diff in modalities (modalities=%s)", p.used["modalities"])
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
	}
	for _, m := range cfg.mods {
		set.Modalities = append(set.Modalities, cfg.modality(m))
	}
	// The default modalities stay out of the digest: the bare ucf101 keeps the checksum it had before
	// the parameter existed.
	digestUsed := maps.Clone(p.used)
	if digestUsed["modalities"] == UCF101DefaultModalities {
		delete(digestUsed, "modalities")
	}
	digest := digestParams(digestUsed)
	tmpl := clipSource{dataset: "ucf101", digest: digest, cache: cacheDir, root: dir, read: cfg.read}
	return finishClipSet(set, tmpl, nil, train, val, splits[1])
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

// modality describes modality m.
func (cfg *ucfConfig) modality(m string) data.Modality {
	switch m {
	case "rgb":
		return data.Modality{Name: "rgb", Shape: []int64{3, int64(cfg.frames), FrameSize, FrameSize}, Role: data.RoleVisual}
	case "flow":
		return data.Modality{Name: "flow", Shape: []int64{2, int64(cfg.flowFrames), FrameSize, FrameSize}, Role: data.RoleFlow}
	}
	// Frame difference is computed from RGB frames: a visual signal (DMI: rgb+diff gives both the
	// visual branch's coefficients; its role logic is unchanged).
	return data.Modality{Name: "diff", Shape: []int64{3, int64(cfg.diffFrames), FrameSize, FrameSize}, Role: data.RoleVisual}
}

// fileCounts is how many files of Files each part takes, in the fixed order rgb, u, v, diff
// (whatever the modality order): 0 for a modality not chosen.
func (cfg *ucfConfig) fileCounts() (rgb, flow, diff int) {
	if cfg.has("rgb") {
		rgb = cfg.frames
	}
	if cfg.has("flow") {
		flow = cfg.flowFrames
	}
	if cfg.has("diff") {
		diff = 2 * cfg.diffFrames
	}
	return
}

// resolve finds one video's files: Files = [rgb 1…T, u 1…Tf, v 1…Tf, diff pairs (F_t, F_{t+1}) 1…Td],
// each part only when its modality is chosen (the default rgb+flow: the first three, as before diff).
func (cfg *ucfConfig) resolve(e clipEntry) (clipSample, []string) {
	var problems []string
	var rgb, u, v, diff []fileRef
	if cfg.has("rgb") {
		var problem string
		if rgb, _, problem = pickFrames(filepath.Join(cfg.rgbDir, e.Name), cfg.frames, 1); problem != "" {
			problems = append(problems, problem)
		}
	}
	if cfg.has("flow") {
		var names []string
		var problem string
		if u, names, problem = pickFrames(filepath.Join(cfg.uDir, e.Name), cfg.flowFrames, 1); problem != "" {
			problems = append(problems, problem)
		}
		for _, n := range names {
			path := filepath.Join(cfg.vDir, e.Name, n)
			ref, ok := statRegular(path)
			if !ok {
				problems = append(problems, absPath(path)+" (missing; the v frame beside "+n+" of u)")
				break
			}
			v = append(v, ref)
		}
	}
	if cfg.has("diff") {
		var problem string
		if diff, problem = pickDiffPairs(filepath.Join(cfg.rgbDir, e.Name), cfg.diffFrames); problem != "" && !slices.Contains(problems, problem) {
			problems = append(problems, problem)
		}
	}
	return clipSample{Name: e.Name, Label: e.Label, Files: slices.Concat(rgb, u, v, diff)}, problems
}

// pickDiffPairs lists the RGB folder dir (n frames, n ≥ 2), chooses pairs positions by segmentFrames
// over the n − 1 pair starts and returns [F_p0, F_p0+1, F_p1, F_p1+1, …]. problem is "" on success.
func pickDiffPairs(dir string, pairs int) (refs []fileRef, problem string) {
	all, err := listFrames(dir)
	switch {
	case err != nil && os.IsNotExist(err):
		return nil, absPath(dir) + "/ (frame folder missing)"
	case err != nil:
		return nil, absPath(dir) + "/ (" + err.Error() + ")"
	case len(all) < 2:
		return nil, fmt.Sprintf("%s/ (%d .jpg/.png frames; diff needs at least 2: pairs of adjacent frames)", absPath(dir), len(all))
	}
	for _, p := range segmentFrames(len(all)-1, pairs) {
		for _, name := range all[p : p+2] {
			path := filepath.Join(dir, name)
			ref, ok := statRegular(path)
			if !ok {
				return nil, absPath(path) + " (not a regular file)"
			}
			refs = append(refs, ref)
		}
	}
	return refs, ""
}

// read decodes one sample: one buffer per chosen modality, in cfg.mods order.
func (cfg *ucfConfig) read(c *clipSample, dst [][]float32) error {
	if len(dst) != len(cfg.mods) {
		return fmt.Errorf("want %d modality buffers, got %d", len(cfg.mods), len(dst))
	}
	nr, nf, nd := cfg.fileCounts()
	if want := nr + 2*nf + nd; len(c.Files) != want {
		return fmt.Errorf("%d files resolved, want %d", len(c.Files), want)
	}
	rgb, u, v, diff := c.Files[:nr], c.Files[nr:nr+nf], c.Files[nr+nf:nr+2*nf], c.Files[nr+2*nf:]
	for k, m := range cfg.mods {
		var err error
		switch m {
		case "rgb":
			err = readRGBClip(rgb, dst[k], FrameSize)
		case "flow":
			err = readFlowClip(u, v, dst[k])
		case "diff":
			err = readDiffClip(diff, dst[k])
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// readFlowClip fills dst ([2, Tf, 224, 224]) with the u frames (channel 0) and v frames (channel 1).
func readFlowClip(u, v []fileRef, dst []float32) error {
	tf := len(u)
	if want := 2 * tf * FrameSize * FrameSize; len(dst) != want {
		return fmt.Errorf("flow buffer holds %d values, want %d", len(dst), want)
	}
	for ch, files := range [][]fileRef{u, v} {
		for i, f := range files {
			img, err := loadFrame(f.Path, FrameSize)
			if err != nil {
				return err
			}
			putGrayFrame(dst, img, ch, i, tf)
		}
	}
	return nil
}

// readDiffClip fills dst ([3, Td, 224, 224]) from the pairs [F_t, F_{t+1}, …]: each resized to
// 224×224 (test transform), D = (F_{t+1} − F_t)/255/0.452 per channel.
func readDiffClip(pairs []fileRef, dst []float32) error {
	td := len(pairs) / 2
	if want := 3 * td * FrameSize * FrameSize; len(dst) != want {
		return fmt.Errorf("diff buffer holds %d values, want %d", len(dst), want)
	}
	for t := range td {
		a, err := loadFrame(pairs[2*t].Path, FrameSize)
		if err != nil {
			return err
		}
		b, err := loadFrame(pairs[2*t+1].Path, FrameSize)
		if err != nil {
			return err
		}
		putDiffFrame(dst, a, b, t, td)
	}
	return nil
}

// putDiffFrame writes (b − a)/255/ucfDiffStd per channel as frame t of a clip laid out [3, T, H, W].
func putDiffFrame(dst []float32, a, b *image.RGBA, t, frames int) {
	hw := a.Rect.Dx() * a.Rect.Dy()
	const scale = float32(1 / (255 * ucfDiffStd))
	for c := range 3 {
		out := dst[(c*frames+t)*hw : (c*frames+t+1)*hw]
		for i := range out {
			out[i] = float32(int(b.Pix[4*i+c])-int(a.Pix[4*i+c])) * scale
		}
	}
}
