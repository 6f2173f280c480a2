package suites

import (
	"fmt"
	"math"

	"github.com/mmfusion/bench/datasets"
	"github.com/mmfusion/bench/interactions"
)

// GatePID is the exact PID (bits) of one gate (datasets.GateAND, GateOR, GateXOR) on independent
// fair bits: the PID of the population distribution of a Boolean dataset with that gate alone.
func GatePID(g int) (interactions.PID, error) {
	return interactions.Estimate(datasets.BooleanPopulation(datasets.SingleGate(g)))
}

// PopulationPID is the exact PID (bits) of a Boolean mixture's population distribution (the gate of
// a sample hidden, as it is from the estimator): datasets.BooleanPopulation, solved exactly. It is the
// limit of the finite-sample estimate, and not the mixture of the gates' PIDs.
func PopulationPID(mix datasets.GateMix) (interactions.PID, error) {
	return interactions.Estimate(datasets.BooleanPopulation(mix))
}

// PaperTruth computes the "truth" row of a PID table the way the DMI paper appears to: each gate's
// own PID normalised to 100, then averaged with the gates' sample shares as weights. With decimals
// ≥ 0 each gate's PID in bits is first rounded to that many decimals (AND: R 0.31, S 0.50), which is
// how the paper's 19.1 / 80.9 for AND+XOR arise; with decimals < 0 the exact gate values are used
// (19.18 / 80.82). Neither is the PID of the pooled data (PopulationPID): the estimator sees the
// mixture with the gate hidden, and a mixture's PID is not the mixture of PIDs.
func PaperTruth(shares datasets.GateMix, decimals int) (interactions.Shares, error) {
	var out [4]float64
	total := 0.0
	for g, w := range shares {
		if w == 0 {
			continue
		}
		d, err := GatePID(g)
		if err != nil {
			return interactions.Shares{}, fmt.Errorf("PID of gate %s: %w", datasets.GateNames[g], err)
		}
		v := [4]float64{d.R, d.U1, d.U2, d.S}
		sum := 0.0
		for i := range v {
			if decimals >= 0 {
				p := math.Pow(10, float64(decimals))
				v[i] = math.Round(v[i]*p) / p
			}
			v[i] = math.Max(v[i], 0)
			sum += v[i]
		}
		if sum <= 0 {
			return interactions.Shares{}, fmt.Errorf("gate %s carries no information", datasets.GateNames[g])
		}
		for i := range v {
			out[i] += w * 100 * v[i] / sum
		}
		total += w
	}
	if total <= 0 {
		return interactions.Shares{}, fmt.Errorf("no gate with a positive share")
	}
	return interactions.Shares{R: out[0] / total, U1: out[1] / total, U2: out[2] / total, S: out[3] / total}, nil
}
