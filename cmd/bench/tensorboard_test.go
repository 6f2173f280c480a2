package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/mmfusion/bench/bench/store"
	"github.com/mmfusion/bench/bench/tensorboard"
)

// tbArgs is a tiny run of a plain and a staged method with readouts (dmi), writing TensorBoard files.
func tbArgs(res, tb string) []string {
	return strings.Fields("run --methods joint,dmi --dataset synthetic:train=200,val=100,test=100 --set dmi.stage1_epochs=2 --set dmi.stage2_epochs=2 --seeds 1 --epochs 6 --jobs 2 --threads 1 --results " +
		res + " --tensorboard " + tb)
}

// tbFiles maps each event file under root, by its path relative to root, to its size and mtime.
func tbFiles(t *testing.T, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	filepath.WalkDir(root, func(p string, e os.DirEntry, err error) error {
		if err == nil && strings.Contains(e.Name(), "tfevents") {
			fi, _ := e.Info()
			rel, _ := filepath.Rel(root, p)
			out[filepath.ToSlash(rel)] = fi.ModTime().String() + " " + fi.Name() + " " + string(rune(fi.Size()))
		}
		return nil
	})
	return out
}

// expectedRuns is what every stored record's event file must hold, by run directory (relative to
// the --tensorboard root), read from the store.
func expectedRuns(t *testing.T, res string) map[string]*tensorboard.RunData {
	t.Helper()
	st, err := store.Open(res)
	if err != nil {
		t.Fatal(err)
	}
	recs, _, err := st.All()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*tensorboard.RunData{}
	for _, r := range recs {
		out[tensorboard.RunName(r)] = tensorboard.Expected(r, r.Key)
	}
	return out
}

func TestTensorBoardFlag(t *testing.T) {
	dir := t.TempDir()
	res, tb := filepath.Join(dir, "results"), filepath.Join(dir, "tb")
	// A directory that cannot be made: exit 2 before anything is planned, trained or stored.
	file := filepath.Join(dir, "file")
	os.WriteFile(file, nil, 0o644)
	for _, cmd := range [][]string{tbArgs(res, filepath.Join(file, "tb")),
		{"tune", "--methods", "joint", "--budget", "1", "--seeds", "1", "--epochs", "1", "--results", res, "--tensorboard", filepath.Join(file, "tb")}} {
		if code := runOS(cmd); code != 2 {
			t.Fatalf("bench %v: exit %d, want 2", cmd, code)
		}
	}
	if _, err := os.Stat(res); err == nil {
		t.Fatal("a bad --tensorboard created the results store")
	}
	if code := runOS(tbArgs(res, tb)); code != 0 {
		t.Fatalf("run exited %d", code)
	}
	files := tbFiles(t, tb)
	want := expectedRuns(t, res)
	if len(files) != 2 || len(want) != 2 {
		t.Fatalf("event files %v for records %v: want one per cell", files, want)
	}
	for rel := range files {
		runDir := filepath.ToSlash(filepath.Dir(rel))
		exp, ok := want[runDir]
		if !ok {
			t.Fatalf("event file %s is in no record's run directory (%v)", rel, want)
		}
		got, err := tensorboard.ReadRun(filepath.Join(tb, rel))
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, exp) {
			t.Errorf("%s\n got %+v\nwant %+v", rel, got, exp)
		}
		if len(got.Scalars["train/loss"]) != 6 || len(got.Scalars["test/acc"]) != 1 || got.Status != "STATUS_SUCCESS" {
			t.Errorf("%s: %+v", rel, got)
		}
		if strings.HasPrefix(rel, "dmi") && (len(got.Scalars["train/stage"]) != 6 || len(got.Scalars["test/readout/dmi_gate_S"]) != 1) {
			t.Errorf("%s: no stages or DMI readouts: %v", rel, got.Scalars)
		}
	}
	if _, ok := want["dmi_stage1_epochs=2_stage2_epochs=2/synthetic_test=100_train=200_val=100/mlp/seed1"]; !ok {
		t.Errorf("run names %v", want)
	}
	// A rerun finds both cells stored: it trains nothing and writes no event file.
	if code := runOS(tbArgs(res, tb)); code != 0 {
		t.Fatalf("rerun exited %d", code)
	}
	if again := tbFiles(t, tb); !reflect.DeepEqual(again, files) {
		t.Fatalf("a rerun of stored cells changed the event files:\n%v\n%v", files, again)
	}
}

// TestWriteXCheckEvents is the Go half of make xcheck's tensorboard check (scripts/xcheck/tensorboard.py
// runs it): with XCHECK_EVENTS_DIR set it trains the tiny run above with --tensorboard
// $XCHECK_EVENTS_DIR/events and writes $XCHECK_EVENTS_DIR/expected.json, what each run's file
// must hold; the script then reads the files with TensorBoard itself.
func TestWriteXCheckEvents(t *testing.T) {
	out := os.Getenv("XCHECK_EVENTS_DIR")
	if out == "" {
		t.Skip("XCHECK_EVENTS_DIR not set (scripts/xcheck/tensorboard.py sets it)")
	}
	res := t.TempDir()
	if code := runOS(tbArgs(res, filepath.Join(out, "events"))); code != 0 {
		t.Fatalf("run exited %d", code)
	}
	b, err := json.MarshalIndent(expectedRuns(t, res), "", " ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(out, "expected.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
}
