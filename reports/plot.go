package reports

import (
	"bytes"
	"fmt"
	"image/color"
	"math"
	"path/filepath"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// Plot draws t as one bar panel per column (dataset, or dataset / encoder), laid out in a grid: one
// bar per method in row order, each method its own colour (the same in every panel and in Curves),
// an error bar of one sample std over seeds (none for a single seed), the mean printed above the
// bar, in percent. Each panel's y axis spans its data (the lowest mean − std to the highest
// mean + std, a margin added, within [0, 100]); bars rise from the bottom of the axis, which need not
// be 0. The legend sits to the right of the panels. The figure is written to path atomically; the
// format follows the extension: .png (the usual choice, 200 dpi), .svg, .pdf, .eps, .jpg or .tif.
// Missing cells draw no bar.
func Plot(path string, t *Table) error {
	fig, err := barFigure(t)
	if err != nil {
		return fmt.Errorf("plot %s: %w", path, err)
	}
	return fig.write(path)
}

// barFigure lays out Plot's figure.
func barFigure(t *Table) (*figure, error) {
	if t == nil || len(t.Rows) == 0 || len(t.Columns) == 0 {
		return nil, fmt.Errorf("empty table")
	}
	labels := make([]string, len(t.Rows))
	for i, r := range t.Rows {
		labels[i] = r.Label
	}
	fig := &figure{
		title:  fmt.Sprintf("%s (%%): mean ± sample std over %s", t.Metric.Title(), plural(t.MaxN, "seed")),
		labels: labels,
		panelW: max(3.2*vg.Inch, vg.Length(len(t.Rows))*0.24*vg.Inch+0.9*vg.Inch),
		panelH: 2.9 * vg.Inch,
	}
	for j, c := range t.Columns {
		cells := make([]Cell, len(t.Rows))
		for i, r := range t.Rows {
			cells[i] = r.Cells[j]
		}
		lo, hi := barRange(cells)
		p := newPanel(t.Title(c), t.Metric.Title()+" (%)", lo, hi)
		p.X.Min, p.X.Max = -0.6, float64(len(t.Rows))-0.4
		p.HideX()
		p.Add(&bars{cells: cells})
		fig.panels = append(fig.panels, p)
		fig.ranges = append(fig.ranges, [2]float64{lo, hi})
	}
	return fig, nil
}

// barRange is the y range in percent of one panel of bars: from a little below the lowest
// mean − std to a little above the highest mean + std (std 0 for a single seed), the lower end
// rounded down to a tick-like step, clipped to [0, 100] and at least 5 points wide. No values: 0–100.
func barRange(cells []Cell) (lo, hi float64) {
	var lows, highs []float64
	for _, c := range cells {
		if c.N == 0 {
			continue
		}
		sd := 0.0
		if c.N >= 2 && !math.IsNaN(c.Std) {
			sd = c.Std
		}
		lows, highs = append(lows, 100*(c.Mean-sd)), append(highs, 100*(c.Mean+sd))
	}
	return dataRange(lows, highs)
}

// minSpan is the narrowest y range in percentage points, so that seed noise on a saturated
// dataset is not blown up to the full panel height.
const minSpan = 5.0

// dataRange is barRange's rule over any lower and upper values in percent.
func dataRange(lows, highs []float64) (lo, hi float64) {
	lo, hi = math.Inf(1), math.Inf(-1)
	for _, v := range lows {
		if !math.IsNaN(v) {
			lo = math.Min(lo, v)
		}
	}
	for _, v := range highs {
		if !math.IsNaN(v) {
			hi = math.Max(hi, v)
		}
	}
	if math.IsInf(lo, 1) || math.IsInf(hi, -1) {
		return 0, 100
	}
	pad := math.Max(0.08*(hi-lo), 0.5)
	lo, hi = lo-pad, hi+pad
	step := niceStep(hi-lo) / 2
	lo = step * math.Floor(lo/step)
	lo, hi = math.Max(lo, 0), math.Min(hi, 100)
	if hi-lo < minSpan {
		if lo = hi - minSpan; lo < 0 {
			lo, hi = 0, minSpan
		}
	}
	return lo, hi
}

// niceStep is 1, 2 or 5 times a power of ten, about a fifth of span.
func niceStep(span float64) float64 {
	if !(span > 0) {
		return 1
	}
	raw := span / 5
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5} {
		if raw <= m*mag {
			return m * mag
		}
	}
	return 10 * mag
}

