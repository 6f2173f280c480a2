package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// runOS runs the command line as main does, on the process's standard output and error (the tests
// written before run took its writers call it; captureStdout reads what it prints).
func runOS(args []string) int { return run(os.Stdout, os.Stderr, args) }

// Bad input on the command line is a one-line error and exit code 2, and writes nothing.
func TestBadInputExitsWithTwo(t *testing.T) {
	dir := t.TempDir()
	res := filepath.Join(dir, "results")
	cases := map[string][]string{
		"unknown method":    {"run", "--methods", "jiont", "--results", res},
		"unknown dataset":   {"run", "--dataset", "imagenet", "--results", res},
		"malformed mixture": {"run", "--dataset", "synthetic:mix=0.5R+0.2S", "--results", res},
		"mixture syntax":    {"run", "--dataset", "synthetic:mix", "--results", res},
		"zero seeds":        {"run", "--seeds", "0", "--results", res},
		"negative seeds":    {"run", "--seeds", "-3", "--results", res},
		"unknown set key":   {"run", "--methods", "joint", "--set", "joint.alpha=1", "--results", res},
		"set for absent":    {"run", "--methods", "joint", "--set", "ensemble.x=1", "--results", res},
		"bad set value":     {"run", "--methods", "joint", "--set", "joint.fusion=deep", "--results", res},
		"unknown encoder":   {"run", "--encoder", "resnet50", "--results", res},
		"unknown command":   {"train"},
		"unknown flag":      {"run", "--epoch", "3"},
		"zero epochs":       {"run", "--epochs", "0", "--results", res},
		"unknown device":    {"run", "--device", "tpu", "--methods", "joint", "--seeds", "1", "--epochs", "1", "--results", res},
	}
	for name, args := range cases {
		if code := runOS(args); code != 2 {
			t.Errorf("%s: bench %v exited %d, want 2", name, args, code)
		}
	}
	if _, err := os.Stat(res); err == nil {
		t.Fatal("bad input created the results store")
	}
}

func TestParseSeeds(t *testing.T) {
	s, err := parseSeeds("3")
	if err != nil || len(s) != 3 || s[0] != 1 || s[2] != 3 {
		t.Fatalf("parseSeeds(3) = %v, %v", s, err)
	}
	s, err = parseSeeds("7, 2")
	if err != nil || len(s) != 2 || s[0] != 7 || s[1] != 2 {
		t.Fatalf("parseSeeds(7, 2) = %v, %v", s, err)
	}
	for _, bad := range []string{"0", "-1", "x", "1,1", "1,-2"} {
		if _, err := parseSeeds(bad); err == nil {
			t.Errorf("parseSeeds(%q) accepted", bad)
		}
	}
}

func TestSplitSpecs(t *testing.T) {
	got := strings.Join(splitSpecs("synthetic:mix=S,train=500, boolean:mix=AND+XOR,d=8,rosmap"), " | ")
	want := "synthetic:mix=S,train=500 | boolean:mix=AND+XOR,d=8 | rosmap"
	if got != want {
		t.Fatalf("splitSpecs = %q, want %q", got, want)
	}
}
