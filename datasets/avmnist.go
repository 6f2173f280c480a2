package datasets

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/mmfusion/bench/bench/data"
)

// AV-MNIST from the original files: MNIST digit images paired by label with spectrograms of Free
// Spoken Digit Dataset recordings of the same digit (../shared/docs/dataset-formats.md §7, §10).
//
// Image pools (fixed, independent of every seed):
//   - images=t10k (only the 10k MNIST test images are available, as in ../shared/data/mnist):
//     index i mod 5 = 0 → test pool (2,000), = 1 → validation pool (2,000), else → training pool (6,000).
//   - images=train (train-images-idx3-ubyte(.gz) and train-labels present): training pool = training
//     images 0-54,999, validation pool = 55,000-59,999 (MultiBench's split), test pool = all 10k test images.
//   - images=auto (default): train if those files are present, else t10k; Set.Params records which.
//
// The first n_train / n_val / n_test images of a fixed permutation of each pool (drawn with
// split_seed) are used, kept in file order, so the images are the same for every run seed.
//
// Audio pools follow FSDD's official split by take index: 0-4 test (300 recordings), 5-49 train; the
// validation pool is takes 5-9 (300) and the training pool takes 10-49 (2,400), so no recording is
// in two splits. For each split and digit the recordings are shuffled with the run seed and the images
// of that digit take them in turn (cycling), so every recording is used about equally often.
const (
	AVMNISTDefaultTrain = 6000
	AVMNISTDefaultVal   = 1000
	AVMNISTDefaultTest  = 2000
	fsddSampleRate      = 8000
)

var avmnistParams = []string{"n_train", "n_val", "n_test", "seed", "split_seed", "images", "mnist_dir", "fsdd_dir"}

func init() {
	data.Register("avmnist",
		"MNIST images [1,28,28] paired by digit with FSDD spoken-digit log spectrograms [1,64,32]; e.g. avmnist:n_train=6000",
		loadAVMNIST)
}

// PCG streams, one per purpose and split.
const (
	avStreamImages = 0xa7_0000 // + split
	avStreamPair   = 0xa7_1000 // + split
)

var avSplitNames = [3]string{"train", "val", "test"}

func loadAVMNIST(opt data.Options) (*data.Set, error) {
	p, err := newSpecParams("avmnist", opt.Params, avmnistParams...)
	if err != nil {
		return nil, err
	}
	var caps [3]int
	for s, def := range [3]int{AVMNISTDefaultTrain, AVMNISTDefaultVal, AVMNISTDefaultTest} {
		if caps[s], err = p.int("n_"+avSplitNames[s], def, 1); err != nil {
			return nil, err
		}
	}
	seed, err := p.seed("seed", opt.Seed)
	if err != nil {
		return nil, err
	}
	splitSeed, err := p.seed("split_seed", 0)
	if err != nil {
		return nil, err
	}
	images := p.str("images", "auto")
	mnistDir, mnistSrc := datasetDir(opt.DataDir, "mnist", p.path("mnist_dir"))
	fsddDir, fsddSrc := datasetDir(opt.DataDir, filepath.Join("fsdd", "recordings"), p.path("fsdd_dir"))
	mn, err := loadMNISTPools(mnistDir, mnistSrc, images)
	if err != nil {
		return nil, err
	}
	p.set("images", mn.source)
	audio, err := indexFSDD(fsddDir, fsddSrc)
	if err != nil {
		return nil, err
	}
	set, err := buildAVMNIST(mn, audio, caps, seed, splitSeed)
	if err != nil {
		return nil, err
	}
	set.Params = p.used
	if err := set.Finish(); err != nil {
		return nil, err
	}
	return set, nil
}

// mnistPools holds every usable image (pixels row-major, 784 per image) and the indices of each pool.
type mnistPools struct {
	pixels []byte
	labels []int64
	fileIx []int64 // index of each image within its own IDX file
	pools  [3][]int
	source string // "t10k" or "train"
}

