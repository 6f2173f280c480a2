package main

// Golden tests of the command line: what `bench report` (every format), `bench regress` (a pass and
// a failure), `bench list`, `bench interactions` and `bench run` on a finished store print, and the
// errors of bad input, compared byte for byte with testdata/*.golden.
//
// Regenerate the files after an intended change of the output, and review their diff:
//
//	go test ./cmd/bench -run Golden -update
//
// The outputs are deterministic: the records are generated in the test from fixed numbers (no
// training), the Boolean datasets of `interactions` are generated from a fixed seed and their PID
// is pure Go, and normalise replaces what depends on the machine: the test's temporary directory
// becomes $TMP, and on standard error (log lines) durations such as "in 1.2s" become <duration>.
// BENCH_DATA_DIR is cleared, so flag defaults do not depend on the environment.

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mmfusion/bench/bench/store"
	"github.com/mmfusion/bench/reports"
)

var update = flag.Bool("update", false, "rewrite cmd/bench/testdata/*.golden with the current output")

// cliResult is one command line's outcome, normalised.
type cliResult struct {
	code           int
	stdout, stderr string
}

// runCLI runs a command line with captured output; tmp (when not empty) is replaced by $TMP.
func runCLI(t *testing.T, tmp string, args ...string) cliResult {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(&stdout, &stderr, args)
	return cliResult{code: code, stdout: normalise(stdout.String(), tmp, false), stderr: normalise(stderr.String(), tmp, true)}
}

// durationRE matches a Go duration as time.Duration prints it ("0s", "1.2s", "340ms", "1m2.5s").
var durationRE = regexp.MustCompile(`\b(\d+h)?(\d+m)?\d+(\.\d+)?(ns|µs|us|ms|s)\b`)

// normalise makes an output independent of where and how fast the test ran: the temporary directory
// tmp becomes $TMP (also when resolved through symbolic links), and on log output (stderr) every
// duration becomes <duration>.
func normalise(s, tmp string, log bool) string {
	if tmp != "" {
		if real, err := filepath.EvalSymlinks(tmp); err == nil && real != tmp {
			s = strings.ReplaceAll(s, real, "$TMP")
		}
		s = strings.ReplaceAll(s, tmp, "$TMP")
	}
	if log {
		s = durationRE.ReplaceAllString(s, "<duration>")
	}
	return s
}

// golden compares got with testdata/name, or rewrites the file with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (create it: go test ./cmd/bench -run Golden -update)", err)
	}
	if got != string(want) {
		t.Errorf("output differs from %s (if the change is intended: go test ./cmd/bench -run Golden -update, and review the diff)\n%s",
			path, lineDiff(string(want), got))
	}
}

// lineDiff lists the first lines where want and got differ.
func lineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b strings.Builder
	shown := 0
	for i := 0; i < max(len(w), len(g)) && shown < 10; i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			fmt.Fprintf(&b, "line %d:\n  want %q\n  got  %q\n", i+1, wl, gl)
			shown++
		}
	}
	return b.String()
}

// transcript is a command line and its outcome as one golden text; tmp in the arguments is $TMP.
func transcript(tmp string, args []string, r cliResult) string {
	return fmt.Sprintf("$ bench %s\nexit %d\n--- stdout\n%s--- stderr\n%s", normalise(strings.Join(args, " "), tmp, false),
		r.code, r.stdout, r.stderr)
}

// goldenRecord is one generated record: the accuracies are fixed numbers, so every table is too.
func goldenRecord(method, dataset string, seed int64, acc float64, status string) *store.Record {
	r := &store.Record{Schema: store.SchemaVersion, Key: fmt.Sprintf("%s-%s-s%d", method, strings.NewReplacer(":", "_", "=", "_").Replace(dataset), seed),
		Status: status, Method: method, Label: method, Dataset: dataset, Encoder: "mlp", Seed: seed, NumClasses: 2,
		Selection: "best-val-acc", BestEpoch: 4,
		Train:       store.TrainConfig{Optimizer: "sgd", LR: 0.01, Momentum: 0.9, WeightDecay: 1e-4, BatchSize: 64, Epochs: 5},
		WallSeconds: 1.5, Finished: time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)}
	switch status {
	case store.StatusOK:
		r.Test = store.Metrics{Acc: acc, MacroF1: acc - 0.01}
		r.Val = store.Metrics{Acc: acc + 0.005}
	case store.StatusDiverged:
		r.Reason = "loss became NaN in epoch 3"
	case store.StatusFailed:
		r.Reason = "out of memory"
	}
	return r
}

