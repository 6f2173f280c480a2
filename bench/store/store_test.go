package store

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"
)

func sample(key string) *Record {
	return &Record{
		Key: key, Status: StatusOK, Method: "joint", Label: "joint[fusion=mlp]",
		MethodParams: map[string]string{"fusion": "mlp"}, Dataset: "synthetic:mix=S",
		DatasetParams: map[string]string{"k": "4"}, DatasetSHA256: "abc", NumClasses: 4,
		Encoder: "mlp", EncoderParams: map[string]string{"hidden": "128"}, Seed: 3,
		Train:     TrainConfig{Optimizer: "sgd", LR: 0.01, Momentum: 0.9, WeightDecay: 1e-4, BatchSize: 64, Epochs: 2, Threads: 1},
		Curves:    []EpochStats{{Epoch: 1, TrainLoss: 1.2, ValAcc: 0.5}, {Epoch: 2, TrainLoss: 0.7, ValAcc: 0.75}},
		BestEpoch: 2, Val: Metrics{Acc: 0.75, MacroF1: 0.7}, Test: Metrics{Acc: 0.8, MacroF1: 0.79, PerModality: map[string]float64{"m1": 0.3}},
		WallSeconds: 1.5, Device: "cpu", Versions: Versions{Harness: "0.1.0", Go: "go1.26", Gotch: "v0.9.1", Libtorch: "2.1.0"},
		Finished: time.Date(2026, 11, 27, 3, 0, 0, 0, time.UTC),
	}
}

func TestRecordRoundTrips(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	r := sample("joint_s3_0123")
	if err := s.Put(r); err != nil {
		t.Fatal(err)
	}
	if !s.Has(r.Key) {
		t.Fatal("Has = false after Put")
	}
	got, err := s.Get(r.Key)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, r) {
		t.Fatalf("round trip changed the record:\n got %+v\nwant %+v", got, r)
	}
}

func TestCorruptFilesAreReportedAndSkipped(t *testing.T) {
	dir := t.TempDir()
	s, _ := Open(dir)
	if err := s.Put(sample("good")); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "truncated.json"), []byte(`{"schema":1,"key":"truncated","meth`), 0o644)
	os.WriteFile(filepath.Join(dir, "renamed.json"), mustRead(t, filepath.Join(dir, "good.json")), 0o644)
	os.WriteFile(filepath.Join(dir, ".tmp-x.json-123"), []byte("partial"), 0o644)
	recs, probs, err := s.All()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 || recs[0].Key != "good" {
		t.Fatalf("records %v, want only 'good'", recs)
	}
	if len(probs) != 2 {
		t.Fatalf("problems %v, want truncated.json and renamed.json", probs)
	}
	for _, p := range probs {
		if !strings.Contains(p.Err.Error(), filepath.Base(p.Path)) {
			t.Errorf("problem %q does not name its file", p.Err)
		}
	}
}

// fullDisk is a temp file whose writes fail after a few bytes, as on a full disk.
type fullDisk struct{ *os.File }

func (f fullDisk) Write(b []byte) (int, error) {
	n, _ := f.File.Write(b[:min(len(b), 10)])
	return n, syscall.ENOSPC
}

// A failed write (full disk) returns an error, leaves the earlier record intact and no partial file.
func TestPutOnFullDiskKeepsOldRecordAndLeavesNoPartialFile(t *testing.T) {
	dir := t.TempDir()
	s, _ := Open(dir)
	old := sample("cell")
	if err := s.Put(old); err != nil {
		t.Fatal(err)
	}
	createTemp = func(dir, pattern string) (tempFile, error) {
		f, err := os.CreateTemp(dir, pattern)
		return fullDisk{f}, err
	}
	defer func() {
		createTemp = func(dir, pattern string) (tempFile, error) { return os.CreateTemp(dir, pattern) }
	}()
	newer := sample("cell")
	newer.Test.Acc = 0.1
	err := s.Put(newer)
	if err == nil || !strings.Contains(err.Error(), "no space left") {
		t.Fatalf("Put on a full disk: err = %v, want 'no space left'", err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 || entries[0].Name() != "cell.json" {
		t.Fatalf("directory holds %v, want only cell.json", entries)
	}
	got, err := s.Get("cell")
	if err != nil || got.Test.Acc != old.Test.Acc {
		t.Fatalf("old record damaged: %v, %v", got, err)
	}
}

func mustRead(t *testing.T, p string) []byte {
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
