//go:build !linux

package torchrt

// ReleaseFreeMemory frees the CPU cache's blocks (cpucache.go); there is no malloc_trim where the C
// allocator is not glibc's.
func ReleaseFreeMemory() { releaseCPUCache() }
