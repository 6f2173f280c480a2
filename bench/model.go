package bench

import (
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
}

// Outputs are a method's predictions for a batch.
type Outputs struct {
	Fused *ts.Tensor // logits (B, K) used for accuracy and model selection
	// PerModality holds unimodal logits (B, K) per modality where the method has them; nil entries or
	// a nil slice mean "none".
	PerModality []*ts.Tensor
}

// Encoder maps one modality's batch to a pooled feature vector (B, OutDim).
type Encoder interface {
	Forward(s *torchrt.Scope, x *ts.Tensor, train bool) *ts.Tensor
	OutDim() int64
}

// EncoderSpec is a registered encoder.
type EncoderSpec struct {
	Params []ParamSpec
	New    func(p *nn.Path, mod data.Modality, params Params) (Encoder, error)
}

// Env is what a method receives when it is built: its parameter path, one encoder per modality, the
// task, and its hyper-parameters.
type Env struct {
	Path       *nn.Path // root for the method's own parameters (heads, fusion modules)
	Encoders   []Encoder
	Modalities []data.Modality
	NumClasses int64
	Params     Params
	Device     gotch.Device
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
	New    func(env *Env) (Method, error)
}

// Registries of methods and encoders; each method and encoder file adds itself in init.
var (
	Methods  = registry.New[MethodSpec]("method")
	Encoders = registry.New[EncoderSpec]("encoder")
)
