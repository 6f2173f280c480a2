package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mmfusion/bench/bench"
	"github.com/mmfusion/bench/bench/data"
	"github.com/mmfusion/bench/suites"
)

// Every committed suite names registered methods (or lists them as pending), registered encoders and
// datasets, and --set values that parse.
func TestCommittedSuitesNameRegistered(t *testing.T) {
	all, err := suites.All()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range all {
		for _, m := range s.Methods {
			if _, err := bench.Methods.Lookup(m); err != nil {
				t.Errorf("%s: method %s: %v (mark it pending_methods if it is not written yet)", s.Name, m, err)
			}
		}
		for _, e := range s.Encoders {
			if _, err := bench.Encoders.Lookup(e); err != nil {
				t.Errorf("%s: %v", s.Name, err)
			}
		}
		for _, d := range s.Datasets {
			name, _, err := data.ParseSpec(d.Spec)
			if err == nil {
				_, err = data.Datasets.Lookup(name)
			}
			if err != nil {
				t.Errorf("%s: dataset %s: %v", s.Name, d.Spec, err)
			}
		}
		if _, err := bench.ParseSets(s.Sets); err != nil {
			t.Errorf("%s: %v", s.Name, err)
		}
	}
}

func TestSuiteList(t *testing.T) {
	var out, errb bytes.Buffer
	if err := suiteMain([]string{"list"}, &out, &errb); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if !strings.HasPrefix(lines[0], "suite ") || len(lines) != 1+len(suites.Names()) {
		t.Fatalf("list output:\n%s", out.String())
	}
	for i, n := range suites.Names() {
		if !strings.HasPrefix(lines[i+1], n+" ") {
			t.Errorf("line %d %q does not start with %s", i+1, lines[i+1], n)
		}
	}
	for _, want := range []string{"dmi/fig1", "none published", "pid", "CREMA-D,KS,UCF101"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("list lacks %q", want)
		}
	}
}

func writeSuite(t *testing.T, dir, body string) string {
	t.Helper()
	p := filepath.Join(dir, "tiny.json")
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

const tinySuite = `{
  "title": "tiny", "source": "test", "kind": "grid",
  "methods": ["joint", "ensemble"], "pending_methods": ["no-such-method"],
  "datasets": [
    {"label": "R", "spec": "synthetic:mix=R,train=200,val=100,test=200"},
    {"label": "S", "spec": "synthetic:mix=S,train=200,val=100,test=200"}
  ],
  "encoders": ["mlp"], "seeds": 2, "epochs": 2, "sets": ["mlp.hidden=16"],
  "paper": {"acc": {"joint": {"R": 99.5, "S": null}, "no-such-method": {"R": 12.5}}},
  "figure": "heatmap"
}`

// A bad suite, or a bad flag of suite run, exits 2 and writes nothing; missing data exits 3, lists
// every missing dataset and writes nothing.
func TestSuiteBadInput(t *testing.T) {
	dir := t.TempDir()
	res := filepath.Join(dir, "results")
	bad := writeSuite(t, dir, strings.Replace(tinySuite, `"ensemble"]`, `"ensembel"]`, 1))
	good := writeSuite(t, t.TempDir(), tinySuite)
	for name, args := range map[string][]string{
		"unknown suite":     {"suite", "run", "dmi/fig99", "--results", res},
		"unknown method":    {"suite", "run", bad, "--results", res},
		"bad set":           {"suite", "run", good, "--set", "joint.alpha=1", "--results", res},
		"method not in it":  {"suite", "run", good, "--methods", "dmi", "--results", res},
		"dataset not in it": {"suite", "run", good, "--datasets", "U", "--results", res},
		"no name":           {"suite", "run", "--results", res},
		"bad subcommand":    {"suite", "walk"},
		"bad spec":          {"suite", "run", good, "--spec", "Q=synthetic", "--results", res},
	} {
		if code := runOS(args); code != 2 {
			t.Errorf("%s: exit %d, want 2", name, code)
		}
	}
	if code := runOS([]string{"suite", "run", "dmi/tab2", "--data-dir", filepath.Join(dir, "empty"), "--results", res}); code != 3 {
		t.Errorf("missing data: exit %d, want 3", code)
	}
	if _, err := os.Stat(res); err == nil {
		t.Fatal("bad input created the results store")
	}
	var out, errb bytes.Buffer
	err := suiteMain([]string{"run", "dmi/tab2", "--data-dir", filepath.Join(dir, "empty"), "--results", res}, &out, &errb)
	if err == nil {
		t.Fatal("no error for missing data")
	}
	for _, want := range []string{"3 of 3 datasets unavailable", "missing: CREMA-D (cremad)", "missing: KS (ks)", "missing: UCF101 (ucf101)", filepath.Join(dir, "empty")} {
		if !strings.Contains(errb.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, errb.String())
		}
	}
}

// A tiny suite end to end: trains, prints ours (mean ± sd, n) beside the paper's, lists the
// unavailable method, draws the heatmap; a second run trains nothing (same store, resumable).
func TestSuiteRunTiny(t *testing.T) {
	if testing.Short() {
		t.Skip("trains 8 small cells")
	}
	dir := t.TempDir()
	res := filepath.Join(dir, "results")
	path := writeSuite(t, dir, tinySuite)
	var out, errb bytes.Buffer
	if err := suiteMain([]string{"run", path, "--results", res, "--jobs", "2", "--threads", "1"}, &out, &errb); err != nil {
		t.Fatalf("%v\n%s", err, errb.String())
	}
	got := out.String()
	for _, want := range []string{
		"| method | R ours | R paper | S ours | S paper |",
		"not available in this build: no-such-method",
		"| no-such-method | not available in this build | 12.5 | not available in this build | n/a |",
		"(n=2) | 99.5 |", "(n=2) | – |", " ± ",
		"figure: " + filepath.Join(res, "figures", "tiny.png"),
	} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
	b, err := os.ReadFile(filepath.Join(res, "figures", "tiny.png"))
	if err != nil || !bytes.HasPrefix(b, []byte("\x89PNG")) {
		t.Fatalf("heatmap not written as PNG: %v", err)
	}
	recs, err := loadRecords(res, os.Stderr)
	if err != nil || len(recs) != 8 {
		t.Fatalf("%d records (%v), want 2 methods × 2 datasets × 2 seeds", len(recs), err)
	}
	errb.Reset()
	out.Reset()
	if err := suiteMain([]string{"run", path, "--results", res}, &out, &errb); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(errb.String(), "0 trained, 8 skipped") {
		t.Errorf("rerun trained again:\n%s", errb.String())
	}
}
