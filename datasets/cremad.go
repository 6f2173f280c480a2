package datasets

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"

	"github.com/mmfusion/bench/bench/data"
)

// CREMA-D (audio-visual emotion, 6 classes) in the layout OGM-GE and PMR read
// (../shared/docs/dataset-formats.md §2), preprocessed as ../shared/docs/methods.md §0.2:
//
//	<dir>/train.csv, <dir>/test.csv   rows "clip,EMO", no header (LF or CRLF; a UTF-8 BOM is ignored)
//	<dir>/AudioWAV/<clip>.wav          mono 16-bit PCM WAV (16 kHz in the release)
//	<dir>/Image-01-FPS/<clip>/*.jpg    frames extracted at 1 fps, named by frame index (00000.jpg, …)
//
// dir defaults to <data root>/cremad; the parameters audio_dir and visual_dir point at the two
// media folders elsewhere, and fps=N reads Image-{N:02d}-FPS instead. Classes: NEU 0, HAP 1, SAD 2,
// FEA 3, DIS 4, ANG 5 (hard-coded in both references).
//
// Modalities:
//   - audio [1, 257, 188]: the WAV resampled to sr (22050 Hz, resampleSinc), tiled and cut to 3 s
//     (66,150 samples), clipped to [−1, 1]; STFT with n_fft 512, hop 353, periodic Hann window and
//     librosa's center=True zero padding (librosa ≥ 0.10); log(|STFT| + 1e-7). No normalisation.
//   - visual [3, T, 224, 224] (channel first; T = frames, default 1): T frames chosen by
//     segmentFrames from the clip's frames in natural order (the first T when the clip has ~3),
//     resized to 224×224 and normalised with the ImageNet mean and standard deviation.
//
// The references have no validation split (OGM-GE selects its model on the test set). Here the
// validation split is a stratified share val (default 0.1) of train.csv drawn with split_seed
// (default 0, independent of the run seed); test.csv is only ever the test split. Training frames
// get OGM-GE's training transform, RandomResizedCrop(224) and a horizontal flip drawn per frame
// (augment.go), in the trainer's training epochs; augment=false (default true) turns it off, so every
// read is the test-time transform. Training reads (augment=true) draw each frame at random within its
// segment, as BalanceBenchmark's cremad_dataset (clips.go: trainSegmentFrames); evaluation reads take
// segmentFrames' picks (OGM-GE computes a random choice but never uses it).
const (
	CremadDefaultFrames = 1
	CremadDefaultRate   = 22050
	CremadDefaultFPS    = 1
)

// CremadClasses is the class order of OGM-GE and PMR.
var CremadClasses = []string{"NEU", "HAP", "SAD", "FEA", "DIS", "ANG"}

var cremadParams = []string{"frames", "fps", "sr", "val", "split_seed", "missing", "cache", "augment", "dir", "audio_dir", "visual_dir"}

func init() {
	data.Register("cremad",
		"CREMA-D emotions (6 classes): audio log-STFT [1,257,188] + visual frames [3,T,224,224]; e.g. cremad:frames=1",
		loadCremad)
}

// ogmSpectrogram is OGM-GE's audio recipe for CREMA-D.
type ogmSpectrogram struct {
	Rate, Seconds, NFFT, Hop int
	Eps                      float64
}

func newOGMSpectrogram(rate int) ogmSpectrogram {
	return ogmSpectrogram{Rate: rate, Seconds: 3, NFFT: 512, Hop: 353, Eps: 1e-7}
}

// Samples is the length of the tiled signal; Frames and Bins the output's time and frequency sizes.
func (c ogmSpectrogram) Samples() int { return c.Rate * c.Seconds }
func (c ogmSpectrogram) Frames() int  { return 1 + c.Samples()/c.Hop }
func (c ogmSpectrogram) Bins() int    { return c.NFFT/2 + 1 }

