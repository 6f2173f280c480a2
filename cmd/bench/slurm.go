package main

// bench run --launcher slurm: the validated plan becomes an sbatch job array, one shard per array task,
// every task writing into the same (shared) store; this process then follows the job until it ends.

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/term"

	"github.com/mmfusion/bench/bench/store"
	"github.com/mmfusion/bench/bench/sweep"
	"github.com/mmfusion/bench/reports"
)

// slurmFlags are bench run's launcher flags.
type slurmFlags struct {
	launcher *string
	shards   *int
	opts     listFlag
}

func addSlurmFlags(fs *flag.FlagSet) *slurmFlags {
	s := &slurmFlags{}
	s.launcher = fs.String("launcher", "local", "local: train here; slurm: submit the cells as an sbatch job array of --shards tasks (one shard each, all writing to --results, which must be shared), follow it and print the leaderboard")
	s.shards = fs.Int("shards", 0, "with --launcher slurm: number of array tasks (shards); default 1")
	fs.Var(&s.opts, "slurm-opt", "with --launcher slurm: sbatch options for the job script, e.g. '--partition=gpu --gres=gpu:1 --time=4:00:00' (repeatable)")
	return s
}

// check validates the launcher flags against the rest of the command line (usage errors).
func (s *slurmFlags) check(shard string) error {
	switch *s.launcher {
	case "local":
		if *s.shards != 0 || len(s.opts) > 0 {
			return usagef("run: --shards and --slurm-opt need --launcher slurm (for one shard of a local run, --shard i/n)")
		}
		return nil
	case "slurm":
	default:
		return usagef("run: --launcher %q: want local or slurm", *s.launcher)
	}
	if shard != "" {
		return usagef("run: --shard and --launcher slurm: the launcher gives each array task its shard; use --shards N")
	}
	if *s.shards == 0 {
		*s.shards = 1
	}
	if *s.shards < 1 || *s.shards > 10000 {
		return usagef("run: --shards %d: want 1 … 10000 array tasks", *s.shards)
	}
	if _, err := sbatchLines(s.opts); err != nil {
		return usageError{err}
	}
	return nil
}

func (s *slurmFlags) slurm() bool { return *s.launcher == "slurm" }

// launcherFlags are removed from the command line a task runs: the task runs one shard, here.
var launcherFlags = map[string]bool{"launcher": true, "shards": true, "slurm-opt": true, "dry-run": true, "shard": true, "results": true}

// taskArgs is the command line given to every array task: the run flags as they were given, less the
// launcher's own, --dry-run, --shard and --results (the task gets the absolute store and its shard).
// Every argument is a flag (bench run takes no positional arguments); a flag that is not boolean and
// has no "=value" takes the next argument as its value.
func taskArgs(fs *flag.FlagSet, args []string) []string {
	var out []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			break
		}
		name := strings.TrimLeft(a, "-")
		hasValue := strings.Contains(name, "=")
		name, _, _ = strings.Cut(name, "=")
		n := 1
		if f := fs.Lookup(name); f != nil && !hasValue && !isBoolFlag(f) && i+1 < len(args) {
			n = 2
		}
		if !launcherFlags[name] {
			out = append(out, args[i:i+n]...)
		}
		i += n - 1
	}
	return out
}

