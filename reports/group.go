package reports

import (
	"cmp"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"

	"github.com/mmfusion/bench/bench/store"
)

// Metric names the per-record number a table aggregates.
type Metric string

// Metrics a table can aggregate.
const (
	MetricAcc     Metric = "acc"      // test accuracy at the selected epoch (the default)
	MetricMacroF1 Metric = "macro_f1" // test macro-F1 at the selected epoch
	MetricValAcc  Metric = "val_acc"  // validation accuracy at the selected epoch
)

// Metrics lists the accepted metric names.
var Metrics = []Metric{MetricAcc, MetricMacroF1, MetricValAcc}

// Title is the human name of the metric, used in captions and axis labels.
func (m Metric) Title() string {
	switch m {
	case MetricAcc:
		return "Test accuracy"
	case MetricMacroF1:
		return "Test macro-F1"
	case MetricValAcc:
		return "Validation accuracy"
	}
	return string(m)
}

func (m Metric) value(r *store.Record) float64 {
	switch m {
	case MetricMacroF1:
		return r.Test.MacroF1
	case MetricValAcc:
		return r.Val.Acc
	}
	return r.Test.Acc
}

// Options control Build.
type Options struct {
	// Metric to aggregate; empty means MetricAcc.
	Metric Metric
	// Decimals of the percentages shown by Markdown and LaTeX (1, 2 or 3); 0 means 1.
	Decimals int
	// Alpha is the significance level of the "tied with the best" test; 0 means 0.05.
	Alpha float64
	// RowOrder lists labels to show first, in this order; the remaining labels follow
	// alphabetically. Labels listed here but absent from the records are ignored.
	RowOrder []string
}

// Column is one (dataset, encoder) pair of a table.
type Column struct {
	Dataset string `json:"dataset"`
	Encoder string `json:"encoder"`
}

// Cell holds one method's seeds on one column. Values are fractions, aligned with Seeds
// (ascending). A cell with N = 0 is missing and rendered as "—".
type Cell struct {
	Seeds  []int64
	Values []float64
	N      int
	Mean   float64 // NaN when N = 0
	Std    float64 // sample std; NaN when N < 2

	Diverged int // records of this cell excluded as diverged
	Failed   int // records of this cell excluded as failed

	// Set by Build after grouping (see annotate.go).
	Place  int   // 1: best mean of its column (bold); 2: second (underlined); 0 otherwise
	Tested bool  // a paired t-test against the column's best was run (needs ≥ 2 shared seeds)
	Tied   bool  // Tested and p ≥ Alpha: not significantly worse than the best
	Test   TTest // the test against the best (best − this), when Tested
}

// Row is one method label.
type Row struct {
	Label   string
	Cells   []Cell  // aligned with Table.Columns
	AvgRank float64 // mean rank over the columns (1 = best); NaN when not defined
}

// Excluded is a record that did not count because its status was not "ok".
type Excluded struct {
	Label   string `json:"label"`
	Dataset string `json:"dataset"`
	Encoder string `json:"encoder"`
	Seed    int64  `json:"seed"`
	Status  string `json:"status"`
	Reason  string `json:"reason,omitempty"`
	Key     string `json:"key"`
}

// Duplicate records that two or more records had the same (label, dataset, encoder, seed); the
// newest by Finished was kept.
type Duplicate struct {
	Label, Dataset, Encoder string
	Seed                    int64
	Kept                    string   // key of the record kept
	Dropped                 []string // keys of the older records
}

// Table is the grouped, annotated result of Build: rows are method labels, columns are
// (dataset, encoder) pairs, cells are a metric over seeds.
type Table struct {
	Metric   Metric
	Decimals int
	Alpha    float64

	Columns     []Column
	ShowEncoder bool // more than one encoder is present, so column titles name it
	Rows        []Row

	MaxN  int     // largest seed count of any cell; captions state it, cells with another n show theirs
	Seeds []int64 // every seed of a counted record, ascending

	Excluded   []Excluded  // diverged / failed records, in key order
	Duplicates []Duplicate // (label, dataset, encoder, seed) groups with more than one record
	Selections []string    // model-selection protocols of the counted records, sorted
	Tuning     []string    // how the "(tuned)" rows were chosen
	// Extra rows under the methods: per-column facts that are not method results, such as each
	// dataset's interaction composition (`bench report --interactions`). Set by the caller.
	Extra    []ExtraRow
	Warnings []string // mixed protocols or data versions that make the comparison suspect
}

// Title is the column header: the dataset, and the encoder when more than one is present.
func (t *Table) Title(c Column) string {
	if t.ShowEncoder {
		return c.Dataset + " / " + c.Encoder
	}
	return c.Dataset
}

// HasRankColumn reports whether renderers show the average-rank column (more than one column).
func (t *Table) HasRankColumn() bool { return len(t.Columns) > 1 }

type cellKey struct {
	label, dataset, encoder string
}

