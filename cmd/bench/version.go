package main

import (
	"fmt"
	"io"
	"runtime"

	"github.com/mmfusion/bench/bench"
	"github.com/mmfusion/bench/bench/sweep"
	"github.com/mmfusion/bench/bench/torchrt"
)

func cmdVersion(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("version", stderr)
	device := fs.String("device", "auto", "device to report: auto, cpu, cuda or cuda:N")
	if err := fs.Parse(args); err != nil {
		return usageError{err}
	}
	dev, err := torchrt.ResolveDevice(*device)
	if err != nil {
		return usageError{err}
	}
	fmt.Fprintf(stdout, "bench     %s\n", bench.Version)
	fmt.Fprintf(stdout, "commit    %s\n", sweep.GitCommit())
	fmt.Fprintf(stdout, "go        %s\n", runtime.Version())
	fmt.Fprintf(stdout, "gotch     %s\n", torchrt.GotchVersion())
	fmt.Fprintf(stdout, "libtorch  %s (%s)\n", torchrt.LibtorchVersion(), torchrt.LibtorchPath())
	fmt.Fprintf(stdout, "build     %s\n", torchrt.Build())
	fmt.Fprintf(stdout, "device    %s\n", torchrt.DeviceName(dev))
	fmt.Fprintf(stdout, "threads   %d intra-op (cores: %d)\n", torchrt.NumThreads(), runtime.NumCPU())
	return nil
}
