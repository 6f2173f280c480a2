package tensorboard

import (
	"bytes"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/mmfusion/bench/bench/store"
	tbpb "github.com/mmfusion/bench/bench/tensorboard/proto"
)

// The CRC-32C check value of "123456789" is 0xe3069283 (the standard one for Castagnoli). Masked:
// (0xe3069283 >> 15 | 0xe3069283 << 17) mod 2^32 = 0x0001c60d | 0x25060000 = 0x2507c60d;
// + 0xa282ead8 = 0xc78ab0e5. The length header 09 00 00 00 00 00 00 00 has CRC-32C 0x872fcb77,
// masked 0x3971f937 (computed with a bitwise CRC-32C in Python). TensorBoard's own RecordWriter
// (tensorboard.summary.writer.record_writer, 2.15.1) frames the payload as the same 25 bytes.
func TestFramingKnownVector(t *testing.T) {
	if got := MaskedCRC([]byte("123456789")); got != 0xc78ab0e5 {
		t.Fatalf("masked CRC-32C of 123456789 = %08x, want c78ab0e5", got)
	}
	want, _ := hex.DecodeString("0900000000000000" + "37f97139" + hex.EncodeToString([]byte("123456789")) + "e5b08ac7")
	got := AppendRecord(nil, []byte("123456789"))
	if !bytes.Equal(got, want) {
		t.Fatalf("frame\n got %x\nwant %x", got, want)
	}
	recs, err := ReadRecords(bytes.NewReader(append(got, AppendRecord(nil, nil)...)))
	if err != nil || len(recs) != 2 || string(recs[0]) != "123456789" || len(recs[1]) != 0 {
		t.Fatalf("read back %q, %v", recs, err)
	}
}

