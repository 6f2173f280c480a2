package torchrt

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"strconv"
	"strings"

	"github.com/sugarme/gotch"
)

// CUDABuild reports whether libtorch's CUDA backend (libtorch_cuda) is loaded into this process, so
// `bench version` can tell a CUDA build without a device from a CPU-only build.
func CUDABuild() bool { return loadedLibrary("/libtorch_cuda.so") != "" }

// Build describes the libtorch build and the devices it sees, e.g. "CUDA build, no CUDA device".
func Build() string {
	switch {
	case !CUDABuild():
		return "CPU-only build"
	case gotch.CUDA.IsAvailable():
		return fmt.Sprintf("CUDA build, %d CUDA device(s)", gotch.CUDA.DeviceCount())
	default:
		return "CUDA build, no CUDA device"
	}
}

// loadedLibrary returns the path of the mapped shared library whose path ends in suffix, or "".
func loadedLibrary(suffix string) string {
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if i := strings.Index(line, "/"); i >= 0 && strings.HasSuffix(line, suffix) {
			return line[i:]
		}
	}
	return ""
}

// LibtorchPath returns the directory of the libtorch_cpu shared library this process loaded,
// read from /proc/self/maps, so it reports what actually runs rather than what a build assumed.
func LibtorchPath() string {
	if lib := loadedLibrary("/libtorch_cpu.so"); lib != "" {
		return filepath.Dir(filepath.Dir(lib)) // .../lib/libtorch_cpu.so → libtorch root
	}
	return ""
}

var versionRe = regexp.MustCompile(`#define TORCH_VERSION_(MAJOR|MINOR|PATCH) (\d+)`)

// LibtorchVersion reads the version from the headers beside the loaded library.
func LibtorchVersion() string {
	root := LibtorchPath()
	if root == "" {
		return "unknown"
	}
	b, err := os.ReadFile(filepath.Join(root, "include/torch/csrc/api/include/torch/version.h"))
	if err != nil {
		return "unknown"
	}
	parts := map[string]string{}
	for _, m := range versionRe.FindAllSubmatch(b, -1) {
		parts[string(m[1])] = string(m[2])
	}
	if len(parts) != 3 {
		return "unknown"
	}
	return parts["MAJOR"] + "." + parts["MINOR"] + "." + parts["PATCH"]
}

// GotchVersion is the gotch module version compiled in.
func GotchVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Path == "github.com/sugarme/gotch" {
				return d.Version
			}
		}
	}
	return "unknown"
}

// ResolveDevice maps "auto", "cpu", "cuda" or "cuda:N" to a gotch device. "auto" uses CUDA where
// libtorch has it.
func ResolveDevice(name string) (gotch.Device, error) {
	cudaOK := gotch.CUDA.IsAvailable()
	switch {
	case name == "" || name == "auto":
		if cudaOK {
			return gotch.CudaBuilder(0), nil
		}
		return gotch.CPU, nil
	case name == "cpu":
		return gotch.CPU, nil
	case name == "cuda" || strings.HasPrefix(name, "cuda:"):
		if !cudaOK && CUDABuild() {
			return gotch.CPU, fmt.Errorf("device %q: this is a CUDA build (%s) but libtorch sees no CUDA device (no NVIDIA GPU or driver here); use --device cpu", name, LibtorchPath())
		}
		if !cudaOK {
			return gotch.CPU, fmt.Errorf("device %q: this libtorch (%s) is a CPU-only build; build with make build GPU=1 (or LIBTORCH=/path/to/a/cuda/libtorch) on a machine with an NVIDIA GPU", name, LibtorchPath())
		}
		idx := 0
		if rest, ok := strings.CutPrefix(name, "cuda:"); ok {
			n, err := strconv.Atoi(rest)
			if err != nil || n < 0 || int64(n) >= gotch.CUDA.DeviceCount() {
				return gotch.CPU, fmt.Errorf("device %q: no such CUDA device (%d visible)", name, gotch.CUDA.DeviceCount())
			}
			idx = n
		}
		return gotch.CudaBuilder(uint(idx)), nil
	}
	return gotch.CPU, fmt.Errorf("device %q: want auto, cpu, cuda or cuda:N", name)
}

// DeviceName renders a device as "cpu" or "cuda:N".
func DeviceName(d gotch.Device) string {
	if d.IsCuda() {
		return "cuda:" + strconv.Itoa(d.Value)
	}
	return "cpu"
}
