package reports

import (
	"image/color"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"testing"

	"gonum.org/v1/plot/vg"
)

// decodePNG opens path, checks it is a non-empty PNG and returns its width and height in pixels.
func decodePNG(t *testing.T, path string) (w, h int) {
	t.Helper()
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
	if matches, _ := filepath.Glob(filepath.Join(filepath.Dir(path), ".tmp-*")); len(matches) != 0 {
		t.Errorf("temporary files left behind: %v", matches)
	}
	// Not blank: some pixels are neither white nor grey (the bars' colours).
	b := img.Bounds()
	coloured := 0
	for y := b.Min.Y; y < b.Max.Y; y += 3 {
		for x := b.Min.X; x < b.Max.X; x += 3 {
			r, g, bl, _ := img.At(x, y).RGBA()
			if max(r, g, bl)-min(r, g, bl) > 0x2000 {
				coloured++
			}
		}
	}
	if coloured == 0 {
		t.Error("the image has no coloured pixel")
	}
	return b.Dx(), b.Dy()
}

// wantPixels is the PNG size of a figure.
func wantPixels(f *figure) (w, h int) {
	fw, fh := f.size()
	return int(math.Ceil(float64(fw / vg.Inch * pngDPI))), int(math.Ceil(float64(fh / vg.Inch * pngDPI)))
}

func TestPlotWritesPNG(t *testing.T) {
	// Two encoders, a missing cell and a one-seed cell exercise every branch of the figure.
	rs := append(fixture(), series("joint", "cremad", "vit", 0.9)...)
	tab := mustBuild(t, rs, Options{})
	path := filepath.Join(t.TempDir(), "leaderboard.png")
	if err := Plot(path, tab); err != nil {
		t.Fatal(err)
	}
	fig, err := barFigure(tab)
	if err != nil {
		t.Fatal(err)
	}
	// One panel per column: cremad/mlp, cremad/vit, synthetic:mix=S/mlp.
	if len(fig.panels) != 3 || len(tab.Columns) != 3 {
		t.Fatalf("%d panels for %d columns, want 3", len(fig.panels), len(tab.Columns))
	}
	if got := fig.panels[1].Title.Text; got != "cremad / vit" {
		t.Errorf("panel 2 title %q, want cremad / vit", got)
	}
	w, h := decodePNG(t, path)
	if ww, wh := wantPixels(fig); abs(w-ww) > 1 || abs(h-wh) > 1 {
		t.Errorf("PNG is %d×%d, want %d×%d", w, h, ww, wh)
	}
	if w < 600 || h < 400 {
		t.Errorf("image too small: %d×%d", w, h)
	}
}

func abs(x int) int { return max(x, -x) }

func TestPlotPanelPerDataset(t *testing.T) {
	var rs = fixture() // two datasets
	for _, l := range []string{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l", "m", "n", "o", "p", "q", "r", "s", "t", "u"} {
		rs = append(rs, series(l, "cremad", "mlp", 0.5, 0.6)...)
		rs = append(rs, series(l, "synthetic:mix=S", "mlp", 0.7, 0.72)...)
	}
	tab := mustBuild(t, rs, Options{})
	fig, err := barFigure(tab)
	if err != nil {
		t.Fatal(err)
	}
	if len(fig.panels) != 2 {
		t.Fatalf("%d panels, want 2 (one per dataset)", len(fig.panels))
	}
	if len(fig.labels) != 24 {
		t.Fatalf("%d legend entries, want 24", len(fig.labels))
	}
	for _, ext := range []string{"png", "svg", "pdf"} {
		path := filepath.Join(t.TempDir(), "many."+ext)
		if err := Plot(path, tab); err != nil {
			t.Fatalf("%s: %v", ext, err)
		}
		if ext == "png" {
			w, h := decodePNG(t, path)
			if ww, wh := wantPixels(fig); abs(w-ww) > 1 || abs(h-wh) > 1 {
				t.Errorf("PNG is %d×%d, want %d×%d", w, h, ww, wh)
			}
		} else if fi, err := os.Stat(path); err != nil || fi.Size() == 0 {
			t.Errorf("%s: empty or missing: %v", ext, err)
		}
	}
	// 24 wide panels do not fit side by side in maxGridW: a column of panels, legend on the right.
	if cols, rows := gridShape(len(fig.panels), fig.panelW); cols != 1 || rows != 2 {
		t.Errorf("grid %d×%d, want 1 column × 2 rows", cols, rows)
	}
}

func TestGridShape(t *testing.T) {
	for _, c := range []struct{ n, cols, rows int }{{1, 1, 1}, {2, 2, 1}, {3, 3, 1}, {4, 2, 2}, {5, 3, 2}, {9, 3, 3}, {10, 4, 3}} {
		if cols, rows := gridShape(c.n, 3*vg.Inch); cols != c.cols || rows != c.rows {
			t.Errorf("gridShape(%d) = %d×%d, want %d×%d", c.n, cols, rows, c.cols, c.rows)
		}
	}
	if cols, _ := gridShape(3, 7*vg.Inch); cols != 1 {
		t.Errorf("3 panels of 7 in: %d columns, want 1", cols)
	}
}

