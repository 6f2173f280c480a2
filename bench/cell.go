package bench

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"strings"

	"github.com/mmfusion/bench/bench/data"
	"github.com/mmfusion/bench/bench/store"
)

// Version is the harness version, part of every cell key: a change that alters results bumps it.
// 0.2.0 (issue 12): PMR's prototype blend starts one epoch later, DMI's stage-1 coefficients follow
// modality roles (CREMA-D and KS changed), pmr-per's entropy term has a temperature.
const Version = "0.2.0"

// Selection is the model-selection protocol: the epoch with the best validation accuracy (earliest on
// ties) is restored and evaluated once on the test split. The test split is never used for selection.
const Selection = "best-val-acc"

// Cell is one unit of a sweep: a method on a dataset with an encoder and a seed.
type Cell struct {
	Method        string
	MethodParams  Params
	Dataset       string // spec as given, e.g. "synthetic:mix=S"
	Encoder       string
	EncoderParams Params
	Seed          int64
	Train         store.TrainConfig
	// Trial > 0 marks a tuning trial: trained and scored on validation only, never on test.
	Trial int
	// Tuning is set when the configuration came from `bench tune`.
	Tuning *store.Tuning
}

// NewCell resolves a method and an encoder by name and applies overrides to their defaults.
func NewCell(method string, methodSets map[string]string, dataset, encoder string, encoderSets map[string]string,
	seed int64, train store.TrainConfig) (*Cell, error) {
	ms, err := Methods.Lookup(method)
	if err != nil {
		return nil, err
	}
	mp, err := NewParams("method "+method, ms.Value.Params, methodSets)
	if err != nil {
		return nil, err
	}
	es, err := Encoders.Lookup(encoder)
	if err != nil {
		return nil, err
	}
	ep, err := NewParams("encoder "+encoder, es.Value.Params, encoderSets)
	if err != nil {
		return nil, err
	}
	return &Cell{Method: method, MethodParams: mp, Dataset: dataset, Encoder: encoder, EncoderParams: ep, Seed: seed, Train: train}, nil
}

// CheckTrain refuses a training configuration that cannot train: NaN and ±Inf everywhere, epochs
// and batch size ≥ 1, learning rate > 0, momentum in [0, 1), weight decay ≥ 0, threads ≥ 0. The
// planner calls it before anything trains; Train calls it again for cells built elsewhere.
func CheckTrain(t store.TrainConfig) error {
	finite := func(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }
	switch {
	case t.Epochs < 1:
		return fmt.Errorf("--epochs %d: must be at least 1", t.Epochs)
	case t.BatchSize < 1:
		return fmt.Errorf("--batch-size %d: must be at least 1", t.BatchSize)
	case !finite(t.LR) || !(t.LR > 0):
		return fmt.Errorf("--lr %g: must be a finite number > 0", t.LR)
	case !finite(t.Momentum) || t.Momentum < 0 || t.Momentum >= 1:
		return fmt.Errorf("--momentum %g: must be in [0, 1)", t.Momentum)
	case !finite(t.WeightDecay) || t.WeightDecay < 0:
		return fmt.Errorf("--weight-decay %g: must be a finite number ≥ 0", t.WeightDecay)
	case t.Threads < 0:
		return fmt.Errorf("--threads %d: must be ≥ 0 (0 = cores / jobs)", t.Threads)
	case t.Optimizer != "" && t.Optimizer != "sgd" && t.Optimizer != "adam" && t.Optimizer != "adamw":
		return fmt.Errorf("optimizer %q: want sgd (the default), adam or adamw", t.Optimizer)
	case t.Init != InitDefault && t.Init != InitXavierNormal:
		return fmt.Errorf("initialisation %q: want %q or %q", t.Init, InitDefault, InitXavierNormal)
	case t.EarlyStop < 0:
		return fmt.Errorf("early stop %d: must be ≥ 0", t.EarlyStop)
	case t.Alternate && len(t.Stages) > 0:
		return fmt.Errorf("alternating per-branch steps with training stages: not supported")
	}
	if err := checkSchedule(t.Schedule); err != nil {
		return err
	}
	for i, st := range t.Stages {
		if !finite(st.LR) || !(st.LR > 0) {
			return fmt.Errorf("stage %d learning rate %g: must be a finite number > 0", i+1, st.LR)
		}
		if err := checkSchedule(st.Schedule); err != nil {
			return fmt.Errorf("stage %d: %w", i+1, err)
		}
	}
	return nil
}

