package datasets

import (
	"os"
	"path/filepath"
	"testing"
)

func TestResolveDataRoot(t *testing.T) {
	t.Setenv("BENCH_DATA_DIR", "/from/env")
	if r := resolveDataRoot("/from/flag"); r.Path != "/from/flag" || r.Source != "--data-dir" {
		t.Errorf("flag: %+v", r)
	}
	if r := resolveDataRoot(""); r.Path != "/from/env" || r.Source != "$BENCH_DATA_DIR" {
		t.Errorf("env: %+v", r)
	}
	t.Setenv("BENCH_DATA_DIR", "")
	if r := resolveDataRoot(""); r.Path != defaultDataRoot {
		t.Errorf("default: %+v", r)
	}
	if dir, src := datasetDir("/root", "rosmap", "/over"); dir != "/over" || src != "dataset parameter" {
		t.Errorf("override: %s %s", dir, src)
	}
	if dir, _ := datasetDir("/root", "rosmap", ""); dir != filepath.Join("/root", "rosmap") {
		t.Errorf("root: %s", dir)
	}
}

// With no data anywhere, the error lists the exact absolute paths looked for under the default root.
func TestMissingDataListsExactFiles(t *testing.T) {
	t.Setenv("BENCH_DATA_DIR", "")
	t.Chdir(t.TempDir())
	_, err := os.Stat(defaultDataRoot)
	if err == nil {
		t.Skip("../shared/data exists next to the temp dir")
	}
	msg := loadSpecErr(t, "rosmap:views=1+3", 1, "")
	want := []string{"dataset rosmap: 6 of 6 files not found", "default ../shared/data"}
	for _, f := range []string{"labels_tr.csv", "labels_te.csv", "1_tr.csv", "1_te.csv", "3_tr.csv", "3_te.csv"} {
		want = append(want, absPath(filepath.Join(defaultDataRoot, "rosmap", f)))
	}
	wantErrContains(t, msg, want...)
}
