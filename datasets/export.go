package datasets

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/mmfusion/bench/bench/data"
	"golang.org/x/image/draw"
)

// Export writes AV-MNIST's real media (MNIST digits and FSDD spoken digits, ../shared/data) in the
// on-disk layout of a video dataset, so the cremad and ks loaders can be run end to end on data that
// is learnable and small (`bench export`). Pairing follows AV-MNIST (loadAVMNIST): the first n_train /
// n_test images of the fixed permutation of the training and test image pools (split_seed), each
// paired with a recording of its digit from FSDD's training takes (10 and above) or test takes (0-4),
// the recordings of a digit shuffled with seed and taken in turn. AV-MNIST's validation pool is not
// exported: both loaders carve their validation split from the training list.
//
// <out> becomes a data root: the layout is written to <out>/cremad or <out>/ks, where the loaders look
// with --data-dir <out>. Both layouts may share one root.
//
// Layout cremad (classes = digits 0-5 as CremadClasses NEU HAP SAD FEA DIS ANG; other digits are left
// out):
//
//	<out>/cremad/train.csv, test.csv               rows "clip,EMO", LF, clip = <actor>_<sentence>_<EMO>_XX
//	<out>/cremad/AudioWAV/<clip>.wav               the recording resampled to 16 kHz (resampleSinc), PCM16 mono
//	<out>/cremad/Image-01-FPS/<clip>/00000.jpg …   3 frames (00000, 00030, 00060: 1 fps of a 30 fps video)
//
// Layout ks (classes = digits 0-9; load it with ks:classes=10):
//
//	<out>/ks/train.txt, test.txt                   rows "name,10,label", LF (OGM-GE's list format)
//	<out>/ks/train_spec/<name>.npy                 audio, float32 (128, 128) = (frames, bins); see ksExportSpectrogram
//	<out>/ks/train_frames/<name>/frame_00001.jpg … frame_00010.jpg (10 frames)
//	(test_spec/, test_frames/ likewise)
//
// Frames are the clip's 28×28 digit scaled to ExportFrameSize² (bilinear), shifted by a few pixels
// per frame (exportShifts; black fill), stored as RGB JPEG (R = G = B) at quality 90, which
// image/jpeg writes as YCbCr 4:2:0 like PIL's and OpenCV's defaults. <out>/<layout>/bench-export.json
// records the parameters and, per clip, the MNIST image index and the FSDD file; it also marks the
// folder as an export that a later export may replace. The output is deterministic: the same inputs give the
// same bytes.

// ExportFrameSize is the side of every exported frame: the loaders' FrameSize, so their resize is
// the identity.
const ExportFrameSize = FrameSize

// ExportRate is the sample rate of the exported WAV files (CREMA-D's release is 16 kHz).
const ExportRate = 16000

// ExportManifest is the file that marks a folder as written by Export.
const ExportManifest = "bench-export.json"

const (
	exportFormat  = "bench export 1"
	exportQuality = 90
)

// ExportLayouts are the layouts Export writes.
var ExportLayouts = []string{"cremad", "ks"}

// ksExportSpectrogram is the audio written for the ks layout. There is no Kaldi fbank in this package,
// so it is the package's own log-magnitude STFT (spectrogramConfig) of the exported 16 kHz signal:
// 32 ms periodic-Hann windows, 10 ms hop (the fbank's frame shift), 128 frames (1.3 s: the signal is
// centred and zero-padded or cropped to 20,832 samples), bins averaged in pairs to 128 bands of 31.25
// Hz, log(mean|STFT| + 1e-7), no normalisation (silence is about −16). Stored time-major (frames, bins)
// like the reference fbank's (1024, 128).
var ksExportSpectrogram = spectrogramConfig{NFFT: 512, Hop: 160, Frames: 128, FreqPool: 2, TimePool: 1, Eps: 1e-7}

// cremadSentences are CREMA-D's 12 sentence codes, used to spell exported clip names.
var cremadSentences = []string{"IEO", "TIE", "IOM", "IWW", "TAI", "MTI", "IWL", "ITH", "DFA", "ITS", "TSI", "WSI"}

// exportShifts are the (dx, dy) pixel offsets of successive frames of a clip (cycled).
var exportShifts = [][2]int{{0, 0}, {6, -4}, {-5, 5}, {4, 6}, {-6, -3}, {3, -6}, {-3, 4}, {5, 2}, {-4, -5}, {2, 5}}