// loadMNISTPools reads the IDX files the images mode needs and forms the pools described above.
func loadMNISTPools(dir, source, mode string) (*mnistPools, error) {
	name := func(base string) (string, string) {
		return findOneOf(filepath.Join(dir, base), filepath.Join(dir, base+".gz"))
	}
	teImg, teImgMiss := name("t10k-images-idx3-ubyte")
	teLab, teLabMiss := name("t10k-labels-idx1-ubyte")
	trImg, trImgMiss := name("train-images-idx3-ubyte")
	trLab, trLabMiss := name("train-labels-idx1-ubyte")
	var missing []string
	switch mode {
	case "auto":
		mode = "t10k"
		if trImg != "" && trLab != "" {
			mode = "train"
		}
	case "t10k", "train":
	default:
		return nil, fmt.Errorf("dataset avmnist: parameter images=%q: want auto, t10k or train", mode)
	}
	for _, m := range []string{teImgMiss, teLabMiss} {
		if m != "" {
			missing = append(missing, m)
		}
	}
	if mode == "train" {
		for _, m := range []string{trImgMiss, trLabMiss} {
			if m != "" {
				missing = append(missing, m)
			}
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("dataset avmnist: MNIST files not found (folder from %s): %s", source, strings.Join(missing, ", "))
	}
	te, err := readMNISTPair(teImg, teLab)
	if err != nil {
		return nil, err
	}
	if mode == "t10k" {
		return t10kPools(te), nil
	}
	tr, err := readMNISTPair(trImg, trLab)
	if err != nil {
		return nil, err
	}
	return trainPools(tr, te)
}

// mnistPart is one images+labels file pair.
type mnistPart struct {
	pixels []byte
	labels []int64
}

func readMNISTPair(imgPath, labPath string) (*mnistPart, error) {
	img, err := readIDXFile(imgPath)
	if err != nil {
		return nil, err
	}
	n, err := mnistImages(img, imgPath)
	if err != nil {
		return nil, err
	}
	lab, err := readIDXFile(labPath)
	if err != nil {
		return nil, err
	}
	y, err := mnistLabels(lab, labPath)
	if err != nil {
		return nil, err
	}
	if len(y) != n {
		return nil, fmt.Errorf("file %s has %d images but %s has %d labels", imgPath, n, labPath, len(y))
	}
	return &mnistPart{img.Data, y}, nil
}

func t10kPools(te *mnistPart) *mnistPools {
	mp := &mnistPools{pixels: te.pixels, labels: te.labels, source: "t10k"}
	for i := range te.labels {
		mp.fileIx = append(mp.fileIx, int64(i))
		switch i % 5 {
		case 0:
			mp.pools[2] = append(mp.pools[2], i)
		case 1:
			mp.pools[1] = append(mp.pools[1], i)
		default:
			mp.pools[0] = append(mp.pools[0], i)
		}
	}
	return mp
}

// mnistTrainVal is where MultiBench's validation split starts within the 60k training images.
const mnistTrainVal = 55000

func trainPools(tr, te *mnistPart) (*mnistPools, error) {
	if len(tr.labels) <= mnistTrainVal {
		return nil, fmt.Errorf("dataset avmnist: MNIST training file has %d images; images=train needs more than %d", len(tr.labels), mnistTrainVal)
	}
	mp := &mnistPools{pixels: slices.Concat(tr.pixels, te.pixels), labels: slices.Concat(tr.labels, te.labels), source: "train"}
	for i := range tr.labels {
		mp.fileIx = append(mp.fileIx, int64(i))
		s := 0
		if i >= mnistTrainVal {
			s = 1
		}
		mp.pools[s] = append(mp.pools[s], i)
	}
	for i := range te.labels {
		mp.fileIx = append(mp.fileIx, int64(i))
		mp.pools[2] = append(mp.pools[2], len(tr.labels)+i)
	}
	return mp, nil
}

// fsddRecording is one FSDD file, parsed from its name {digit}_{speaker}_{take}.wav.
type fsddRecording struct {
	path    string
	digit   int
	speaker int // index into fsddIndex.speakers
	take    int
}

// fsddIndex lists the recordings of each split pool by digit, in file-name order.
type fsddIndex struct {
	dir      string
	speakers []string // sorted
	pools    [3][10][]fsddRecording
}

// fsddPool maps a take index to its split: FSDD's official test takes 0-4, validation 5-9 (carved from
// the official train takes), training 10 and above.
func fsddPool(take int) int {
	switch {
	case take <= 4:
		return 2
	case take <= 9:
		return 1
	default:
		return 0
	}
}

// indexFSDD lists dir and sorts the recordings into pools; files whose names do not follow the FSDD
// pattern are ignored.
func indexFSDD(dir, source string) (*fsddIndex, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("dataset avmnist: FSDD folder %s (from %s) not readable; want {digit}_{speaker}_{take}.wav files there: %w", absPath(dir), source, err)
	}
	type parsed struct {
		name, speaker string
		digit, take   int
	}
	var recs []parsed
	speakerSet := map[string]bool{}
	for _, e := range entries {
		d, sp, tk, ok := parseFSDDName(e.Name())
		if !ok || !e.Type().IsRegular() {
			continue
		}
		recs = append(recs, parsed{e.Name(), sp, d, tk})
		speakerSet[sp] = true
	}
	ix := &fsddIndex{dir: dir}
	for sp := range speakerSet {
		ix.speakers = append(ix.speakers, sp)
	}
	slices.Sort(ix.speakers)
	for _, r := range recs {
		s := fsddPool(r.take)
		spk, _ := slices.BinarySearch(ix.speakers, r.speaker)
		ix.pools[s][r.digit] = append(ix.pools[s][r.digit], fsddRecording{filepath.Join(dir, r.name), r.digit, spk, r.take})
	}
	if len(recs) == 0 {
		return nil, fmt.Errorf("dataset avmnist: no FSDD recordings ({digit}_{speaker}_{take}.wav) in %s (folder from %s)", absPath(dir), source)
	}
	return ix, nil
}

