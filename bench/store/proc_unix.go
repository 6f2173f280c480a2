//go:build unix

package store

import (
	"errors"
	"io/fs"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
)

// processStart reports whether process pid is running and, on Linux, its start time (field 22 of
// /proc/<pid>/stat, clock ticks since boot; 0 elsewhere or without /proc). A zombie is not running.
func processStart(pid int) (start uint64, alive bool) {
	if pid <= 0 {
		return 0, false
	}
	if runtime.GOOS == "linux" {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err == nil {
			if st, start, ok := parseStat(string(b)); ok {
				return start, st != "Z" && st != "X"
			}
		} else if errors.Is(err, fs.ErrNotExist) && procMounted() {
			return 0, false
		}
	}
	err := syscall.Kill(pid, 0) // no /proc: the pid's existence is all that can be known
	return 0, err == nil || errors.Is(err, syscall.EPERM)
}

// parseStat returns the state (field 3) and start time (field 22) of a /proc/<pid>/stat line. The
// command name (field 2) is in parentheses and may itself hold spaces and parentheses.
func parseStat(s string) (state string, start uint64, ok bool) {
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return "", 0, false
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 20 {
		return "", 0, false
	}
	start, err := strconv.ParseUint(f[19], 10, 64)
	return f[0], start, err == nil
}

func procMounted() bool {
	_, err := os.Stat("/proc/self/stat")
	return err == nil
}
