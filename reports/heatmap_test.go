package reports

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"testing"
)

// A heatmap is a PNG with rows × columns cells; a missing cell is allowed; other formats are refused.
func TestHeatmapPNG(t *testing.T) {
	path := filepath.Join(t.TempDir(), "h.png")
	if out := os.Getenv("HEATMAP_OUT"); out != "" {
		path = out
	}
	h := HeatmapData{Title: "Test accuracy (%), mean over 3 seeds", Unit: "test accuracy (%)",
		Rows: []string{"joint", "ensemble", "dmi"}, Cols: []string{"R", "U", "S", "¼U+¾R", "½R+½S"},
		Values: [][]float64{{99.1, 97, 25.3, 98, 60}, {99, 96.5, 24.9, 99, 62}, {99.5, 98, 80, 99, math.NaN()}}}
	if err := Heatmap(path, h); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil || !bytes.HasPrefix(b, []byte("\x89PNG")) {
		t.Fatalf("not a PNG (%v)", err)
	}
	if err := Heatmap(filepath.Join(t.TempDir(), "h.svg"), h); err == nil {
		t.Fatal("svg accepted")
	}
}
