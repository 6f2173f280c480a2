package sweep

import (
	"os/exec"
	"runtime"
	"strings"
	"sync"

	"github.com/mmfusion/bench/bench"
	"github.com/mmfusion/bench/bench/store"
	"github.com/mmfusion/bench/bench/torchrt"
)

var gitCommit = sync.OnceValue(func() string {
	out, err := exec.Command("git", "rev-parse", "--short=12", "HEAD").Output()
	if err != nil {
		return ""
	}
	commit := strings.TrimSpace(string(out))
	if st, err := exec.Command("git", "status", "--porcelain", "--untracked-files=no").Output(); err == nil && len(st) > 0 {
		commit += "-dirty"
	}
	return commit
})

// Versions identifies this build for the records.
func Versions() store.Versions {
	return store.Versions{Harness: bench.Version, Go: runtime.Version(), Gotch: torchrt.GotchVersion(),
		Libtorch: torchrt.LibtorchVersion(), Git: gitCommit()}
}
