package datasets

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"

	"github.com/mmfusion/bench/bench/data"
)

// VGGSound as OGM-GE's and PMR's VGGSoundDataset read it (methods-beyond.md §5.5, dataset-formats.md
// §5; the two files are identical apart from paths):
//
//	<dir>/vggsound.csv                       rows "ytid,start_seconds,label,split" (CSV, no header;
//	                                         split train or test; other rows are ignored, as there)
//	<dir>/train-videos/train-set-img/Image-{fps:02d}-FPS/<key>.mp4/NNNNN.jpg   frames (key = ytid_start)
//	<dir>/test-videos/test-set-img/Image-{fps:02d}-FPS/<key>.mp4/NNNNN.jpg
//	<dir>/train-audios/train-set/<key>.wav   mono 16-bit PCM WAV, 16 kHz (mp4_to_wav.py)
//	<dir>/test-audios/test-set/<key>.wav
//
// dir defaults to <data root>/vggsound; fps (default 1) picks the frame folder. As in the reference a
// row is a sample only if its WAV exists and its frame folder holds more than 3 frames; VGGSound is a
// list of YouTube videos of which a copy holds a subset, so the default is missing=skip (drop the others,
// as the reference does silently; missing=error lists them instead). The class index is the order of
// first appearance of a label in the kept train rows (309 classes in the repositories' data); a kept
// test row whose label no kept train row has is an error (the reference asserts equal class counts).
//
// Modalities:
//   - audio [1, 129, 626]: the WAV (resampled to 16 kHz with resampleSinc if stored at another rate, as
//     librosa.load(sr=16000)) tiled ×2 until it lasts ≥ 10 s, a 5-s crop (80,000 samples), clipped to
//     [−1, 1], STFT n_fft 256, hop 128, periodic Hann, center=True zero padding (librosa ≥ 0.10, as
//     cremad), log(|STFT| + 1e-7), frequency-major. The reference draws the crop start uniformly in
//     [0, 5 s] (random.randint(0, rate·5)) in training and at test alike; here training reads with
//     augment=true draw it from the sample's augmentation generator, and every other read (validation,
//     test, augment=false) starts at 2.5 s, the middle of that range (the centred crop of a 10-s clip).
//     The deterministic test crop is a documented deviation.
//   - visual [3, T, 224, 224] (T = frames, default 3 = the reference's use_video_frames): as cremad,
//     frames in natural order by segment sampling (evaluation: segmentFrames; training with
//     augment=true: one at random within each segment, clips.go), resized to 224×224 and ImageNet-
//     normalised; training frames get RandomResizedCrop(224) and a horizontal flip each (augment.go).
//     The reference takes the first T entries of os.listdir (unsorted); not reproduced.
//
// A training read draws, from the sample's generator, first the audio crop start, then the frames, then
// each frame's crop and flip. There is no validation split in the reference: it is a stratified share
// val (default 0.1) of the kept train rows, drawn with split_seed (default 0); the test rows are only the
// test split.
const (
	VGGSoundDefaultFrames = 3
	VGGSoundDefaultFPS    = 1
	vggMinFrames          = 4 // "more than 3 files"
)

var vggsoundParams = []string{"frames", "fps", "val", "split_seed", "missing", "cache", "augment", "dir"}

func init() {
	data.Register("vggsound",
		"VGGSound (309 classes; OGM-GE/PMR layout: vggsound.csv, frame folders, 16 kHz WAVs): audio log-STFT [1,129,626] + visual frames [3,T,224,224]; e.g. vggsound:frames=3",
		loadVGGSound)
}

// vggAudio is the reference's audio recipe.
type vggAudio struct {
	Rate, MinSeconds, Seconds, NFFT, Hop int
	Eps                                  float64
}

var vggsoundAudio = vggAudio{Rate: 16000, MinSeconds: 10, Seconds: 5, NFFT: 256, Hop: 128, Eps: 1e-7}

// Samples is the crop length; Frames and Bins the spectrogram's time and frequency sizes.
func (c vggAudio) Samples() int { return c.Rate * c.Seconds }
func (c vggAudio) Frames() int  { return 1 + c.Samples()/c.Hop }
func (c vggAudio) Bins() int    { return c.NFFT/2 + 1 }

// maxStart is the largest crop start of the training draw (random.randint's inclusive bound).
func (c vggAudio) maxStart() int { return c.Rate * c.Seconds }

// testStart is the crop start of every read that does not augment: the middle of the draw's range.
func (c vggAudio) testStart() int { return c.maxStart() / 2 }

// signal reads a WAV at c.Rate, tiled ×2 until it lasts at least MinSeconds.
func (c vggAudio) signal(path string) ([]float64, error) {
	w, err := readWAVFile(path)
	if err != nil {
		return nil, err
	}
	if len(w.Samples) == 0 {
		return nil, fmt.Errorf("file %s: WAV holds no samples", path)
	}
	x := resampleSinc(pcm16ToFloat(w.Samples), w.SampleRate, c.Rate)
	if len(x) == 0 {
		return nil, fmt.Errorf("file %s: WAV holds no samples at %d Hz", path, c.Rate)
	}
	for len(x) < c.MinSeconds*c.Rate { // while len(sample)/rate < 10: sample = np.tile(sample, 2)
		x = append(x, x...)
	}
	return x, nil
}

