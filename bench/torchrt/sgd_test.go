package torchrt

import "testing"

// gotch's SGD step (scripts/gotch/sgd.cpp) leaves every parameter bit-identical to libtorch's own
// torch::optim::SGD over 25 steps, on both its paths (the single-pass update and the op sequence):
// plain, with momentum (the first step's buffer is the gradient), weight decay, dampening and
// Nesterov, and a parameter that never gets a gradient.
func TestSGDMatchesLibtorch(t *testing.T) {
	t.Logf("single-pass update on this CPU: %v", SGDFused())
	for _, c := range []struct {
		lr, momentum, dampening, wd float64
		nesterov                    bool
	}{
		{0.01, 0, 0, 0, false},
		{0.01, 0.9, 0, 1e-4, false}, // bench run's default
		{0.5, 0.9, 0, 0, false},
		{0.1, 0.9, 0.1, 5e-4, false},
		{0.05, 0.9, 0, 1e-3, true},
		{1e-3, 0, 0, 1e-2, false},
	} {
		for _, fused := range []bool{true, false} {
			if d := sgdSelfTest(c.lr, c.momentum, c.dampening, c.wd, c.nesterov, fused, 25); d != 0 {
				t.Errorf("lr %g momentum %g dampening %g weight decay %g nesterov %v (fused %v): %d values differ from torch::optim::SGD", c.lr, c.momentum, c.dampening, c.wd, c.nesterov, fused, d)
			}
		}
	}
}