func TestBarRange(t *testing.T) {
	cell := func(mean, std float64, n int) Cell { return Cell{N: n, Mean: mean, Std: std} }
	for _, c := range []struct {
		name   string
		cells  []Cell
		lo, hi float64
	}{
		// min mean−sd 0.50, max mean+sd 0.80: pad 8 % of 30 = 2.4 → [47.6, 82.4], lower end down to a
		// multiple of 2.5 (half the 1-2-5 step of 34.8): 45.
		{"spread", []Cell{cell(0.55, 0.05, 3), cell(0.78, 0.02, 3)}, 45, 82.4},
		// a single seed has no std: only its mean counts; a missing cell none. [60, 71], pad 0.88,
		// step 2.5
		{"one seed", []Cell{cell(0.60, math.NaN(), 1), cell(0.70, 0.01, 2), {N: 0, Mean: math.NaN()}}, 57.5, 71.88},
		// saturated: clipped at 100 and widened down to 5 points
		{"saturated", []Cell{cell(0.999, 0.001, 2), cell(1.0, 0, 2)}, 95, 100},
		// near zero: clipped at 0, then at least 5 points
		{"near zero", []Cell{cell(0.005, 0.005, 2), cell(0.01, 0.01, 2)}, 0, 5},
		{"no values", []Cell{{N: 0, Mean: math.NaN()}}, 0, 100},
	} {
		lo, hi := barRange(c.cells)
		if math.Abs(lo-c.lo) > 1e-9 || math.Abs(hi-c.hi) > 1e-9 {
			t.Errorf("%s: range [%g, %g], want [%g, %g]", c.name, lo, hi, c.lo, c.hi)
		}
		if lo < 0 || hi > 100 || hi-lo < minSpan-1e-9 {
			t.Errorf("%s: range [%g, %g] outside [0, 100] or narrower than %g", c.name, lo, hi, minSpan)
		}
		for _, cl := range c.cells {
			if cl.N > 0 && (100*cl.Mean < lo || 100*cl.Mean > hi) {
				t.Errorf("%s: mean %g outside [%g, %g]", c.name, 100*cl.Mean, lo, hi)
			}
		}
	}
}

// lab is CIELAB (D65) of an sRGB colour.
func lab(c color.RGBA) [3]float64 {
	lin := func(v uint8) float64 {
		x := float64(v) / 255
		if x <= 0.04045 {
			return x / 12.92
		}
		return math.Pow((x+0.055)/1.055, 2.4)
	}
	r, g, b := lin(c.R), lin(c.G), lin(c.B)
	x := (0.4124*r + 0.3576*g + 0.1805*b) / 0.95047
	y := 0.2126*r + 0.7152*g + 0.0722*b
	z := (0.0193*r + 0.1192*g + 0.9505*b) / 1.08883
	f := func(t float64) float64 {
		if t > 0.008856 {
			return math.Cbrt(t)
		}
		return 7.787*t + 16.0/116
	}
	return [3]float64{116*f(y) - 16, 500 * (f(x) - f(y)), 200 * (f(y) - f(z))}
}

func deltaE(a, b color.RGBA) float64 {
	p, q := lab(a), lab(b)
	return math.Sqrt((p[0]-q[0])*(p[0]-q[0]) + (p[1]-q[1])*(p[1]-q[1]) + (p[2]-q[2])*(p[2]-q[2]))
}

func TestPaletteDistinct(t *testing.T) {
	if len(methodPalette) < 24 {
		t.Fatalf("palette has %d colours, want at least 24", len(methodPalette))
	}
	white := color.RGBA{255, 255, 255, 255}
	for i := range 24 {
		if d := deltaE(methodColor(i), white); d < 20 {
			t.Errorf("colour %d %v too close to the white background (ΔE %.1f)", i, methodColor(i), d)
		}
		for j := range i {
			if d := deltaE(methodColor(i), methodColor(j)); d < 20 {
				t.Errorf("colours %d %v and %d %v too close (ΔE %.1f)", j, methodColor(j), i, methodColor(i), d)
			}
		}
	}
	if methodColor(24) != methodColor(0) {
		t.Error("method 25 should reuse the first colour")
	}
}

func TestPlotRejectsBadInput(t *testing.T) {
	dir := t.TempDir()
	if err := Plot(filepath.Join(dir, "x.png"), &Table{}); err == nil {
		t.Error("empty table: want error")
	}
	tab := mustBuild(t, fixture(), Options{})
	for _, name := range []string{"x.bmp", "noext"} {
		if err := Plot(filepath.Join(dir, name), tab); err == nil {
			t.Errorf("%s: want error", name)
		}
		if _, err := os.Stat(filepath.Join(dir, name)); !os.IsNotExist(err) {
			t.Errorf("%s: a failed plot must not leave a file", name)
		}
	}
}
