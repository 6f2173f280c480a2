// Package store keeps one JSON record per finished cell of a sweep. It is the only thing the trainer
// writes and the only thing reports read; it does not depend on libtorch.
package store

import (
	"bytes"
	"encoding/json"
	"time"
)

// SchemaVersion is bumped whenever a field changes meaning.
const SchemaVersion = 1

// Status of a finished cell.
const (
	StatusOK       = "ok"       // trained to the end; metrics are valid
	StatusDiverged = "diverged" // loss became NaN or infinite; Reason names the epoch
	StatusFailed   = "failed"   // an error ended the cell; Reason says which
)

// Record is everything one cell (method × dataset × encoder × seed) produced.
type Record struct {
	Schema int    `json:"schema"`
	Key    string `json:"key"`    // content key of the cell (see bench.CellKey); also the file name
	Status string `json:"status"` // StatusOK, StatusDiverged or StatusFailed
	Reason string `json:"reason,omitempty"`

	Method       string            `json:"method"`        // registered name, e.g. "joint"
	Label        string            `json:"label"`         // row label in tables: the method plus non-default params, e.g. "joint[fusion=mlp]"
	MethodParams map[string]string `json:"method_params"` // every hyper-parameter value used, defaults included

	Dataset       string            `json:"dataset"` // as named on the command line, e.g. "synthetic:mix=S"
	DatasetParams map[string]string `json:"dataset_params"`
	DatasetSHA256 string            `json:"dataset_sha256"`
	NumClasses    int               `json:"num_classes"`

	Encoder       string            `json:"encoder"`
	EncoderParams map[string]string `json:"encoder_params"`

	Seed int64 `json:"seed"`
	// Trial is the number (1…budget) of a `bench tune` trial: trained and scored on the validation
	// split only, with no test metrics. 0 for an ordinary cell.
	Trial int `json:"trial,omitempty"`
	// Tuning is set on a cell run with a configuration chosen by `bench tune`.
	Tuning    *Tuning     `json:"tuning,omitempty"`
	Train     TrainConfig `json:"train"`
	Selection string      `json:"selection"` // model-selection protocol, e.g. "best-val-acc"

	Curves    []EpochStats `json:"curves"`
	BestEpoch int          `json:"best_epoch"`
	// StoppedEarly is the last epoch trained when the recipe's early stopping ended training
	// before its epochs; 0 otherwise.
	StoppedEarly int     `json:"stopped_early,omitempty"`
	Val          Metrics `json:"val"`
	Test         Metrics `json:"test"`
	// TestPredictions are the selected model's predicted classes on the test split, in split order,
	// so the interactions a model learned can be estimated later without retraining.
	TestPredictions []int64 `json:"test_predictions,omitempty"`

	WallSeconds float64   `json:"wall_seconds"`
	Device      string    `json:"device"`
	Versions    Versions  `json:"versions"`
	Finished    time.Time `json:"finished"`
}

// Tuning says how a tuned configuration was chosen.
type Tuning struct {
	Budget      int     `json:"budget"`       // trials per method
	SamplerSeed uint64  `json:"sampler_seed"` // the same for every method
	TuneSeed    int64   `json:"tune_seed"`    // seed of the trials' data and initialisation
	BestTrial   int     `json:"best_trial"`
	BestValAcc  float64 `json:"best_val_acc"`
	Selection   string  `json:"selection"` // "validation accuracy; test split not read during trials"
}

