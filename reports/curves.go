package reports

import (
	"cmp"
	"fmt"
	"image/color"
	"math"
	"slices"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/mmfusion/bench/bench/store"
)

// CurvePoint is one epoch of a method's validation-accuracy curve over seeds, in percent.
type CurvePoint struct {
	Epoch     int
	Mean, Std float64 // Std is 0 for a single seed
	N         int     // seeds that reached this epoch
	Stage     int     // training stage of staged methods (the most common over seeds), else 0
}

// CurveSet is the curves of one column: Series[i] belongs to Labels[i] (empty when that method
// has no curve there).
type CurveSet struct {
	Column Column
	Series [][]CurvePoint
}

// BuildCurves groups the records' per-epoch validation accuracy by row and column, with the rows
// (labels, same order and colours as Build's and Plot's) and columns of Build: only "ok" records
// count, tuning trials are left out, and of several records of one (row, dataset, encoder, seed)
// the newest is kept. Each epoch's mean and sample std are over the seeds that reached it (early
// stopping ends some curves sooner).
func BuildCurves(records []*store.Record, opt Options) (labels []string, sets []CurveSet, showEncoder bool, err error) {
	for i, r := range records {
		if r == nil {
			return nil, nil, false, fmt.Errorf("reports: record %d is nil", i)
		}
	}
	records = slices.DeleteFunc(slices.Clone(records), func(r *store.Record) bool { return r.Trial > 0 })
	if len(records) == 0 {
		return nil, nil, false, fmt.Errorf("reports: no records to draw")
	}
	rows, rowOf := configRows(records)
	latest, _ := dedup(records, rows, rowOf)
	order := rowOrder(rows, opt.RowOrder)
	pos := make([]int, len(rows))
	for i, k := range order {
		pos[k] = i
		labels = append(labels, rows[k].Label)
	}
	type key struct {
		row int
		col Column
	}
	byCell := map[key][]*store.Record{}
	columns := map[Column]bool{}
	encoders := map[string]bool{}
	for _, r := range latest {
		c := Column{r.Dataset, r.Encoder}
		columns[c], encoders[r.Encoder] = true, true
		if r.Status == store.StatusOK && len(r.Curves) > 0 {
			k := key{pos[rowOf[r]], c}
			byCell[k] = append(byCell[k], r)
		}
	}
	cols := make([]Column, 0, len(columns))
	for c := range columns {
		cols = append(cols, c)
	}
	slices.SortFunc(cols, func(a, b Column) int {
		return cmp.Or(cmp.Compare(a.Dataset, b.Dataset), cmp.Compare(a.Encoder, b.Encoder))
	})
	for _, c := range cols {
		set := CurveSet{Column: c, Series: make([][]CurvePoint, len(labels))}
		for i := range labels {
			set.Series[i] = curveStats(byCell[key{i, c}])
		}
		sets = append(sets, set)
	}
	return labels, sets, len(encoders) > 1, nil
}

// curveStats is the per-epoch mean and sample std of validation accuracy over recs' curves.
func curveStats(recs []*store.Record) []CurvePoint {
	vals := map[int][]float64{}
	stages := map[int]map[int]int{}
	for _, r := range recs {
		for _, e := range r.Curves {
			if math.IsNaN(e.ValAcc) || math.IsInf(e.ValAcc, 0) {
				continue
			}
			vals[e.Epoch] = append(vals[e.Epoch], 100*e.ValAcc)
			if stages[e.Epoch] == nil {
				stages[e.Epoch] = map[int]int{}
			}
			stages[e.Epoch][e.Stage]++
		}
	}
	epochs := make([]int, 0, len(vals))
	for e := range vals {
		epochs = append(epochs, e)
	}
	slices.Sort(epochs)
	out := make([]CurvePoint, 0, len(epochs))
	for _, e := range epochs {
		v := vals[e]
		m, sd := 0.0, 0.0
		for _, x := range v {
			m += x
		}
		m /= float64(len(v))
		if len(v) > 1 {
			for _, x := range v {
				sd += (x - m) * (x - m)
			}
			sd = math.Sqrt(sd / float64(len(v)-1))
		}
		stage, most := 0, 0
		for s, n := range stages[e] {
			if n > most || (n == most && s < stage) {
				stage, most = s, n
			}
		}
		out = append(out, CurvePoint{Epoch: e, Mean: m, Std: sd, N: len(v), Stage: stage})
	}
	return out
}

// Curves draws validation accuracy per epoch, one panel per column (dataset, or dataset /
// encoder) in a grid: per method a line at the mean over seeds and a light band of ± one sample
// std, in the method's colour (the same as in Plot), a dashed light vertical line where a staged
// method moves to its next stage, and the legend on the right. Each panel's y axis spans its data
// within [0, 100]. Written to path atomically, the format following the extension as for Plot.
func Curves(path string, records []*store.Record, opt Options) error {
	fig, err := curveFigure(records, opt)
	if err != nil {
		return fmt.Errorf("curves %s: %w", path, err)
	}
	return fig.write(path)
}

