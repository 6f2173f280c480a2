package perf

import (
	"syscall"
	"unsafe"
)

const clockProcessCPUTimeID = 2 // CLOCK_PROCESS_CPUTIME_ID

// processCPUNS is the CPU time of the whole process (every thread: libtorch's, and Go's collector),
// in nanoseconds; 0 where unavailable. One system call, about 0.3 µs.
func processCPUNS() int64 {
	var ts syscall.Timespec
	if _, _, e := syscall.RawSyscall(syscall.SYS_CLOCK_GETTIME, clockProcessCPUTimeID, uintptr(unsafe.Pointer(&ts)), 0); e != 0 {
		return 0
	}
	return ts.Nano()
}

// minorFaults is the process's minor page faults so far (memory the kernel had to map and zero on
// first touch: freshly allocated or returned by malloc_trim), 0 where unavailable.
func minorFaults() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Minflt
}