type seedKey struct {
	cellKey
	seed int64
}

// label is the row label of a record; records written before labels existed fall back to the method.
func label(r *store.Record) string {
	if r.Label != "" {
		return r.Label
	}
	return r.Method
}

// ExtraRow is a labelled row of free text, one entry per column ("" for none).
type ExtraRow struct {
	Label string
	Cells map[Column]string
}

// Build groups records into a Table. Only records with status "ok" contribute values; diverged
// and failed ones are counted per cell and listed in Table.Excluded. When several records share
// (label, dataset, encoder, seed), the newest by Finished is kept (ties broken by the larger key)
// and the others are listed in Table.Duplicates; this happens before the status filter, so a
// successful rerun supersedes an earlier failure. Every label and column seen in any record gets
// a row or column, so a method that never finished a seed still shows up, as "—".
func Build(records []*store.Record, opt Options) (*Table, error) {
	if opt.Metric == "" {
		opt.Metric = MetricAcc
	}
	if !slices.Contains(Metrics, opt.Metric) {
		return nil, fmt.Errorf("reports: unknown metric %q (known: %s)", opt.Metric, joinMetrics())
	}
	if opt.Decimals == 0 {
		opt.Decimals = 1
	}
	if opt.Decimals < 1 || opt.Decimals > 3 {
		return nil, fmt.Errorf("reports: decimals %d out of range 1..3", opt.Decimals)
	}
	if opt.Alpha == 0 {
		opt.Alpha = 0.05
	}
	if !(opt.Alpha > 0 && opt.Alpha < 1) {
		return nil, fmt.Errorf("reports: alpha %v out of range (0, 1)", opt.Alpha)
	}
	// Tuning trials are scored on validation only and have no test metrics: they are never tabulated.
	records = slices.DeleteFunc(slices.Clone(records), func(r *store.Record) bool { return r.Trial > 0 })
	if len(records) == 0 {
		return nil, fmt.Errorf("reports: no records to tabulate")
	}

	latest, dups, err := dedup(records)
	if err != nil {
		return nil, err
	}
	t := &Table{Metric: opt.Metric, Decimals: opt.Decimals, Alpha: opt.Alpha, Duplicates: dups}

	labels := map[string]bool{}
	columns := map[Column]bool{}
	encoders := map[string]bool{}
	for _, r := range latest {
		labels[label(r)] = true
		columns[Column{r.Dataset, r.Encoder}] = true
		encoders[r.Encoder] = true
	}
	t.ShowEncoder = len(encoders) > 1
	for c := range columns {
		t.Columns = append(t.Columns, c)
	}
	slices.SortFunc(t.Columns, func(a, b Column) int {
		return cmp.Or(cmp.Compare(a.Dataset, b.Dataset), cmp.Compare(a.Encoder, b.Encoder))
	})
	colIndex := map[Column]int{}
	for i, c := range t.Columns {
		colIndex[c] = i
	}
	order := rowOrder(labels, opt.RowOrder)
	rowIndex := map[string]int{}
	for i, l := range order {
		rowIndex[l] = i
		t.Rows = append(t.Rows, Row{Label: l, Cells: make([]Cell, len(t.Columns)), AvgRank: math.NaN()})
	}

	seeds := map[int64]bool{}
	selections := map[string]bool{}
	trains := map[store.TrainConfig]bool{}
	checksums := make([]map[int64]map[string]bool, len(t.Columns))
	tunings := map[store.Tuning]bool{}
	tunedTrains := map[store.TrainConfig]bool{}
	for _, r := range latest { // latest is in (label, dataset, encoder, seed) order
		cell := &t.Rows[rowIndex[label(r)]].Cells[colIndex[Column{r.Dataset, r.Encoder}]]
		switch r.Status {
		case store.StatusOK:
		case store.StatusDiverged, store.StatusFailed:
			if r.Status == store.StatusDiverged {
				cell.Diverged++
			} else {
				cell.Failed++
			}
			t.Excluded = append(t.Excluded, Excluded{label(r), r.Dataset, r.Encoder, r.Seed, r.Status, r.Reason, r.Key})
			continue
		default:
			return nil, fmt.Errorf("reports: record %s: field status has unknown value %q", r.Key, r.Status)
		}
		v := opt.Metric.value(r)
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("reports: record %s: status ok but %s is %v", r.Key, opt.Metric, v)
		}
		cell.Seeds = append(cell.Seeds, r.Seed)
		cell.Values = append(cell.Values, v)
		seeds[r.Seed] = true
		selections[r.Selection] = true
		tc := r.Train
		tc.Threads = 0 // threads change speed, not results
		if r.Tuning != nil {
			tunings[*r.Tuning] = true
			// learning rate and batch size are searched by bench tune: expected to differ from
			// the default rows'; the rest of the protocol must still agree
			tc.LR, tc.BatchSize = 0, 0
			tunedTrains[tc] = true
		} else {
			trains[tc] = true
		}
		// Generated datasets differ by seed by design; methods compared on one seed must see the same data.
		j := colIndex[Column{r.Dataset, r.Encoder}]
		if checksums[j] == nil {
			checksums[j] = map[int64]map[string]bool{}
		}
		if checksums[j][r.Seed] == nil {
			checksums[j][r.Seed] = map[string]bool{}
		}
		checksums[j][r.Seed][r.DatasetSHA256] = true
	}
	slices.SortFunc(t.Excluded, func(a, b Excluded) int { return cmp.Compare(a.Key, b.Key) })
	for s := range seeds {
		t.Seeds = append(t.Seeds, s)
	}
	slices.Sort(t.Seeds)
	for s := range selections {
		if s != "" {
			t.Selections = append(t.Selections, s)
		}
	}
	slices.Sort(t.Selections)
	if len(t.Selections) > 1 {
		t.Warnings = append(t.Warnings, "records use different model-selection protocols: "+strings.Join(t.Selections, ", "))
	}
	if len(trains) > 1 {
		t.Warnings = append(t.Warnings, fmt.Sprintf("records use %d different training configurations", len(trains)))
	}
	for tc := range trains {
		tc.LR, tc.BatchSize = 0, 0
		tunedTrains[tc] = true
	}
	if len(tunedTrains) > 1 {
		t.Warnings = append(t.Warnings, "tuned and default rows differ in epochs, optimiser, momentum or weight decay")
	}
	for tu := range tunings {
		t.Tuning = append(t.Tuning, fmt.Sprintf("(tuned): best of %d random-search trials per method (sampler seed %d, the same for every method; trials on seed %d), chosen by %s",
			tu.Budget, tu.SamplerSeed, tu.TuneSeed, tu.Selection))
	}
	slices.Sort(t.Tuning)
	t.Tuning = slices.Compact(t.Tuning)
	for j, bySeed := range checksums {
		for _, seed := range slices.Sorted(maps.Keys(bySeed)) {
			if n := len(bySeed[seed]); n > 1 {
				t.Warnings = append(t.Warnings, fmt.Sprintf("%s, seed %d: records come from %d different dataset versions (SHA-256)", t.Title(t.Columns[j]), seed, n))
			}
		}
	}

	for i := range t.Rows {
		for j := range t.Rows[i].Cells {
			c := &t.Rows[i].Cells[j]
			c.N = len(c.Values)
			c.Mean, c.Std = Mean(c.Values), StdDev(c.Values)
			t.MaxN = max(t.MaxN, c.N)
		}
	}
	annotate(t)
	return t, nil
}

