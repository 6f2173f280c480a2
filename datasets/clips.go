package datasets

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/mmfusion/bench/bench/data"
)

// Machinery shared by the video datasets (cremad, ks, ucf101): list files, resolving each clip's
// files at load time, carving a validation split out of the training list, and the lazy data.Source.
//
// Every file a sample will read is found (and its size recorded) when the dataset loads, so a missing
// file is reported at once, with every path looked for, instead of in the middle of training; only
// decoding happens on demand.

// Parameters shared by the video datasets.
const (
	ClipDefaultVal       = 0.1 // share of the training list held out for validation
	ClipDefaultSplitSeed = 0   // fixed, so every run seed selects on the same validation clips
	clipMaxListed        = 12  // missing paths quoted in an error
)

// clipEntry is one row of a list file.
type clipEntry struct {
	Name  string
	Label int64
	Group string // samples of one group go to the same side of the validation carve ("" = by class)
}

// clipSample is a resolved entry: every file its Read opens, in the order the dataset's reader
// expects them.
type clipSample struct {
	Name  string
	Label int64
	Files []fileRef
	// Pool is every frame of the clip's visual folder in natural order, kept for the training-time
	// frame choice (trainFrames) of a training list read with augment=true; nil otherwise (Files
	// then holds the only frames ever read).
	Pool []fileRef
}

// clipSource is the lazily read split of a video dataset (data.Source).
type clipSource struct {
	dataset string
	split   string
	digest  string // the parameters that shape the values, written into Digest
	root    string // Digest writes paths relative to it
	samples []clipSample
	read    func(c *clipSample, dst [][]float32) error
	// augment, when set (a training split with augment=true), is read under the training transform
	// with the sample's generator; dataSplit then serves the split as a data.AugmentedSource.
	augment func(c *clipSample, dst [][]float32, r *rand.Rand) error
	// cache, when set (cache=DIR), keeps test-transform reads on disk (clipcache.go).
	cache string
}

// augmentedClipSource is a clipSource whose training reads augment (data.AugmentedSource).
type augmentedClipSource struct{ *clipSource }

// ReadAugmented fills dst with sample i under the training transform, drawing from augmentRand(seed).
func (s augmentedClipSource) ReadAugmented(i int, dst [][]float32, seed uint64) error {
	if i < 0 || i >= len(s.samples) {
		return fmt.Errorf("dataset %s: %s sample %d out of range [0, %d)", s.dataset, s.split, i, len(s.samples))
	}
	if err := s.augment(&s.samples[i], dst, augmentRand(seed)); err != nil {
		return fmt.Errorf("dataset %s: %s sample %d (%s): %w", s.dataset, s.split, i, s.samples[i].Name, err)
	}
	return nil
}

// Read fills dst with sample i. It is safe for concurrent use: it only reads shared state.
func (s *clipSource) Read(i int, dst [][]float32) error {
	if i < 0 || i >= len(s.samples) {
		return fmt.Errorf("dataset %s: %s sample %d out of range [0, %d)", s.dataset, s.split, i, len(s.samples))
	}
	read := s.read
	if s.cache != "" {
		read = s.readCached
	}
	if err := read(&s.samples[i], dst); err != nil {
		return fmt.Errorf("dataset %s: %s sample %d (%s): %w", s.dataset, s.split, i, s.samples[i].Name, err)
	}
	return nil
}

// Digest writes the parameters, then each sample's name, label and files (relative path and size).
func (s *clipSource) Digest(h io.Writer) {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s %s %s\n%d samples\n", s.dataset, s.split, s.digest, len(s.samples))
	for _, c := range s.samples {
		fmt.Fprintf(&b, "%s %d", c.Name, c.Label)
		for _, f := range c.Files {
			rel, err := filepath.Rel(s.root, f.Path)
			if err != nil {
				rel = f.Path
			}
			fmt.Fprintf(&b, " %s:%d", filepath.ToSlash(rel), f.Size)
		}
		if s.augment != nil && c.Pool != nil { // training reads may choose any of these frames
			b.WriteString(" |")
			for _, f := range c.Pool {
				rel, err := filepath.Rel(s.root, f.Path)
				if err != nil {
					rel = f.Path
				}
				fmt.Fprintf(&b, " %s:%d", filepath.ToSlash(rel), f.Size)
			}
		}
		b.WriteByte('\n')
		if b.Len() > 1<<16 {
			h.Write(b.Bytes())
			b.Reset()
		}
	}
	h.Write(b.Bytes())
}

