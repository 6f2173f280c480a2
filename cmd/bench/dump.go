package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/mmfusion/bench/bench/data"
	"github.com/mmfusion/bench/bench/store"
	"github.com/mmfusion/bench/datasets"
)

const dumpHelp = `usage: bench dump --dataset SPEC --split train|val|test --index I --out DIR [--data-dir D] [--seed S] [--augment [--epoch E]]

Writes what the model sees for one sample: DIR/<modality>.npy for each modality (float32,
little-endian, C order, shape = the modality's shape: exactly the values the trainer feeds that
modality's encoder, read by the same Split.ReadSample / Source.Read path as bench run) and
DIR/label.txt (the integer label, then the class name where the dataset has names, e.g. "3 FEA").

The dataset is loaded as bench run loads it (data.Load with --seed), so the seed matters wherever it
shapes the data (synthetic generators, validation carving, AV-MNIST pairing). Sample I of a split is
its I-th sample in list order (for cremad's test split, the I-th row of test.csv). Bad flags, an
unknown split or an index out of range exit 2 and write nothing; each file is written atomically.

Without --augment every split is read with the test-time transform (what evaluation reads). With
--augment (train split only) the sample goes through the training transform with the draws of
training epoch --epoch of a cell with seed --seed (data.AugmentSeed(seed, epoch, index)), the
values bench run trains on in that epoch.

flags:
`

// dumpClassNames are the class names of datasets that have them, by dataset name.
var dumpClassNames = map[string][]string{"cremad": datasets.CremadClasses}

func cmdDump(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("dump", stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), dumpHelp)
		fs.PrintDefaults()
	}
	spec := fs.String("dataset", "", "dataset spec, e.g. synthetic:mix=S or cremad:frames=3 (required)")
	dataDir := fs.String("data-dir", os.Getenv("BENCH_DATA_DIR"), "root of real datasets (default $BENCH_DATA_DIR, else ../shared/data)")
	split := fs.String("split", "", "train, val or test (required)")
	index := fs.Int("index", -1, "sample index within the split, from 0 (required)")
	out := fs.String("out", "", "folder to write the .npy files and label.txt into; created if missing (required)")
	seed := fs.Int64("seed", 1, "seed the dataset is loaded with, as a bench run cell's seed")
	augment := fs.Bool("augment", false, "read the sample through the dataset's training transform (cremad, ks: RandomResizedCrop + flip of every frame), exactly as a cell with seed --seed reads it in training epoch --epoch; --split train only")
	epoch := fs.Int("epoch", 0, "training epoch whose draws --augment uses (bench run's epochs are 1, 2, …; 0 is a valid draw that no cell uses)")
	if err := fs.Parse(args); err != nil {
		return usageError{err}
	}
	if fs.NArg() > 0 {
		return usagef("dump: unexpected argument %q", fs.Arg(0))
	}
	var missing []string
	for _, f := range []struct {
		name string
		set  bool
	}{{"--dataset", *spec != ""}, {"--split", *split != ""}, {"--index", *index != -1}, {"--out", *out != ""}} {
		if !f.set {
			missing = append(missing, f.name)
		}
	}
	if len(missing) > 0 {
		return usagef("dump: %s required (bench dump -h)", strings.Join(missing, ", "))
	}
	splits := []string{"train", "val", "test"}
	if !slices.Contains(splits, *split) {
		return usagef("dump: --split %q: want one of %s", *split, strings.Join(splits, ", "))
	}
	if *index < 0 {
		return usagef("dump: --index %d: want a sample index ≥ 0", *index)
	}
	if *augment && *split != "train" {
		return usagef("dump: --augment: only the train split has a training transform (got --split %s)", *split)
	}
	if *epoch < 0 {
		return usagef("dump: --epoch %d: want ≥ 0", *epoch)
	}
	set, err := data.Load(*spec, *seed, *dataDir)
	if err != nil {
		return usageError{err}
	}
	var sp *data.Split
	for _, ns := range set.Splits() {
		if ns.Name == *split {
			sp = ns.Split
		}
	}
	if n := sp.Len(); *index >= n {
		return usagef("dump: --index %d out of range: the %s split of %s (seed %d) has %d samples, indices 0 to %d",
			*index, *split, *spec, *seed, n, n-1)
	}
	for _, mod := range set.Modalities {
		if mod.Name == "" || mod.Name == "label" || strings.ContainsAny(mod.Name, `/\`) || strings.HasPrefix(mod.Name, ".") {
			return fmt.Errorf("dump: modality name %q cannot be a file name", mod.Name)
		}
	}
	dst := make([][]float32, len(set.Modalities))
	for m, mod := range set.Modalities {
		dst[m] = make([]float32, mod.Size())
	}
	if *augment {
		as, ok := sp.Source.(data.AugmentedSource)
		if !ok {
			return usagef("dump: --augment: the train split of %s has no training transform (not a video dataset, or augment=false)", *spec)
		}
		if err := as.ReadAugmented(*index, dst, data.AugmentSeed(*seed, *epoch, *index)); err != nil {
			return err
		}
	} else if err := sp.ReadSample(*index, set.Modalities, dst); err != nil {
		return err
	}
	y := sp.Y[*index]
	label := fmt.Sprintf("%d", y)
	if names := dumpClassNames[set.Name]; int(y) < len(names) {
		label += " " + names[y]
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	for m, mod := range set.Modalities {
		path := filepath.Join(*out, mod.Name+".npy")
		if err := store.WriteFileAtomic(path, datasets.EncodeNpyFloat32(mod.Shape, dst[m])); err != nil {
			return err
		}
		fmt.Fprintf(stderr, "wrote %s %v\n", path, mod.Shape)
	}
	path := filepath.Join(*out, "label.txt")
	if err := store.WriteFileAtomic(path, []byte(label+"\n")); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "wrote %s (%s): %s sample %d of %d, dataset sha256 %s\n", path, label, *split, *index, sp.Len(), set.SHA256[:12])
	return nil
}
