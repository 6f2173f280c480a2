// Package torchrt holds what the harness needs from libtorch beyond gotch's Go API: the global seed,
// the intra-op thread count, the libtorch version and path, and a scope that frees every tensor a
// step creates.
package torchrt

// The functions below are compiled into the binary by gotch's C++ wrapper (libtch/torch_api.cpp);
// gotch v0.9.1 does not expose them in Go, so we declare them here.

// #include <stdint.h>
// void at_manual_seed(int64_t);
// void at_set_num_threads(int n_threads);
// int at_get_num_threads();
// void at_set_num_interop_threads(int n_threads);
// int at_grad_set_enabled(int b);
import "C"

import (
	"runtime"

	_ "github.com/sugarme/gotch/libtch" // links the wrapper that defines the symbols above
)

// ManualSeed seeds libtorch's global generators (CPU and, where present, CUDA).
func ManualSeed(seed int64) { C.at_manual_seed(C.int64_t(seed)) }

// SetNumThreads sets libtorch's intra-op thread count for the whole process.
func SetNumThreads(n int) { C.at_set_num_threads(C.int(n)) }

// NumThreads reports libtorch's intra-op thread count.
func NumThreads() int { return int(C.at_get_num_threads()) }

// SetGradEnabled switches libtorch's grad mode on the calling OS thread and returns the previous
// state. (gotch's GradSetEnabled reads the C int result as an 8-byte Go int, so the previous state it
// returns is garbage; and grad mode is per OS thread, so callers must hold runtime.LockOSThread.)
func SetGradEnabled(on bool) (prev bool) {
	b := C.int(0)
	if on {
		b = 1
	}
	return C.at_grad_set_enabled(b) == 1
}

// NoGrad runs fn with grad mode off and restores the previous mode, also if fn panics. Grad mode is
// per OS thread, so the goroutine stays on its thread meanwhile (LockOSThread nests: inside the
// trainer, which holds its thread for the whole cell, this changes nothing). Without it a caller that
// had not locked its thread (bench.Build's initialisation in a test) could move to another thread
// between the two calls and run fn with gradients on.
func NoGrad(fn func()) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	prev := SetGradEnabled(false)
	defer SetGradEnabled(prev)
	fn()
}
