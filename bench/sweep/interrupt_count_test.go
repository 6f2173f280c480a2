package sweep

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/mmfusion/bench/bench/store"
)

// An interrupted cell stores nothing, so it must not be counted as trained (it was: the interrupted
// outcome was the zero value, which meant "ran ok").
func TestInterruptedCellIsNotCountedAsTrained(t *testing.T) {
	st, _ := store.Open(t.TempDir())
	opt := tinyOptions("joint")
	opt.Seeds = []int64{1}
	opt.Jobs = 1
	opt.Train.Epochs = 100000
	plan, _, err := Plan(opt, st)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	sum, err := Run(ctx, plan, opt, st, io.Discard)
	if err == nil {
		t.Fatal("the run was not interrupted")
	}
	recs, _, _ := st.All()
	if len(recs) != 0 || sum.Ran != 0 || sum.Unfinished != 1 {
		t.Fatalf("after an interrupt: %d records, summary %+v; want 0 records, Ran 0, Unfinished 1", len(recs), sum)
	}
}