// parseFSDDName reads "{digit}_{speaker}_{take}.wav", e.g. "7_jackson_32.wav".
func parseFSDDName(name string) (digit int, speaker string, take int, ok bool) {
	stem, isWav := strings.CutSuffix(name, ".wav")
	parts := strings.Split(stem, "_")
	if !isWav || len(parts) != 3 || len(parts[0]) != 1 || parts[1] == "" {
		return 0, "", 0, false
	}
	d, err1 := strconv.Atoi(parts[0])
	t, err2 := strconv.Atoi(parts[2])
	if err1 != nil || err2 != nil || d < 0 || d > 9 || t < 0 {
		return 0, "", 0, false
	}
	return d, parts[1], t, true
}

// avmnistPlan is which image and which recording each sample of one split uses.
type avmnistPlan struct {
	images []int
	audio  []fsddRecording
}

// buildAVMNIST selects the images, pairs them with recordings, computes the spectrograms and
// standardises the audio with the training split's mean and standard deviation.
func buildAVMNIST(mn *mnistPools, audio *fsddIndex, caps [3]int, seed, splitSeed int64) (*data.Set, error) {
	var plans [3]avmnistPlan
	for s := range plans {
		imgs, err := selectImages(mn, s, caps[s], splitSeed)
		if err != nil {
			return nil, err
		}
		recs, err := pairAudio(mn.labels, imgs, audio, s, seed)
		if err != nil {
			return nil, err
		}
		plans[s] = avmnistPlan{imgs, recs}
	}
	specs, err := computeSpectrograms(plans)
	if err != nil {
		return nil, err
	}
	cfg := avmnistSpectrogram
	set := &data.Set{
		Name:       "avmnist",
		NumClasses: 10,
		Modalities: []data.Modality{
			{Name: "image", Shape: []int64{1, 28, 28}, Role: data.RoleVisual},
			{Name: "audio", Shape: []int64{1, int64(cfg.Bins()), int64(cfg.OutFrames())}, Role: data.RoleAudio},
		},
	}
	var splits [3]*data.Split
	for s, pl := range plans {
		splits[s] = assembleSplit(mn, pl, specs)
	}
	standardizeAudio(splits[0].X[1], splits[:])
	set.Train, set.Val, set.Test = splits[0], splits[1], splits[2]
	return set, nil
}

// selectImages takes the first n images of pool s in a fixed permutation (split_seed), in file order.
func selectImages(mn *mnistPools, s, n int, splitSeed int64) ([]int, error) {
	pool := mn.pools[s]
	if n > len(pool) {
		return nil, fmt.Errorf("dataset avmnist: parameter n_%s=%d exceeds the %d images of the %s pool (images=%s)",
			avSplitNames[s], n, len(pool), avSplitNames[s], mn.source)
	}
	r := rand.New(rand.NewPCG(uint64(splitSeed), avStreamImages+uint64(s)))
	perm := r.Perm(len(pool))[:n]
	out := make([]int, n)
	for i, j := range perm {
		out[i] = pool[j]
	}
	slices.Sort(out)
	return out, nil
}

