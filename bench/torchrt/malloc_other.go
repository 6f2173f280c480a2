//go:build !linux

package torchrt

// ReleaseFreeMemory is a no-op where the C allocator is not glibc's.
func ReleaseFreeMemory() {}
