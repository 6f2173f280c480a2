package encoders

import (
	"fmt"

	"github.com/mmfusion/bench/bench/data"
)

// Shape acceptance (bench.EncoderSpec.Accepts). Each encoder's accepts function states every reason
// its New refuses a modality with given parameters, and New calls it first, so a plan that checks
// Accepts refuses exactly the cells that would fail to build. Errors do not name the encoder; New
// prefixes its name and bench.CheckModality the encoder and the modality.

// nonEmpty refuses a shape without dimensions or with a dimension < 1.
func nonEmpty(mod data.Modality) error {
	if len(mod.Shape) == 0 {
		return fmt.Errorf("shape %v: no dimensions", mod.Shape)
	}
	for _, d := range mod.Shape {
		if d < 1 {
			return fmt.Errorf("shape %v: every dimension must be ≥ 1", mod.Shape)
		}
	}
	return nil
}

// wantRank refuses a shape whose number of dimensions is not one of ranks; what describes the
// accepted layouts, e.g. "an image [C,H,W]".
func wantRank(mod data.Modality, what string, ranks ...int) error {
	if err := nonEmpty(mod); err != nil {
		return err
	}
	for _, r := range ranks {
		if len(mod.Shape) == r {
			return nil
		}
	}
	return fmt.Errorf("shape %v: want %s", mod.Shape, what)
}