func isBoolFlag(f *flag.Flag) bool {
	b, ok := f.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

// shellQuote quotes s for bash: plain words stay as they are, anything else is single-quoted.
func shellQuote(s string) string {
	if s != "" && plainWord.MatchString(s) {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

var plainWord = regexp.MustCompile(`^[A-Za-z0-9_./:=,+@%^-]+$`)

// splitWords splits a --slurm-opt value into words as a shell would: whitespace separates, single and
// double quotes group, a backslash escapes the next character.
func splitWords(s string) ([]string, error) {
	var words []string
	var cur strings.Builder
	inWord, quote := false, rune(0)
	rs := []rune(s)
	for i := 0; i < len(rs); i++ {
		r := rs[i]
		switch {
		case quote != 0 && r == quote:
			quote = 0
		case quote == '\'':
			cur.WriteRune(r)
		case r == '\\' && i+1 < len(rs) && quote != '\'':
			i++
			cur.WriteRune(rs[i])
			inWord = true
		case quote == '"':
			cur.WriteRune(r)
		case r == '\'' || r == '"':
			quote, inWord = r, true
		case r == ' ' || r == '\t' || r == '\n':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("--slurm-opt %q: unclosed quote", s)
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}

// sbatchLines turns the --slurm-opt values into #SBATCH lines: one per option, a word that does not
// start with '-' being the value of the option before it ("--partition gpu"). The array, the output
// file and the working directory are the launcher's, and refused.
func sbatchLines(opts []string) ([]string, error) {
	var lines [][]string
	for _, o := range opts {
		words, err := splitWords(o)
		if err != nil {
			return nil, err
		}
		for _, w := range words {
			if !strings.HasPrefix(w, "-") {
				if len(lines) == 0 {
					return nil, fmt.Errorf("--slurm-opt %q: %q is not an sbatch option (options start with -)", o, w)
				}
				lines[len(lines)-1] = append(lines[len(lines)-1], w)
				continue
			}
			name, _, _ := strings.Cut(w, "=")
			switch {
			case name == "--array" || name == "--output" || name == "--error" || name == "--chdir" || name == "--parsable",
				name == "-a" || name == "-o" || name == "-e" || name == "-D",
				len(name) > 2 && name[1] != '-' && strings.ContainsAny(name[1:2], "aoeD"):
				return nil, fmt.Errorf("--slurm-opt %q: %s is set by the launcher (array = shards, output = <results>/slurm/%%A_%%a.out, chdir = here)", o, name)
			}
			lines = append(lines, []string{w})
		}
	}
	out := make([]string, len(lines))
	for i, l := range lines {
		q := make([]string, len(l))
		for j, w := range l {
			q[j] = shellQuote(w)
		}
		out[i] = "#SBATCH " + strings.Join(q, " ")
	}
	return out, nil
}

// slurmJob is what the job script is written from.
type slurmJob struct {
	Exe     string   // absolute path of the bench binary
	Args    []string // the run flags every task gets (taskArgs)
	Results string   // absolute path of the shared store
	Dir     string   // working directory of the tasks (where bench run was started)
	Shards  int
	Opts    []string // --slurm-opt values
	Cells   int
}

// logDir is where the array tasks' output goes: <results>/slurm.
func logDir(results string) string { return filepath.Join(results, "slurm") }

// taskLog is the output file of array task i of job id.
func taskLog(results, id string, i int) string {
	return filepath.Join(logDir(results), fmt.Sprintf("%s_%d.out", id, i))
}

// script is the sbatch job-array script.
func (j slurmJob) script() (string, error) {
	extra, err := sbatchLines(j.Opts)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "#!/bin/bash\n")
	fmt.Fprintf(&b, "# bench run as a Slurm job array: %d cells in %d shards, one per array task, all writing to one store.\n", j.Cells, j.Shards)
	fmt.Fprintf(&b, "# Written by bench run --launcher slurm; submit with sbatch (the store and the binary must be on a shared file system).\n")
	fmt.Fprintf(&b, "#SBATCH --job-name=bench\n")
	fmt.Fprintf(&b, "#SBATCH --array=0-%d\n", j.Shards-1)
	fmt.Fprintf(&b, "#SBATCH --output=%s\n", shellQuote(filepath.Join(logDir(j.Results), "%A_%a.out")))
	fmt.Fprintf(&b, "#SBATCH --chdir=%s\n", shellQuote(j.Dir))
	for _, l := range extra {
		b.WriteString(l + "\n")
	}
	b.WriteString("set -eu\n")
	cmd := []string{shellQuote(j.Exe), "run"}
	for _, a := range j.Args {
		cmd = append(cmd, shellQuote(a))
	}
	cmd = append(cmd, "--shard", fmt.Sprintf(`"${SLURM_ARRAY_TASK_ID}/%d"`, j.Shards), "--results", shellQuote(j.Results))
	b.WriteString("exec " + strings.Join(cmd, " ") + "\n")
	return b.String(), nil
}

// slurmCommand runs a Slurm client command and returns its standard output; tests replace it.
var slurmCommand = func(ctx context.Context, name string, args ...string) ([]byte, error) {
	path, err := exec.LookPath(name)
	if err != nil {
		return nil, err
	}
	var stderr strings.Builder
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		if msg := strings.TrimSpace(stderr.String()); msg != "" {
			err = fmt.Errorf("%s: %w: %s", name, err, msg)
		} else {
			err = fmt.Errorf("%s: %w", name, err)
		}
	}
	return out, err
}

// slurmLookPath finds the Slurm client commands; tests replace it.
var slurmLookPath = exec.LookPath

// slurmPoll is how often the job is looked at.
var slurmPoll = 5 * time.Second

// launchSlurm writes the job script, submits it, follows the job and prints the leaderboard.
func launchSlurm(stdout, stderr io.Writer, fs *flag.FlagSet, args []string, sf *slurmFlags, plan []*sweep.Planned, st *store.Store, results string, dryRun, force bool) error {
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	if exe, err = filepath.EvalSymlinks(exe); err != nil {
		return err
	}
	absResults, err := filepath.Abs(results)
	if err != nil {
		return err
	}
	wd, err := os.Getwd()
	if err != nil {
		return err
	}
	job := slurmJob{Exe: exe, Args: taskArgs(fs, args), Results: absResults, Dir: wd, Shards: *sf.shards, Opts: sf.opts, Cells: len(plan)}
	text, err := job.script()
	if err != nil {
		return usageError{err}
	}
	todo := 0
	for _, p := range plan {
		if !p.Done || force {
			todo++
		}
	}
	if dryRun {
		fmt.Fprint(stdout, text)
		fmt.Fprintf(stderr, "bench: %d cells (%d to run) in %d array tasks; not submitted (--dry-run)\n", len(plan), todo, job.Shards)
		return nil
	}
	if todo == 0 {
		fmt.Fprintf(stderr, "bench: all %d cells are already in %s; nothing submitted\n", len(plan), results)
		return printLeaderboard(stdout, plan, st)
	}
	for _, c := range []string{"sbatch", "squeue"} {
		if _, err := slurmLookPath(c); err != nil {
			return fmt.Errorf("--launcher slurm: %s not found on PATH (the Slurm client commands sbatch, squeue and sacct are needed; scripts/slurm-local.sh start brings up a one-node Slurm here)", c)
		}
	}
	if err := os.MkdirAll(logDir(absResults), 0o755); err != nil {
		return err
	}
	path := filepath.Join(logDir(absResults), "bench-"+time.Now().Format("20060102-150405")+".sbatch")
	if err := store.WriteFileAtomic(path, []byte(text)); err != nil {
		return err
	}
	submitted := time.Now().Add(-time.Second) // mtimes have coarse resolution on some file systems
	out, err := slurmCommand(context.Background(), "sbatch", "--parsable", path)
	if err != nil {
		return fmt.Errorf("submitting %s: %w", path, err)
	}
	id, _, _ := strings.Cut(strings.TrimSpace(string(out)), ";") // "jobid" or "jobid;cluster"
	if _, err := strconv.Atoi(id); err != nil {
		return fmt.Errorf("sbatch --parsable printed %q, not a job id", strings.TrimSpace(string(out)))
	}
	fmt.Fprintf(stderr, "bench: submitted Slurm job %s: %d array tasks for %d cells (%d to run); script %s, logs %s\n",
		id, job.Shards, len(plan), todo, path, taskLog(absResults, id, 0)+" …")

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	f := &follower{id: id, shards: job.Shards, plan: plan, results: absResults, force: force, since: submitted, w: stderr, out: stdout}
	if err := f.follow(ctx); err != nil {
		if ctx.Err() != nil {
			stop() // a second Ctrl-C ends this process
			return cancelOffer(id, os.Stdin, stderr, term.IsTerminal(int(os.Stdin.Fd())))
		}
		return err
	}
	return f.finish(st)
}

// cancelOffer, after an interrupt while following, asks whether to scancel the job (on a terminal),
// else prints the scancel command.
func cancelOffer(id string, in io.Reader, w io.Writer, tty bool) error {
	if !tty {
		fmt.Fprintf(w, "\nbench: interrupted; Slurm job %s keeps running (cells it finishes are stored). To cancel it: scancel %s\n", id, id)
		return fmt.Errorf("interrupted")
	}
	fmt.Fprintf(w, "\nbench: cancel Slurm job %s (scancel %s)? [y/N] ", id, id)
	line, _ := bufio.NewReader(in).ReadString('\n')
	if a := strings.ToLower(strings.TrimSpace(line)); a == "y" || a == "yes" {
		if _, err := slurmCommand(context.Background(), "scancel", id); err != nil {
			return fmt.Errorf("interrupted; scancel %s: %w", id, err)
		}
		fmt.Fprintf(w, "bench: cancelled job %s; finished cells stay in the store, rerun the same command to finish the rest\n", id)
		return fmt.Errorf("interrupted")
	}
	fmt.Fprintf(w, "bench: job %s keeps running; follow it with squeue -j %s, then bench report\n", id, id)
	return fmt.Errorf("interrupted")
}

// follower watches one job array: records appearing in the store, task states from squeue.
type follower struct {
	id      string
	shards  int
	plan    []*sweep.Planned
	results string
	force   bool
	since   time.Time
	w       io.Writer // progress and task reports
	out     io.Writer // the leaderboard
	last    string
}

// stored counts the plan's cells with a record (with --force: written since submission), per shard.
func (f *follower) stored() (total int, perShard []int) {
	perShard = make([]int, f.shards)
	for i, p := range f.plan {
		fi, err := os.Stat(filepath.Join(f.results, p.Key+".json"))
		if err != nil || (fi.ModTime().Before(f.since) && (f.force || !p.Done)) {
			continue // absent, or a record from before the submission that the tasks rerun
		}
		total++
		perShard[i%f.shards]++
	}
	return total, perShard
}

// shardSize is the number of plan cells of shard i (sweep.Shard's partition).
func (f *follower) shardSize(i int) int {
	n := len(f.plan) / f.shards
	if i < len(f.plan)%f.shards {
		n++
	}
	return n
}

// queue lists the job's tasks still known to squeue, by state; gone is true when none is left.
func (f *follower) queue(ctx context.Context) (states map[string]int, gone bool, err error) {
	out, err := slurmCommand(ctx, "squeue", "-h", "-r", "-j", f.id, "-o", "%i %T")
	if err != nil {
		if strings.Contains(err.Error(), "Invalid job id") {
			return nil, true, nil // purged: finished
		}
		return nil, false, err
	}
	states = map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if fields := strings.Fields(line); len(fields) == 2 {
			states[fields[1]]++
		}
	}
	return states, len(states) == 0, nil
}

func (f *follower) follow(ctx context.Context) error {
	fails := 0
	for {
		states, gone, err := f.queue(ctx)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil {
			if fails++; fails == 3 || fails%60 == 0 {
				fmt.Fprintf(f.w, "bench: squeue keeps failing (%v); still trying\n", err)
			}
		} else {
			fails = 0
		}
		n, _ := f.stored()
		line := fmt.Sprintf("slurm job %s: %d/%d cells stored", f.id, n, len(f.plan))
		if err == nil && !gone {
			names := make([]string, 0, len(states))
			for s := range states {
				names = append(names, s)
			}
			sort.Strings(names)
			parts := make([]string, len(names))
			for i, s := range names {
				parts[i] = fmt.Sprintf("%d %s", states[s], strings.ToLower(s))
			}
			line += "; tasks: " + strings.Join(parts, ", ")
		}
		if line != f.last {
			fmt.Fprintf(f.w, "%s  %s\n", time.Now().Format("15:04:05"), line)
			f.last = line
		}
		if gone {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(slurmPoll):
		}
	}
}

// taskState is how one array task ended.
type taskState struct {
	State, Exit, Source string
}

// finalStates asks sacct, then scontrol (which keeps finished jobs for MinJobAge), for each task's end
// state; a task neither knows is judged from the store.
func (f *follower) finalStates(ctx context.Context) map[int]taskState {
	got := map[int]taskState{}
	if out, err := slurmCommand(ctx, "sacct", "-j", f.id, "-X", "-n", "-P", "-o", "JobID,State,ExitCode"); err == nil {
		for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			p := strings.Split(line, "|")
			if len(p) < 3 {
				continue
			}
			jid, task, ok := strings.Cut(p[0], "_")
			if i, err := strconv.Atoi(task); ok && jid == f.id && err == nil {
				got[i] = taskState{State: strings.Fields(p[1] + " ")[0], Exit: p[2], Source: "sacct"}
			}
		}
	}
	if len(got) < f.shards {
		if out, err := slurmCommand(ctx, "scontrol", "-o", "show", "job", f.id); err == nil {
			for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
				kv := map[string]string{}
				for _, field := range strings.Fields(line) {
					if k, v, ok := strings.Cut(field, "="); ok {
						kv[k] = v
					}
				}
				if i, err := strconv.Atoi(kv["ArrayTaskId"]); err == nil && kv["ArrayJobId"] == f.id {
					if _, seen := got[i]; !seen {
						got[i] = taskState{State: kv["JobState"], Exit: kv["ExitCode"], Source: "scontrol"}
					}
				}
			}
		}
	}
	_, per := f.stored()
	for i := 0; i < f.shards; i++ {
		if _, ok := got[i]; !ok {
			s := "COMPLETED"
			if per[i] < f.shardSize(i) {
				s = "NOT COMPLETED" // cancelled before it started, or purged: only the store tells
			}
			got[i] = taskState{State: s, Source: "the store; sacct and scontrol do not know the task"}
		}
	}
	return got
}