// compute returns the [Bins, Frames] log-magnitude spectrogram (frequency-major) of x at c.Rate.
func (c ogmSpectrogram) compute(x []float64) []float32 {
	n, half := c.Samples(), c.NFFT/2
	sig := signalBuffer(half + n + half) // center=True: n_fft/2 zeros at each end
	defer signalBuffers.Put(sig)
	clear((*sig)[:half])
	clear((*sig)[half+n:])
	// Tile (as often as needed: OGM-GE tiles 3 times, short of 3 s only for clips under 1 s;
	// CREMA-D's last 1 to 5 s), cut to 3 s, clip to [−1, 1].
	body := (*sig)[half : half+n]
	for off := 0; off < n; off += len(x) {
		copy(body[off:], x)
	}
	for i, v := range body {
		body[i] = max(-1, min(1, v))
	}
	frames, bins := c.Frames(), c.Bins()
	byFrame := float32Buffer(frames * bins) // [Frames, Bins], transposed at the end
	defer float32Buffers.Put(byFrame)
	stftFrames(*sig, c.NFFT, c.Hop, frames, func(t int, mag []float64) {
		logRow32((*byFrame)[t*bins:(t+1)*bins], mag, c.Eps)
	})
	out := make([]float32, bins*frames)
	transposeFloat32(out, *byFrame, frames, bins)
	return out
}

// fromWAV reads a WAV file, resamples it to c.Rate and writes its spectrogram into dst.
func (c ogmSpectrogram) fromWAV(path string, dst []float32) error {
	if want := c.Bins() * c.Frames(); len(dst) != want {
		return fmt.Errorf("audio buffer holds %d values, want %d", len(dst), want)
	}
	w, err := readWAVFile(path)
	if err != nil {
		return err
	}
	if len(w.Samples) == 0 {
		return fmt.Errorf("file %s: WAV holds no samples", path)
	}
	copy(dst, c.compute(resampleSinc(pcm16ToFloat(w.Samples), w.SampleRate, c.Rate)))
	return nil
}

// cremadConfig is what a load needs besides the lists.
type cremadConfig struct {
	dir, audioDir, visualDir, source string
	frames                           int
	audio                            ogmSpectrogram
}

func loadCremad(opt data.Options) (*data.Set, error) {
	p, err := newSpecParams("cremad", opt.Params, cremadParams...)
	if err != nil {
		return nil, err
	}
	cfg := cremadConfig{}
	if cfg.frames, err = p.int("frames", CremadDefaultFrames, 1); err != nil {
		return nil, err
	}
	fps, err := p.int("fps", CremadDefaultFPS, 1)
	if err != nil {
		return nil, err
	}
	rate, err := p.int("sr", CremadDefaultRate, 1000)
	if err != nil {
		return nil, err
	}
	cfg.audio = newOGMSpectrogram(rate)
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
	cfg.dir, cfg.source = datasetDir(opt.DataDir, "cremad", p.path("dir"))
	cfg.audioDir = clipRelDir(cfg.dir, "AudioWAV", p.path("audio_dir"))
	cfg.visualDir = clipRelDir(cfg.dir, fmt.Sprintf("Image-%02d-FPS", fps), p.path("visual_dir"))
	trList, teList := filepath.Join(cfg.dir, "train.csv"), filepath.Join(cfg.dir, "test.csv")
	if err := requireFiles("cremad", cfg.source, trList, teList); err != nil {
		return nil, err
	}
	lists := []string{trList, teList}
	var entries [2][]clipEntry
	for k, list := range lists { // both lists parse before any media is looked for
		if entries[k], err = readCremadList(list); err != nil {
			return nil, err
		}
	}
	var splits [2][]clipSample
	for k, list := range lists {
		// The training list keeps every frame of a clip when training reads choose frames at random.
		if splits[k], err = resolveClips("cremad", list, cfg.source, entries[k], cfg.resolver(k == 0 && augmentOn), skip); err != nil {
			return nil, err
		}
	}
	train, val := carveValidation(splits[0], nil, valShare, splitSeed)
	set := &data.Set{
		Name:       "cremad",
		Params:     p.used,
		NumClasses: len(CremadClasses),
		Modalities: []data.Modality{
			{Name: "audio", Shape: []int64{1, int64(cfg.audio.Bins()), int64(cfg.audio.Frames())}, Role: data.RoleAudio},
			{Name: "visual", Shape: []int64{3, int64(cfg.frames), FrameSize, FrameSize}, Role: data.RoleVisual},
		},
	}
	digest := digestParams(p.used)
	tmpl := clipSource{dataset: "cremad", digest: digest, cache: cacheDir, root: cfg.dir, read: cfg.read}
	var augment func(c *clipSample, dst [][]float32, r *rand.Rand) error
	if augmentOn {
		augment = cfg.readAugmented
	}
	return finishClipSet(set, tmpl, augment, train, val, splits[1])
}