// curveFigure lays out Curves' figure.
func curveFigure(records []*store.Record, opt Options) (*figure, error) {
	labels, sets, showEnc, err := BuildCurves(records, opt)
	if err != nil {
		return nil, err
	}
	maxN, maxE := 0, 1
	for _, s := range sets {
		for _, ser := range s.Series {
			for _, p := range ser {
				maxN, maxE = max(maxN, p.N), max(maxE, p.Epoch)
			}
		}
	}
	if maxN == 0 {
		return nil, fmt.Errorf("no record has a training curve")
	}
	fig := &figure{
		title:  fmt.Sprintf("Validation accuracy (%%) per epoch: mean ± sample std over %s", plural(maxN, "seed")),
		labels: labels, lines: true,
		panelW: 4.6 * vg.Inch, panelH: 3.2 * vg.Inch,
	}
	for _, s := range sets {
		var lows, highs []float64
		for _, ser := range s.Series {
			for _, p := range ser {
				lows, highs = append(lows, p.Mean-p.Std), append(highs, p.Mean+p.Std)
			}
		}
		lo, hi := dataRange(lows, highs)
		title := s.Column.Dataset
		if showEnc {
			title += " / " + s.Column.Encoder
		}
		p := newPanel(title, "Validation accuracy (%)", lo, hi)
		p.X.Label.Text = "epoch"
		p.X.Min, p.X.Max = 1, float64(maxE)
		if maxE == 1 {
			p.X.Min, p.X.Max = 0.5, 1.5
		}
		p.X.Tick.Marker = epochTicks{}
		p.Add(&curveLines{series: s.Series})
		fig.panels = append(fig.panels, p)
	}
	return fig, nil
}

// epochTicks are integer ticks, about six of them.
type epochTicks struct{}

func (epochTicks) Ticks(lo, hi float64) []plot.Tick {
	step := math.Max(1, math.Ceil(niceStep(hi-lo)*5/6))
	var out []plot.Tick
	for v := math.Ceil(lo/step) * step; v <= hi+1e-9; v += step {
		if v >= lo {
			out = append(out, plot.Tick{Value: v, Label: fmt.Sprintf("%.0f", v)})
		}
	}
	return out
}

// curveLines draws one panel's bands, stage marks and mean lines (bands first, so no band hides a
// line).
type curveLines struct {
	series [][]CurvePoint
}

func (cl *curveLines) Plot(c draw.Canvas, p *plot.Plot) {
	trX, trY := p.Transforms(&c)
	clip := func(v float64) float64 { return math.Max(p.Y.Min, math.Min(p.Y.Max, v)) }
	for i, ser := range cl.series {
		if len(ser) < 2 {
			continue
		}
		col := methodColor(i)
		band := make([]vg.Point, 0, 2*len(ser))
		for _, pt := range ser {
			band = append(band, vg.Point{X: trX(float64(pt.Epoch)), Y: trY(clip(pt.Mean + pt.Std))})
		}
		for k := len(ser) - 1; k >= 0; k-- {
			pt := ser[k]
			band = append(band, vg.Point{X: trX(float64(pt.Epoch)), Y: trY(clip(pt.Mean - pt.Std))})
		}
		c.FillPolygon(color.NRGBA{col.R, col.G, col.B, 22}, band)
	}
	for i, ser := range cl.series {
		col := methodColor(i)
		dash := draw.LineStyle{Color: color.NRGBA{col.R, col.G, col.B, 110}, Width: vg.Points(0.7),
			Dashes: []vg.Length{vg.Points(2), vg.Points(2)}}
		for k := 1; k < len(ser); k++ {
			if ser[k].Stage != ser[k-1].Stage {
				x := trX(float64(ser[k-1].Epoch) + 0.5)
				c.StrokeLine2(dash, x, c.Min.Y, x, c.Max.Y)
			}
		}
	}
	for i, ser := range cl.series {
		sty := draw.LineStyle{Color: methodColor(i), Width: vg.Points(1.2)}
		if len(ser) == 1 {
			x, y := trX(float64(ser[0].Epoch)), trY(clip(ser[0].Mean))
			c.StrokeLine2(sty, x-vg.Points(3), y, x+vg.Points(3), y)
			continue
		}
		pts := make([]vg.Point, len(ser))
		for k, pt := range ser {
			pts[k] = vg.Point{X: trX(float64(pt.Epoch)), Y: trY(clip(pt.Mean))}
		}
		c.StrokeLines(sty, pts)
	}
}
