package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestMain lets a test start this test binary as the bench command in a child process.
func TestMain(m *testing.M) {
	if args := os.Getenv("BENCH_TEST_CHILD_ARGS"); args != "" {
		os.Exit(runOS(strings.Split(args, " ")))
	}
	os.Exit(m.Run())
}

func jsonFiles(t *testing.T, dir string) []string {
	t.Helper()
	m, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	return m
}

// A sweep killed with SIGKILL part-way and rerun ends with every cell present exactly once and every
// file a valid record; nothing half-written is left.
func TestSweepSurvivesSIGKILL(t *testing.T) {
	res := filepath.Join(t.TempDir(), "results")
	args := "run --methods joint,ensemble --dataset synthetic:train=1500,val=200,test=200 --seeds 3 --epochs 12 --jobs 1 --threads 1 --results " + res
	child := exec.Command(os.Args[0], "-test.run=^$")
	child.Env = append(os.Environ(), "BENCH_TEST_CHILD_ARGS="+args)
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for len(jsonFiles(t, res)) < 2 {
		if time.Now().After(deadline) {
			child.Process.Kill()
			t.Fatal("the child wrote no two records within 60 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	child.Process.Signal(syscall.SIGKILL)
	child.Wait()
	killedAt := len(jsonFiles(t, res))
	if killedAt >= 6 {
		t.Fatalf("the sweep finished (%d records) before it was killed; make the cells slower", killedAt)
	}
	if code := runOS(strings.Split(args, " ")); code != 0 {
		t.Fatalf("rerun exited %d", code)
	}
	files := jsonFiles(t, res)
	if len(files) != 6 {
		t.Fatalf("%d records after the rerun, want 6 (2 methods × 3 seeds)", len(files))
	}
	seen := map[string]bool{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var r struct {
			Key, Method string
			Seed        int64
		}
		if err := json.Unmarshal(b, &r); err != nil {
			t.Fatalf("%s is not valid JSON: %v", f, err)
		}
		cell := r.Method + "/" + string(rune('0'+r.Seed))
		if seen[cell] || r.Key+".json" != filepath.Base(f) {
			t.Fatalf("cell %s twice or misnamed (%s)", cell, f)
		}
		seen[cell] = true
	}
	all, _ := os.ReadDir(res)
	if len(all) != 6 {
		t.Fatalf("store holds %d entries (temporary files left?), want 6", len(all))
	}
	t.Logf("killed after %d of 6 records; the rerun trained the other %d", killedAt, 6-killedAt)
}

// Ctrl-C (SIGINT) stops a sweep cleanly: the command exits non-zero, the finished cells are kept as
// valid records, the running ones leave nothing behind, and a rerun finishes only what is missing.
func TestSweepStopsCleanlyOnInterrupt(t *testing.T) {
	res := filepath.Join(t.TempDir(), "results")
	args := "run --methods joint,ensemble --dataset synthetic:train=1500,val=200,test=200 --seeds 3 --epochs 12 --jobs 2 --threads 1 --results " + res
	child := exec.Command(os.Args[0], "-test.run=^$")
	child.Env = append(os.Environ(), "BENCH_TEST_CHILD_ARGS="+args)
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for len(jsonFiles(t, res)) < 1 {
		if time.Now().After(deadline) {
			child.Process.Kill()
			t.Fatal("no record within 60 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	child.Process.Signal(os.Interrupt)
	err := child.Wait()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
		t.Fatalf("interrupted sweep exited with %v, want exit status 1", err)
	}
	kept := jsonFiles(t, res)
	all, _ := os.ReadDir(res)
	if len(all) != len(kept) {
		t.Fatalf("%d entries but %d records: something half-written was left", len(all), len(kept))
	}
	if len(kept) >= 6 {
		t.Fatalf("the sweep finished (%d records) before the interrupt; make the cells slower", len(kept))
	}
	for _, f := range kept {
		b, _ := os.ReadFile(f)
		if !json.Valid(b) {
			t.Fatalf("%s is not valid JSON", f)
		}
	}
	if code := runOS(strings.Split(args, " ")); code != 0 || len(jsonFiles(t, res)) != 6 {
		t.Fatalf("rerun exited %d with %d records, want 0 and 6", code, len(jsonFiles(t, res)))
	}
}