func TestReadRecordsRejectsDamage(t *testing.T) {
	frame := AppendRecord(nil, []byte("hello"))
	for name, b := range map[string][]byte{
		"length CRC": append([]byte{frame[0] ^ 1}, frame[1:]...),
		"data CRC":   append(append(append([]byte{}, frame[:12]...), 'j'), frame[13:]...),
		"truncated":  frame[:len(frame)-1],
		"short head": frame[:5],
	} {
		if _, err := ReadRecords(bytes.NewReader(b)); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if _, err := ReadRecords(bytes.NewReader(frame[:len(frame)-1])); !strings.Contains(err.Error(), io.ErrUnexpectedEOF.Error()) {
		t.Errorf("truncated: %v", err)
	}
}

func TestSanitize(t *testing.T) {
	for in, want := range map[string]string{
		"joint":                    "joint",
		"joint[fusion=mlp]":        "joint_fusion=mlp",
		"joint (reference recipe)": "joint_reference_recipe",
		"synthetic:mix=S,train=50": "synthetic_mix=S_train=50",
		"synthetic:mix=0.5R+0.5S":  "synthetic_mix=0.5R+0.5S",
		"../x":                     "x",
		"..":                       "_",
		"a/b":                      "a_b",
		"é":                        "_",
	} {
		if got := Sanitize(in); got != want {
			t.Errorf("Sanitize(%q) = %q, want %q", in, got, want)
		}
	}
}

// fakeRecord is a finished cell with every kind of value the writer handles.
func fakeRecord() *store.Record {
	return &store.Record{Status: store.StatusOK, Method: "dmi", Label: "dmi[alpha=0.5]",
		MethodParams: map[string]string{"alpha": "0.5", "fusion": "concat", "warm": "true"},
		Dataset:      "synthetic:mix=S", DatasetParams: map[string]string{"mix": "S", "train": "500"},
		Encoder: "mlp", EncoderParams: map[string]string{"hidden": "32"}, Seed: 1,
		Train: store.TrainConfig{Optimizer: "sgd", LR: 0.01, Momentum: 0.9, WeightDecay: 1e-4, BatchSize: 64, Epochs: 3,
			Schedule: &store.Schedule{Kind: "step", StepSize: 2, Gamma: 0.1}},
		Curves: []store.EpochStats{
			{Epoch: 1, TrainLoss: 1.25, ValLoss: 1.1, ValAcc: 0.5, ValF1: 0.4, Stage: 1, LR: 0.01},
			{Epoch: 2, TrainLoss: 0.75, ValLoss: 0.9, ValAcc: 0.625, ValF1: 0.6, Stage: 2, LR: 0.01},
			{Epoch: 3, TrainLoss: 0.5, ValLoss: 0.95, ValAcc: 0.6, ValF1: 0.55, Stage: 2, LR: 0.001},
		},
		BestEpoch: 2,
		Val:       store.Metrics{Acc: 0.625, MacroF1: 0.6, Loss: 0.9, Extra: map[string]float64{"dmi_gate_S": 0.3}},
		Test: store.Metrics{Acc: 0.7, MacroF1: 0.68, Loss: 0.8, PerModality: map[string]float64{"m1": 0.55, "m2": 0.6},
			Extra: map[string]float64{"dmi_gate_S": 0.31, "dmi_gate_T1": 0.2}},
	}
}

func fixedClock() func() time.Time {
	t := time.Unix(1767225600, 0)
	return func() time.Time { t = t.Add(250 * time.Millisecond); return t }
}

// writeCell writes r's event file as the sweep does: start, one epoch at a time, finish.
func writeCell(t *testing.T, root string, r *store.Record, key string) *Cell {
	t.Helper()
	c, err := StartCell(root, r, key, fixedClock())
	if err != nil {
		t.Fatal(err)
	}
	for _, es := range r.Curves {
		if err := c.Epoch(es); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Finish(r); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestCellRoundTrip(t *testing.T) {
	root := t.TempDir()
	r := fakeRecord()
	key := "dmi-synthetic-mix-S-mlp-s1_0123456789abcdef"
	c := writeCell(t, root, r, key)
	wantPath := filepath.Join(root, "dmi_alpha=0.5", "synthetic_mix=S", "mlp", "seed1",
		"events.out.tfevents.1767225600."+hostname()+".0123456789abcdef")
	if c.Path() != wantPath {
		t.Fatalf("path %s, want %s", c.Path(), wantPath)
	}
	evs, err := ReadEvents(c.Path())
	if err != nil {
		t.Fatal(err)
	}
	// file version, session start, 3 epochs, final scalars, session end
	if len(evs) != 7 {
		t.Fatalf("%d events, want 7", len(evs))
	}
	if evs[0].GetSourceMetadata().GetWriter() == "" || evs[0].GetWallTime() != 1767225600.5 {
		t.Errorf("first event %v", evs[0])
	}
	for i := 1; i < len(evs); i++ {
		if evs[i].GetWallTime() <= evs[i-1].GetWallTime() {
			t.Errorf("event %d wall time %v not after %v", i, evs[i].GetWallTime(), evs[i-1].GetWallTime())
		}
	}
	if s := evs[1].GetSummary().GetValue()[0]; s.GetTag() != TagSessionStart || s.GetMetadata().GetPluginData().GetPluginName() != "hparams" {
		t.Errorf("second event %v", evs[1])
	}
	if s := evs[6].GetSummary().GetValue()[0]; s.GetTag() != TagSessionEnd {
		t.Errorf("last event %v", evs[6])
	}
	got, err := ReadRun(c.Path())
	if err != nil {
		t.Fatal(err)
	}
	want := Expected(r, key)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("read back\n got %+v\nwant %+v", got, want)
	}
	// Spot checks against the record itself, not through Expected.
	f32 := func(v float64) float64 { return float64(float32(v)) }
	for tag, pts := range map[string][]Point{
		"train/loss":               {{1, 1.25}, {2, 0.75}, {3, 0.5}},
		"val/acc":                  {{1, 0.5}, {2, 0.625}, {3, f32(0.6)}},
		"val/f1":                   {{1, f32(0.4)}, {2, f32(0.6)}, {3, f32(0.55)}},
		"train/lr":                 {{1, f32(0.01)}, {2, f32(0.01)}, {3, f32(0.001)}},
		"train/stage":              {{1, 1}, {2, 2}, {3, 2}},
		"test/acc":                 {{2, f32(0.7)}},
		"test/f1":                  {{2, f32(0.68)}},
		"test/acc/m2":              {{2, f32(0.6)}},
		"test/readout/dmi_gate_T1": {{2, f32(0.2)}},
		"val/readout/dmi_gate_S":   {{2, f32(0.3)}},
		"val/best_acc":             {{2, 0.625}},
	} {
		if !reflect.DeepEqual(got.Scalars[tag], pts) {
			t.Errorf("%s = %v, want %v", tag, got.Scalars[tag], pts)
		}
	}
	for k, v := range map[string]any{"method": "dmi", "seed": 1.0, "lr": 0.01, "dmi.alpha": 0.5, "dmi.fusion": "concat",
		"dmi.warm": true, "mlp.hidden": 32.0, "synthetic.mix": "S", "schedule": "step", "recipe": "shared", "key": key} {
		if got.HParams[k] != v {
			t.Errorf("hparam %s = %#v, want %#v", k, got.HParams[k], v)
		}
	}
	if got.Status != "STATUS_SUCCESS" {
		t.Errorf("status %s", got.Status)
	}
}

func TestTrialAndFailedCells(t *testing.T) {
	root := t.TempDir()
	trial := fakeRecord()
	trial.Trial, trial.Test = 4, store.Metrics{}
	c := writeCell(t, root, trial, "trialkey0000000")
	if !strings.Contains(c.Path(), filepath.FromSlash("/seed1/trial4/")) {
		t.Errorf("trial path %s", c.Path())
	}
	d, _ := ReadRun(c.Path())
	if _, ok := d.Scalars["test/acc"]; ok || d.HParams["trial"] != 4.0 || d.Status != "STATUS_SUCCESS" {
		t.Errorf("trial: %+v", d)
	}
	failed := fakeRecord()
	failed.Status, failed.Seed, failed.BestEpoch, failed.Curves = store.StatusDiverged, 2, 0, failed.Curves[:1]
	c = writeCell(t, root, failed, "failedkey000000")
	d, _ = ReadRun(c.Path())
	if _, ok := d.Scalars["test/acc"]; ok || d.Status != "STATUS_FAILURE" || len(d.Scalars["train/loss"]) != 1 {
		t.Errorf("diverged: %+v", d)
	}
}

func eventFiles(t *testing.T, root string) []string {
	var out []string
	filepath.WalkDir(root, func(p string, e os.DirEntry, err error) error {
		if err == nil && strings.Contains(e.Name(), "tfevents") {
			out = append(out, p)
		}
		return nil
	})
	return out
}

func TestRunDirectories(t *testing.T) {
	root := t.TempDir()
	r := fakeRecord()
	first := writeCell(t, root, r, "aaaaaaaaaaaaaaaa")
	// The same cell again (a forced rerun, same second): its new file replaces the old one.
	again := writeCell(t, root, r, "aaaaaaaaaaaaaaaa")
	if files := eventFiles(t, root); len(files) != 1 || files[0] != again.Path() || filepath.Dir(first.Path()) != filepath.Dir(again.Path()) {
		t.Fatalf("after a rerun: %v (first %s)", files, first.Path())
	}
	// Another configuration with the same run name gets its own directory.
	other := writeCell(t, root, r, "bbbbbbbbbbbbbbbb")
	if filepath.Base(filepath.Dir(other.Path())) != "seed1-bbbbbbbb" {
		t.Fatalf("other cell in %s", other.Path())
	}
	// An interrupted cell leaves nothing.
	c, err := StartCell(root, r, "cccccccccccccccc", nil)
	if err != nil {
		t.Fatal(err)
	}
	c.Epoch(r.Curves[0])
	c.Abort()
	if files := eventFiles(t, root); len(files) != 2 {
		t.Fatalf("after an abort: %v", files)
	}
	var nilCell *Cell // --tensorboard not given
	if nilCell.Epoch(r.Curves[0]) != nil || nilCell.Finish(r) != nil || nilCell.Path() != "" {
		t.Fatal("nil cell did something")
	}
	nilCell.Abort()
}

func TestCheckDir(t *testing.T) {
	root := t.TempDir()
	if err := CheckDir(filepath.Join(root, "a", "b")); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(root, "file")
	os.WriteFile(file, nil, 0o644)
	if err := CheckDir(filepath.Join(file, "sub")); err == nil {
		t.Fatal("a directory under a file was accepted")
	}
	if err := CheckDir(""); err == nil {
		t.Fatal("empty accepted")
	}
}

func TestSessionStartRejectsOddValues(t *testing.T) {
	w, err := NewWriter(io.Discard, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.SessionStart(map[string]any{"x": []int{1}}, "", time.Now()); err == nil {
		t.Fatal("a slice hparam was accepted")
	}
	if err := w.SessionEnd(tbpb.Status_STATUS_SUCCESS, time.Now()); err != nil {
		t.Fatal(err)
	}
}
