package bench

import (
	"fmt"
	"slices"
	"strings"

	"github.com/mmfusion/bench/bench/store"
)

// Recipe names (--recipe).
const (
	// RecipeShared is the shared protocol: one optimiser, learning rate, epoch budget and selection
	// for every method (what the seed paper claims). Its records carry no recipe field.
	RecipeShared = "shared"
	// RecipeReference trains each method with its own reference recipe.
	RecipeReference = "reference"
)

// Init values of store.TrainConfig.Init.
const (
	InitDefault      = ""              // PyTorch's layer defaults (uniform ±1/√fan_in), the shared protocol's
	InitXavierNormal = "xavier-normal" // OGM-GE's weight_init: linear Xavier-normal, conv Kaiming-normal fan-out, zero bias
)

// ReferenceRecipe is a method's published training recipe for some datasets, taken from its
// reference code (methods.md, "Defaults" row of the method's section). A zero field is not given by
// the reference: the shared protocol's value is kept and a note says so.
type ReferenceRecipe struct {
	Source   string   // reference file and the dataset its values come from
	Datasets []string // dataset names (as in --dataset) the values are for; empty: the method's only recipe
	// Optimiser settings. Momentum applies to SGD only.
	Optimizer         string
	LR, Momentum, WD  float64
	WDSet             bool // WD is given (a weight decay of 0 is a value)
	BatchSize, Epochs int
	Schedule          *store.Schedule
	Init              string
	EarlyStop         int
	Stages            []store.StageConfig
	// Alternate: alternating per-branch steps, one optimiser per branch (store.TrainConfig.Alternate).
	Alternate bool
	Notes     []string // deviations of our implementation of the recipe
}

// NoRecipe is registered for a method whose reference has no training recipe; the reason is
// recorded and the shared protocol used.
type NoRecipe struct{ Reason string }

type recipeEntry struct {
	rows []ReferenceRecipe
	none *NoRecipe
}

var recipes = map[string]recipeEntry{}

// RegisterRecipe declares a method's reference recipes, the first row being the one used for a
// dataset no row names.
func RegisterRecipe(method string, rows ...ReferenceRecipe) {
	recipes[method] = recipeEntry{rows: rows}
}

// RegisterNoRecipe declares that a method's reference gives no training recipe.
func RegisterNoRecipe(method, reason string) {
	recipes[method] = recipeEntry{none: &NoRecipe{Reason: reason}}
}

// Recipes returns the registered recipes of a method (nil and the reason when it has none).
func Recipes(method string) ([]ReferenceRecipe, string) {
	e := recipes[method]
	if e.none != nil {
		return nil, e.none.Reason
	}
	return e.rows, ""
}

// CheckRecipeName refuses an unknown --recipe.
func CheckRecipeName(name string) error {
	if name != RecipeShared && name != RecipeReference {
		return fmt.Errorf("--recipe %q: want %s or %s", name, RecipeShared, RecipeReference)
	}
	return nil
}

// ResolveRecipe returns the training configuration of a cell of method on the dataset named
// dataset (its name without parameters, e.g. "cremad") under the named recipe. The shared recipe
// returns shared unchanged. The reference recipe starts from shared and replaces every value the
// method's reference gives, recording its source, what was kept from shared, and why.
func ResolveRecipe(name, method, dataset string, shared store.TrainConfig) (store.TrainConfig, error) {
	if err := CheckRecipeName(name); err != nil {
		return shared, err
	}
	if name == RecipeShared {
		return shared, nil
	}
	t := shared
	t.Recipe = RecipeReference
	e, ok := recipes[method]
	if !ok {
		return t, fmt.Errorf("method %s declares no reference recipe (register one in methods/recipes.go)", method)
	}
	if e.none != nil {
		t.RecipeSource = "none"
		t.RecipeNotes = []string{"no reference recipe: " + e.none.Reason + "; shared protocol"}
		return t, nil
	}
	row := e.rows[0]
	for _, r := range e.rows {
		if slices.Contains(r.Datasets, dataset) {
			row = r
			break
		}
	}
	t.RecipeSource = row.Source
	var notes []string
	if len(row.Datasets) > 0 && !slices.Contains(row.Datasets, dataset) {
		notes = append(notes, fmt.Sprintf("the reference gives no settings for %s; closest: %s", dataset, strings.Join(row.Datasets, ", ")))
	}
	kept := []string{}
	if row.Optimizer != "" {
		t.Optimizer = row.Optimizer
	} else {
		kept = append(kept, "optimizer")
	}
	if row.LR > 0 {
		t.LR = row.LR
	} else if len(row.Stages) == 0 {
		kept = append(kept, "lr")
	}
	if t.Optimizer == "sgd" {
		if row.Momentum > 0 {
			t.Momentum = row.Momentum
		} else {
			kept = append(kept, "momentum")
		}
	} else {
		t.Momentum = 0 // Adam's betas are PyTorch's defaults (0.9, 0.999)
	}
	if row.WDSet {
		t.WeightDecay = row.WD
	} else {
		kept = append(kept, "weight decay")
	}
	if row.BatchSize > 0 {
		t.BatchSize = row.BatchSize
	} else {
		kept = append(kept, "batch size")
	}
	if row.Epochs > 0 {
		t.Epochs = row.Epochs
	} else {
		kept = append(kept, "epochs")
	}
	t.Schedule, t.Init, t.EarlyStop, t.Stages, t.Alternate = row.Schedule, row.Init, row.EarlyStop, row.Stages, row.Alternate
	if len(kept) > 0 {
		notes = append(notes, "not given by the reference, kept from the shared protocol: "+strings.Join(kept, ", "))
	}
	t.RecipeNotes = append(notes, row.Notes...)
	return t, nil
}