// finishClipSet gives set its three splits, each a clipSource made from tmpl (dataset, digest, root,
// cache, read) with the split's name and samples; the training split also gets augment (nil: none),
// then validates the set (data.Set.Finish).
func finishClipSet(set *data.Set, tmpl clipSource, augment func(c *clipSample, dst [][]float32, r *rand.Rand) error,
	train, val, test []clipSample) (*data.Set, error) {
	mk := func(split string, s []clipSample) *data.Split {
		src := tmpl
		src.split, src.samples = split, s
		if split == "train" {
			src.augment = augment
		}
		return src.dataSplit()
	}
	set.Train, set.Val, set.Test = mk("train", train), mk("val", val), mk("test", test)
	if err := set.Finish(); err != nil {
		return nil, err
	}
	return set, nil
}

// dataSplit wraps the source as a data.Split.
func (s *clipSource) dataSplit() *data.Split {
	y := make([]int64, len(s.samples))
	for i, c := range s.samples {
		y[i] = c.Label
	}
	if s.augment != nil {
		return &data.Split{Source: augmentedClipSource{s}, Y: y}
	}
	return &data.Split{Source: s, Y: y}
}

// digestParams renders params in key order for the source digest.
func digestParams(params map[string]string) string {
	keys := make([]string, 0, len(params))
	for k := range params {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + params[k]
	}
	return strings.Join(parts, ",")
}

// listLine is one non-blank line of a list file, with its 1-based number.
type listLine struct {
	Num  int
	Text string
}

// readListFile returns the non-blank lines of a text list, with a UTF-8 byte-order mark, CR line
// endings and surrounding spaces removed (the reference lists come with CRLF or LF endings, and
// CREMA-D's with a BOM in places).
func readListFile(path string) ([]listLine, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("file %s: %w", path, err)
	}
	defer f.Close()
	var lines []listLine
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		text := sc.Text()
		if n == 1 {
			text = strings.TrimPrefix(text, "\uFEFF")
		}
		if text = strings.TrimSpace(text); text != "" {
			lines = append(lines, listLine{n, text})
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("file %s: %w", path, err)
	}
	if len(lines) == 0 {
		return nil, fmt.Errorf("file %s: no entries", path)
	}
	return lines, nil
}

// clipMissingParam reads the missing=error|skip parameter.
func clipMissingParam(p *specParams) (skip bool, err error) {
	switch v := p.str("missing", "error"); v {
	case "error":
		return false, nil
	case "skip":
		return true, nil
	default:
		return false, p.errorf("missing", v, "want error (report clips whose files are missing) or skip (drop them, as the reference loaders do)")
	}
}

// clipResolver turns an entry into a sample, or says which paths it looked for and did not find.
type clipResolver func(e clipEntry) (clipSample, []string)

// resolveClips resolves every entry, on all CPUs. Entries whose files are missing are an error that
// lists the paths looked for, or with skip are dropped (the reference loaders drop them silently); it
// is an error too if nothing is left.
func resolveClips(dataset, listName, source string, entries []clipEntry, resolve clipResolver, skip bool) ([]clipSample, error) {
	samples := make([]clipSample, len(entries))
	problems := make([][]string, len(entries))
	parallelFor(len(entries), func(i int) { samples[i], problems[i] = resolve(entries[i]) })
	var kept []clipSample
	var listed []string
	bad := 0
	for i, pr := range problems {
		if len(pr) == 0 {
			kept = append(kept, samples[i])
			continue
		}
		bad++
		for _, p := range pr {
			if len(listed) < clipMaxListed {
				listed = append(listed, entries[i].Name+": "+p)
			}
		}
	}
	if bad == 0 || (skip && len(kept) > 0) {
		return kept, nil
	}
	more := ""
	if bad > len(listed) {
		more = fmt.Sprintf("; and more (%d clips in all)", bad)
	}
	hint := "; add missing=skip to drop such clips, as the reference loaders do"
	if skip {
		hint = "; missing=skip left no clip"
	}
	return nil, fmt.Errorf("dataset %s: %d of %d clips of %s lack files (folder from %s); looked for: %s%s%s",
		dataset, bad, len(entries), listName, source, strings.Join(listed, "; "), more, hint)
}

