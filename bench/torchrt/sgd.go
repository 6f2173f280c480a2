package torchrt

// gotch's SGD optimizer is scripts/gotch/sgd.cpp's (scripts/setup.sh, patch 13): libtorch's SGD step
// without its per-parameter string lookups, bit-identical to it. Its self-test is declared here for
// sgd_test.go (cgo cannot be used in test files).

// #include <stdint.h>
// int64_t bench_sgd_selftest(double lr, double momentum, double dampening, double weight_decay, int nesterov, int steps, int fused);
// int bench_sgd_fused();
import "C"

// SGDFused reports whether SGD steps update float32 CPU parameters in one pass (this CPU has FMA and
// ATen's add-with-alpha is one) rather than with libtorch's op sequence; the values are the same.
func SGDFused() bool { return C.bench_sgd_fused() == 1 }

// sgdSelfTest runs gotch's SGD (fused: its single-pass update where the CPU allows; else the op
// sequence) and libtorch's torch::optim::SGD side by side for steps steps and returns the number of
// parameter values whose bits differ (-1: libtorch failed).
func sgdSelfTest(lr, momentum, dampening, weightDecay float64, nesterov, fused bool, steps int) int64 {
	b := func(v bool) C.int {
		if v {
			return 1
		}
		return 0
	}
	return int64(C.bench_sgd_selftest(C.double(lr), C.double(momentum), C.double(dampening), C.double(weightDecay), b(nesterov), C.int(steps), b(fused)))
}
