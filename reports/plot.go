package reports

import (
	"bytes"
	"fmt"
	"math"
	"path/filepath"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// Plot draws t as grouped bars, one group per column and one bar per method, with error bars of
// one sample std over seeds (none for a single seed), in percent, and writes the figure to path
// atomically. The format follows the extension: .png (the usual choice), .svg, .pdf, .eps, .jpg
// or .tif. Missing cells draw no bar.
func Plot(path string, t *Table) error {
	if t == nil || len(t.Rows) == 0 || len(t.Columns) == 0 {
		return fmt.Errorf("plot %s: empty table", path)
	}
	format := strings.TrimPrefix(strings.ToLower(filepath.Ext(path)), ".")
	if format == "" {
		return fmt.Errorf("plot %s: no file extension to choose the image format", path)
	}
	m, cols := len(t.Rows), len(t.Columns)

	// Size grows with the number of bars; the data area is roughly the width less the y axis.
	width := max(5*vg.Inch, vg.Length(cols)*(vg.Length(m)*0.3*vg.Inch+0.4*vg.Inch)+1.2*vg.Inch)
	height := 3.5*vg.Inch + vg.Length(m)*0.2*vg.Inch
	slot := 0.8 * (width - 1.1*vg.Inch) / vg.Length(cols) / vg.Length(m) // one bar and its gap
	barW := 0.9 * slot

	p := plot.New()
	p.Title.Text = fmt.Sprintf("%s: mean ± sample std over %s", t.Metric.Title(), plural(t.MaxN, "seed"))
	p.Y.Label.Text = t.Metric.Title() + " (%)"
	names := make([]string, cols)
	for j, c := range t.Columns {
		names[j] = t.Title(c)
	}
	p.NominalX(names...)
	p.Legend.Top = true

	top := 0.0
	for i, r := range t.Rows {
		color := plotutil.Color(i)
		offset := (vg.Length(i) - vg.Length(m-1)/2) * slot
		legend := true
		for j, c := range r.Cells {
			if c.N == 0 {
				continue
			}
			bar, err := plotter.NewBarChart(plotter.Values{c.Mean * 100}, barW)
			if err != nil {
				return fmt.Errorf("plot %s: %s on %s: %w", path, r.Label, names[j], err)
			}
			bar.XMin, bar.Offset, bar.Color = float64(j), offset, color
			bar.LineStyle.Width = 0
			p.Add(bar)
			if legend {
				p.Legend.Add(r.Label, bar)
				legend = false
			}
			top = math.Max(top, c.Mean*100)
			if c.N < 2 {
				continue
			}
			eb, err := plotter.NewYErrorBars(errPoint{x: float64(j), y: c.Mean * 100, e: c.Std * 100})
			if err != nil {
				return fmt.Errorf("plot %s: %s on %s: %w", path, r.Label, names[j], err)
			}
			eb.CapWidth = barW / 2
			p.Add(shifted{eb, offset})
			top = math.Max(top, (c.Mean+c.Std)*100)
		}
	}
	// Leave headroom above the bars for the legend (about 15pt per entry).
	free := 1 - float64(vg.Length(m)*15+10)/float64(height-vg.Inch)
	p.X.Min, p.X.Max = -0.5, float64(cols)-0.5
	p.Y.Min, p.Y.Max = 0, math.Max(top, 1)/math.Max(free, 0.3)

	wt, err := p.WriterTo(width, height, format)
	if err != nil {
		return fmt.Errorf("plot %s: %w", path, err)
	}
	var buf bytes.Buffer
	if _, err := wt.WriteTo(&buf); err != nil {
		return fmt.Errorf("plot %s: %w", path, err)
	}
	return writeFileAtomic(path, buf.Bytes())
}

// errPoint is one error bar: XYer and YErrorer with a single point.
type errPoint struct{ x, y, e float64 }

func (p errPoint) Len() int                       { return 1 }
func (p errPoint) XY(int) (float64, float64)      { return p.x, p.y }
func (p errPoint) YError(int) (low, high float64) { return p.e, p.e }

// shifted draws a plotter moved right by a fixed canvas offset, so an error bar lands on the
// centre of a bar drawn with the same BarChart.Offset.
type shifted struct {
	*plotter.YErrorBars
	by vg.Length
}

func (s shifted) Plot(c draw.Canvas, p *plot.Plot) {
	c.Min.X += s.by
	c.Max.X += s.by
	s.YErrorBars.Plot(c, p)
}
