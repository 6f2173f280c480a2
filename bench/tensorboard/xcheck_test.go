package tensorboard

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
)

// TestXCheckTensorBoard compares what TensorBoard read from bench's event files with what bench
// meant to write. scripts/xcheck/tensorboard.py (make xcheck) has the Go side train a tiny run with
// --tensorboard and write expected.json from the stored records (TestWriteXCheckEvents in
// cmd/bench), then reads the event files with TensorBoard 2.15's EventAccumulator and HParams
// plugin protos into scalars.json; both lie in $XCHECK_DIR, else in the committed golden copy
// testdata/xcheck/tensorboard. Every scalar (tag, step, float32 value), every hyper-parameter and
// each session's end status must be identical. Against the golden copy the committed event files
// are also read with this package's reader, which must agree with TensorBoard's reading.
func TestXCheckTensorBoard(t *testing.T) {
	dir := os.Getenv("XCHECK_DIR")
	golden := dir == ""
	if golden {
		dir = filepath.Join("testdata", "xcheck", "tensorboard")
	}
	load := func(name string) map[string]*RunData {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]*RunData
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return m
	}
	want, got := load("expected.json"), load("scalars.json")
	if err := sameRuns(got, want); err != nil {
		t.Fatalf("TensorBoard read something else than bench wrote: %v", err)
	}
	n, nh := 0, 0
	for _, r := range want {
		for _, pts := range r.Scalars {
			n += len(pts)
		}
		nh += len(r.HParams)
	}
	if n == 0 {
		t.Fatal("no scalars")
	}
	if golden { // our reader reads the committed files as TensorBoard did
		for run, tb := range got {
			files, _ := filepath.Glob(filepath.Join(dir, "events", filepath.FromSlash(run), "*tfevents*"))
			if len(files) != 1 {
				t.Fatalf("run %s: %d event files", run, len(files))
			}
			ours, err := ReadRun(files[0])
			if err != nil {
				t.Fatal(err)
			}
			if err := sameRuns(map[string]*RunData{run: ours}, map[string]*RunData{run: tb}); err != nil {
				t.Fatalf("our reader: %v", err)
			}
		}
	}
	t.Logf("XCHECK| TensorBoard event files (%d runs: scalars, HParams start/end) | tensorboard 2.15.1 EventAccumulator + hparams plugin_data_pb2 | %d scalars, %d hparams, %d statuses identical | all | ok |",
		len(want), n, nh, len(want))
}

// sameRuns says where got and want differ (nil when identical: same runs, tags, points, hparams
// and statuses; floats compared exactly).
func sameRuns(got, want map[string]*RunData) error {
	var errs []string
	for run := range want {
		if got[run] == nil {
			errs = append(errs, "missing run "+run)
		}
	}
	runs := make([]string, 0, len(got))
	for run := range got {
		runs = append(runs, run)
	}
	sort.Strings(runs)
	for _, run := range runs {
		g, w := got[run], want[run]
		if w == nil {
			errs = append(errs, "unexpected run "+run)
			continue
		}
		for _, tag := range sortedKeys(w.Scalars) {
			if !reflect.DeepEqual(g.Scalars[tag], w.Scalars[tag]) {
				errs = append(errs, fmt.Sprintf("%s %s: %v, want %v", run, tag, g.Scalars[tag], w.Scalars[tag]))
			}
		}
		for _, tag := range sortedKeys(g.Scalars) {
			if _, ok := w.Scalars[tag]; !ok {
				errs = append(errs, fmt.Sprintf("%s: unexpected tag %s", run, tag))
			}
		}
		if !reflect.DeepEqual(g.HParams, w.HParams) {
			errs = append(errs, fmt.Sprintf("%s hparams: %v, want %v", run, g.HParams, w.HParams))
		}
		if g.Status != w.Status {
			errs = append(errs, fmt.Sprintf("%s status %s, want %s", run, g.Status, w.Status))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%s", strings.Join(errs, "\n"))
	}
	return nil
}
