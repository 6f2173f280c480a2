package reports

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"slices"

	"github.com/mmfusion/bench/bench/store"
)

// BaselineVersion is bumped whenever a baseline field changes meaning. Version 2 added each
// group's configuration; version 1 files (groups without one) are still read, and Compare matches
// their groups by label (see there).
const BaselineVersion = 2

// Baseline holds, per cell group (label, configuration, dataset, encoder), the summary of one
// metric over seeds. It is what CI compares a new sweep against. A baseline has at least one group.
type Baseline struct {
	Version int     `json:"version"`
	Metric  Metric  `json:"metric"` // "acc" (test accuracy) unless made from another table
	Groups  []Group `json:"groups"` // sorted by (label, configuration, dataset, encoder)
}

// Group is the summary of one (label, configuration, dataset, encoder) over its successful seeds
// that have the metric. Mean and Std are fractions; Std is the sample std, stored as 0 when N < 2
// (an unknown spread then adds nothing to the pooled standard error of Compare).
type Group struct {
	Label   string  `json:"label"` // the records' label (Row.MethodLabel), without configuration suffix
	Dataset string  `json:"dataset"`
	Encoder string  `json:"encoder"`
	Mean    float64 `json:"mean"`
	Std     float64 `json:"std"`
	N       int     `json:"n"`
	// WithoutMetric counts the "ok" records of the group left out because they lack the metric.
	WithoutMetric int `json:"without_metric,omitempty"`
	// Config is the training configuration and method hyper-parameters of the group's records
	// (see Config); nil in groups of version 1 baselines.
	Config *Config `json:"config,omitempty"`
}

// groupKey identifies a group; a group without a configuration has its own key (config "").
type groupKey struct {
	label, config, dataset, encoder string
}

func (g *Group) key() groupKey { return groupKey{g.Label, g.Config.key(), g.Dataset, g.Encoder} }

// labelKey identifies a group up to its configuration.
type labelKey struct {
	label, dataset, encoder string
}

func (g *Group) labelKey() labelKey { return labelKey{g.Label, g.Dataset, g.Encoder} }

// BaselineFromRecords summarises the test accuracy of records (see Build for the rules on status,
// missing values, configurations and duplicates).
func BaselineFromRecords(records []*store.Record) (*Baseline, error) {
	t, err := Build(records, Options{Metric: MetricAcc})
	if err != nil {
		return nil, err
	}
	return BaselineFromTable(t), nil
}

// BaselineFromTable summarises every non-missing cell of t. A cell with no value (every seed
// diverged, failed or without the metric) has no group, so a comparison reports it missing.
func BaselineFromTable(t *Table) *Baseline {
	b := &Baseline{Version: BaselineVersion, Metric: t.Metric, Groups: []Group{}}
	for _, r := range t.Rows {
		for j, c := range r.Cells {
			if c.N == 0 {
				continue
			}
			std := c.Std
			if c.N < 2 {
				std = 0
			}
			cfg := r.Config
			b.Groups = append(b.Groups, Group{Label: r.MethodLabel, Dataset: t.Columns[j].Dataset, Encoder: t.Columns[j].Encoder,
				Mean: c.Mean, Std: std, N: c.N, WithoutMetric: c.WithoutMetric, Config: &cfg})
		}
	}
	sortGroups(b.Groups)
	return b
}

func sortGroups(g []Group) {
	sortByGroup(g, func(x *Group) (string, *Config, string, string) { return x.Label, x.Config, x.Dataset, x.Encoder })
}

// sortByGroup orders xs (stably) by label, configuration (by the settings in which they differ, then
// by key), dataset and encoder, which of gives for each element: baseline groups and diff rows alike.
func sortByGroup[T any](xs []T, of func(*T) (label string, cfg *Config, dataset, encoder string)) {
	cfgs := make([]*Config, len(xs))
	for i := range xs {
		_, cfgs[i], _, _ = of(&xs[i])
	}
	names := settingNames(cfgs)
	slices.SortStableFunc(xs, func(a, b T) int {
		la, ca, da, ea := of(&a)
		lb, cb, db, eb := of(&b)
		return cmp.Or(cmp.Compare(la, lb), compareConfigs(ca, cb, names), cmp.Compare(ca.key(), cb.key()),
			cmp.Compare(da, db), cmp.Compare(ea, eb))
	})
}

// WriteBaseline writes b as indented JSON to path atomically (temporary file, fsync, rename).
func WriteBaseline(path string, b *Baseline) error {
	if err := b.validate(); err != nil {
		return fmt.Errorf("baseline %s: %w", path, err)
	}
	data, err := json.MarshalIndent(b, "", "  ")
	if err != nil {
		return fmt.Errorf("baseline %s: %w", path, err)
	}
	return writeFileAtomic(path, append(data, '\n'))
}

// ReadBaseline reads and validates a baseline file.
func ReadBaseline(path string) (*Baseline, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("baseline: %w", err)
	}
	var b Baseline
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&b); err != nil {
		return nil, fmt.Errorf("baseline %s: not a valid baseline: %w", path, err)
	}
	if b.Version != 1 && b.Version != BaselineVersion {
		return nil, fmt.Errorf("baseline %s: field version is %d, this harness reads 1 and %d", path, b.Version, BaselineVersion)
	}
	if err := b.validate(); err != nil {
		return nil, fmt.Errorf("baseline %s: %w", path, err)
	}
	sortGroups(b.Groups)
	return &b, nil
}

func (b *Baseline) validate() error {
	if !slices.Contains(Metrics, b.Metric) {
		return fmt.Errorf("field metric has unknown value %q (known: %s)", b.Metric, joinMetrics())
	}
	if len(b.Groups) == 0 {
		return fmt.Errorf("no groups: an empty baseline checks nothing (write one from results with bench regress --update)")
	}
	seen := map[groupKey]bool{}
	for i, g := range b.Groups {
		at := fmt.Sprintf("group %d (%s / %s / %s)", i, g.Label, g.Dataset, g.Encoder)
		switch {
		case g.Label == "" || g.Dataset == "":
			return fmt.Errorf("%s: label and dataset must be set", at)
		case g.N < 1:
			return fmt.Errorf("%s: field n is %d, want ≥ 1", at, g.N)
		case math.IsNaN(g.Mean) || math.IsInf(g.Mean, 0):
			return fmt.Errorf("%s: field mean is %v", at, g.Mean)
		case math.IsNaN(g.Std) || math.IsInf(g.Std, 0) || g.Std < 0:
			return fmt.Errorf("%s: field std is %v, want a finite value ≥ 0", at, g.Std)
		case g.WithoutMetric < 0:
			return fmt.Errorf("%s: field without_metric is %d, want ≥ 0", at, g.WithoutMetric)
		case seen[g.key()]:
			return fmt.Errorf("%s: appears twice", at)
		}
		seen[g.key()] = true
	}
	return nil
}