// dedup keeps the newest record of each (label, dataset, encoder, seed) and returns the kept
// records sorted by that key, with the groups that had more than one record.
func dedup(records []*store.Record) ([]*store.Record, []Duplicate, error) {
	groups := map[seedKey][]*store.Record{}
	for i, r := range records {
		if r == nil {
			return nil, nil, fmt.Errorf("reports: record %d is nil", i)
		}
		k := seedKey{cellKey{label(r), r.Dataset, r.Encoder}, r.Seed}
		groups[k] = append(groups[k], r)
	}
	keys := make([]seedKey, 0, len(groups))
	for k := range groups {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b seedKey) int {
		return cmp.Or(cmp.Compare(a.label, b.label), cmp.Compare(a.dataset, b.dataset),
			cmp.Compare(a.encoder, b.encoder), cmp.Compare(a.seed, b.seed))
	})
	var kept []*store.Record
	var dups []Duplicate
	for _, k := range keys {
		g := groups[k]
		// newest first; equal times fall back to the larger key so the choice is deterministic.
		slices.SortFunc(g, func(a, b *store.Record) int {
			return cmp.Or(b.Finished.Compare(a.Finished), cmp.Compare(b.Key, a.Key))
		})
		kept = append(kept, g[0])
		if len(g) > 1 {
			d := Duplicate{Label: k.label, Dataset: k.dataset, Encoder: k.encoder, Seed: k.seed, Kept: g[0].Key}
			for _, r := range g[1:] {
				d.Dropped = append(d.Dropped, r.Key)
			}
			dups = append(dups, d)
		}
	}
	return kept, dups, nil
}

func rowOrder(labels map[string]bool, first []string) []string {
	var order []string
	seen := map[string]bool{}
	for _, l := range first {
		if labels[l] && !seen[l] {
			order = append(order, l)
			seen[l] = true
		}
	}
	var rest []string
	for l := range labels {
		if !seen[l] {
			rest = append(rest, l)
		}
	}
	slices.Sort(rest)
	return append(order, rest...)
}

func joinMetrics() string {
	s := make([]string, len(Metrics))
	for i, m := range Metrics {
		s[i] = string(m)
	}
	return strings.Join(s, ", ")
}