// NewRecord returns a record holding the cell's key fields (everything but key, status, metrics and
// versions), for a finished, diverged or failed run alike.
func (c *Cell) NewRecord(ds *data.Meta) *store.Record {
	return &store.Record{
		Method: c.Method, Label: c.Label(), MethodParams: c.MethodParams.Map(),
		Dataset: c.Dataset, DatasetParams: ds.Params, DatasetSHA256: ds.SHA256, NumClasses: ds.NumClasses,
		Encoder: c.Encoder, EncoderParams: c.EncoderParams.Map(), Seed: c.Seed, Train: c.Train,
		Selection: Selection, Trial: c.Trial, Tuning: c.Tuning,
	}
}

// Label is the row label in tables: the method plus its non-default hyper-parameters.
// A cell trained under a method's reference recipe is labelled "(reference recipe)".
func (c *Cell) Label() string { return c.paramLabel() + c.partialSuffix() }

// paramLabel is Label without the note of a configuration that is not the full method (partial.go).
func (c *Cell) paramLabel() string {
	suffix := ""
	if c.Train.Recipe == RecipeReference {
		suffix = " (reference recipe)"
	}
	if c.Tuning != nil {
		return c.Method + " (tuned)" + suffix
	}
	nd := c.MethodParams.NonDefault()
	if len(nd) == 0 {
		return c.Method + suffix
	}
	return c.Method + "[" + strings.Join(nd, ",") + "]" + suffix
}

// keyFields are what determine a cell's result; their hash is the cell key.
type keyFields struct {
	Method        string            `json:"method"`
	MethodParams  map[string]string `json:"method_params"`
	Dataset       string            `json:"dataset"`
	DatasetSHA256 string            `json:"dataset_sha256"`
	Encoder       string            `json:"encoder"`
	EncoderParams map[string]string `json:"encoder_params"`
	Seed          int64             `json:"seed"`
	Epochs        int               `json:"epochs"`
	LR            float64           `json:"lr"`
	Momentum      float64           `json:"momentum"`
	WeightDecay   float64           `json:"weight_decay"`
	BatchSize     int               `json:"batch_size"`
	Selection     string            `json:"selection"`
	Version       string            `json:"version"`
	Trial         int               `json:"trial,omitempty"`
	TunedBudget   int               `json:"tuned_budget,omitempty"`
	TunedSampler  uint64            `json:"tuned_sampler,omitempty"`
	Recipe        *recipeKeyFields  `json:"recipe,omitempty"` // nil under the shared protocol
}

var unsafeChars = regexp.MustCompile(`[^A-Za-z0-9.=+-]+`)

// Key is the content key of the cell: a readable prefix and a hash of everything that determines
// the result (the dataset by its checksum, so a changed file or generator gives a new key). Thread
// counts and the device are not part of it: they change speed, not what is computed.
func (c *Cell) Key(datasetSHA256 string) string {
	kf := keyFields{
		Method: c.Method, MethodParams: c.MethodParams.Map(), Dataset: c.Dataset, DatasetSHA256: datasetSHA256,
		Encoder: c.Encoder, EncoderParams: c.EncoderParams.Map(), Seed: c.Seed,
		Epochs: c.Train.Epochs, LR: c.Train.LR, Momentum: c.Train.Momentum, WeightDecay: c.Train.WeightDecay,
		BatchSize: c.Train.BatchSize, Selection: Selection, Version: Version, Trial: c.Trial,
		Recipe: recipeKey(c.Train),
	}
	if c.Tuning != nil {
		kf.TunedBudget, kf.TunedSampler = c.Tuning.Budget, c.Tuning.SamplerSeed
	}
	b, _ := json.Marshal(kf) // maps marshal with sorted keys: canonical
	sum := sha256.Sum256(b)
	kind := ""
	if c.Train.Recipe == RecipeReference {
		kind = "_ref"
	}
	switch {
	case c.Trial > 0:
		kind += fmt.Sprintf("_trial%d", c.Trial)
	case c.Tuning != nil:
		kind += "_tuned"
	}
	prefix := unsafeChars.ReplaceAllString(fmt.Sprintf("%s_%s_%s_s%d%s", c.Method, c.Dataset, c.Encoder, c.Seed, kind), "-")
	if len(prefix) > 80 {
		prefix = prefix[:80]
	}
	return prefix + "_" + hex.EncodeToString(sum[:8])
}
