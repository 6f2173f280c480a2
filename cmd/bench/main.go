// Command bench trains multimodal fusion methods on shared encoders across datasets and seeds, stores
// one record per cell, and prints leaderboards. Run `bench help` for the commands.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	_ "github.com/mmfusion/bench/bench/encoders" // registers encoders
	_ "github.com/mmfusion/bench/datasets"       // registers datasets
	_ "github.com/mmfusion/bench/methods"        // registers methods
)

// usageError marks bad input on the command line: exit code 2.
type usageError struct{ err error }

func (u usageError) Error() string { return u.err.Error() }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

const help = `bench: a benchmark harness for multimodal fusion methods

usage: bench <command> [flags]

commands:
  run           train methods × datasets × encoders × seeds and print a leaderboard
  tune          equal-budget random search per method on the validation split, then tuned final runs
  report        leaderboard from the results store: --format md|latex|csv|json, --plot FILE
  regress       compare the results store with a baseline; exit 1 on an accuracy drop (--update writes it)
  merge         merge results stores: bench merge DIR... --into DIR (a differing record of a key is a conflict)
  interactions  PID of a dataset (R, U1, U2, S), or of a trained model's predictions (--model)
  list          list registered methods, datasets and encoders with their parameters
  dump          write one sample as the model sees it: <modality>.npy per modality and label.txt
  suite         the paper's experiments, one command each: suite list, suite run NAME
  export        write AV-MNIST's MNIST digits and FSDD recordings in the cremad or ks on-disk layout
  perf          time a training and an evaluation step in Go and in PyTorch 2.1 on the same libtorch
  version       print harness, Go, gotch and libtorch versions and the device
  help          this text

Run 'bench <command> -h' for a command's flags.
`

func main() {
	os.Exit(run(os.Stdout, os.Stderr, os.Args[1:]))
}

// run is the whole command line: it writes the commands' output to stdout and logs, progress and
// errors to stderr (no command touches os.Stdout or os.Stderr), and returns the exit code: 0, 1 for
// a failure, 2 for bad input, or a command's own (suite run's 3: data missing).
func run(stdout, stderr io.Writer, args []string) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, help)
		return 2
	}
	var err error
	switch args[0] {
	case "run":
		err = cmdRun(args[1:], stdout, stderr)
	case "tune":
		err = cmdTune(args[1:], stdout, stderr)
	case "report":
		err = cmdReport(args[1:], stdout, stderr)
	case "regress":
		err = cmdRegress(args[1:], stdout, stderr)
	case "merge":
		err = cmdMerge(args[1:], stdout, stderr)
	case "interactions":
		err = cmdInteractions(args[1:], stdout, stderr)
	case "list":
		err = cmdList(args[1:], stdout, stderr)
	case "dump":
		err = cmdDump(args[1:], stdout, stderr)
	case "suite":
		err = suiteMain(args[1:], stdout, stderr)
	case "export":
		err = cmdExport(args[1:], stdout, stderr)
	case "perf":
		err = cmdPerf(args[1:], stdout, stderr)
	case "version", "--version", "-version":
		err = cmdVersion(args[1:], stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, help)
		return 0
	default:
		err = usagef("unknown command %q (run 'bench help')", args[0])
	}
	if err == nil {
		return 0
	}
	fmt.Fprintln(stderr, "bench:", err)
	var ec interface{ ExitCode() int } // e.g. suite run's 3: data missing
	if errors.As(err, &ec) {
		return ec.ExitCode()
	}
	var ue usageError
	if errors.As(err, &ue) {
		return 2
	}
	return 1
}

// newFlagSet is a command's flag set, writing its errors and -h text to stderr.
func newFlagSet(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}
