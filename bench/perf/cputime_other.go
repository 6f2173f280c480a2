//go:build !linux

package perf

// processCPUNS is not measured outside Linux.
func processCPUNS() int64 { return 0 }

// minorFaults is not counted outside Linux.
func minorFaults() int64 { return 0 }
