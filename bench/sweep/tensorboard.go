package sweep

import (
	"github.com/mmfusion/bench/bench"
	"github.com/mmfusion/bench/bench/store"
	"github.com/mmfusion/bench/bench/tensorboard"
)

// boardCell is a cell's reporter that also writes the cell's TensorBoard event file (--tensorboard):
// every epoch as it ends; the final metrics and the session end once the record is stored
// (finishBoard); an interrupted cell's file is removed, since nothing of the cell is stored.
type boardCell struct {
	CellReporter
	tb   *tensorboard.Cell
	name string
	rep  Reporter
	bad  bool // a write failed: said once, then the file is left as it is
}

// withBoard wraps cr when the sweep writes TensorBoard files. A file that cannot be created is
// reported and the cell trains without one.
func (r *runner) withBoard(cr CellReporter, c *bench.Cell, p *Planned, name string) CellReporter {
	if r.tensorboard == "" {
		return cr
	}
	tb, err := tensorboard.StartCell(r.tensorboard, c.NewRecord(p.meta), p.Key, nil)
	if err != nil {
		r.rep.Logf("%s: no TensorBoard file: %v\n", name, err)
		return cr
	}
	return &boardCell{CellReporter: cr, tb: tb, name: name, rep: r.rep}
}

func (b *boardCell) Epoch(ep store.EpochStats) {
	b.CellReporter.Epoch(ep)
	if err := b.tb.Epoch(ep); err != nil && !b.bad {
		b.bad = true
		b.rep.Logf("%s: TensorBoard file %s: %v\n", b.name, b.tb.Path(), err)
	}
}

func (b *boardCell) Abort() {
	b.CellReporter.Abort()
	b.tb.Abort()
}

// finishBoard completes the TensorBoard file of a stored cell (nothing without --tensorboard).
func finishBoard(cr CellReporter, rec *store.Record) {
	if b, ok := cr.(*boardCell); ok {
		if err := b.tb.Finish(rec); err != nil && !b.bad {
			b.rep.Logf("%s: TensorBoard file %s: %v\n", b.name, b.tb.Path(), err)
		}
	}
}