// TrainConfig is how a cell trains: the optimisation protocol shared by every method of a sweep, or,
// when Recipe is "reference", the method's own reference recipe with every value resolved.
type TrainConfig struct {
	Optimizer   string  `json:"optimizer"` // sgd, adam or adamw
	LR          float64 `json:"lr"`
	Momentum    float64 `json:"momentum"`
	WeightDecay float64 `json:"weight_decay"`
	BatchSize   int     `json:"batch_size"`
	Epochs      int     `json:"epochs"`
	Threads     int     `json:"threads"`

	// Recipe is "reference" for a method's reference recipe; empty for the shared protocol (records
	// written before recipes existed read the same).
	Recipe string `json:"recipe,omitempty"`
	// RecipeSource names the reference file and the dataset whose settings were taken.
	RecipeSource string `json:"recipe_source,omitempty"`
	// RecipeNotes say which settings the reference does not give and were kept from the shared
	// protocol, and any deviation.
	RecipeNotes []string `json:"recipe_notes,omitempty"`
	// Schedule is the learning-rate schedule (none when nil).
	Schedule *Schedule `json:"schedule,omitempty"`
	// Init is the initialisation of linear and convolution layers: "" (PyTorch's defaults, the shared
	// protocol) or "xavier-normal" (Xavier-normal linear weights, Kaiming-normal fan-out convolutions,
	// zero biases: OGM-GE's weight_init).
	Init string `json:"init,omitempty"`
	// EarlyStop > 0 stops training after that many epochs without a better validation accuracy.
	EarlyStop int `json:"early_stop,omitempty"`
	// Stages, for a staged method (DMI), give each stage its learning rate and schedule; a fresh
	// optimiser is built at each switch. Stage i (1-based) uses Stages[i-1].
	Stages []StageConfig `json:"stages,omitempty"`
	// Alternate trains by alternating per-branch steps (the official MMTM code): on every batch, for
	// each branch k in turn, a fresh forward, the loss of branch k alone, and a step of branch k's
	// own optimiser, which holds the variables that branch updates (its own state, its lr following
	// Schedule). Only for a method with branches (bench.Alternating).
	Alternate bool `json:"alternate,omitempty"`
}

// Schedule is a learning-rate schedule stepped once per epoch, after validation.
type Schedule struct {
	Kind string `json:"kind"` // "step" (PyTorch StepLR), "multistep" (MultiStepLR) or "plateau" (ReduceLROnPlateau)
	// step: the rate is multiplied by Gamma every StepSize epochs.
	StepSize int     `json:"step_size,omitempty"`
	Gamma    float64 `json:"gamma,omitempty"`
	// multistep: the rate is multiplied by Gamma once the scheduler has stepped Milestones[i] times,
	// i.e. from 1-based epoch Milestones[i]+1 on (PyTorch's MultiStepLR stepped once per epoch).
	Milestones []int `json:"milestones,omitempty"`
	// plateau: the rate is multiplied by Factor after more than Patience epochs without a better
	// Monitor value ("val_loss", mode min; "val_acc", mode max); PyTorch's defaults otherwise
	// (relative threshold 1e-4, no cooldown, min lr 0).
	Factor   float64 `json:"factor,omitempty"`
	Patience int     `json:"patience,omitempty"`
	Monitor  string  `json:"monitor,omitempty"`
}

// StageConfig is one stage of a staged method under a recipe.
type StageConfig struct {
	LR       float64   `json:"lr"`
	Schedule *Schedule `json:"schedule,omitempty"`
}

// EpochStats is one point of the training curves.
type EpochStats struct {
	Epoch     int     `json:"epoch"` // 1-based
	TrainLoss float64 `json:"train_loss"`
	ValLoss   float64 `json:"val_loss"`
	ValAcc    float64 `json:"val_acc"`
	ValF1     float64 `json:"val_f1"`
	Stage     int     `json:"stage,omitempty"` // training stage of staged methods (DMI), else 0
	LR        float64 `json:"lr,omitempty"`    // learning rate of the epoch's steps
}

