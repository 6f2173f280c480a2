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

// BaselineVersion is bumped whenever a baseline field changes meaning.
const BaselineVersion = 1

// Baseline holds, per cell group (label, dataset, encoder), the summary of one metric over seeds.
// It is what CI compares a new sweep against.
type Baseline struct {
	Version int     `json:"version"`
	Metric  Metric  `json:"metric"` // "acc" (test accuracy) unless made from another table
	Groups  []Group `json:"groups"` // sorted by (label, dataset, encoder)
}

// Group is the summary of one (label, dataset, encoder) over its successful seeds. Mean and Std
// are fractions; Std is the sample std, stored as 0 when N < 2 (an unknown spread then adds
// nothing to the pooled standard error of Compare).
type Group struct {
	Label   string  `json:"label"`
	Dataset string  `json:"dataset"`
	Encoder string  `json:"encoder"`
	Mean    float64 `json:"mean"`
	Std     float64 `json:"std"`
	N       int     `json:"n"`
}

func (g Group) key() cellKey { return cellKey{g.Label, g.Dataset, g.Encoder} }

// BaselineFromRecords summarises the test accuracy of records (see Build for the rules on status
// and duplicates).
func BaselineFromRecords(records []*store.Record) (*Baseline, error) {
	t, err := Build(records, Options{Metric: MetricAcc})
	if err != nil {
		return nil, err
	}
	return BaselineFromTable(t), nil
}

// BaselineFromTable summarises every non-missing cell of t.
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
			b.Groups = append(b.Groups, Group{r.Label, t.Columns[j].Dataset, t.Columns[j].Encoder, c.Mean, std, c.N})
		}
	}
	sortGroups(b.Groups)
	return b
}

func sortGroups(g []Group) {
	slices.SortFunc(g, func(a, b Group) int {
		return cmp.Or(cmp.Compare(a.Label, b.Label), cmp.Compare(a.Dataset, b.Dataset), cmp.Compare(a.Encoder, b.Encoder))
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
	if b.Version != BaselineVersion {
		return nil, fmt.Errorf("baseline %s: field version is %d, this harness reads %d", path, b.Version, BaselineVersion)
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
	seen := map[cellKey]bool{}
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
		case seen[g.key()]:
			return fmt.Errorf("%s: appears twice", at)
		}
		seen[g.key()] = true
	}
	return nil
}
