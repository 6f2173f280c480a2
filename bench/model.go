package bench

import (
	"fmt"
	"slices"
	"strings"

	"github.com/mmfusion/bench/bench/data"
	"github.com/mmfusion/bench/bench/registry"
	"github.com/mmfusion/bench/bench/torchrt"
	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"
)

// Batch is what a method sees in one step.
type Batch struct {
	X     []*ts.Tensor // one per modality, (B, shape…), on the run's device
	Y     *ts.Tensor   // int64 labels (B)
	Index []int64      // positions of the samples in their split (QMF keeps per-sample history)
	Epoch int          // 1-based training epoch (for evaluation: the epoch just trained)
}

// Outputs are a method's predictions for a batch.
type Outputs struct {
	Fused *ts.Tensor // logits (B, K) used for accuracy and model selection
	// PerModality holds unimodal logits (B, K) per modality where the method has them; nil entries or
	// a nil slice mean "none".
	PerModality []*ts.Tensor
	// Readout holds per-sample values (B) that the trainer averages over a split into
	// Metrics.Extra under the same name (e.g. DMI's per-component information estimates).
	Readout map[string]*ts.Tensor
}

// Encoder maps one modality's batch to a pooled feature vector (B, OutDim). train selects training
// behaviour (BatchNorm batch statistics, dropout); pass false to run a frozen encoder.
type Encoder interface {
	Forward(s *torchrt.Scope, x *ts.Tensor, train bool) *ts.Tensor
	OutDim() int64
}

// StagedEncoder is an encoder that exposes its intermediate feature maps (MMTM fuses between
// stages). Forward(x) equals Pool(ForwardStage(n-1, … ForwardStage(0, x))).
type StagedEncoder interface {
	Encoder
	NumStages() int
	// ForwardStage runs stage i (0-based) on x: the input for i = 0, else stage i−1's output.
	// The result has the channel dimension at position 1: (B, C) or (B, C, …).
	ForwardStage(s *torchrt.Scope, i int, x *ts.Tensor, train bool) *ts.Tensor
	// StageChannels is C of stage i's output.
	StageChannels(i int) int64
	// Pool maps the last stage's output to the feature (B, OutDim).
	Pool(s *torchrt.Scope, x *ts.Tensor) *ts.Tensor
}

// EncoderSpec is a registered encoder.
type EncoderSpec struct {
	// Staged says that the encoder is a StagedEncoder, so a sweep can refuse a method that needs
	// stages before training anything.
	Staged bool
	Params []ParamSpec
	New    func(p *nn.Path, mod data.Modality, params Params) (Encoder, error)
	// Accepts, when set, says whether the encoder can take modality mod (its per-sample shape) with
	// parameters params: nil, or every reason New would refuse them (shape, and constraints between
	// parameters such as heads dividing dim), found without building anything, so a plan can refuse
	// e.g. lenet on vector data before training. The error does not name the encoder (CheckModality
	// and CheckCell add it). nil Accepts means "no check": New is the judge.
	Accepts func(mod data.Modality, params Params) error
}

// Env is what a method receives when it is built: its parameter path, one encoder per modality, the
// task, its hyper-parameters, and access to variables and per-cell noise.
type Env struct {
	Path       *nn.Path // root for the method's own parameters (heads, fusion modules)
	Encoders   []Encoder
	Modalities []data.Modality
	NumClasses int64
	Params     Params
	Device     gotch.Device
	// EncoderVars[m] are the variables (parameters and buffers) of modality m's encoder, by name.
	// Gradient-modulating methods (OGM-GE) rescale their gradients in AfterBackward.
	EncoderVars []map[string]*ts.Tensor
	// Vars returns every variable of the model (encoders and the method's own), by name; call it
	// after building the method's layers to include them. Used for global gradient clipping,
	// freezing and checkpoints.
	Vars func() map[string]*ts.Tensor
	// Noise draws Gaussian noise from the cell's own generator (seeded by the cell seed), so that
	// concurrent cells stay deterministic; libtorch's global generator is shared by the process.
	Noise *Noise
}

// Method trains through Forward: the trainer calls it, back-propagates the loss and steps the optimiser.
type Method interface {
	// Forward returns the loss to minimise (a scalar) and the outputs for b. With train false it must
	// not change any state (evaluation).
	Forward(s *torchrt.Scope, b *Batch, train bool) (loss *ts.Tensor, out Outputs)
}

// MethodSpec is a registered method.
type MethodSpec struct {
	Params []ParamSpec
	Needs  Needs
	New    func(env *Env) (Method, error)
	// Validate, when set, checks constraints between the method's parameters, or between them and
	// the run's epoch budget, that a single ParamSpec.Range cannot express (e.g. a modulation window
	// with start ≤ end). params passed NewParams already; epochs is the run's --epochs (≤ 0: not
	// known, budget checks are skipped). The error does not name the method (CheckParams and
	// CheckCell add it). Call it through MethodSpec.CheckParams or CheckCell.
	Validate func(params Params, epochs int) error
	// Partial, when set, says how a configuration that Validate accepts falls short of the full
	// method in a run of epochs epochs (e.g. "stage 1 only" for DMI whose later stages never start),
	// or "" when it is the full method (and when epochs ≤ 0). Cell.Label shows it, so a table never
	// reports such a run under the method's name, and `bench tune` never samples such a trial.
	Partial func(params Params, epochs int) string
	// FitModalities, when set, says why the method with params cannot run on n modalities (e.g. one
	// weight per modality given for another count), or nil. The error does not name the method.
	// Called through MethodSpec.CheckModalities.
	FitModalities func(params Params, n int) error
}

