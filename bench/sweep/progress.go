package sweep

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/mmfusion/bench/bench/store"
	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
	"golang.org/x/term"
)

// Reporter shows a sweep's progress. Methods are called from concurrent cells.
type Reporter interface {
	Logf(format string, args ...any)
	CellStarted(name string, epochs int) CellReporter
	CellFinished(rec *store.Record, name string)
	Close()
}

// CellReporter follows one running cell.
type CellReporter interface {
	Epoch(ep store.EpochStats)
	Abort() // the cell stopped without a record (interrupted)
}

// NewReporter returns live bars (one line per running cell and an overall bar with an ETA) when w is a
// terminal, and plain lines otherwise (logs, CI, pipes).
func NewReporter(w io.Writer, total int) Reporter {
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		return newBarReporter(f, total)
	}
	return &lineReporter{w: w, total: total, began: time.Now()}
}

// finishedLine reports a finished cell: its name (with the trial number of a tuning trial, see
// cellName), its status, and its test accuracy, or for a trial (scored on validation only, no test
// metrics) its validation accuracy at the selected epoch.
func finishedLine(rec *store.Record, name string) string {
	if rec.Trial > 0 {
		return fmt.Sprintf("%s: %s val acc %.3f (%.1fs)", name, statusWord(rec), rec.Val.Acc, rec.WallSeconds)
	}
	return fmt.Sprintf("%s: %s test acc %.3f (%.1fs)", name, statusWord(rec), rec.Test.Acc, rec.WallSeconds)
}

// lineReporter prints a line per quarter of each cell's epochs and one per finished cell.
type lineReporter struct {
	mu          sync.Mutex
	w           io.Writer
	total, done int
	began       time.Time
}

func (l *lineReporter) Logf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintf(l.w, format, args...)
}

type lineCell struct {
	l      *lineReporter
	name   string
	epochs int
}

func (l *lineReporter) CellStarted(name string, epochs int) CellReporter {
	return &lineCell{l: l, name: name, epochs: epochs}
}

func (c *lineCell) Epoch(ep store.EpochStats) {
	if ep.Epoch == c.epochs || ep.Epoch%max(1, c.epochs/4) == 0 {
		c.l.Logf("  %s: epoch %d/%d loss %.4f val acc %.3f\n", c.name, ep.Epoch, c.epochs, ep.TrainLoss, ep.ValAcc)
	}
}

func (c *lineCell) Abort() {}

func (l *lineReporter) CellFinished(rec *store.Record, name string) {
	l.mu.Lock()
	l.done++
	n := l.done
	l.mu.Unlock()
	eta := time.Duration(float64(time.Since(l.began)) / float64(n) * float64(l.total-n)).Round(time.Second)
	l.Logf("[%d/%d] %s eta %s\n", n, l.total, finishedLine(rec, name), eta)
}

func (l *lineReporter) Close() {}

// barReporter draws with mpb.
type barReporter struct {
	p       *mpb.Progress
	overall *mpb.Bar
	mu      sync.Mutex
	w       io.Writer
}

func newBarReporter(w io.Writer, total int) *barReporter {
	p := mpb.New(mpb.WithOutput(w), mpb.WithWidth(30), mpb.WithRefreshRate(200*time.Millisecond))
	overall := p.New(int64(total), mpb.BarStyle(),
		mpb.BarPriority(1<<30), // keep the overall bar last
		mpb.PrependDecorators(decor.Name("sweep "), decor.CountersNoUnit("%d/%d cells")),
		mpb.AppendDecorators(decor.Elapsed(decor.ET_STYLE_GO, decor.WC{W: 6}), decor.Name(" eta "),
			decor.OnComplete(decor.AverageETA(decor.ET_STYLE_GO), "done")),
	)
	return &barReporter{p: p, overall: overall, w: w}
}

func (b *barReporter) Logf(format string, args ...any) {
	// Lines printed above the bars.
	b.p.Write([]byte(fmt.Sprintf(format, args...)))
}

type barCell struct {
	bar  *mpb.Bar
	mu   sync.Mutex
	last store.EpochStats
}

func (b *barReporter) CellStarted(name string, epochs int) CellReporter {
	c := &barCell{}
	c.bar = b.p.New(int64(epochs), mpb.BarStyle(), mpb.BarRemoveOnComplete(),
		mpb.PrependDecorators(decor.Name(name+" ", decor.WC{C: decor.DindentRight}), decor.CountersNoUnit("epoch %d/%d")),
		mpb.AppendDecorators(decor.Any(func(decor.Statistics) string {
			c.mu.Lock()
			defer c.mu.Unlock()
			if c.last.Epoch == 0 {
				return ""
			}
			return fmt.Sprintf(" loss %.4f val %.3f", c.last.TrainLoss, c.last.ValAcc)
		})),
	)
	return c
}

func (c *barCell) Epoch(ep store.EpochStats) {
	c.mu.Lock()
	c.last = ep
	c.mu.Unlock()
	c.bar.SetCurrent(int64(ep.Epoch))
}

func (c *barCell) Abort() { c.bar.Abort(true) }

func (b *barReporter) CellFinished(rec *store.Record, name string) {
	b.Logf("%s\n", finishedLine(rec, name))
	b.overall.Increment()
}

func (b *barReporter) Close() {
	if !b.overall.Completed() {
		b.overall.Abort(false)
	}
	b.p.Wait()
}