// methodPalette holds 24 qualitative colours: matplotlib's tab10 first (so small comparisons look
// familiar), then colours chosen greedily from Kelly's set and tab20/tab20b to be far, in CIELAB,
// from every earlier one and from the white background. Method i gets methodPalette[i % 24].
var methodPalette = []color.RGBA{
	rgb(0x1f77b4), rgb(0xff7f0e), rgb(0x2ca02c), rgb(0xd62728), rgb(0x9467bd), rgb(0x8c564b),
	rgb(0xe377c2), rgb(0x7f7f7f), rgb(0xbcbd22), rgb(0x17becf), rgb(0x000080), rgb(0x222222),
	rgb(0x637939), rgb(0xf99379), rgb(0x98df8a), rgb(0xb8860b), rgb(0x393b79), rgb(0xb3446c),
	rgb(0x008856), rgb(0x800000), rgb(0xc2b280), rgb(0xffd700), rgb(0x008080), rgb(0x006400),
}

func rgb(v uint32) color.RGBA { return color.RGBA{uint8(v >> 16), uint8(v >> 8), uint8(v), 255} }

// methodColor is the colour of the i-th method (row order).
func methodColor(i int) color.RGBA { return methodPalette[i%len(methodPalette)] }

// pngDPI is the resolution of PNG figures.
const pngDPI = 200

// textStyle is the default font at size points, black, aligned as given.
func textStyle(size float64, xa text.XAlignment, ya text.YAlignment) draw.TextStyle {
	return draw.TextStyle{Color: color.Black, Font: font.From(plot.DefaultFont, vg.Points(size)),
		Handler: plot.DefaultTextHandler, XAlign: xa, YAlign: ya}
}

// newPanel is a plot with the figures' common style and a y axis over [lo, hi].
func newPanel(title, ylabel string, lo, hi float64) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.Title.TextStyle.Font.Size = vg.Points(11)
	p.Title.Padding = vg.Points(4)
	p.Y.Label.Text = ylabel
	p.Y.Label.TextStyle.Font.Size = vg.Points(9)
	p.Y.Tick.Label.Font.Size = vg.Points(8)
	p.X.Label.TextStyle.Font.Size = vg.Points(9)
	p.X.Tick.Label.Font.Size = vg.Points(8)
	p.Y.Min, p.Y.Max = lo, hi
	p.Y.Tick.Marker = capTicks{max: hi}
	p.Y.Padding = 0
	p.Add(yGrid{})
	return p
}

// capTicks are ticks at multiples of a 1-2-5 step (about five over the axis), labelled with as few
// decimals as the step needs, and none above max, so that the room left above the data for value
// labels shows no tick beyond it (100 % at most).
type capTicks struct{ max float64 }

func (c capTicks) Ticks(lo, hi float64) []plot.Tick {
	hi = math.Min(hi, c.max)
	step := niceStep(hi - lo)
	dec := max(0, int(-math.Floor(math.Log10(step)+1e-9)))
	var out []plot.Tick
	for k := math.Ceil(lo/step - 1e-9); k*step <= hi+1e-9*step; k++ {
		v := k * step
		out = append(out, plot.Tick{Value: v, Label: strconv.FormatFloat(v, 'f', dec, 64)})
	}
	return out
}

// yGrid draws light horizontal lines at the major y ticks, behind the data.
type yGrid struct{}

func (yGrid) Plot(c draw.Canvas, p *plot.Plot) {
	_, trY := p.Transforms(&c)
	sty := draw.LineStyle{Color: color.Gray{Y: 225}, Width: vg.Points(0.5)}
	for _, t := range p.Y.Tick.Marker.Ticks(p.Y.Min, p.Y.Max) {
		if t.IsMinor() || t.Value <= p.Y.Min {
			continue
		}
		y := trY(t.Value)
		c.StrokeLine2(sty, c.Min.X, y, c.Max.X, y)
	}
}

// bars is one panel's bars, error bars and value labels; bar i (a method) is centred on x = i.
type bars struct {
	cells []Cell
}