// readCremadList parses "clip,EMO" rows.
func readCremadList(path string) ([]clipEntry, error) {
	lines, err := readListFile(path)
	if err != nil {
		return nil, err
	}
	entries := make([]clipEntry, 0, len(lines))
	for _, l := range lines {
		e, err := parseCremadRow(l.Text)
		if err != nil {
			return nil, fmt.Errorf("file %s, line %d: %w", path, l.Num, err)
		}
		entries = append(entries, e)
	}
	return entries, nil
}

// parseCremadRow reads one "clip,EMO" row, e.g. "1001_IEO_HAP_LO,HAP".
func parseCremadRow(text string) (clipEntry, error) {
	f := strings.Split(text, ",")
	if len(f) != 2 {
		return clipEntry{}, fmt.Errorf("%q: want 2 comma-separated fields clip,EMOTION, got %d", npyShort(text, 80), len(f))
	}
	clip, emo := strings.TrimSpace(f[0]), strings.TrimSpace(f[1])
	if err := checkClipName(clip); err != nil {
		return clipEntry{}, err
	}
	for k, c := range CremadClasses {
		if emo == c {
			return clipEntry{Name: clip, Label: int64(k)}, nil
		}
	}
	return clipEntry{}, fmt.Errorf("emotion %q, want one of %s", npyShort(emo, 20), strings.Join(CremadClasses, " "))
}

// checkClipName rejects names that are empty or would leave the media folder.
func checkClipName(name string) error {
	if name == "" || name == "." || name == ".." || strings.ContainsAny(name, `/\`) || strings.ContainsRune(name, 0) {
		return fmt.Errorf("clip name %q is empty or not a plain file name", npyShort(name, 80))
	}
	return nil
}

// resolver finds the WAV and the chosen frames of one clip: Files = [wav, frame 1, …, frame T]
// (the evaluation picks), and with pool every frame of the clip in Pool.
func (cfg cremadConfig) resolver(pool bool) clipResolver {
	return func(e clipEntry) (clipSample, []string) {
		var problems []string
		wav := filepath.Join(cfg.audioDir, e.Name+".wav")
		ref, ok := statRegular(wav)
		if !ok {
			problems = append(problems, absPath(wav)+" (missing)")
		}
		frames, all, problem := resolveFrames(filepath.Join(cfg.visualDir, e.Name), cfg.frames, 1, pool)
		if problem != "" {
			problems = append(problems, problem)
		}
		return clipSample{Name: e.Name, Label: e.Label, Files: append([]fileRef{ref}, frames...), Pool: all}, problems
	}
}

// read decodes one sample: dst[0] audio, dst[1] visual.
func (cfg cremadConfig) read(c *clipSample, dst [][]float32) error {
	if len(dst) != 2 {
		return fmt.Errorf("want 2 modality buffers, got %d", len(dst))
	}
	if err := cfg.audio.fromWAV(c.Files[0].Path, dst[0]); err != nil {
		return err
	}
	return readRGBClip(c.Files[1:], dst[1], FrameSize)
}

// readAugmented decodes one training sample under the training transform: the audio as read, the
// frames chosen at random within their segments, then each cropped and flipped, all with draws from r.
func (cfg cremadConfig) readAugmented(c *clipSample, dst [][]float32, r *rand.Rand) error {
	if len(dst) != 2 {
		return fmt.Errorf("want 2 modality buffers, got %d", len(dst))
	}
	if err := cfg.audio.fromWAV(c.Files[0].Path, dst[0]); err != nil {
		return err
	}
	return readRGBClipAugmented(c.trainFrames(1, r), dst[1], FrameSize, r)
}
