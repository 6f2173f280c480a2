package methods

import (
	"fmt"

	"github.com/mmfusion/bench/bench"
)

// validateWindow is the MethodSpec.Validate of the methods with a modulation window
// [modulation_start, modulation_end] in 1-based epochs (ogm, pmr, pmr-per, agm, mlb). It refuses an
// empty window (start > end) and a window that starts after the run's last epoch: either way the
// method's modulation never runs and the cell would train its plain backbone under the method's
// name. An end beyond the last epoch is normal (the references' defaults are 51 to 1501).
func validateWindow(p bench.Params, epochs int) error {
	start, end := p.Int("modulation_start"), p.Int("modulation_end")
	switch {
	case start > end:
		return fmt.Errorf("modulation_start=%d > modulation_end=%d: the modulation window is empty", start, end)
	case epochs > 0 && start > epochs:
		return fmt.Errorf("modulation_start=%d is after the run's last epoch (--epochs %d): nothing would be modulated", start, epochs)
	}
	return nil
}