// ExportOptions says what Export writes.
type ExportOptions struct {
	Spec    string // "avmnist" or "avmnist:KEY=VALUE,…" (n_train, n_test, seed, split_seed, images, mnist_dir, fsdd_dir)
	Layout  string // "cremad" or "ks"
	Out     string // the data root written: the layout goes to Out/<layout> (replacing a previous export there)
	DataDir string // root of the shared data, as for bench run
	Limit   int    // at most this many clips per split, class-balanced (exportSubset; 0: no cap)
}

// ExportSummary describes a finished export.
type ExportSummary struct {
	Dir         string
	Train, Test int
	Classes     int
	Files       int
}

// ExportUsageError is an export refused because of what was asked (bad layout, spec or folder), not
// because of a failure while writing.
type ExportUsageError struct{ Err error }

func (e *ExportUsageError) Error() string { return e.Err.Error() }
func (e *ExportUsageError) Unwrap() error { return e.Err }

func exportUsagef(format string, args ...any) error {
	return &ExportUsageError{fmt.Errorf(format, args...)}
}

// exportManifest is the content of ExportManifest.
type exportManifest struct {
	Format    string            `json:"format"`
	Source    string            `json:"source"`
	Layout    string            `json:"layout"`
	Params    map[string]string `json:"params"`
	Limit     int               `json:"limit"`
	FrameSize int               `json:"frame_size"`
	Frames    int               `json:"frames_per_clip"`
	Rate      int               `json:"sample_rate,omitempty"`
	Classes   []string          `json:"classes"`
	Clips     []exportClip      `json:"clips"`
	pixels    []byte            // MNIST pixels, 784 per image (mnistPools.pixels)
}

// exportClip is one exported clip.
type exportClip struct {
	Split      string `json:"split"`
	Name       string `json:"name"`
	Label      int64  `json:"label"`
	MNISTIndex int64  `json:"mnist_index"` // in its IDX file (images=… in params says which)
	Recording  string `json:"recording"`   // FSDD file name
	img        int    // index into mnistPools
	recPath    string
}

var exportParams = []string{"n_train", "n_test", "seed", "split_seed", "images", "mnist_dir", "fsdd_dir"}

// Export writes the export described by opt; see the comment at the top of this file.
func Export(opt ExportOptions) (*ExportSummary, error) {
	if !slices.Contains(ExportLayouts, opt.Layout) {
		return nil, exportUsagef("--layout %q: want one of %s", opt.Layout, strings.Join(ExportLayouts, ", "))
	}
	if opt.Limit < 0 {
		return nil, exportUsagef("--limit %d: want a positive cap on clips per split, or 0 for none", opt.Limit)
	}
	if opt.Out == "" {
		return nil, exportUsagef("--out is required")
	}
	name, raw, err := data.ParseSpec(opt.Spec)
	if err != nil {
		return nil, &ExportUsageError{err}
	}
	if name != "avmnist" {
		return nil, exportUsagef("--dataset %q: only avmnist can be exported (its MNIST images and FSDD recordings)", opt.Spec)
	}
	if _, ok := raw["n_val"]; ok {
		return nil, exportUsagef("--dataset %s: n_val is not exported (the cremad and ks loaders carve validation from the training list)", opt.Spec)
	}
	p, err := newSpecParams("avmnist export", raw, exportParams...)
	if err != nil {
		return nil, &ExportUsageError{err}
	}
	if err := checkExportDir(opt.Out); err != nil {
		return nil, err
	}
	m, err := planExport(p, opt)
	if err != nil {
		return nil, err
	}
	return writeExport(m, opt)
}

// checkExportDir accepts a data root dir that is missing or empty, or whose entries are only
// layout folders (cremad/, ks/) each holding a previous export: its manifest and only the entries an
// export writes.
func checkExportDir(dir string) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return exportUsagef("--out %s: %v", dir, err)
	}
	for _, e := range entries {
		if !slices.Contains(ExportLayouts, e.Name()) || !e.IsDir() {
			return exportUsagef("--out %s is not empty and holds %q, which is not a previous export (want a new or empty folder, or one holding only %s/ folders written by bench export): refusing to write there",
				dir, e.Name(), strings.Join(ExportLayouts, "/, "))
		}
		if err := checkPreviousExport(filepath.Join(dir, e.Name()), e.Name()); err != nil {
			return err
		}
	}
	return nil
}

