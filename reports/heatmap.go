package reports

import (
	"bytes"
	"fmt"
	"image/color"
	"math"
	"path/filepath"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/palette"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// HeatmapData is a matrix of percentages to draw as a heatmap: one row per method, one column per
// dataset, a colour per cell and its text printed inside.
type HeatmapData struct {
	Title      string
	Rows, Cols []string
	// Values[r][c] in percent; NaN for a missing cell (drawn grey, text "—").
	Values [][]float64
	// Text[r][c] is printed in the cell; "" prints the value with one decimal.
	Text [][]string
	// Min and Max of the colour scale; both 0 means [10·⌊min/10⌋, 100].
	Min, Max float64
	Unit     string // colour-bar label, e.g. "test accuracy (%)"
}

// Heatmap draws h to path (PNG only) atomically: rows top to bottom in the given order, columns left
// to right, a sequential palette (light = low, dark = high), a colour bar on the right.
func Heatmap(path string, h HeatmapData) error {
	if strings.ToLower(filepath.Ext(path)) != ".png" {
		return fmt.Errorf("heatmap %s: only .png is supported", path)
	}
	nr, nc := len(h.Rows), len(h.Cols)
	if nr == 0 || nc == 0 || len(h.Values) != nr {
		return fmt.Errorf("heatmap %s: empty or ragged data", path)
	}
	lo, hi := h.Min, h.Max
	if lo == 0 && hi == 0 {
		lo, hi = math.Inf(1), 100
		for _, row := range h.Values {
			if len(row) != nc {
				return fmt.Errorf("heatmap %s: ragged data", path)
			}
			for _, v := range row {
				if !math.IsNaN(v) {
					lo = math.Min(lo, v)
				}
			}
		}
		if math.IsInf(lo, 1) {
			lo = 0
		}
		lo = math.Min(10*math.Floor(lo/10), 90)
	}
	if !(hi > lo) {
		return fmt.Errorf("heatmap %s: colour scale [%g, %g] is empty", path, lo, hi)
	}
	pal := sequential(256)

	p := plot.New()
	p.Title.Text = h.Title
	p.Title.TextStyle.Font.Size = 13
	hm := plotter.NewHeatMap(grid{h}, pal)
	hm.Min, hm.Max = lo, hi
	hm.NaN = color.Gray{Y: 220}
	p.Add(hm)

	// Cell texts: dark text on light cells, white on dark ones.
	var dark, light plotter.XYLabels
	for r := range h.Rows {
		for c := range h.Cols {
			v := h.Values[r][c]
			text := "—"
			if h.Text != nil && h.Text[r][c] != "" {
				text = h.Text[r][c]
			} else if !math.IsNaN(v) {
				text = fmt.Sprintf("%.1f", v)
			}
			pt := plotter.XY{X: float64(c), Y: float64(nr - 1 - r)}
			if !math.IsNaN(v) && (v-lo)/(hi-lo) > 0.55 {
				light.XYs, light.Labels = append(light.XYs, pt), append(light.Labels, text)
			} else {
				dark.XYs, dark.Labels = append(dark.XYs, pt), append(dark.Labels, text)
			}
		}
	}
	for _, set := range []struct {
		l   plotter.XYLabels
		col color.Color
	}{{dark, color.Black}, {light, color.White}} {
		if len(set.l.XYs) == 0 {
			continue
		}
		labels, err := plotter.NewLabels(set.l)
		if err != nil {
			return fmt.Errorf("heatmap %s: %w", path, err)
		}
		for i := range labels.TextStyle {
			labels.TextStyle[i].Color = set.col
			labels.TextStyle[i].Font.Size = vg.Points(11)
			labels.TextStyle[i].XAlign = draw.XCenter
			labels.TextStyle[i].YAlign = draw.YCenter
		}
		p.Add(labels)
	}
	p.NominalX(h.Cols...)
	rows := make([]string, nr)
	for r := range h.Rows {
		rows[nr-1-r] = h.Rows[r]
	}
	p.NominalY(rows...)
	p.X.Min, p.X.Max = -0.5, float64(nc)-0.5
	p.Y.Min, p.Y.Max = -0.5, float64(nr)-0.5
	p.X.Tick.Label.Font.Size = 11
	p.Y.Tick.Label.Font.Size = 11
	p.X.Padding, p.Y.Padding = 0, 0
	p.HideAxes()
	p.X.Tick.Marker = plot.ConstantTicks(nominalTicks(h.Cols))
	p.Y.Tick.Marker = plot.ConstantTicks(nominalTicks(rows))
	p.X.Tick.Label.Color, p.Y.Tick.Label.Color = color.Black, color.Black
	p.X.Tick.Length, p.Y.Tick.Length = 0, 0

	bar := plot.New()
	cb := &plotter.ColorBar{ColorMap: colorMap(pal, lo, hi), Vertical: true}
	bar.Add(cb)
	bar.HideX()
	bar.Y.Label.Text = h.Unit
	bar.Y.Min, bar.Y.Max = lo, hi
	bar.Title.Text = " "
	bar.Title.TextStyle.Font.Size = 13

	cellW, cellH := 0.95*vg.Inch, 0.5*vg.Inch
	mainW := vg.Length(nc)*cellW + 1.6*vg.Inch
	barW := 1.3 * vg.Inch
	height := vg.Length(nr)*cellH + 1.3*vg.Inch
	img := vgimg.NewWith(vgimg.UseWH(mainW+barW, height), vgimg.UseDPI(150))
	dc := draw.New(img)
	dc.Push()
	dc.SetColor(color.White)
	dc.Fill(dc.Rectangle.Path())
	dc.Pop()
	left := draw.Crop(dc, 0.1*vg.Inch, -barW, 0.05*vg.Inch, 0)
	right := draw.Crop(dc, mainW+0.15*vg.Inch, 0, 0.25*vg.Inch, -0.2*vg.Inch)
	right.Max.X = right.Min.X + 1.0*vg.Inch
	p.Draw(left)
	bar.Draw(right)
	var buf bytes.Buffer
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(&buf); err != nil {
		return fmt.Errorf("heatmap %s: %w", path, err)
	}
	return writeFileAtomic(path, buf.Bytes())
}

func nominalTicks(names []string) []plot.Tick {
	t := make([]plot.Tick, len(names))
	for i, n := range names {
		t[i] = plot.Tick{Value: float64(i), Label: n}
	}
	return t
}

// grid adapts HeatmapData to plotter.GridXYZ: column c, row r counted from the bottom.
type grid struct{ h HeatmapData }

func (g grid) Dims() (c, r int)   { return len(g.h.Cols), len(g.h.Rows) }
func (g grid) Z(c, r int) float64 { return g.h.Values[len(g.h.Rows)-1-r][c] }
func (g grid) X(c int) float64    { return float64(c) }
func (g grid) Y(r int) float64    { return float64(r) }

// sequential is a viridis-like palette from light yellow (low) to dark blue-violet (high),
// interpolated linearly between anchors.
func sequential(n int) palette.Palette {
	anchors := []color.RGBA{
		{253, 231, 37, 255}, {122, 209, 81, 255}, {34, 168, 132, 255},
		{42, 120, 142, 255}, {65, 68, 135, 255}, {68, 1, 84, 255},
	}
	cols := make([]color.Color, n)
	for i := range cols {
		t := float64(i) / float64(n-1) * float64(len(anchors)-1)
		k := min(int(t), len(anchors)-2)
		f := t - float64(k)
		a, b := anchors[k], anchors[k+1]
		mix := func(x, y uint8) uint8 { return uint8(math.Round(float64(x) + f*(float64(y)-float64(x)))) }
		cols[i] = color.RGBA{mix(a.R, b.R), mix(a.G, b.G), mix(a.B, b.B), 255}
	}
	return fixedPalette(cols)
}

type fixedPalette []color.Color

func (p fixedPalette) Colors() []color.Color { return p }

// colorMap is a palette.ColorMap over [lo, hi] for the colour bar.
type paletteMap struct {
	cols   []color.Color
	lo, hi float64
	alpha  float64
}

func colorMap(p palette.Palette, lo, hi float64) *paletteMap {
	return &paletteMap{cols: p.Colors(), lo: lo, hi: hi, alpha: 1}
}

func (m *paletteMap) At(v float64) (color.Color, error) {
	if v < m.lo || v > m.hi || math.IsNaN(v) {
		return nil, fmt.Errorf("value %g outside [%g, %g]", v, m.lo, m.hi)
	}
	i := int((v - m.lo) / (m.hi - m.lo) * float64(len(m.cols)-1))
	return m.cols[i], nil
}
func (m *paletteMap) Max() float64                  { return m.hi }
func (m *paletteMap) Min() float64                  { return m.lo }
func (m *paletteMap) SetMax(v float64)              { m.hi = v }
func (m *paletteMap) SetMin(v float64)              { m.lo = v }
func (m *paletteMap) Alpha() float64                { return m.alpha }
func (m *paletteMap) SetAlpha(a float64)            { m.alpha = a }
func (m *paletteMap) Palette(n int) palette.Palette { return sequential(n) }