// parallelFor calls f(0) … f(n−1) on GOMAXPROCS goroutines.
func parallelFor(n int, f func(i int)) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < min(runtime.GOMAXPROCS(0), n); w++ {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < n; i = int(next.Add(1) - 1) {
				f(i)
			}
		})
	}
	wg.Wait()
}

// carveValidation splits the resolved training samples into training and validation. Samples
// with a Group are split by group: a share of the groups (at least one, at most all but one), drawn
// with seed, goes to validation, so near-duplicate clips of one group never straddle the split.
// Otherwise the split is stratified by class (stratifiedSplit: round(share·n_c) of each class, at
// least one kept for training). Both keep the list order.
func carveValidation(samples []clipSample, groups []string, share float64, seed int64) (train, val []clipSample) {
	var trIdx, valIdx []int
	if groups != nil {
		trIdx, valIdx = groupSplit(groups, share, seed)
	} else {
		y := make([]int64, len(samples))
		for i, s := range samples {
			y[i] = s.Label
		}
		trIdx, valIdx = stratifiedSplit(y, share, seed)
	}
	for _, i := range trIdx {
		train = append(train, samples[i])
	}
	for _, i := range valIdx {
		val = append(val, samples[i])
	}
	return train, val
}

// groupSplit holds out round(share·G) of the G distinct groups (at least 1, at most G−1), drawn
// with a PCG stream seeded by seed from the sorted group names.
func groupSplit(groups []string, share float64, seed int64) (train, val []int) {
	distinct := slices.Clone(groups)
	slices.Sort(distinct)
	distinct = slices.Compact(distinct)
	r := rand.New(rand.NewPCG(uint64(seed), 0x6a0_c1b5))
	r.Shuffle(len(distinct), func(i, j int) { distinct[i], distinct[j] = distinct[j], distinct[i] })
	nVal := min(max(int(share*float64(len(distinct))+0.5), 1), len(distinct)-1)
	held := map[string]bool{}
	for _, g := range distinct[:max(nVal, 0)] {
		held[g] = true
	}
	for i, g := range groups {
		if held[g] {
			val = append(val, i)
		} else {
			train = append(train, i)
		}
	}
	return train, val
}

// clipValParams reads val and split_seed.
// clipCommonParams reads the parameters every clip dataset shares: the validation share, its split
// seed, and what to do with clips whose files are missing.
func clipCommonParams(p *specParams) (valShare float64, splitSeed int64, skipMissing bool, err error) {
	if valShare, splitSeed, err = clipValParams(p); err != nil {
		return
	}
	skipMissing, err = clipMissingParam(p)
	return
}

func clipValParams(p *specParams) (float64, int64, error) {
	share, err := p.float("val", ClipDefaultVal, 0, 1)
	if err != nil {
		return 0, 0, err
	}
	if share <= 0 || share >= 1 {
		return 0, 0, p.errorf("val", p.used["val"], "must be strictly between 0 and 1")
	}
	seed, err := p.seed("split_seed", ClipDefaultSplitSeed)
	return share, seed, err
}

// clipRelDir returns where a media folder is: override if given, else dir/sub.
func clipRelDir(dir, sub, override string) string {
	if override != "" {
		return override
	}
	return filepath.Join(dir, sub)
}

// readClipList parses every row of a list file with parse; an error names the file and line.
func readClipList(path string, parse func(row string) (clipEntry, error)) ([]clipEntry, error) {
	lines, err := readListFile(path)
	if err != nil {
		return nil, err
	}
	entries := make([]clipEntry, 0, len(lines))
	for _, l := range lines {
		e, err := parse(l.Text)
		if err != nil {
			return nil, fmt.Errorf("file %s, line %d: %w", path, l.Num, err)
		}
		entries = append(entries, e)
	}
	return entries, nil
}

