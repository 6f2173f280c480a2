//go:build linux

package torchrt

// #include <malloc.h>
import "C"

import "runtime"

// glibc gives each OS thread that calls malloc an arena of its own, up to 8 per core. Go moves a
// cell's goroutine between OS threads from one cell to the next, so a long sweep spreads libtorch's
// allocations over ever more arenas, each keeping freed memory: resident memory grew ~0.25 MB per
// cell with no live tensor (TestConsecutiveCellsKeepMemoryFlat). One arena per core keeps concurrent
// cells from contending on one lock while bounding that spread.
//
// A top pad of 4 MiB and an mmap threshold of 1 MiB keep glibc from trimming the heap top after
// every batch: a validation pass frees each batch's activations when its scope ends, and with the
// default (128 KiB pad, dynamic threshold) the next batch faults the same pages back in, which made
// DMI's validation pass 1.8x PyTorch's on the same libtorch (60k page faults per cell; 17k with
// these settings, measured with bench perf --cells). Blocks of 1 MiB and more (large activations,
// weight matrices) still go to mmap and return to the system when freed, so memory stays flat
// over a sweep.
func init() {
	C.mallopt(C.M_ARENA_MAX, C.int(max(2, runtime.NumCPU())))
	C.mallopt(C.M_TOP_PAD, 4<<20)
	C.mallopt(C.M_MMAP_THRESHOLD, 1<<20)
}

// ReleaseFreeMemory returns memory that libtorch has freed to the operating system: the CPU cache's
// blocks (cpucache.go), then glibc's free memory (malloc_trim). The trainer calls it when a cell ends.
func ReleaseFreeMemory() {
	releaseCPUCache()
	C.malloc_trim(0)
}