// checkPreviousExport accepts an empty layout folder or one written by an export of that layout.
func checkPreviousExport(dir, layout string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return exportUsagef("--out: %v", err)
	}
	if len(entries) == 0 {
		return nil
	}
	b, err := os.ReadFile(filepath.Join(dir, ExportManifest))
	var prev struct{ Format string }
	if err != nil || json.Unmarshal(b, &prev) != nil || prev.Format != exportFormat {
		return exportUsagef("--out: %s is not empty and holds no previous export (no readable %s): refusing to write there; name a new or empty folder", dir, ExportManifest)
	}
	known := map[string]bool{ExportManifest: true}
	for _, e := range exportEntries(layout) {
		known[e] = true
	}
	for _, e := range entries {
		if !known[e.Name()] {
			return exportUsagef("--out: %s holds a previous export but also %q, which an export does not write: refusing to replace it", dir, e.Name())
		}
	}
	return nil
}

// exportEntries are the top-level names a layout writes besides the manifest.
func exportEntries(layout string) []string {
	if layout == "cremad" {
		return []string{"train.csv", "test.csv", "AudioWAV", "Image-01-FPS"}
	}
	return []string{"train.txt", "test.txt", "train_spec", "test_spec", "train_frames", "test_frames"}
}

// planExport chooses the images and recordings of every clip and names the clips.
func planExport(p *specParams, opt ExportOptions) (*exportManifest, error) {
	var caps [3]int
	var err error
	if caps[0], err = p.int("n_train", AVMNISTDefaultTrain, 1); err != nil {
		return nil, &ExportUsageError{err}
	}
	if caps[2], err = p.int("n_test", AVMNISTDefaultTest, 1); err != nil {
		return nil, &ExportUsageError{err}
	}
	seed, err := p.seed("seed", 1)
	if err != nil {
		return nil, &ExportUsageError{err}
	}
	splitSeed, err := p.seed("split_seed", 0)
	if err != nil {
		return nil, &ExportUsageError{err}
	}
	mnistDir, mnistSrc := datasetDir(opt.DataDir, "mnist", p.path("mnist_dir"))
	fsddDir, fsddSrc := datasetDir(opt.DataDir, filepath.Join("fsdd", "recordings"), p.path("fsdd_dir"))
	mn, err := loadMNISTPools(mnistDir, mnistSrc, p.str("images", "auto"))
	if err != nil {
		return nil, err
	}
	p.set("images", mn.source)
	audio, err := indexFSDD(fsddDir, fsddSrc)
	if err != nil {
		return nil, err
	}
	m := &exportManifest{Format: exportFormat, Source: "avmnist", Layout: opt.Layout, Params: p.used,
		Limit: opt.Limit, FrameSize: ExportFrameSize}
	classes := 10
	if opt.Layout == "cremad" {
		classes = len(CremadClasses)
		m.Classes = CremadClasses
		m.Frames = 3
		m.Rate = ExportRate
	} else {
		for d := range classes {
			m.Classes = append(m.Classes, strconv.Itoa(d))
		}
		m.Frames = 10
	}
	running := 0
	for _, s := range []int{0, 2} {
		all, err := selectImages(mn, s, caps[s], splitSeed)
		if err != nil {
			return nil, &ExportUsageError{err}
		}
		imgs := exportSubset(all, mn.labels, classes, opt.Limit)
		recs, err := pairAudio(mn.labels, imgs, audio, s, seed)
		if err != nil {
			return nil, err
		}
		for k, img := range imgs {
			y := mn.labels[img]
			c := exportClip{Split: avSplitNames[s], Label: y, MNISTIndex: mn.fileIx[img],
				Recording: filepath.Base(recs[k].path), img: img, recPath: recs[k].path}
			if opt.Layout == "cremad" {
				c.Name = fmt.Sprintf("%d_%s_%s_XX", 1001+running/len(cremadSentences), cremadSentences[running%len(cremadSentences)], CremadClasses[y])
			} else {
				c.Name = fmt.Sprintf("avmnist%05d_000000_000010", running)
			}
			m.Clips = append(m.Clips, c)
			running++
		}
	}
	m.pixels = mn.pixels
	return m, nil
}

// exportSubset keeps the images of the first classes digits and, with a limit, a class-balanced
// subset of at most limit of them: the first image of each class in pool order, then the second of
// each, and so on (so every class is present once limit ≥ classes); the result is in pool order.
func exportSubset(pool []int, labels []int64, classes, limit int) []int {
	byClass := make([][]int, classes)
	var all []int
	for _, i := range pool {
		if y := labels[i]; y < int64(classes) {
			byClass[y] = append(byClass[y], i)
			all = append(all, i)
		}
	}
	if limit == 0 || limit >= len(all) {
		return all
	}
	var out []int
	for r := 0; len(out) < limit; r++ {
		for c := 0; c < classes && len(out) < limit; c++ {
			if r < len(byClass[c]) {
				out = append(out, byClass[c][r])
			}
		}
	}
	slices.Sort(out)
	return out
}

