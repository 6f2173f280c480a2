package torchrt

// The caching CPU allocator of scripts/gotch/cpu_cache.cpp (compiled into gotch's libtch by
// scripts/setup.sh, patch 12): freed tensor memory is kept in per-size free lists and handed back to
// the next tensor of that size, instead of going through posix_memalign/free and first-touch page
// faults on every op. It changes no computed value.

// #include <stdint.h>
// void bench_cpu_cache_install(uint64_t budget_bytes);
// void bench_cpu_cache_release();
// uint64_t bench_cpu_cache_bytes();
// int bench_cpu_cache_active();
import "C"

import (
	"fmt"
	"os"
	"strconv"
	"sync/atomic"
)

// DefaultCPUCacheMB is the default budget of cached free CPU memory, in MiB. A small model's step
// reuses a few MB; a ResNet-18 training step on CREMA-D shapes (batch 8) frees several hundred MB of
// activations, and with a budget below that they went back to the system and were faulted in again
// on every step (train 1.09×, eval 1.21× PyTorch's with 256 MiB; 0.87× and 1.02× with 1 GiB). The budget
// bounds what a cell can hold on to until the cache is emptied when the cell ends (ReleaseFreeMemory).
const DefaultCPUCacheMB = 1024

// CPUCacheEnv names the environment variable that sets the budget in MiB (0 turns caching off: every
// block is freed at once, as with libtorch's default allocator).
const CPUCacheEnv = "BENCH_CPU_CACHE_MB"

func init() {
	mb := int64(DefaultCPUCacheMB)
	if v := os.Getenv(CPUCacheEnv); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			fmt.Fprintf(os.Stderr, "bench: %s=%q: want a whole number of MiB ≥ 0; using %d\n", CPUCacheEnv, v, mb)
		} else {
			mb = n
		}
	}
	SetCPUCache(mb << 20)
}

// SetCPUCache makes the caching allocator libtorch's CPU allocator with a budget of budget cached free
// bytes (0: nothing is cached).
func SetCPUCache(budget int64) {
	cpuCacheBudget.Store(budget)
	C.bench_cpu_cache_install(C.uint64_t(budget))
}

var cpuCacheBudget atomic.Int64

// CPUCacheBudget is the cache's budget of free bytes.
func CPUCacheBudget() int64 { return cpuCacheBudget.Load() }

// CPUCacheBytes reports the free bytes the cache holds.
func CPUCacheBytes() int64 { return int64(C.bench_cpu_cache_bytes()) }

// CPUCacheActive reports whether libtorch allocates CPU tensors through the cache.
func CPUCacheActive() bool { return C.bench_cpu_cache_active() == 1 }

// releaseCPUCache frees every cached block.
func releaseCPUCache() { C.bench_cpu_cache_release() }