// goldenStore writes a small store: three methods on two datasets, three seeds each; one seed of
// ensemble on mix=R diverged, and one of agm failed. shift is added to every accuracy.
func goldenStore(t *testing.T, dir string, shift float64) {
	t.Helper()
	acc := map[string][2][3]float64{ // method → dataset → seed
		"joint":    {{0.812, 0.824, 0.806}, {0.701, 0.688, 0.713}},
		"ensemble": {{0.795, 0.801, 0.789}, {0.722, 0.731, 0}},
		"agm":      {{0.640, 0.652, 0}, {0.655, 0.649, 0.661}},
	}
	st, err := store.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{"joint", "ensemble", "agm"} {
		for d, ds := range []string{"synthetic:mix=S", "synthetic:mix=R"} {
			for s := range 3 {
				status := store.StatusOK
				switch {
				case m == "ensemble" && d == 1 && s == 2:
					status = store.StatusDiverged
				case m == "agm" && d == 0 && s == 2:
					status = store.StatusFailed
				}
				if err := st.Put(goldenRecord(m, ds, int64(s+1), acc[m][d][s]+shift, status)); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
}

// goldenFormats are the formats of bench report with a golden file: the four it always had, and any
// Render gains later (reports.Formats).
func goldenFormats() []string {
	fs := []string{"md", "latex", "csv", "json"}
	for _, f := range reports.Formats {
		if !slices.Contains(fs, f) {
			fs = append(fs, f)
		}
	}
	return fs
}

func TestGoldenReport(t *testing.T) {
	tmp := t.TempDir()
	res := filepath.Join(tmp, "results")
	goldenStore(t, res, 0)
	for _, f := range goldenFormats() {
		args := []string{"report", "--format", f, "--results", res}
		r := runCLI(t, tmp, args...)
		if r.code != 0 {
			t.Errorf("bench %v: exit %d\n%s", args, r.code, r.stderr)
		}
		golden(t, "report-"+f+".golden", r.stdout)
		if r.stderr != "" {
			t.Errorf("bench %v wrote to stderr:\n%s", args, r.stderr)
		}
	}
	// --metric and --decimals, once.
	args := []string{"report", "--metric", "macro_f1", "--decimals", "2", "--results", res}
	r := runCLI(t, tmp, args...)
	if r.code != 0 {
		t.Errorf("bench %v: exit %d\n%s", args, r.code, r.stderr)
	}
	golden(t, "report-md-macro_f1.golden", r.stdout)
}

// The leaderboard bench run prints at the end of a sweep (the terminal table; a buffer is not a
// terminal, so it is drawn in plain ASCII), here of a grid whose cells are all in the store: nothing
// trains. The records are written under the keys the dry run plans.
func TestGoldenRunLeaderboard(t *testing.T) {
	tmp := t.TempDir()
	res := filepath.Join(tmp, "results")
	grid := []string{"run", "--methods", "joint,ensemble", "--dataset", "synthetic:mix=S,train=60,val=20,test=20", "--seeds", "2",
		"--epochs", "1", "--results", res}
	dry := runCLI(t, tmp, append(grid, "--dry-run")...)
	if dry.code != 0 {
		t.Fatalf("--dry-run: exit %d\n%s", dry.code, dry.stderr)
	}
	st, err := store.Open(res)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, line := range strings.Split(dry.stdout, "\n") {
		f := strings.Fields(line)
		if len(f) < 6 || f[0] != "run" {
			continue
		}
		method, seed := f[1], int64(0)
		fmt.Sscan(f[len(f)-2], &seed)
		r := goldenRecord(method, f[2], seed, 0.7+0.05*float64(n%3), store.StatusOK)
		r.Key = f[len(f)-1]
		if err := st.Put(r); err != nil {
			t.Fatal(err)
		}
		n++
	}
	if n != 4 {
		t.Fatalf("the dry run planned %d cells, want 4:\n%s", n, dry.stdout)
	}
	r := runCLI(t, tmp, grid...)
	if r.code != 0 {
		t.Fatalf("bench run: exit %d\n%s", r.code, r.stderr)
	}
	golden(t, "run-leaderboard.golden", transcript(tmp, grid, r))
}

func TestGoldenRegress(t *testing.T) {
	tmp := t.TempDir()
	res, better := filepath.Join(tmp, "results"), filepath.Join(tmp, "better")
	goldenStore(t, res, 0)
	goldenStore(t, better, 0.05) // every accuracy 5 points higher: the results store drops against it
	base, high := filepath.Join(tmp, "baseline.json"), filepath.Join(tmp, "high.json")
	var out strings.Builder
	for _, c := range []struct {
		args []string
		code int
	}{
		{[]string{"regress", "--update", "--baseline", base, "--results", res}, 0},
		{[]string{"regress", "--baseline", base, "--results", res}, 0},
		{[]string{"regress", "--update", "--baseline", high, "--results", better}, 0},
		{[]string{"regress", "--baseline", high, "--results", res}, 1},
		{[]string{"regress", "--baseline", high, "--results", res, "--format", "json"}, 1},
	} {
		r := runCLI(t, tmp, c.args...)
		if r.code != c.code {
			t.Errorf("bench %v: exit %d, want %d\n%s", c.args, r.code, c.code, r.stderr)
		}
		out.WriteString(transcript(tmp, c.args, r) + "\n")
	}
	golden(t, "regress.golden", out.String())
}

func TestGoldenList(t *testing.T) {
	for _, c := range []struct {
		name string
		args []string
	}{{"list.golden", []string{"list"}}, {"list-recipes.golden", []string{"list", "--recipes"}}} {
		r := runCLI(t, "", c.args...)
		if r.code != 0 || r.stderr != "" {
			t.Errorf("bench %v: exit %d\n%s", c.args, r.code, r.stderr)
		}
		golden(t, c.name, r.stdout)
	}
}

func TestGoldenInteractions(t *testing.T) {
	args := []string{"interactions", "--dataset", "boolean:mix=AND+XOR", "--dataset", "boolean:mix=OR", "--dataset", "boolean:mix=AND+OR+XOR",
		"--split", "test", "--bootstrap", "20"}
	r := runCLI(t, "", args...)
	if r.code != 0 || r.stderr != "" {
		t.Errorf("bench %v: exit %d\n%s", args, r.code, r.stderr)
	}
	golden(t, "interactions.golden", transcript("", args, r))
}

// Bad input: exit 2, the error on stderr, nothing on stdout, nothing written.
func TestGoldenBadInput(t *testing.T) {
	t.Setenv("BENCH_DATA_DIR", "")
	tmp := t.TempDir()
	empty := filepath.Join(tmp, "empty") // an existing store without records
	if err := os.Mkdir(empty, 0o755); err != nil {
		t.Fatal(err)
	}
	res := filepath.Join(tmp, "results") // must never be created
	cases := [][]string{
		{},
		{"train"},
		{"list", "--bogus"},
		{"run", "--methods", "jiont", "--results", res},
		{"run", "--dataset", "imagenet", "--results", res},
		{"run", "--dataset", "synthetic:mix=0.5R+0.2S", "--results", res},
		{"run", "--seeds", "0", "--results", res},
		{"run", "--seeds", "1,1", "--results", res},
		{"run", "--methods", "joint", "--set", "joint.alpha=1", "--results", res},
		{"run", "--methods", "joint", "--set", "joint.fusion=deep", "--results", res},
		{"run", "--encoder", "resnet50", "--results", res},
		{"run", "--device", "tpu", "--results", res},
		{"run", "--prefetch", "100", "--results", res},
		{"run", "--launcher", "pbs", "--results", res},
		{"run", "--results", res, "extra"},
		{"tune", "--seeds", "1,2", "--tune-seed", "2", "--results", res},
		{"report", "--format", "html", "--results", res},
		{"report", "--metric", "f1", "--results", res},
		{"report", "--results", res},
		{"report", "--results", empty},
		{"regress", "--results", res},
		{"interactions"},
		{"interactions", "--dataset", "boolean", "--bootstrap", "1"},
		{"interactions", "--dataset", "imagenet"},
		{"dump", "--dataset", "synthetic"},
		{"dump", "--dataset", "synthetic", "--split", "dev", "--index", "0", "--out", filepath.Join(tmp, "dump")},
		{"merge", res},
		{"merge", "--into", filepath.Join(tmp, "into"), "--bogus", res},
		{"suite", "run", "nosuch", "--results", res},
		{"suite", "frobnicate"},
		{"export", "--out", filepath.Join(tmp, "export")},
	}
	var out strings.Builder
	for _, args := range cases {
		r := runCLI(t, tmp, args...)
		if r.code != 2 {
			t.Errorf("bench %v: exit %d, want 2\n%s", args, r.code, r.stderr)
		}
		if r.stdout != "" {
			t.Errorf("bench %v wrote to stdout:\n%s", args, r.stdout)
		}
		if r.stderr == "" {
			t.Errorf("bench %v: no error on stderr", args)
		}
		out.WriteString(transcript(tmp, args, r) + "\n")
	}
	entries, err := os.ReadDir(tmp)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Name() != "empty" {
			t.Errorf("bad input wrote %s", filepath.Join(tmp, e.Name()))
		}
	}
	if e, _ := os.ReadDir(empty); len(e) > 0 {
		t.Errorf("bad input wrote into %s: %v", empty, e)
	}
	golden(t, "errors.golden", out.String())
}
