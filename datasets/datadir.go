package datasets

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// defaultDataRoot is where the shared real data live relative to the repository root, the usual
// working directory of the bench binary.
const defaultDataRoot = "../shared/data"

// dataRoot is the resolved root of real data and where the choice came from, so that a "file not
// found" error can say why the loader looked there.
type dataRoot struct {
	Path   string
	Source string // "--data-dir", "$BENCH_DATA_DIR" or "default ../shared/data"
}

// resolveDataRoot picks the root of real data: Options.DataDir if given, else $BENCH_DATA_DIR, else
// ../shared/data relative to the working directory. The fallback is returned even when it does not
// exist, so that the error about missing files names exact paths.
func resolveDataRoot(optDir string) dataRoot {
	if optDir != "" {
		return dataRoot{optDir, "--data-dir"}
	}
	if env := os.Getenv("BENCH_DATA_DIR"); env != "" {
		return dataRoot{env, "$BENCH_DATA_DIR"}
	}
	return dataRoot{defaultDataRoot, "default " + defaultDataRoot + " (no --data-dir, $BENCH_DATA_DIR unset)"}
}

// datasetDir is the folder of one dataset: override (a dataset parameter such as dir=...) if given,
// else <root>/<sub>. The second result says where the folder came from, for error messages.
func datasetDir(optDir, sub, override string) (dir, source string) {
	if override != "" {
		return override, "dataset parameter"
	}
	root := resolveDataRoot(optDir)
	return filepath.Join(root.Path, sub), "data root " + root.Source
}

// requireFiles checks that every path exists and is a regular file. If some do not, the error lists
// each missing path exactly (made absolute), so the user knows what to supply and where.
func requireFiles(dataset, source string, paths ...string) error {
	var missing []string
	for _, p := range paths {
		if fi, err := os.Stat(p); err != nil || !fi.Mode().IsRegular() {
			missing = append(missing, absPath(p))
		}
	}
	if len(missing) == 0 {
		return nil
	}
	return fmt.Errorf("dataset %s: %d of %d files not found (folder from %s): %s",
		dataset, len(missing), len(paths), source, strings.Join(missing, ", "))
}

// findOneOf returns the first of candidates that exists as a regular file (e.g. a file or its .gz).
// If none does, it returns "" and a description listing every candidate.
func findOneOf(candidates ...string) (string, string) {
	for _, p := range candidates {
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
			return p, ""
		}
	}
	abs := make([]string, len(candidates))
	for i, p := range candidates {
		abs[i] = absPath(p)
	}
	return "", strings.Join(abs, " or ")
}

// absPath makes p absolute for messages; it falls back to p itself.
func absPath(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}
