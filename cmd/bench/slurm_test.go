package main

import (
	"context"
	"errors"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mmfusion/bench/bench/sweep"
)

// runFlagSet is bench run's flag set as far as taskArgs needs it (value flags and a boolean).
func runFlagSet() (*flag.FlagSet, *slurmFlags) {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.String("methods", "all", "")
	fs.String("dataset", "synthetic", "")
	fs.String("seeds", "3", "")
	var sets listFlag
	fs.Var(&sets, "set", "")
	fs.Bool("force", false, "")
	fs.Bool("dry-run", false, "")
	fs.String("results", "results", "")
	fs.String("shard", "", "")
	fs.Int("epochs", 30, "")
	return fs, addSlurmFlags(fs)
}

// The task command line is the run's, less the launcher's flags, --dry-run and --results, in every
// spelling (--flag value, --flag=value, -flag); booleans take no value.
func TestTaskArgs(t *testing.T) {
	fs, _ := runFlagSet()
	args := []string{"--methods", "joint,ensemble", "--launcher=slurm", "--force", "--shards", "3", "-dry-run",
		"--slurm-opt", "--partition=gpu --gres=gpu:1", "--dataset=synthetic:mix=S", "--results", "/shared/res",
		"--set", "joint.fusion=mlp", "-epochs", "2"}
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	got := strings.Join(taskArgs(fs, args), " ")
	want := "--methods joint,ensemble --force --dataset=synthetic:mix=S --set joint.fusion=mlp -epochs 2"
	if got != want {
		t.Fatalf("taskArgs = %q\nwant       %q", got, want)
	}
}

func TestSlurmScript(t *testing.T) {
	job := slurmJob{Exe: "/opt/bench dir/bin/bench", Args: []string{"--methods", "joint", "--dataset", "synthetic:mix=S", "--set", "joint.note=it's a b"},
		Results: "/shared/my results", Dir: "/home/u/work", Shards: 4, Cells: 10,
		Opts: []string{"--partition=gpu --gres=gpu:1", `--time 1:00:00 --comment="two words"`}}
	text, err := job.script()
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{
		"#!/bin/bash",
		"#SBATCH --array=0-3",
		"#SBATCH --output='/shared/my results/slurm/%A_%a.out'",
		"#SBATCH --chdir=/home/u/work",
		"#SBATCH --partition=gpu",
		"#SBATCH --gres=gpu:1",
		"#SBATCH --time 1:00:00",
		"#SBATCH '--comment=two words'",
		`exec '/opt/bench dir/bin/bench' run --methods joint --dataset synthetic:mix=S --set 'joint.note=it'\''s a b' --shard "${SLURM_ARRAY_TASK_ID}/4" --results '/shared/my results'`,
	} {
		if !strings.Contains(text, line+"\n") {
			t.Errorf("script lacks the line\n  %s\nscript:\n%s", line, text)
		}
	}
	// The exec line, run by bash with the task id set, gives the binary exactly these arguments.
	exec1 := text[strings.Index(text, "exec "):]
	out, err := exec.Command("bash", "-c", "SLURM_ARRAY_TASK_ID=2; printf '%s\\n' "+strings.TrimPrefix(exec1, "exec ")).Output()
	if err != nil {
		t.Fatal(err)
	}
	want := "/opt/bench dir/bin/bench\nrun\n--methods\njoint\n--dataset\nsynthetic:mix=S\n--set\njoint.note=it's a b\n--shard\n2/4\n--results\n/shared/my results\n"
	if string(out) != want {
		t.Errorf("bash reads the exec line as\n%s\nwant\n%s", out, want)
	}
}

func TestSlurmFlagChecks(t *testing.T) {
	for _, c := range []struct {
		args  []string
		shard string
		ok    bool
	}{
		{[]string{"--launcher", "slurm", "--shards", "3"}, "", true},
		{[]string{"--launcher", "slurm"}, "", true},
		{[]string{"--launcher", "pbs"}, "", false},
		{[]string{"--shards", "3"}, "", false},
		{[]string{"--launcher", "slurm", "--shards", "3"}, "0/3", false},
		{[]string{"--launcher", "slurm", "--shards", "-1"}, "", false},
		{[]string{"--launcher", "slurm", "--slurm-opt", "--array=0-9"}, "", false},
		{[]string{"--launcher", "slurm", "--slurm-opt", "-o x.out"}, "", false},
		{[]string{"--launcher", "slurm", "--slurm-opt", "gpu"}, "", false},
		{[]string{"--launcher", "slurm", "--slurm-opt", "--comment='open"}, "", false},
	} {
		fs, sf := runFlagSet()
		if err := fs.Parse(c.args); err != nil {
			t.Fatal(err)
		}
		err := sf.check(c.shard)
		if (err == nil) != c.ok {
			t.Errorf("%v (--shard %q): check = %v, want ok %v", c.args, c.shard, err, c.ok)
		}
		var ue usageError
		if err != nil && !errors.As(err, &ue) {
			t.Errorf("%v: %v is not a usage error (exit 2)", c.args, err)
		}
	}
}