// RecipeKey is what a recipe adds to a cell key: nil for the shared protocol, so shared cells keep
// the keys they had before recipes existed. Source and notes follow from the method and dataset
// and are not part of it.
func recipeKey(t store.TrainConfig) *recipeKeyFields {
	if t.Recipe == "" {
		return nil
	}
	return &recipeKeyFields{Recipe: t.Recipe, Optimizer: t.Optimizer, Schedule: t.Schedule, Init: t.Init, EarlyStop: t.EarlyStop, Stages: t.Stages, Alternate: t.Alternate}
}

type recipeKeyFields struct {
	Recipe    string              `json:"recipe"`
	Optimizer string              `json:"optimizer"`
	Schedule  *store.Schedule     `json:"schedule,omitempty"`
	Init      string              `json:"init,omitempty"`
	EarlyStop int                 `json:"early_stop,omitempty"`
	Stages    []store.StageConfig `json:"stages,omitempty"`
	Alternate bool                `json:"alternate,omitempty"`
}

// ScheduleText is a schedule in a few words, for tables ("StepLR(70, 0.1)").
func ScheduleText(s *store.Schedule) string {
	switch {
	case s == nil:
		return "constant lr"
	case s.Kind == "step":
		return fmt.Sprintf("StepLR(%d, %g)", s.StepSize, s.Gamma)
	case s.Kind == "multistep":
		ms := make([]string, len(s.Milestones))
		for i, m := range s.Milestones {
			ms[i] = fmt.Sprint(m)
		}
		return fmt.Sprintf("MultiStepLR([%s], %g)", strings.Join(ms, ", "), s.Gamma)
	case s.Kind == "plateau":
		return fmt.Sprintf("ReduceLROnPlateau(%s, %g, %d)", s.Monitor, s.Factor, s.Patience)
	}
	return s.Kind
}

// checkSchedule refuses a schedule that cannot run.
func checkSchedule(s *store.Schedule) error {
	if s == nil {
		return nil
	}
	switch s.Kind {
	case "step":
		if s.StepSize < 1 || !(s.Gamma > 0 && s.Gamma <= 1) {
			return fmt.Errorf("schedule %s: want step size ≥ 1 and gamma in (0, 1]", ScheduleText(s))
		}
	case "multistep":
		ok := len(s.Milestones) > 0 && s.Gamma > 0 && s.Gamma <= 1
		for i, m := range s.Milestones {
			ok = ok && m >= 1 && (i == 0 || m > s.Milestones[i-1])
		}
		if !ok {
			return fmt.Errorf("schedule %s: want increasing milestones ≥ 1 and gamma in (0, 1]", ScheduleText(s))
		}
	case "plateau":
		if s.Patience < 0 || !(s.Factor > 0 && s.Factor < 1) || (s.Monitor != "val_loss" && s.Monitor != "val_acc") {
			return fmt.Errorf("schedule %s: want patience ≥ 0, factor in (0, 1), monitor val_loss or val_acc", ScheduleText(s))
		}
	default:
		return fmt.Errorf("schedule kind %q: want step, multistep or plateau", s.Kind)
	}
	return nil
}

// DescribeRecipe is a resolved configuration in one line: "sgd lr 0.001 (momentum 0.9, wd 0.0001),
// StepLR(70, 0.1), 100 epochs, batch 64, init xavier-normal".
func DescribeRecipe(t store.TrainConfig) string {
	opt := fmt.Sprintf("%s lr %g (", t.Optimizer, t.LR)
	if t.Optimizer == "sgd" {
		opt += fmt.Sprintf("momentum %g, ", t.Momentum)
	}
	opt += fmt.Sprintf("wd %g)", t.WeightDecay)
	if len(t.Stages) > 0 {
		var st []string
		for i, s := range t.Stages {
			st = append(st, fmt.Sprintf("stage %d: lr %g, %s", i+1, s.LR, ScheduleText(s.Schedule)))
		}
		opt = fmt.Sprintf("%s, fresh at each stage; %s", opt, strings.Join(st, "; "))
	} else {
		opt += ", " + ScheduleText(t.Schedule)
	}
	if t.Alternate {
		opt += ", alternating per-branch steps (one optimiser per branch)"
	}
	parts := []string{opt, fmt.Sprintf("%d epochs", t.Epochs), fmt.Sprintf("batch %d", t.BatchSize)}
	if t.EarlyStop > 0 {
		parts = append(parts, fmt.Sprintf("early stop after %d epochs without a better val acc", t.EarlyStop))
	}
	init := t.Init
	if init == InitDefault {
		init = "PyTorch default"
	}
	return strings.Join(append(parts, "init "+init), ", ")
}
