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
func init() {
	C.mallopt(C.M_ARENA_MAX, C.int(max(2, runtime.NumCPU())))
}

// ReleaseFreeMemory returns memory that libtorch has freed to the operating system (malloc_trim);
// the trainer calls it when a cell ends.
func ReleaseFreeMemory() { C.malloc_trim(0) }