// compute writes the [Bins, Frames] log-magnitude spectrogram of x[start : start+Samples] into dst.
func (c vggAudio) compute(x []float64, start int, dst []float32) error {
	n, half := c.Samples(), c.NFFT/2
	if want := c.Bins() * c.Frames(); len(dst) != want {
		return fmt.Errorf("audio buffer holds %d values, want %d", len(dst), want)
	}
	if start < 0 || start+n > len(x) {
		return fmt.Errorf("audio crop [%d, %d) outside the %d-sample signal", start, start+n, len(x))
	}
	sig := signalBuffer(half + n + half) // center=True: n_fft/2 zeros at each end
	defer signalBuffers.Put(sig)
	clear((*sig)[:half])
	clear((*sig)[half+n:])
	body := (*sig)[half : half+n]
	for i, v := range x[start : start+n] {
		body[i] = max(-1, min(1, v))
	}
	frames, bins := c.Frames(), c.Bins()
	byFrame := float32Buffer(frames * bins)
	defer float32Buffers.Put(byFrame)
	stftFrames(*sig, c.NFFT, c.Hop, frames, func(t int, mag []float64) {
		logRow32((*byFrame)[t*bins:(t+1)*bins], mag, c.Eps)
	})
	transposeFloat32(dst, *byFrame, frames, bins)
	return nil
}

// vggsoundConfig is what resolving and reading need.
type vggsoundConfig struct {
	dir, source string
	fps, frames int
	audio       vggAudio
}

// vggRow is one row of vggsound.csv.
type vggRow struct {
	line              int
	key, label, split string
}

func loadVGGSound(opt data.Options) (*data.Set, error) {
	raw := map[string]string{}
	for k, v := range opt.Params {
		raw[k] = v
	}
	if _, ok := raw["missing"]; !ok {
		raw["missing"] = "skip" // the reference keeps the rows whose media exist
	}
	p, err := newSpecParams("vggsound", raw, vggsoundParams...)
	if err != nil {
		return nil, err
	}
	cfg := &vggsoundConfig{audio: vggsoundAudio}
	if cfg.frames, err = p.int("frames", VGGSoundDefaultFrames, 1); err != nil {
		return nil, err
	}
	if cfg.fps, err = p.int("fps", VGGSoundDefaultFPS, 1); err != nil {
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
	cfg.dir, cfg.source = datasetDir(opt.DataDir, "vggsound", p.path("dir"))
	list := filepath.Join(cfg.dir, "vggsound.csv")
	if err := requireFiles("vggsound", cfg.source, list); err != nil {
		return nil, err
	}
	rows, err := readVGGSoundCSV(list)
	if err != nil {
		return nil, err
	}
	var entries [2][]clipEntry
	var labels [2][]string
	for _, r := range rows {
		k := 0
		if r.split == "test" {
			k = 1
		}
		entries[k] = append(entries[k], clipEntry{Name: r.key, Label: int64(len(labels[k]))})
		labels[k] = append(labels[k], r.label)
	}
	for k, name := range []string{"train", "test"} {
		if len(entries[k]) == 0 {
			return nil, fmt.Errorf("dataset vggsound: file %s has no %s rows", list, name)
		}
	}
	var splits [2][]clipSample
	for k, part := range []string{"train", "test"} {
		// The training rows keep every frame of a clip when training reads choose frames at random.
		if splits[k], err = resolveClips("vggsound", list+" ("+part+" rows)", cfg.source, entries[k], cfg.resolver(part, k == 0 && augmentOn), skip); err != nil {
			return nil, err
		}
	}
	// Class index = order of first appearance in the kept train rows. Labels were parked in Label as
	// the row's index within its split.
	classIndex := map[string]int64{}
	var classes []string
	for i := range splits[0] {
		l := labels[0][splits[0][i].Label]
		if _, ok := classIndex[l]; !ok {
			classIndex[l] = int64(len(classes))
			classes = append(classes, l)
		}
		splits[0][i].Label = classIndex[l]
	}
	if len(classes) < 2 {
		return nil, fmt.Errorf("dataset vggsound: the kept train rows of %s have %d class(es), need at least 2", list, len(classes))
	}
	for i := range splits[1] {
		l := labels[1][splits[1][i].Label]
		y, ok := classIndex[l]
		if !ok {
			return nil, fmt.Errorf("dataset vggsound: test clip %s has label %q, which no kept train row of %s has (the reference asserts that train and test have the same classes)", splits[1][i].Name, npyShort(l, 60), list)
		}
		splits[1][i].Label = y
	}
	train, val := carveValidation(splits[0], nil, valShare, splitSeed)
	set := &data.Set{
		Name:       "vggsound",
		Params:     p.used,
		NumClasses: len(classes),
		Modalities: []data.Modality{
			{Name: "audio", Shape: []int64{1, int64(cfg.audio.Bins()), int64(cfg.audio.Frames())}, Role: data.RoleAudio},
			{Name: "visual", Shape: []int64{3, int64(cfg.frames), FrameSize, FrameSize}, Role: data.RoleVisual},
		},
	}
	// The class order is part of what the labels mean.
	digest := digestParams(p.used) + ",classes=" + strings.Join(classes, "|")
	tmpl := clipSource{dataset: "vggsound", digest: digest, cache: cacheDir, root: cfg.dir, read: cfg.read}
	var augment func(c *clipSample, dst [][]float32, r *rand.Rand) error
	if augmentOn {
		augment = cfg.readAugmented
	}
	return finishClipSet(set, tmpl, augment, train, val, splits[1])
}

// readVGGSoundCSV parses vggsound.csv (encoding/csv: labels with commas are quoted). Rows whose split
// is neither train nor test are left out, as the reference does.
func readVGGSoundCSV(path string) ([]vggRow, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("file %s: %w", path, err)
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.FieldsPerRecord = -1
	var rows []vggRow
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		line, _ := r.FieldPos(0)
		if err != nil {
			return nil, fmt.Errorf("file %s: %w", path, err)
		}
		if len(rec) == 1 && strings.TrimSpace(rec[0]) == "" {
			continue
		}
		if len(rec) != 4 {
			return nil, fmt.Errorf("file %s, line %d: %d fields, want 4 (ytid,start_seconds,label,split)", path, line, len(rec))
		}
		ytid, start := strings.TrimPrefix(strings.TrimSpace(rec[0]), "\uFEFF"), strings.TrimSpace(rec[1])
		split := strings.TrimSpace(rec[3])
		if split != "train" && split != "test" {
			continue
		}
		key := ytid + "_" + start
		if err := checkClipName(key); err != nil || ytid == "" || start == "" {
			return nil, fmt.Errorf("file %s, line %d: ytid %q, start %q do not make a file name", path, line, npyShort(ytid, 40), npyShort(start, 20))
		}
		rows = append(rows, vggRow{line: line, key: key, label: strings.TrimSpace(rec[2]), split: split})
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("file %s: no train or test rows", path)
	}
	return rows, nil
}

