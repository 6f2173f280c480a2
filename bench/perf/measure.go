package perf

import (
	"math"
	"runtime"
	"slices"
	"time"
)

// Stats summarise per-step times (milliseconds).
type Stats struct {
	Steps  int     `json:"steps"`  // timed steps
	Median float64 `json:"median"` // median over every timed step: the number reported
	P10    float64 `json:"p10"`
	P25    float64 `json:"p25"`
	P75    float64 `json:"p75"`
	P90    float64 `json:"p90"`
	Mean   float64 `json:"mean"`
	Min    float64 `json:"min"`
	// RepeatMedianMin and RepeatMedianMax are the smallest and largest median of one repeat (a run of
	// Plan.Steps consecutive steps): how much the machine's load moved the number during the run.
	RepeatMedianMin float64 `json:"repeat_median_min"`
	RepeatMedianMax float64 `json:"repeat_median_max"`
}

// Summarise computes Stats of step durations in nanoseconds, in repeats of stepsPerRepeat steps.
func Summarise(ns []int64, stepsPerRepeat int) Stats {
	if len(ns) == 0 {
		return Stats{}
	}
	ms := make([]float64, len(ns))
	var sum float64
	for i, v := range ns {
		ms[i] = float64(v) / 1e6
		sum += ms[i]
	}
	st := Stats{Steps: len(ms), Mean: sum / float64(len(ms))}
	if stepsPerRepeat < 1 || stepsPerRepeat > len(ms) {
		stepsPerRepeat = len(ms)
	}
	st.RepeatMedianMin, st.RepeatMedianMax = math.Inf(1), math.Inf(-1)
	for i := 0; i+stepsPerRepeat <= len(ms); i += stepsPerRepeat {
		r := slices.Clone(ms[i : i+stepsPerRepeat])
		slices.Sort(r)
		med := quantile(r, 0.5)
		st.RepeatMedianMin, st.RepeatMedianMax = min(st.RepeatMedianMin, med), max(st.RepeatMedianMax, med)
	}
	slices.Sort(ms)
	st.Median, st.P10, st.P25, st.P75, st.P90 = quantile(ms, 0.5), quantile(ms, 0.1), quantile(ms, 0.25), quantile(ms, 0.75), quantile(ms, 0.9)
	st.Min = ms[0]
	return st
}

// quantile of sorted values, linear interpolation between order statistics (numpy's default).
func quantile(sorted []float64, q float64) float64 {
	pos := q * float64(len(sorted)-1)
	lo := int(math.Floor(pos))
	hi := min(lo+1, len(sorted)-1)
	return sorted[lo] + (pos-float64(lo))*(sorted[hi]-sorted[lo])
}

// Timing is what Measure records for one kind of step.
type Timing struct {
	NS    []int64 `json:"-"` // per-step wall-clock durations
	CPUNS []int64 `json:"-"` // per-step process CPU time (all threads; nil where not measured)
	// GCs is the number of Go garbage collections during the timed steps; GCPauseMS their total
	// stop-the-world pause.
	GCs       uint32  `json:"go_gcs,omitempty"`
	GCPauseMS float64 `json:"go_gc_pause_ms,omitempty"`
}

// Measure runs step plan.Warmup times untimed, then plan.Repeats × plan.Steps times, timing each call
// by the wall clock and by the process's CPU time. The CPU clock is read outside the wall-clock
// interval (so its system call does not count as step time); the CPU interval includes the two
// wall-clock reads. perf/run_torch.py times the same way.
func Measure(plan Plan, step func()) Timing {
	for i := 0; i < plan.Warmup; i++ {
		step()
	}
	n := plan.Repeats * plan.Steps
	t := Timing{NS: make([]int64, n), CPUNS: make([]int64, n)}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for i := 0; i < n; i++ {
		c0 := processCPUNS()
		t0 := time.Now()
		step()
		t.NS[i] = int64(time.Since(t0))
		t.CPUNS[i] = processCPUNS() - c0
	}
	if t.CPUNS[0] == 0 && t.CPUNS[n-1] == 0 {
		t.CPUNS = nil
	}
	runtime.ReadMemStats(&after)
	t.GCs = after.NumGC - before.NumGC
	t.GCPauseMS = float64(after.PauseTotalNs-before.PauseTotalNs) / 1e6
	return t
}