// Frames per clip (methods-beyond.md §5.2). A clip's T frames are chosen by segment sampling over its
// frames in natural order (listFrames; the references use os.listdir's unsorted order):
//
//   - evaluation (validation, test, augment=false, every test-transform read): segmentFrames, the
//     test-time rule of BalanceBenchmark's KSDataset and ucf101_dataset — T segments of seg = ⌊n/T⌋
//     frames, 1-based index i·seg + max(⌊seg/2⌋, 1) in segment i (with 10 frames and T = 3: frames
//     1, 4, 7; with seg ≤ 3 the segment's first frame). BalanceBenchmark's cremad_dataset takes the
//     0-based i·seg + ⌊seg/2⌋ instead (the middle of an odd segment); the KS rule is kept for every
//     dataset, since for CREMA-D's ~3 frames and T ≤ 3 it is OGM-GE's "first T frames".
//   - training (a training read with augment=true): one frame drawn uniformly within each segment,
//     position i·seg + U{0, …, seg−1} — BalanceBenchmark's KSDataset (random.randint(i·seg+1, i·seg+seg),
//     1-based) and cremad_dataset (i·seg + np.random.randint(seg)) alike. The draws come from the
//     sample's augmentation generator (augmentRand(data.AugmentSeed(seed, epoch, sample))), before
//     the frames' crop and flip draws, so a read stays reproducible; a segment of one frame (seg = 1)
//     draws nothing, and with fewer frames than T (seg = 0) the evaluation positions are used
//     (frames repeat; BalanceBenchmark's CREMA-D drops such clips, its KS falls back to frame 1).
//     KSDataset's other quirks (frame 1 for clips of ≤ 6 frames, index clamped to 9, names built as
//     frame_0000{t}.jpg) are not reproduced. OGM-GE reads the first T frames in training too, and
//     DMIL one random frame; neither is reproduced.

// trainSegmentFrames is the training-time choice of T of n frames (0-based positions), drawing from r.
func trainSegmentFrames(n, frames int, r *rand.Rand) []int {
	seg := n / frames
	if seg < 2 {
		return segmentFrames(n, frames)
	}
	pos := make([]int, frames)
	for i := range pos {
		pos[i] = i*seg + r.IntN(seg)
	}
	return pos
}

// pickFramePool is pickFrames that also stats and returns every frame of dir (natural order), for a
// training list whose reads choose frames at random. refs are the evaluation-time picks.
func pickFramePool(dir string, frames, minFrames int) (refs, pool []fileRef, problem string) {
	all, err := listFrames(dir)
	switch {
	case err != nil && os.IsNotExist(err):
		return nil, nil, absPath(dir) + "/ (frame folder missing)"
	case err != nil:
		return nil, nil, absPath(dir) + "/ (" + err.Error() + ")"
	case len(all) < max(minFrames, 1):
		return nil, nil, fmt.Sprintf("%s/ (%d .jpg/.png frames, need at least %d)", absPath(dir), len(all), max(minFrames, 1))
	}
	pool = make([]fileRef, len(all))
	for k, name := range all {
		path := filepath.Join(dir, name)
		ref, ok := statRegular(path)
		if !ok {
			return nil, nil, absPath(path) + " (not a regular file)"
		}
		pool[k] = ref
	}
	for _, p := range segmentFrames(len(all), frames) {
		refs = append(refs, pool[p])
	}
	return refs, pool, ""
}

// resolveFrames is pickFrames, or pickFramePool when pool is set.
func resolveFrames(dir string, frames, minFrames int, pool bool) (refs, all []fileRef, problem string) {
	if pool {
		return pickFramePool(dir, frames, minFrames)
	}
	refs, _, problem = pickFrames(dir, frames, minFrames)
	return refs, nil, problem
}

// trainFrames returns the frames a training read of c uses: with a pool, T = len(c.Files) − first
// frames by trainSegmentFrames (drawing from r); without one, c.Files[first:] (the evaluation picks).
func (c *clipSample) trainFrames(first int, r *rand.Rand) []fileRef {
	frames := len(c.Files) - first
	if c.Pool == nil || frames < 1 {
		return c.Files[first:]
	}
	pos := trainSegmentFrames(len(c.Pool), frames, r)
	out := make([]fileRef, len(pos))
	for i, p := range pos {
		out[i] = c.Pool[p]
	}
	return out
}