// writeExport writes every file into a fresh folder inside opt.Out and then moves it into place as
// opt.Out/<layout> (replacing a previous export), so a failed export leaves that folder as it was.
func writeExport(m *exportManifest, opt ExportOptions) (*ExportSummary, error) {
	parent := filepath.Clean(opt.Out)
	out := filepath.Join(parent, m.Layout)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp(parent, "."+m.Layout+".export-")
	if err != nil {
		return nil, err
	}
	done := false
	defer func() {
		if !done {
			os.RemoveAll(tmp)
		}
	}()
	if err := os.Chmod(tmp, 0o755); err != nil {
		return nil, err
	}
	sum := &ExportSummary{Dir: out, Classes: len(m.Classes)}
	var lists [2]bytes.Buffer
	for _, c := range m.Clips {
		k := 0
		if c.Split == "test" {
			k = 1
			sum.Test++
		} else {
			sum.Train++
		}
		if m.Layout == "cremad" {
			fmt.Fprintf(&lists[k], "%s,%s\n", c.Name, CremadClasses[c.Label])
		} else {
			fmt.Fprintf(&lists[k], "%s,10,%d\n", c.Name, c.Label)
		}
	}
	listNames := [2]string{"train.csv", "test.csv"}
	if m.Layout == "ks" {
		listNames = [2]string{"train.txt", "test.txt"}
	}
	for k, n := range listNames {
		if err := os.WriteFile(filepath.Join(tmp, n), lists[k].Bytes(), 0o644); err != nil {
			return nil, err
		}
	}
	errs := make([]error, len(m.Clips))
	files := make([]int, len(m.Clips))
	parallelFor(len(m.Clips), func(i int) { files[i], errs[i] = m.writeClip(tmp, &m.Clips[i]) })
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	sum.Files = 3 // the two lists and the manifest
	for _, n := range files {
		sum.Files += n
	}
	js, err := json.MarshalIndent(m, "", " ")
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(tmp, ExportManifest), append(js, '\n'), 0o644); err != nil {
		return nil, err
	}
	// Move into place: an existing folder (empty, or a previous export checked by checkExportDir) is
	// renamed aside first and removed once the new one is in place.
	old := ""
	if _, err := os.Stat(out); err == nil {
		old = tmp + ".old"
		if err := os.Rename(out, old); err != nil {
			return nil, err
		}
	}
	if err := os.Rename(tmp, out); err != nil {
		if old != "" {
			os.Rename(old, out)
		}
		return nil, err
	}
	done = true
	if old != "" {
		if err := os.RemoveAll(old); err != nil {
			return sum, fmt.Errorf("export written to %s, but removing the previous export moved to %s failed: %w", out, old, err)
		}
	}
	return sum, nil
}

// writeClip writes one clip's audio and frames under root and returns how many files it wrote.
func (m *exportManifest) writeClip(root string, c *exportClip) (int, error) {
	w, err := readWAVFile(c.recPath)
	if err != nil {
		return 0, err
	}
	if len(w.Samples) == 0 {
		return 0, fmt.Errorf("file %s: WAV holds no samples", c.recPath)
	}
	pcm := floatToPCM16(resampleSinc(pcm16ToFloat(w.Samples), w.SampleRate, ExportRate))
	var frameDir string
	n := 0
	if m.Layout == "cremad" {
		if err := writeFileMkdir(filepath.Join(root, "AudioWAV", c.Name+".wav"), EncodeWAVPCM16(ExportRate, pcm)); err != nil {
			return 0, err
		}
		frameDir = filepath.Join(root, "Image-01-FPS", c.Name)
	} else {
		spec := ksExportSpectrogram.compute(pcm16ToFloat(pcm))
		bins, frames := ksExportSpectrogram.Bins(), ksExportSpectrogram.OutFrames()
		tm := make([]float32, len(spec)) // frequency-major → time-major
		for f := 0; f < bins; f++ {
			for t := 0; t < frames; t++ {
				tm[t*bins+f] = spec[f*frames+t]
			}
		}
		if err := writeFileMkdir(filepath.Join(root, c.Split+"_spec", c.Name+".npy"), EncodeNpyFloat32([]int64{int64(frames), int64(bins)}, tm)); err != nil {
			return 0, err
		}
		frameDir = filepath.Join(root, c.Split+"_frames", c.Name)
	}
	n++
	digit := m.pixels[c.img*784 : (c.img+1)*784]
	big := scaleDigit(digit, ExportFrameSize)
	for t := 0; t < m.Frames; t++ {
		var b bytes.Buffer
		if err := jpeg.Encode(&b, shiftImage(big, exportShifts[t%len(exportShifts)]), &jpeg.Options{Quality: exportQuality}); err != nil {
			return 0, err
		}
		name := fmt.Sprintf("%05d.jpg", 30*t)
		if m.Layout == "ks" {
			name = fmt.Sprintf("frame_%05d.jpg", t+1)
		}
		if err := writeFileMkdir(filepath.Join(frameDir, name), b.Bytes()); err != nil {
			return 0, err
		}
		n++
	}
	return n, nil
}