// Metrics of one split at the selected epoch.
//
// A decoded record may lack a metric: the file has no "val" or "test" object, the object is null, or
// a field is absent or null. The field then reads 0, and Has reports false, so that readers can
// tell a missing value from a real 0. Metrics built in the process have every field.
type Metrics struct {
	Acc     float64 `json:"acc"`
	MacroF1 float64 `json:"macro_f1"`
	Loss    float64 `json:"loss"`
	// PerModality holds the accuracy of each unimodal output where the method has one, keyed by modality name.
	PerModality map[string]float64 `json:"per_modality,omitempty"`
	// Extra holds method-specific readouts (e.g. DMI's R/U1/U2/S), keyed by name.
	Extra map[string]float64 `json:"extra,omitempty"`

	// absent has a bit per scalar metric that the decoded file lacked or held as null. Absence,
	// not presence, is recorded, so the zero value (a record built in the process) has every metric.
	absent metricBits
}

type metricBits uint8

const (
	absentAcc metricBits = 1 << iota
	absentMacroF1
	absentLoss

	absentAll = absentAcc | absentMacroF1 | absentLoss
)

// Has reports whether the metric with this JSON name ("acc", "macro_f1" or "loss") has a value:
// false when a decoded record lacked it or held null. Other names are not scalar metrics: false.
func (m Metrics) Has(name string) bool {
	var bit metricBits
	switch name {
	case "acc":
		bit = absentAcc
	case "macro_f1":
		bit = absentMacroF1
	case "loss":
		bit = absentLoss
	default:
		return false
	}
	return m.absent&bit == 0
}

// metricsJSON is the file form of Metrics; a nil number is an absent or null field.
type metricsJSON struct {
	Acc         *float64           `json:"acc"`
	MacroF1     *float64           `json:"macro_f1"`
	Loss        *float64           `json:"loss"`
	PerModality map[string]float64 `json:"per_modality,omitempty"`
	Extra       map[string]float64 `json:"extra,omitempty"`
}

// UnmarshalJSON decodes the metrics and records which scalar fields were absent or null. A null
// object leaves m unchanged (the json package's convention); Record's decoder marks a null or
// absent split as lacking every metric.
func (m *Metrics) UnmarshalJSON(b []byte) error {
	if isNull(b) {
		return nil
	}
	var w metricsJSON
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*m = Metrics{PerModality: w.PerModality, Extra: w.Extra}
	for _, f := range []struct {
		src *float64
		dst *float64
		bit metricBits
	}{{w.Acc, &m.Acc, absentAcc}, {w.MacroF1, &m.MacroF1, absentMacroF1}, {w.Loss, &m.Loss, absentLoss}} {
		if f.src == nil {
			m.absent |= f.bit
		} else {
			*f.dst = *f.src
		}
	}
	return nil
}

// MarshalJSON writes an absent metric as null, so a re-saved record keeps the absence instead of
// acquiring a 0. Metrics with every field encode exactly as the plain struct would.
func (m Metrics) MarshalJSON() ([]byte, error) {
	w := metricsJSON{PerModality: m.PerModality, Extra: m.Extra}
	if m.Has("acc") {
		w.Acc = &m.Acc
	}
	if m.Has("macro_f1") {
		w.MacroF1 = &m.MacroF1
	}
	if m.Has("loss") {
		w.Loss = &m.Loss
	}
	return json.Marshal(w)
}

// UnmarshalJSON decodes a record. A "val" or "test" object that is absent or null lacks every
// metric (see Metrics.Has), instead of reading as zeros. A null record leaves r unchanged.
func (r *Record) UnmarshalJSON(b []byte) error {
	if isNull(b) {
		return nil
	}
	type plain Record // the same fields without this method
	p := plain{Val: Metrics{absent: absentAll}, Test: Metrics{absent: absentAll}}
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	*r = Record(p)
	return nil
}

func isNull(b []byte) bool { return bytes.Equal(bytes.TrimSpace(b), []byte("null")) }

// Versions identifies the software that produced a record.
type Versions struct {
	Harness  string `json:"harness"`
	Go       string `json:"go"`
	Gotch    string `json:"gotch"`
	Libtorch string `json:"libtorch"`
	Git      string `json:"git,omitempty"`
}