// resolver finds one clip's files: Files = [wav, frame 1, …, frame T] (the evaluation picks), and with
// pool every frame of the clip in Pool.
func (cfg *vggsoundConfig) resolver(part string, pool bool) clipResolver {
	audioDir := filepath.Join(cfg.dir, part+"-audios", part+"-set")
	frameDir := filepath.Join(cfg.dir, part+"-videos", part+"-set-img", fmt.Sprintf("Image-%02d-FPS", cfg.fps))
	return func(e clipEntry) (clipSample, []string) {
		var problems []string
		wav := filepath.Join(audioDir, e.Name+".wav")
		ref, ok := statRegular(wav)
		if !ok {
			problems = append(problems, absPath(wav)+" (missing)")
		}
		frames, all, problem := resolveFrames(filepath.Join(frameDir, e.Name+".mp4"), cfg.frames, vggMinFrames, pool)
		if problem != "" {
			problems = append(problems, problem)
		}
		return clipSample{Name: e.Name, Label: e.Label, Files: append([]fileRef{ref}, frames...), Pool: all}, problems
	}
}

// read decodes one sample under the test transform: dst[0] audio (crop at 2.5 s), dst[1] visual.
func (cfg *vggsoundConfig) read(c *clipSample, dst [][]float32) error {
	if len(dst) != 2 {
		return fmt.Errorf("want 2 modality buffers, got %d", len(dst))
	}
	x, err := cfg.audio.signal(c.Files[0].Path)
	if err != nil {
		return err
	}
	if err := cfg.audio.compute(x, cfg.audio.testStart(), dst[0]); err != nil {
		return err
	}
	return readRGBClip(c.Files[1:], dst[1], FrameSize)
}

// readAugmented decodes one training sample under the training transform, drawing from r: the audio
// crop start uniform in [0, 5 s], the frames within their segments, each frame's crop and flip.
func (cfg *vggsoundConfig) readAugmented(c *clipSample, dst [][]float32, r *rand.Rand) error {
	if len(dst) != 2 {
		return fmt.Errorf("want 2 modality buffers, got %d", len(dst))
	}
	x, err := cfg.audio.signal(c.Files[0].Path)
	if err != nil {
		return err
	}
	if err := cfg.audio.compute(x, r.IntN(cfg.audio.maxStart()+1), dst[0]); err != nil {
		return err
	}
	return readRGBClipAugmented(c.trainFrames(1, r), dst[1], FrameSize, r)
}