// bench run --launcher slurm: a bad grid exits 2 and writes nothing; --dry-run prints the script and
// writes nothing; without sbatch on PATH the error says so, before anything is written.
func TestRunSlurmLauncher(t *testing.T) {
	res := filepath.Join(t.TempDir(), "results")
	if code := runOS([]string{"run", "--methods", "jiont", "--launcher", "slurm", "--shards", "2", "--results", res}); code != 2 {
		t.Errorf("bad grid: exit %d, want 2", code)
	}
	grid := []string{"run", "--methods", "joint", "--dataset", "synthetic:train=40,val=20,test=20", "--seeds", "2", "--epochs", "1",
		"--launcher", "slurm", "--shards", "2", "--results", res}
	stdout := captureStdout(t, func() {
		if code := runOS(append(grid, "--dry-run")); code != 0 {
			t.Errorf("--dry-run: exit %d", code)
		}
	})
	if !strings.Contains(stdout, "#SBATCH --array=0-1\n") || !strings.Contains(stdout, `--shard "${SLURM_ARRAY_TASK_ID}/2"`) {
		t.Errorf("--dry-run printed\n%s", stdout)
	}
	old := slurmLookPath
	slurmLookPath = func(string) (string, error) { return "", exec.ErrNotFound }
	defer func() { slurmLookPath = old }()
	if code := runOS(grid); code != 1 {
		t.Errorf("without sbatch: exit %d, want 1", code)
	}
	if _, err := os.Stat(res); err == nil {
		t.Error("the results store was created")
	}
}

func captureStdout(t *testing.T, f func()) string {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	old := os.Stdout
	os.Stdout = w
	done := make(chan string)
	go func() {
		var b strings.Builder
		buf := make([]byte, 4096)
		for {
			n, err := r.Read(buf)
			b.Write(buf[:n])
			if err != nil {
				break
			}
		}
		done <- b.String()
	}()
	f()
	w.Close()
	os.Stdout = old
	return <-done
}

// End states: sacct unavailable (no accounting), scontrol knows two tasks, the third is judged from
// the store; a failed task is reported with its log path.
func TestSlurmFinalStates(t *testing.T) {
	dir := t.TempDir()
	plan := make([]*sweep.Planned, 6)
	for i := range plan {
		plan[i] = &sweep.Planned{Key: "cell" + string(rune('a'+i))}
	}
	// shard 0 = cells a, d; shard 1 = b, e; shard 2 = c, f. Shard 1 lost cell e.
	for _, k := range []string{"a", "d", "b", "c", "f"} {
		os.WriteFile(filepath.Join(dir, "cell"+k+".json"), []byte("{}"), 0o644)
	}
	old := slurmCommand
	defer func() { slurmCommand = old }()
	slurmCommand = func(_ context.Context, name string, args ...string) ([]byte, error) {
		switch name {
		case "sacct":
			return nil, errors.New("sacct: exit status 1: Slurm accounting storage is disabled")
		case "scontrol":
			return []byte("JobId=8 ArrayJobId=7 ArrayTaskId=0 JobState=COMPLETED ExitCode=0:0\n" +
				"JobId=9 ArrayJobId=7 ArrayTaskId=1 JobState=FAILED Reason=NonZeroExitCode ExitCode=1:0\n"), nil
		}
		return nil, errors.New("unexpected " + name)
	}
	var out strings.Builder
	f := &follower{id: "7", shards: 3, plan: plan, results: dir, w: &out}
	st := f.finalStates(context.Background())
	if st[0].State != "COMPLETED" || st[1].State != "FAILED" || st[1].Exit != "1:0" || st[2].State != "COMPLETED" || !strings.HasPrefix(st[2].Source, "the store") {
		t.Fatalf("states %+v", st)
	}
	err := f.finish(nil)
	if err == nil || !strings.Contains(err.Error(), "1 of 6 cells have no record") {
		t.Errorf("finish: %v", err)
	}
	if !strings.Contains(out.String(), "task 1 (shard 1/3): FAILED, exit 1:0, 1 of its 2 cells without a record (from scontrol); no log at "+filepath.Join(dir, "slurm", "7_1.out")) {
		t.Errorf("report:\n%s", out.String())
	}
}

// Without a terminal an interrupt prints the scancel command; on one, it asks.
func TestCancelOffer(t *testing.T) {
	var out strings.Builder
	if err := cancelOffer("42", strings.NewReader(""), &out, false); err == nil || !strings.Contains(out.String(), "scancel 42") {
		t.Errorf("no terminal: %v, %q", err, out.String())
	}
	var called []string
	old := slurmCommand
	defer func() { slurmCommand = old }()
	slurmCommand = func(_ context.Context, name string, args ...string) ([]byte, error) {
		called = append(called, name+" "+strings.Join(args, " "))
		return nil, nil
	}
	out.Reset()
	cancelOffer("42", strings.NewReader("n\n"), &out, true)
	if len(called) != 0 || !strings.Contains(out.String(), "[y/N]") {
		t.Errorf("answer n: called %v, %q", called, out.String())
	}
	cancelOffer("42", strings.NewReader("y\n"), &out, true)
	if len(called) != 1 || called[0] != "scancel 42" {
		t.Errorf("answer y: called %v", called)
	}
}