// finish reports the tasks that did not complete, with their logs, and prints the leaderboard when
// every cell has its record.
func (f *follower) finish(st *store.Store) error {
	states := f.finalStates(context.Background())
	_, per := f.stored()
	var bad []string
	for i := 0; i < f.shards; i++ {
		s := states[i]
		missing := f.shardSize(i) - per[i]
		if s.State == "COMPLETED" && missing == 0 {
			continue
		}
		why := s.State
		if s.Exit != "" {
			why += ", exit " + s.Exit
		}
		if missing > 0 {
			why += fmt.Sprintf(", %d of its %d cells without a record", missing, f.shardSize(i))
		}
		log := "log " + taskLog(f.results, f.id, i)
		if _, err := os.Stat(taskLog(f.results, f.id, i)); err != nil {
			log = "no log at " + taskLog(f.results, f.id, i) + " (the task never started)"
		}
		bad = append(bad, fmt.Sprintf("  task %d (shard %d/%d): %s (from %s); %s", i, i, f.shards, why, s.Source, log))
	}
	n, _ := f.stored()
	if len(bad) > 0 {
		fmt.Fprintf(f.w, "bench: Slurm job %s: %d of %d array tasks did not complete:\n%s\n", f.id, len(bad), f.shards, strings.Join(bad, "\n"))
	}
	if n < len(f.plan) {
		return fmt.Errorf("%d of %d cells have no record; rerunning the same command submits the grid again and its tasks skip the stored cells", len(f.plan)-n, len(f.plan))
	}
	fmt.Fprintf(f.w, "bench: Slurm job %s done: %d cells stored in %s\n", f.id, n, f.results)
	if err := printLeaderboard(f.out, f.plan, st); err != nil {
		return err
	}
	if len(bad) > 0 {
		return fmt.Errorf("%d array task(s) did not complete (see their logs above)", len(bad))
	}
	return nil
}

// printLeaderboard prints the report bench run prints at the end; a failed cell makes it an error.
func printLeaderboard(w io.Writer, plan []*sweep.Planned, st *store.Store) error {
	recs, err := sweep.Records(plan, st)
	if err != nil {
		return err
	}
	if err := reports.Leaderboard(w, recs); err != nil {
		return err
	}
	failed := 0
	for _, r := range recs {
		if r.Status == store.StatusFailed {
			failed++
		}
	}
	if failed > 0 {
		return fmt.Errorf("%d cell(s) failed (their records say why; a rerun retries them)", failed)
	}
	return nil
}
