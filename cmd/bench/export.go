package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/mmfusion/bench/datasets"
)

const exportHelp = `usage: bench export --dataset avmnist[:KEY=VALUE,...] --layout cremad|ks --out DIR [--data-dir D] [--limit N]

Writes AV-MNIST's real media (MNIST digit images and FSDD spoken-digit recordings from the shared
data) in a video dataset's real on-disk layout, so that dataset's loader can be run on small,
learnable data. Images and recordings are chosen and paired as the avmnist dataset does (a digit
image with a recording of the same digit; FSDD training takes for train, test takes 0-4 for test;
spec parameters n_train, n_test, seed (pairing, default 1), split_seed, images, mnist_dir,
fsdd_dir). Frames are the digit scaled to 224x224 with a small shift per frame, RGB JPEG
(YCbCr 4:2:0) at quality 90.

DIR becomes a data root: the layout is written to DIR/cremad or DIR/ks (both may share one DIR),
where the loaders look with --data-dir DIR.

  --layout cremad   digits 0-5 as NEU HAP SAD FEA DIS ANG: cremad/train.csv, test.csv ("clip,EMO" rows,
                    clips named <actor>_<sentence>_<EMO>_XX, e.g. 1001_IEO_NEU_XX),
                    AudioWAV/<clip>.wav (16 kHz PCM16, resampled from FSDD's 8 kHz),
                    Image-01-FPS/<clip>/00000.jpg, 00030.jpg, 00060.jpg.
                    Load with: --dataset cremad --data-dir DIR
  --layout ks       digits 0-9 as labels 0-9: ks/train.txt, test.txt ("name,10,label" rows),
                    {train,test}_spec/<name>.npy audio, {train,test}_frames/<name>/frame_00001.jpg
                    ... frame_00010.jpg. The audio is not a Kaldi fbank (this package has none):
                    it is the package's log-magnitude STFT of the 16 kHz signal, 32 ms windows,
                    10 ms hop, 128 frames x 128 bands, float32 (128, 128) time-major, unnormalised.
                    Load with: --dataset ks:classes=10 --data-dir DIR

DIR must be new, empty, or hold only cremad/ or ks/ folders of previous exports (each with its
bench-export.json); DIR/<layout> is replaced: the new export is written inside DIR and moved into
place. --limit N keeps a class-balanced N clips per split (the first image of each class in pool
order, then the second of each, ...; cremad leaves digits 6-9 out first). The output is
deterministic: the same inputs give the same bytes.

flags:
`

func cmdExport(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("export", stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), exportHelp)
		fs.PrintDefaults()
	}
	spec := fs.String("dataset", "avmnist", "source dataset spec: avmnist, or avmnist:n_train=...,n_test=...,seed=...")
	layout := fs.String("layout", "", "on-disk layout to write: cremad or ks (required)")
	out := fs.String("out", "", "data root to write the layout into, as DIR/cremad or DIR/ks (required)")
	dataDir := fs.String("data-dir", os.Getenv("BENCH_DATA_DIR"), "root of the shared data holding mnist/ and fsdd/ (default $BENCH_DATA_DIR, else ../shared/data)")
	limit := fs.Int("limit", 0, "at most N clips per split, balanced over the classes (0: all that n_train / n_test select)")
	if err := fs.Parse(args); err != nil {
		return usageError{err}
	}
	if fs.NArg() > 0 {
		return usagef("export: unexpected argument %q", fs.Arg(0))
	}
	if *layout == "" || *out == "" {
		return usagef("export: --layout and --out are required (bench export -h)")
	}
	start := time.Now()
	sum, err := datasets.Export(datasets.ExportOptions{Spec: *spec, Layout: *layout, Out: *out, DataDir: *dataDir, Limit: *limit})
	var ue *datasets.ExportUsageError
	if errors.As(err, &ue) {
		return usagef("export: %v", ue.Err)
	}
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	fmt.Fprintf(stderr, "exported %d train + %d test clips (%d classes, %d files) in %s layout to %s in %s\n",
		sum.Train, sum.Test, sum.Classes, sum.Files, *layout, sum.Dir, time.Since(start).Round(time.Millisecond))
	return nil
}
