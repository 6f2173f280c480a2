package reports

import (
	"image/png"
	"os"
	"path/filepath"
	"testing"
)

func TestPlotWritesPNG(t *testing.T) {
	// Two encoders, a missing cell and a one-seed cell exercise every branch of the figure.
	rs := append(fixture(), series("joint", "cremad", "vit", 0.9)...)
	tab := mustBuild(t, rs, Options{})
	path := filepath.Join(t.TempDir(), "leaderboard.png")
	if err := Plot(path, tab); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || fi.Size() == 0 {
		t.Fatalf("empty file: %v", err)
	}
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("not a valid PNG: %v", err)
	}
	if b := img.Bounds(); b.Dx() < 100 || b.Dy() < 100 {
		t.Errorf("image too small: %v", b)
	}
	if matches, _ := filepath.Glob(filepath.Join(filepath.Dir(path), ".tmp-*")); len(matches) != 0 {
		t.Errorf("temporary files left behind: %v", matches)
	}
}

func TestPlotRejectsBadInput(t *testing.T) {
	dir := t.TempDir()
	if err := Plot(filepath.Join(dir, "x.png"), &Table{}); err == nil {
		t.Error("empty table: want error")
	}
	tab := mustBuild(t, fixture(), Options{})
	if err := Plot(filepath.Join(dir, "x.bmp"), tab); err == nil {
		t.Error("unsupported extension: want error")
	}
	if _, err := os.Stat(filepath.Join(dir, "x.bmp")); !os.IsNotExist(err) {
		t.Error("a failed plot must not leave a file")
	}
}