// pairAudio gives each image a recording of its digit from split s's pool: the pool of each digit is
// shuffled with the run seed and consumed in turn, cycling when exhausted.
func pairAudio(labels []int64, imgs []int, audio *fsddIndex, s int, seed int64) ([]fsddRecording, error) {
	r := rand.New(rand.NewPCG(uint64(seed), avStreamPair+uint64(s)))
	var order [10][]int
	var next [10]int
	for d := range order {
		order[d] = r.Perm(len(audio.pools[s][d]))
	}
	out := make([]fsddRecording, len(imgs))
	for i, img := range imgs {
		d := labels[img]
		pool := audio.pools[s][d]
		if len(pool) == 0 {
			return nil, fmt.Errorf("dataset avmnist: no FSDD recording of digit %d with a %s take (%s) in %s",
				d, avSplitNames[s], fsddTakeRange(s), absPath(audio.dir))
		}
		out[i] = pool[order[d][next[d]%len(pool)]]
		next[d]++
	}
	return out, nil
}

func fsddTakeRange(s int) string {
	return [3]string{"takes 10 and above", "takes 5-9", "takes 0-4"}[s]
}

// computeSpectrograms reads and transforms every recording the plans use, once each, on all CPUs.
func computeSpectrograms(plans [3]avmnistPlan) (map[string][]float32, error) {
	var paths []string
	seen := map[string]bool{}
	for _, pl := range plans {
		for _, rec := range pl.audio {
			if !seen[rec.path] {
				seen[rec.path] = true
				paths = append(paths, rec.path)
			}
		}
	}
	specs := make([][]float32, len(paths))
	errs := make([]error, len(paths))
	var wg sync.WaitGroup
	work := make(chan int)
	for w := 0; w < runtime.GOMAXPROCS(0); w++ {
		wg.Go(func() {
			for i := range work {
				specs[i], errs[i] = recordingSpectrogram(paths[i])
			}
		})
	}
	for i := range paths {
		work <- i
	}
	close(work)
	wg.Wait()
	out := make(map[string][]float32, len(paths))
	for i, p := range paths {
		if errs[i] != nil {
			return nil, errs[i]
		}
		out[p] = specs[i]
	}
	return out, nil
}

func recordingSpectrogram(path string) ([]float32, error) {
	w, err := readWAVFile(path)
	if err != nil {
		return nil, err
	}
	if w.SampleRate != fsddSampleRate {
		return nil, fmt.Errorf("file %s: sample rate %d Hz, want %d (FSDD); resampling is not supported", path, w.SampleRate, fsddSampleRate)
	}
	return avmnistSpectrogram.compute(pcm16ToFloat(w.Samples)), nil
}

// assembleSplit copies pixels (scaled to [0, 1]) and spectrograms into a split and records, per
// sample, the image's index in its IDX file and the recording's speaker and take in Aux.
func assembleSplit(mn *mnistPools, pl avmnistPlan, specs map[string][]float32) *data.Split {
	n := len(pl.images)
	const px = 28 * 28
	audio := 0 // values per spectrogram; sized up front, as growing by append doubled the peak memory
	if n > 0 {
		audio = len(specs[pl.audio[0].path])
	}
	sp := &data.Split{
		X: [][]float32{make([]float32, 0, n*px), make([]float32, 0, n*audio)},
		Y: make([]int64, n),
		Aux: map[string][]int64{
			"image_index": make([]int64, n), "audio_speaker": make([]int64, n), "audio_take": make([]int64, n),
		},
	}
	for i, img := range pl.images {
		for _, b := range mn.pixels[img*px : (img+1)*px] {
			sp.X[0] = append(sp.X[0], float32(b)/255)
		}
		sp.X[1] = append(sp.X[1], specs[pl.audio[i].path]...)
		sp.Y[i] = mn.labels[img]
		sp.Aux["image_index"][i] = mn.fileIx[img]
		sp.Aux["audio_speaker"][i] = int64(pl.audio[i].speaker)
		sp.Aux["audio_take"][i] = int64(pl.audio[i].take)
	}
	return sp
}

// standardizeAudio shifts and scales the audio of every split by the mean and standard deviation of the
// training audio (ref), so the log spectrogram (about -16 in silence) enters the encoder near zero
// mean and unit variance without looking at validation or test data.
func standardizeAudio(ref []float32, splits []*data.Split) {
	var sum, sq float64
	for _, v := range ref {
		sum += float64(v)
	}
	mean := sum / float64(len(ref))
	for _, v := range ref {
		sq += (float64(v) - mean) * (float64(v) - mean)
	}
	std := math.Sqrt(sq / float64(len(ref)))
	if !(std > 0) {
		std = 1
	}
	for _, sp := range splits {
		for i, v := range sp.X[1] {
			sp.X[1][i] = float32((float64(v) - mean) / std)
		}
	}
}