// scaleDigit returns a 28×28 gray digit (row-major bytes) scaled bilinearly to size × size, as RGBA.
func scaleDigit(px []byte, size int) *image.RGBA {
	src := image.NewRGBA(image.Rect(0, 0, 28, 28))
	for i, v := range px {
		src.Pix[4*i], src.Pix[4*i+1], src.Pix[4*i+2], src.Pix[4*i+3] = v, v, v, 255
	}
	dst := image.NewRGBA(image.Rect(0, 0, size, size))
	draw.BiLinear.Scale(dst, dst.Bounds(), src, src.Bounds(), draw.Src, nil)
	return dst
}

// shiftImage returns img moved by (dx, dy) pixels, the uncovered border opaque black.
func shiftImage(img *image.RGBA, d [2]int) *image.RGBA {
	b := img.Bounds()
	out := image.NewRGBA(b)
	for i := 3; i < len(out.Pix); i += 4 {
		out.Pix[i] = 255
	}
	for y := b.Min.Y; y < b.Max.Y; y++ {
		sy := y - d[1]
		if sy < b.Min.Y || sy >= b.Max.Y {
			continue
		}
		for x := b.Min.X; x < b.Max.X; x++ {
			sx := x - d[0]
			if sx < b.Min.X || sx >= b.Max.X {
				continue
			}
			copy(out.Pix[out.PixOffset(x, y):out.PixOffset(x, y)+4], img.Pix[img.PixOffset(sx, sy):img.PixOffset(sx, sy)+4])
		}
	}
	return out
}

func writeFileMkdir(path string, b []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}

// floatToPCM16 rounds samples in [−1, 1) to 16-bit PCM, clipping at full scale.
func floatToPCM16(x []float64) []int16 {
	out := make([]int16, len(x))
	for i, v := range x {
		out[i] = int16(max(-32768, min(32767, math.Round(v*32768))))
	}
	return out
}

// EncodeWAVPCM16 encodes mono 16-bit PCM samples as a canonical 44-byte-header RIFF/WAVE file.
func EncodeWAVPCM16(rate int, samples []int16) []byte {
	var b bytes.Buffer
	le := binary.LittleEndian
	dataLen := uint32(2 * len(samples))
	b.WriteString("RIFF")
	binary.Write(&b, le, 36+dataLen)
	b.WriteString("WAVEfmt ")
	binary.Write(&b, le, uint32(16))     // fmt chunk size
	binary.Write(&b, le, uint16(1))      // PCM
	binary.Write(&b, le, uint16(1))      // mono
	binary.Write(&b, le, uint32(rate))   // sample rate
	binary.Write(&b, le, uint32(2*rate)) // byte rate
	binary.Write(&b, le, uint16(2))      // block align
	binary.Write(&b, le, uint16(16))     // bits per sample
	b.WriteString("data")
	binary.Write(&b, le, dataLen)
	binary.Write(&b, le, samples)
	return b.Bytes()
}

// EncodeNpyFloat32 encodes a C-order little-endian float32 array as .npy format 1.0, with the header
// numpy writes (its dict, the shape as a Python tuple, space-padded so the data start at a multiple
// of 64 bytes).
func EncodeNpyFloat32(shape []int64, v []float32) []byte {
	dims := make([]string, len(shape))
	for i, d := range shape {
		dims[i] = strconv.FormatInt(d, 10)
	}
	tuple := strings.Join(dims, ", ")
	if len(shape) == 1 {
		tuple += ","
	}
	hdr := fmt.Sprintf("{'descr': '<f4', 'fortran_order': False, 'shape': (%s), }", tuple)
	pad := 64 - (len(npyMagic)+4+len(hdr)+1)%64
	if pad == 64 {
		pad = 0
	}
	hdr += strings.Repeat(" ", pad) + "\n"
	b := make([]byte, 0, len(npyMagic)+4+len(hdr)+4*len(v))
	b = append(b, npyMagic...)
	b = append(b, 1, 0)
	b = binary.LittleEndian.AppendUint16(b, uint16(len(hdr)))
	b = append(b, hdr...)
	for _, x := range v {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(x))
	}
	return b
}
