package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mmfusion/bench/bench/store"
)

// The exported CREMA-D layout is learnable end to end: bench export writes 80 + 80 clips (MNIST
// digits 0-5 as frames, FSDD recordings as 16 kHz WAVs), the cremad loader reads them, and joint on
// resnet18 (width 4) learns them well above chance (1/6). Settings: cremad:val=0.25 (20 validation
// clips: with the default 0.1, best-val-acc selection on 6 clips often picked an early epoch), 15
// epochs, batch 8, lr 0.01. Measured on 2 cores: this test 0.41 in three repeated runs (deterministic;
// 15-30 s), and 0.54 once the loaders gained the training transform (cremad's augment=true) and
// their speed-ups (20 s alone, about 2 min while other builds shared the cores); bench run of the
// same export with seeds 1-5 (two cells at a time, one libtorch thread each) 0.49, 0.41, 0.60, 0.57,
// 0.43. The bound 0.30 (24 of 80 clips; chance gives about 13) leaves a margin of 9 clips below the
// lowest. Since the training reads also draw one of a clip's 3 frames at random (BalanceBenchmark's
// rule) the augmented cell fell to 0.29, so the check trains with augment=false: it tests that the
// export is learnable, not the augmentation (measured 0.44, 23 s).
func TestExportCremadLearns(t *testing.T) {
	if testing.Short() {
		t.Skip("trains one resnet18 cell on an exported CREMA-D layout (about 30 s on 2 cores); skipped with -short")
	}
	root := exportCremad(t, "avmnist", 80)
	res := filepath.Join(t.TempDir(), "results")
	args := []string{"run", "--dataset", "cremad:val=0.25,augment=false", "--data-dir", root, "--encoder", "resnet18", "--set", "resnet18.width=4",
		"--methods", "joint", "--epochs", "15", "--batch-size", "8", "--seeds", "1", "--results", res}
	start := time.Now()
	if code := runOS(args); code != 0 {
		t.Fatalf("bench %s: exit %d", strings.Join(args, " "), code)
	}
	st, err := store.Open(res)
	if err != nil {
		t.Fatal(err)
	}
	recs, problems, err := st.All()
	if err != nil || len(problems) > 0 || len(recs) != 1 {
		t.Fatalf("records %d, problems %v, %v", len(recs), problems, err)
	}
	r := recs[0]
	t.Logf("joint on the exported cremad layout: test acc %.3f (best epoch %d), %s", r.Test.Acc, r.BestEpoch, time.Since(start).Round(time.Second))
	if r.Status != store.StatusOK || r.Test.Acc < 0.30 {
		t.Errorf("status %s, test accuracy %.3f: want ≥ 0.30 (chance 1/6; measured 0.41-0.60, 0.44 with augment=false)", r.Status, r.Test.Acc)
	}
}

// bench export refuses a folder that holds anything but previous exports (exit 2, nothing changed),
// and replaces a previous export.
func TestExportFolderRules(t *testing.T) {
	data := sharedDataOrSkip(t)
	dir := t.TempDir()
	mine := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(mine, []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{"export", "--layout", "cremad", "--out", dir, "--data-dir", data, "--limit", "12"}
	if code := runOS(args); code != 2 {
		t.Errorf("non-empty folder: exit %d, want 2", code)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("a refused export left %d entries", len(entries))
	}
	os.Remove(mine)
	for range 2 { // the second replaces the first
		if code := runOS(args); code != 0 {
			t.Fatalf("exit %d", code)
		}
	}
	if code := runOS([]string{"export", "--layout", "ks", "--out", dir, "--data-dir", data, "--limit", "20"}); code != 0 {
		t.Fatalf("ks next to cremad: exit %d", code)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 {
		t.Errorf("entries %v, want cremad and ks only", entries)
	}
	for name, a := range map[string][]string{
		"no layout":      {"export", "--out", dir},
		"unknown layout": {"export", "--layout", "ave", "--out", dir, "--data-dir", data},
		"no out":         {"export", "--layout", "ks"},
		"not avmnist":    {"export", "--dataset", "synthetic", "--layout", "ks", "--out", dir},
	} {
		if code := runOS(a); code != 2 {
			t.Errorf("%s: exit %d, want 2", name, code)
		}
	}
}