// PartialNote is spec's Partial for params and epochs, or "" when the method has no Partial hook.
func (s MethodSpec) PartialNote(params Params, epochs int) string {
	if s.Partial == nil || epochs <= 0 {
		return ""
	}
	return s.Partial(params, epochs)
}

// Needs declares what a method requires beyond the plain loop; the trainer refuses a combination it
// cannot serve (e.g. a method that needs stages on an encoder without them) before training.
type Needs struct {
	EncoderStages bool // every encoder must be a StagedEncoder
	TwoModalities bool // defined for exactly two modalities
	// TwoModalitiesWhy, with TwoModalities, says why the method is bound to two modalities (and what to
	// run instead); CheckModalities quotes it in the refusal.
	TwoModalitiesWhy string
	// MinModalities, when > 0, is the fewest modalities the method uses (uni-3 reads modality 3).
	MinModalities int
	// Encoders, when set, are the only encoders the method can run on: it builds on their internals
	// (CEN assembles one shared-convolution network from the resnet18 encoders). sweep.Incompatible
	// refuses any other at plan time (skipped with a note under --methods all), and Build too.
	Encoders []string
}

// CheckEncoder says why method, with these needs, cannot run on encoder (nil when it can).
func (nd Needs) CheckEncoder(method, encoder string) error {
	if len(nd.Encoders) > 0 && !slices.Contains(nd.Encoders, encoder) {
		return fmt.Errorf("method %s builds its network from the layers of encoder %s and runs on no other; encoder %s cannot serve it",
			method, strings.Join(nd.Encoders, " or "), encoder)
	}
	return nil
}

// CheckModalities says why method, with these needs, cannot run on a dataset with n modalities (nil
// when it can). MethodSpec.CheckModalities adds the parameter-dependent check.
func (nd Needs) CheckModalities(method, dataset string, n int) error {
	if nd.TwoModalities && n != 2 {
		why := ""
		if nd.TwoModalitiesWhy != "" {
			why = ": " + nd.TwoModalitiesWhy
		}
		return fmt.Errorf("method %s is defined for exactly two modalities%s; dataset %s has %d", method, why, dataset, n)
	}
	if n < nd.MinModalities {
		return fmt.Errorf("method %s needs at least %d modalities; dataset %s has %d", method, nd.MinModalities, dataset, n)
	}
	return nil
}

// CheckModalities says why method, with parameters params, cannot run on a dataset with n
// modalities: its Needs, then its FitModalities hook (nil when it can). Planners call it through
// CheckCell and sweep.Plan (which skips the method with the reason under --methods all); Build calls
// it again.
func (s MethodSpec) CheckModalities(method, dataset string, n int, params Params) error {
	if err := s.Needs.CheckModalities(method, dataset, n); err != nil {
		return err
	}
	if s.FitModalities != nil {
		if err := s.FitModalities(params, n); err != nil {
			return fmt.Errorf("method %s on dataset %s (%d modalities): %w", method, dataset, n, err)
		}
	}
	return nil
}

// Optional hooks a method may implement. The trainer calls them when present.

// AfterBackwarder is called after the loss's backward pass and before the optimiser step, with the
// batch of that step: gradient modulation (OGM-GE), conditional clipping (AGM).
type AfterBackwarder interface {
	AfterBackward(s *torchrt.Scope, b *Batch)
}

// EpochStarter is called before each training epoch (1-based), with the training split, e.g. to
// recompute PMR's prototypes.
type EpochStarter interface {
	EpochStart(ec *EpochContext)
}

// EpochContext gives an epoch hook access to the training data.
type EpochContext struct {
	Epoch     int
	Train     *SplitTensors
	BatchSize int
	Device    gotch.Device
	// Order is a shuffled order of the training split drawn from the cell's generator.
	Order []int64
}

// Alternating is a method with branches that can train by alternating per-branch steps
// (store.TrainConfig.Alternate, the official MMTM code): on every batch, for k = 0 … Branches()−1 in
// turn, a fresh forward whose loss is BranchLoss(k), and a step of branch k's own optimiser over
// BranchVars(k). Variables may belong to several branches (MMTM's fusion modules): each branch's
// optimiser keeps its own state for them.
type Alternating interface {
	Branches() int
	// BranchVars are the variables that branch k's steps update (the trainer keeps the trainable ones).
	BranchVars(k int) []*ts.Tensor
	// BranchLoss is the training loss of branch k on b from a fresh training-mode forward.
	BranchLoss(s *torchrt.Scope, b *Batch, k int) *ts.Tensor
}

// Closer frees state a method keeps across steps (prototypes, histories); the trainer calls it when
// the run ends.
type Closer interface {
	Close()
}

// Staged methods train in stages (DMI). At the first epoch of each new stage the trainer restores the
// best checkpoint (by validation accuracy) of the previous stage, calls EnterStage, builds a fresh
// optimiser with the returned learning rate (≤ 0: the run's), and restarts model selection; the final
// model is the best of the last stage.
type Staged interface {
	Stage(epoch int) int
	EnterStage(stage int) (lr float64)
}

// Registries of methods and encoders; each method and encoder file adds itself in init.
var (
	Methods  = registry.New[MethodSpec]("method")
	Encoders = registry.New[EncoderSpec]("encoder")
)
