package store

import (
	"encoding/json"
	"errors"
	"io/fs"
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
	if e, err := s.Lookup(r.Key); err != nil || e.State != Done || !reflect.DeepEqual(e.Record, r) {
		t.Fatalf("Lookup after Put = %+v, %v; want Done with the record", e, err)
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
	os.WriteFile(filepath.Join(dir, ".tmp-x.json-1-2-host-abcd1234"), []byte("partial"), 0o644)
	os.WriteFile(filepath.Join(dir, ".claim-x.json"), []byte(`{"pid":1}`), 0o644)
	os.WriteFile(filepath.Join(dir, ".takeover-x.json"), []byte(`{"pid":1}`), 0o644)
	os.Mkdir(filepath.Join(dir, quarantineDir), 0o755)
	os.WriteFile(filepath.Join(dir, quarantineDir, "q.json"), []byte("{"), 0o644)
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
		if _, err := os.Stat(p.Path); err != nil {
			t.Errorf("All moved or removed a bad file (reports only read): %v", err)
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
	defer swap(&openFile, func(name string, flag int, perm os.FileMode) (tempFile, error) {
		f, err := os.OpenFile(name, flag, perm)
		return fullDisk{f}, err
	})()
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

// swap sets *v to x and returns a function that restores it.
func swap[T any](v *T, x T) func() {
	old := *v
	*v = x
	return func() { *v = old }
}

// An fsync of the directory after the rename that fails is returned, not ignored.
func TestPutReturnsDirectorySyncError(t *testing.T) {
	s, _ := Open(t.TempDir())
	defer swap(&syncDir, func(string) error { return syscall.EIO })()
	if err := s.Put(sample("k")); err == nil || !strings.Contains(err.Error(), "input/output error") {
		t.Fatalf("Put with a failing directory fsync: err = %v, want the EIO", err)
	}
}

func TestPutRejectsBadKeys(t *testing.T) {
	s, _ := Open(t.TempDir())
	for _, k := range []string{"", ".hidden", "a/b", `a\b`} {
		if err := s.Put(sample(k)); err == nil {
			t.Errorf("Put accepted key %q", k)
		}
	}
}

func writeRaw(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLookupStates(t *testing.T) {
	dir := t.TempDir()
	s, _ := Open(dir)
	if e, err := s.Lookup("none"); err != nil || e.State != Absent || e.Record != nil {
		t.Fatalf("missing key: %+v, %v; want Absent", e, err)
	}
	for status, want := range map[string]State{StatusOK: Done, StatusDiverged: Done, StatusFailed: Retry} {
		r := sample("k-" + status)
		r.Status = status
		if err := s.Put(r); err != nil {
			t.Fatal(err)
		}
		e, err := s.Lookup(r.Key)
		if err != nil || e.State != want || e.Record == nil || e.Record.Status != status {
			t.Fatalf("status %s: %+v, %v; want %v with the record", status, e, err, want)
		}
		if want.NeedsRun() != (status == StatusFailed) {
			t.Errorf("%v.NeedsRun() = %v", want, want.NeedsRun())
		}
		if _, err := os.Stat(s.path(r.Key)); err != nil {
			t.Errorf("status %s: the record was not kept: %v", status, err)
		}
	}
	// The rerun of a failed cell replaces its record.
	r := sample("k-" + StatusFailed)
	if err := s.Put(r); err != nil {
		t.Fatal(err)
	}
	if e, _ := s.Lookup(r.Key); e.State != Done {
		t.Fatalf("after rerunning a failed cell: %v, want done", e.State)
	}
}

func TestLookupQuarantinesCorruptRecords(t *testing.T) {
	dir := t.TempDir()
	s, _ := Open(dir)
	good := string(mustMarshal(t, sample("other")))
	wrongSchema := strings.Replace(good, `"schema":1`, `"schema":99`, 1)
	badStatus := strings.Replace(good, `"status":"ok"`, `"status":"running"`, 1)
	cases := map[string]struct{ content, want string }{
		"truncated":  {`{"schema":1,"key":"truncated","meth`, "unexpected EOF"},
		"empty":      {``, "EOF"},
		"notjson":    {`hello`, "invalid character"},
		"schema":     {strings.Replace(wrongSchema, `"key":"other"`, `"key":"schema"`, 1), "schema 99"},
		"mismatch":   {good, `does not match record key "other"`},
		"badstatus":  {strings.Replace(badStatus, `"key":"other"`, `"key":"badstatus"`, 1), `unknown record status "running"`},
		"incomplete": {`{"schema":1,"key":"incomplete"}`, "lacks key, method or dataset"},
	}
	for key, c := range cases {
		p := writeRaw(t, dir, key+".json", c.content)
		e, err := s.Lookup(key)
		if err != nil || e.State != Corrupt || e.Problem == nil || !strings.Contains(e.Problem.Error(), c.want) {
			t.Fatalf("%s: %+v, %v; want Corrupt with %q", key, e, err, c.want)
		}
		q := filepath.Join(dir, quarantineDir, key+".json")
		if e.Quarantined != q || string(mustRead(t, q)) != c.content {
			t.Errorf("%s: quarantined at %q, want %s with the original content", key, e.Quarantined, q)
		}
		if reason := string(mustRead(t, q+".reason")); !strings.Contains(reason, c.want) || !strings.Contains(reason, p) {
			t.Errorf("%s: reason file %q lacks the error", key, reason)
		}
		if _, err := os.Stat(p); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s: the corrupt file is still in the store", key)
		}
		if e, err := s.Lookup(key); err != nil || e.State != Absent {
			t.Errorf("%s after quarantine: %v, %v; want absent", key, e.State, err)
		}
	}
	// A second corrupt file of the same key does not overwrite the first one in the quarantine.
	writeRaw(t, dir, "truncated.json", "{")
	if e, _ := s.Lookup("truncated"); e.State != Corrupt || e.Quarantined != filepath.Join(dir, quarantineDir, "truncated.json.1") {
		t.Fatalf("second quarantine of a key: %+v", e)
	}
	if string(mustRead(t, filepath.Join(dir, quarantineDir, "truncated.json"))) != cases["truncated"].content {
		t.Error("the first quarantined file was overwritten")
	}
	recs, probs, err := s.All()
	if err != nil || len(recs) != 0 || len(probs) != 0 {
		t.Errorf("All after quarantining: %v, %v, %v; want nothing (the quarantine is not listed)", recs, probs, err)
	}
}

// Another process that quarantines the file first, or replaces it with a valid record, between
// Lookup's read and its move: Lookup looks again and neither loses the valid record nor fails.
func TestLookupRacesWithOtherProcesses(t *testing.T) {
	dir := t.TempDir()
	s, _ := Open(dir)

	p := writeRaw(t, dir, "gone.json", "{")
	restore := swap(&beforeQuarantine, func() { os.Rename(p, filepath.Join(t.TempDir(), "x")) })
	e, err := s.Lookup("gone")
	restore()
	if err != nil || e.State != Absent {
		t.Fatalf("file moved away by another process: %+v, %v; want absent", e, err)
	}

	p = writeRaw(t, dir, "fixed.json", "{")
	restore = swap(&beforeQuarantine, func() {
		beforeQuarantine = func() {}
		if err := s.Put(sample("fixed")); err != nil {
			t.Error(err)
		}
	})
	e, err = s.Lookup("fixed")
	restore()
	if err != nil || e.State != Done || e.Record.Key != "fixed" {
		t.Fatalf("file replaced by a valid record: %+v, %v; want done", e, err)
	}
	if _, err := ReadFile(p); err != nil {
		t.Fatalf("the valid record is no longer in place: %v", err)
	}
	if m, _ := filepath.Glob(filepath.Join(dir, quarantineDir, "fixed*")); len(m) != 0 {
		t.Errorf("quarantine holds %v, want nothing of the valid record", m)
	}
}

func TestQuarantine(t *testing.T) {
	dir := t.TempDir()
	s, _ := Open(dir)
	if err := s.Quarantine(filepath.Join(dir, "missing.json"), errors.New("x")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Quarantine of a missing file: %v, want ErrNotExist", err)
	}
	p := writeRaw(t, dir, "a.json", "junk")
	if err := s.Quarantine(p, errors.New("bad bytes")); err != nil {
		t.Fatal(err)
	}
	if got := string(mustRead(t, filepath.Join(dir, quarantineDir, "a.json.reason"))); !strings.HasPrefix(got, "bad bytes\n") {
		t.Errorf("reason file %q", got)
	}
}

// The deprecated Has now means "done".
func mustMarshal(t *testing.T, r *Record) []byte {
	r.Schema = SchemaVersion
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