func (b *bars) Plot(c draw.Canvas, p *plot.Plot) {
	trX, trY := p.Transforms(&c)
	slot := trX(1) - trX(0)
	half := 0.4 * slot
	errSty := draw.LineStyle{Color: color.Gray{Y: 40}, Width: vg.Points(0.8)}
	label := textStyle(7, draw.XCenter, draw.YBottom)
	if label.Width("100.0") > 0.8*slot { // narrow bars: labels read upwards
		label.Rotation, label.XAlign, label.YAlign = math.Pi/2, draw.XLeft, draw.YCenter
	}
	bottom := trY(p.Y.Min)
	c.StrokeLine2(draw.LineStyle{Color: color.Black, Width: vg.Points(0.5)}, c.Min.X, bottom, c.Max.X, bottom)
	for i, cell := range b.cells {
		if cell.N == 0 {
			continue
		}
		x, top := trX(float64(i)), trY(100*cell.Mean)
		col := methodColor(i)
		c.FillPolygon(col, []vg.Point{{X: x - half, Y: bottom}, {X: x + half, Y: bottom},
			{X: x + half, Y: top}, {X: x - half, Y: top}})
		above := top
		if cell.N >= 2 && !math.IsNaN(cell.Std) && cell.Std > 0 {
			lo, hi := max(trY(100*(cell.Mean-cell.Std)), bottom), trY(100*(cell.Mean+cell.Std))
			cw := 0.45 * half
			c.StrokeLine2(errSty, x, lo, x, hi)
			c.StrokeLine2(errSty, x-cw, hi, x+cw, hi)
			c.StrokeLine2(errSty, x-cw, lo, x+cw, lo)
			above = hi
		}
		c.FillText(label, vg.Point{X: x, Y: above + vg.Points(2)}, fmt.Sprintf("%.1f", 100*cell.Mean))
	}
}

// labelRoom is the height above the data that the value labels of bars need.
func labelRoom(rotated bool) vg.Length {
	sty := textStyle(7, draw.XCenter, draw.YBottom)
	if rotated {
		return sty.Width("100.0") + vg.Points(4)
	}
	return sty.Height("0") + vg.Points(4)
}

// figure is a grid of panels with a shared title and a legend of the methods on the right.
type figure struct {
	title  string
	labels []string // methods, in colour order
	panels []*plot.Plot
	ranges [][2]float64 // y data range of each panel (bars panels only: room is added above)
	lines  bool         // legend swatches are lines (curves), not boxes
	panelW vg.Length
	panelH vg.Length
}

// maxGridW is the widest the panels of a figure may be side by side.
const maxGridW = 12 * vg.Inch

// gridShape is the columns and rows of a grid of n panels each panelW wide: as square as possible,
// with no more columns than fit in maxGridW (at least one).
func gridShape(n int, panelW vg.Length) (cols, rows int) {
	if n <= 0 {
		return 0, 0
	}
	cols = int(math.Ceil(math.Sqrt(float64(n))))
	if n <= 3 {
		cols = n
	}
	cols = max(1, min(cols, int(maxGridW/panelW)))
	return cols, (n + cols - 1) / cols
}

const (
	legendFont  = 9.0
	legendRowH  = 13.0 // pt
	swatchW     = 12.0 // pt
	titleBandH  = 0.35 * vg.Inch
	legendGapPt = 12.0 // between the panels and the legend, and between legend columns
)

// legendShape is the legend's columns and size for a given height available.
func (f *figure) legendShape(avail vg.Length) (cols, perCol int, w vg.Length) {
	sty := textStyle(legendFont, draw.XLeft, draw.YCenter)
	labelW := vg.Length(0)
	for _, l := range f.labels {
		labelW = max(labelW, sty.Width(l))
	}
	perCol = max(1, int(avail/vg.Points(legendRowH)))
	cols = (len(f.labels) + perCol - 1) / perCol
	perCol = (len(f.labels) + cols - 1) / cols // balance the columns
	colW := vg.Points(swatchW+4) + labelW + vg.Points(legendGapPt)
	return cols, perCol, vg.Length(cols)*colW + vg.Points(legendGapPt)
}

// size is the figure's width and height.
func (f *figure) size() (w, h vg.Length) {
	gc, gr := gridShape(len(f.panels), f.panelW)
	h = vg.Length(gr)*f.panelH + titleBandH
	_, _, lw := f.legendShape(h - titleBandH)
	return vg.Length(gc)*f.panelW + lw, h
}

