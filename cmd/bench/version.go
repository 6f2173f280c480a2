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
	cache := "off (" + torchrt.CPUCacheEnv + "=0)"
	if b := torchrt.CPUCacheBudget(); b > 0 && torchrt.CPUCacheActive() {
		cache = fmt.Sprintf("caching, up to %d MiB of free blocks (%s)", b>>20, torchrt.CPUCacheEnv)
	}
	fmt.Fprintf(stdout, "cpu mem   %s\n", cache)
	sgd := "libtorch's op sequence (no AVX2+FMA, or ATen's add-with-alpha is not one FMA here)"
	if torchrt.SGDFused() {
		sgd = "one fused pass per float32 CPU parameter (AVX2+FMA), bit-identical to libtorch's"
	}
	fmt.Fprintf(stdout, "sgd step  %s\n", sgd)
	return nil
}
