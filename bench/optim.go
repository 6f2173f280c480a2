package bench

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/mmfusion/bench/bench/store"
	"github.com/mmfusion/bench/bench/torchrt"
	"github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"
)

// NewOptimizer builds the configuration's optimiser over every variable of vs at rate lr: SGD
// (momentum, no dampening, not Nesterov), Adam or AdamW (PyTorch's betas 0.9, 0.999), each with the
// configuration's weight decay (L2 for SGD and Adam, decoupled for AdamW, as in PyTorch).
func NewOptimizer(t store.TrainConfig, vs *nn.VarStore, lr float64) (*nn.Optimizer, error) {
	switch t.Optimizer {
	case "sgd", "":
		return nn.NewSGDConfig(t.Momentum, 0, t.WeightDecay, false).Build(vs, lr)
	case "adam":
		return nn.NewAdamConfig(0.9, 0.999, t.WeightDecay).Build(vs, lr)
	case "adamw":
		return nn.NewAdamWConfig(0.9, 0.999, t.WeightDecay).Build(vs, lr)
	}
	return nil, fmt.Errorf("optimizer %q: want sgd, adam or adamw", t.Optimizer)
}

// schedule steps a learning-rate schedule once per epoch, after validation (gotch's StepLR,
// MultiStepLR and ReduceLROnPlateau, which follow PyTorch's; gotch rounds StepLR's and MultiStepLR's
// rates to 10 decimals).
type schedule struct {
	s       *nn.LRScheduler
	monitor string
}

func newSchedule(opt *nn.Optimizer, sc *store.Schedule) *schedule {
	switch {
	case sc == nil:
		return &schedule{}
	case sc.Kind == "step":
		return &schedule{s: nn.NewStepLR(opt, sc.StepSize, sc.Gamma).Build()}
	case sc.Kind == "multistep":
		return &schedule{s: nn.NewMultiStepLR(opt, sc.Milestones, sc.Gamma).Build()}
	}
	mode := "min"
	if sc.Monitor == "val_acc" {
		mode = "max"
	}
	p := nn.NewReduceLROnPlateau(opt, nn.WithReduceOnPlateauMode(mode), nn.WithReduceOnPlateauFactor(sc.Factor),
		nn.WithReduceOnPlateauPatience(sc.Patience))
	return &schedule{s: nn.NewLRScheduler(p), monitor: sc.Monitor}
}

// step ends an epoch whose validation metrics are vm.
func (sc *schedule) step(vm store.Metrics) {
	switch {
	case sc.s == nil:
	case sc.monitor == "val_loss":
		sc.s.Step(nn.WithLoss(vm.Loss))
	case sc.monitor == "val_acc":
		sc.s.Step(nn.WithLoss(vm.Acc))
	default:
		sc.s.Step()
	}
}

// initXavierNormal re-initialises vs as OGM-GE's weight_init (PMR and AGM use the same): the weight
// of every linear layer (a 2-D "…weight" with a "…bias" beside it) Xavier-normal, std √(2/(fan_in +
// fan_out)); every convolution weight (≥ 3-D "…weight") Kaiming-normal in fan-out mode for ReLU,
// std √(2/fan_out), fan_out = out channels × kernel size; their biases zero. Normalisation layers
// keep weight 1 and bias 0 (their defaults) and other variables (LSTM, embeddings, prototypes) are
// left as built. Variables are visited in name order so the draws are reproducible.
func initXavierNormal(vs *nn.VarStore) {
	vars := vs.Variables()
	names := make([]string, 0, len(vars))
	for n := range vars {
		names = append(names, n)
	}
	slices.Sort(names)
	torchrt.NoGrad(func() {
		for _, n := range names {
			w := vars[n]
			base, ok := strings.CutSuffix(n, "weight")
			if !ok {
				continue
			}
			shape := w.MustSize()
			_, hasBias := vars[base+"bias"]
			var std float64
			switch {
			case len(shape) == 2 && hasBias:
				std = math.Sqrt(2 / float64(shape[0]+shape[1]))
			case len(shape) >= 3:
				fanOut := shape[0]
				for _, k := range shape[2:] {
					fanOut *= k
				}
				std = math.Sqrt(2 / float64(fanOut))
			default:
				continue
			}
			// vs.Variables() returns copies of the variables' handles, and gotch's generated in-place
			// ops swap the handle they are called on (scripts/setup.sh, patch 5), so the new values
			// are drawn into tensors of our own and copied in with Copy_, which keeps the handle.
			draw := ts.MustRandn(shape, w.DType(), w.MustDevice())
			k := ts.FloatScalar(std)
			draw.MustMulScalar_(k)
			k.MustDrop()
			w.Copy_(draw)
			draw.MustDrop()
			if b, ok := vars[base+"bias"]; ok {
				z := b.MustZerosLike(false)
				b.Copy_(z)
				z.MustDrop()
			}
		}
	})
}

// newCOptimizer is NewOptimizer's optimiser as a bare C optimiser holding no variables yet (add them
// with AddParameters): the per-branch optimisers of alternating steps hold a subset of the model.
func newCOptimizer(t store.TrainConfig, lr float64) (*ts.COptimizer, error) {
	switch t.Optimizer {
	case "sgd", "":
		return ts.Sgd(lr, t.Momentum, 0, t.WeightDecay, false)
	case "adam":
		return ts.Adam(lr, 0.9, 0.999, t.WeightDecay)
	case "adamw":
		return ts.AdamW(lr, 0.9, 0.999, t.WeightDecay)
	}
	return nil, fmt.Errorf("optimizer %q: want sgd, adam or adamw", t.Optimizer)
}
