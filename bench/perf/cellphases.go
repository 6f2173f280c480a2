package perf

import (
	"context"
	"time"

	"github.com/mmfusion/bench/bench"
	"github.com/mmfusion/bench/bench/data"
	"github.com/sugarme/gotch"
)

// phasedCell is bench.Train itself with a clock: bench.TrainClocked calls back at the end of each
// part of the cell, and the wall clock and process CPU time since the previous call go to that part.
// RunCells still checks in every round that this cell's record equals the timed cells' (the clock
// must not change what is computed).
func phasedCell(c *bench.Cell, set *data.Set) (ph, cpu Phases, run CellRun, err error) {
	var wall, cpuNS [bench.NumPhases]int64
	mark, cmark := time.Now(), processCPUNS()
	clock := func(p bench.Phase) {
		now, cnow := time.Now(), processCPUNS()
		wall[p] += int64(now.Sub(mark))
		cpuNS[p] += cnow - cmark
		mark, cmark = now, cnow
	}
	rec, err := bench.TrainClocked(context.Background(), c, set, gotch.CPU, nil, clock)
	if err != nil {
		return ph, cpu, run, err
	}
	w, cp := make([]float64, bench.NumPhases), make([]float64, bench.NumPhases)
	for k := range w {
		w[k], cp[k] = float64(wall[k])/1e6, float64(cpuNS[k])/1e6
	}
	return phasesOf(w), phasesOf(cp), runOfRecord(rec), nil
}
