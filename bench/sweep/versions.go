package sweep

import (
	"runtime"
	"runtime/debug"
	"sync"

	"github.com/mmfusion/bench/bench"
	"github.com/mmfusion/bench/bench/store"
	"github.com/mmfusion/bench/bench/torchrt"
)

// gitCommit is the commit this binary was built from (Go stamps it into the build with
// -buildvcs, the default inside a git checkout), "-dirty" when the tree had changes, "unknown" when
// built outside git. The working directory at run time says nothing about the binary.
var gitCommit = sync.OnceValue(func() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	var rev, modified string
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			modified = s.Value
		}
	}
	if rev == "" {
		return "unknown"
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if modified == "true" {
		rev += "-dirty"
	}
	return rev
})

// GitCommit is the commit of this build (see gitCommit), for records and `bench version`.
func GitCommit() string { return gitCommit() }

// Versions identifies this build for the records.
func Versions() store.Versions {
	return store.Versions{Harness: bench.Version, Go: runtime.Version(), Gotch: torchrt.GotchVersion(),
		Libtorch: torchrt.LibtorchVersion(), Git: gitCommit()}
}
