package main

import (
	"flag"
	"fmt"
	"runtime"

	"github.com/mmfusion/bench/bench"
	"github.com/mmfusion/bench/bench/sweep"
	"github.com/mmfusion/bench/bench/torchrt"
)

func cmdVersion(args []string) error {
	fs := flag.NewFlagSet("version", flag.ContinueOnError)
	device := fs.String("device", "auto", "device to report: auto, cpu, cuda or cuda:N")
	if err := fs.Parse(args); err != nil {
		return usageError{err}
	}
	dev, err := torchrt.ResolveDevice(*device)
	if err != nil {
		return usageError{err}
	}
	fmt.Printf("bench     %s\n", bench.Version)
	fmt.Printf("commit    %s\n", sweep.GitCommit())
	fmt.Printf("go        %s\n", runtime.Version())
	fmt.Printf("gotch     %s\n", torchrt.GotchVersion())
	fmt.Printf("libtorch  %s (%s)\n", torchrt.LibtorchVersion(), torchrt.LibtorchPath())
	fmt.Printf("build     %s\n", torchrt.Build())
	fmt.Printf("device    %s\n", torchrt.DeviceName(dev))
	fmt.Printf("threads   %d intra-op (cores: %d)\n", torchrt.NumThreads(), runtime.NumCPU())
	return nil
}
