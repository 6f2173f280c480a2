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
import "C"

import (
	_ "github.com/sugarme/gotch/libtch" // links the wrapper that defines the symbols above
)

// ManualSeed seeds libtorch's global generators (CPU and, where present, CUDA).
func ManualSeed(seed int64) { C.at_manual_seed(C.int64_t(seed)) }

// SetNumThreads sets libtorch's intra-op thread count for the whole process.
func SetNumThreads(n int) { C.at_set_num_threads(C.int(n)) }

// NumThreads reports libtorch's intra-op thread count.
func NumThreads() int { return int(C.at_get_num_threads()) }
