//go:build !unix

package store

import "os"

// processStart reports whether process pid may be running; the start time is not known here (0).
// Where the platform cannot tell, the process counts as running.
func processStart(pid int) (start uint64, alive bool) {
	if pid <= 0 {
		return 0, false
	}
	p, err := os.FindProcess(pid)
	if err != nil {
		return 0, false
	}
	p.Release()
	return 0, true
}