// write draws the figure and writes it to path atomically in the format of its extension.
func (f *figure) write(path string) error {
	format := strings.TrimPrefix(strings.ToLower(filepath.Ext(path)), ".")
	if format == "" {
		return fmt.Errorf("plot %s: no file extension to choose the image format", path)
	}
	w, h := f.size()
	var cw vg.CanvasWriterTo
	if format == "png" {
		cw = vgimg.PngCanvas{Canvas: vgimg.NewWith(vgimg.UseWH(w, h), vgimg.UseDPI(pngDPI))}
	} else {
		var err error
		if cw, err = draw.NewFormattedCanvas(w, h, format); err != nil {
			return fmt.Errorf("plot %s: %w", path, err)
		}
	}
	dc := draw.New(cw)
	dc.Push()
	dc.SetColor(color.White)
	dc.Fill(dc.Rectangle.Path())
	dc.Pop()

	gc, gr := gridShape(len(f.panels), f.panelW)
	dc.FillText(textStyle(11, draw.XCenter, draw.YCenter),
		vg.Point{X: vg.Length(gc) * f.panelW / 2, Y: h - titleBandH/2}, f.title)

	area := dc
	area.Max.Y -= titleBandH
	area.Max.X = area.Min.X + vg.Length(gc)*f.panelW
	grid := make([][]*plot.Plot, gr)
	for r := range grid {
		grid[r] = make([]*plot.Plot, gc)
		for k := range gc {
			if i := r*gc + k; i < len(f.panels) {
				grid[r][k] = f.panels[i]
			}
		}
	}
	tiles := draw.Tiles{Rows: gr, Cols: gc, PadX: vg.Points(14), PadY: vg.Points(10),
		PadLeft: vg.Points(4), PadRight: vg.Points(4), PadBottom: vg.Points(4)}
	canvases := plot.Align(grid, tiles, area)
	for r := range grid {
		for k, p := range grid[r] {
			if p == nil {
				continue
			}
			if i := r*gc + k; i < len(f.ranges) {
				// Leave room above the data for the value labels: the data area's height is
				// known now, so the room converts to data units exactly.
				lo, hi := f.ranges[i][0], f.ranges[i][1]
				da := p.DataCanvas(canvases[r][k])
				room := labelRoom(f.rotatedLabels(p, da))
				if dh := da.Max.Y - da.Min.Y; dh > room {
					p.Y.Max = hi + (hi-lo)*float64(room/(dh-room))
				}
			}
			p.Draw(canvases[r][k])
		}
	}
	f.drawLegend(dc, area.Max.X)

	var buf bytes.Buffer
	if _, err := cw.WriteTo(&buf); err != nil {
		return fmt.Errorf("plot %s: %w", path, err)
	}
	return writeFileAtomic(path, buf.Bytes())
}

// rotatedLabels reports whether the bars of p, drawn in data area da, print their labels upwards.
func (f *figure) rotatedLabels(p *plot.Plot, da draw.Canvas) bool {
	trX, _ := p.Transforms(&da)
	return textStyle(7, draw.XCenter, draw.YBottom).Width("100.0") > 0.8*(trX(1)-trX(0))
}

// drawLegend draws the methods' swatches and names in columns, right of x0, top-aligned with the
// panels.
func (f *figure) drawLegend(dc draw.Canvas, x0 vg.Length) {
	top := dc.Max.Y - titleBandH
	cols, perCol, _ := f.legendShape(top - dc.Min.Y)
	sty := textStyle(legendFont, draw.XLeft, draw.YCenter)
	labelW := vg.Length(0)
	for _, l := range f.labels {
		labelW = max(labelW, sty.Width(l))
	}
	colW := vg.Points(swatchW+4) + labelW + vg.Points(legendGapPt)
	rowH := vg.Points(legendRowH)
	for i, l := range f.labels {
		col, row := i/perCol, i%perCol
		if col >= cols {
			break
		}
		x := x0 + vg.Points(legendGapPt) + vg.Length(col)*colW
		y := top - vg.Points(8) - vg.Length(row)*rowH - rowH/2
		clr := methodColor(i)
		if f.lines {
			dc.StrokeLine2(draw.LineStyle{Color: clr, Width: vg.Points(2)}, x, y, x+vg.Points(swatchW), y)
		} else {
			s := vg.Points(4)
			dc.FillPolygon(clr, []vg.Point{{X: x + vg.Points(2), Y: y - s}, {X: x + vg.Points(swatchW-2), Y: y - s},
				{X: x + vg.Points(swatchW-2), Y: y + s}, {X: x + vg.Points(2), Y: y + s}})
		}
		dc.FillText(sty, vg.Point{X: x + vg.Points(swatchW+4), Y: y}, l)
	}
}
