package reports

import (
	"cmp"
	"encoding/json"
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

// Short is the metric's name in notes, e.g. "2 records without test acc excluded".
func (m Metric) Short() string {
	switch m {
	case MetricAcc:
		return "test acc"
	case MetricMacroF1:
		return "test macro-F1"
	case MetricValAcc:
		return "val acc"
	}
	return string(m)
}

// value is the record's value of the metric; ok is false when the record lacks it (the field, or
// its split, was absent or null in the file).
func (m Metric) value(r *store.Record) (v float64, ok bool) {
	switch m {
	case MetricMacroF1:
		return r.Test.MacroF1, r.Test.Has("macro_f1")
	case MetricValAcc:
		return r.Val.Acc, r.Val.Has("acc")
	}
	return r.Test.Acc, r.Test.Has("acc")
}

// Options control Build.
type Options struct {
	// Metric to aggregate; empty means MetricAcc.
	Metric Metric
	// Decimals of the percentages shown by Markdown and LaTeX (1, 2 or 3); 0 means 1.
	Decimals int
	// Alpha is the significance level of the "tied with the best" test; 0 means 0.05.
	Alpha float64
	// RowOrder lists labels to show first, in this order; the remaining rows follow by label, then
	// configuration. A listed label is a row's label or a method label (all its configurations).
	// Labels listed here but absent from the records are ignored.
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

	Diverged      int // records of this cell excluded as diverged
	Failed        int // records of this cell excluded as failed
	WithoutMetric int // "ok" records of this cell excluded because they lack the metric (absent or null)

	// Set by Build after grouping (see annotate.go).
	Place  int   // 1: best mean of its column (bold); 2: second (italic in Markdown, underlined in LaTeX); 0 otherwise
	Tested bool  // a paired t-test against the column's best was run (needs ≥ 2 shared seeds)
	Tied   bool  // Tested and p ≥ Alpha: not significantly worse than the best
	Test   TTest // the test against the best (best − this), when Tested
}

// Row is one configuration of one method label: records with the same label but another training
// configuration or other method hyper-parameters (see Config) are another row.
type Row struct {
	// Label is what tables show: MethodLabel, plus, when the records of that method label have
	// several configurations, the settings that differ among them, e.g. "joint [epochs=5]".
	Label       string
	MethodLabel string // the records' label: the method plus its non-default hyper-parameters
	Config      Config
	Cells       []Cell  // aligned with Table.Columns
	AvgRank     float64 // mean rank over the columns (1 = best); NaN when not defined
}

// Excluded is a record that did not count because its status was not "ok" (Table.Excluded), or
// because it lacked the metric (Table.WithoutMetric).
type Excluded struct {
	Label   string `json:"label"`
	Dataset string `json:"dataset"`
	Encoder string `json:"encoder"`
	Seed    int64  `json:"seed"`
	Status  string `json:"status"`
	Reason  string `json:"reason,omitempty"`
	Key     string `json:"key"`
}

// Duplicate records that two or more records had the same (row, dataset, encoder, seed); the
// newest by Finished was kept.
type Duplicate struct {
	Label, Dataset, Encoder string
	Seed                    int64
	Kept                    string   // key of the record kept
	Dropped                 []string // keys of the older records
}

// Table is the grouped, annotated result of Build: rows are configurations of method labels,
// columns are (dataset, encoder) pairs, cells are a metric over seeds.
type Table struct {
	Metric   Metric
	Decimals int
	Alpha    float64

	Columns     []Column
	ShowEncoder bool // more than one encoder is present, so column titles name it
	Rows        []Row

	MaxN  int     // largest seed count of any cell; captions state it, cells with another n show theirs
	Seeds []int64 // every seed of a counted record, ascending

	Excluded []Excluded // diverged / failed records, in key order
	// WithoutMetric lists the "ok" records that lack the metric, in row, column and seed order.
	WithoutMetric []Excluded
	Duplicates    []Duplicate // (row, dataset, encoder, seed) groups with more than one record
	Selections    []string    // model-selection protocols of the counted records, sorted
	Tuning        []string    // how the "(tuned)" rows were chosen
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

// rowKey identifies a row: the records' label and configuration.
type rowKey struct {
	label, config string
}

type seedKey struct {
	row              int // index of the row in label and configuration order
	dataset, encoder string
	seed             int64
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

// Build groups records into a Table. Rows are (label, configuration) pairs (see Config), so
// records trained with other settings never share a row. Only records with status "ok" that have
// the metric contribute values; diverged and failed ones are counted per cell and listed in
// Table.Excluded, and those lacking the metric (absent or null in the file) are counted per cell
// and listed in Table.WithoutMetric. When several records share (row, dataset, encoder, seed), the
// newest by Finished is kept (ties broken by the larger key) and the others are listed in
// Table.Duplicates; this happens before the status filter, so a successful rerun supersedes an
// earlier failure. Every row and column seen in any record gets a row or column, so a method that
// never finished a seed still shows up, as "—".
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
	for i, r := range records {
		if r == nil {
			return nil, fmt.Errorf("reports: record %d is nil", i)
		}
	}
	// Tuning trials are scored on validation only and have no test metrics: they are never tabulated.
	records = slices.DeleteFunc(slices.Clone(records), func(r *store.Record) bool { return r.Trial > 0 })
	if len(records) == 0 {
		return nil, fmt.Errorf("reports: no records to tabulate")
	}

	rows, rowOf := configRows(records)
	latest, dups := dedup(records, rows, rowOf)
	t := &Table{Metric: opt.Metric, Decimals: opt.Decimals, Alpha: opt.Alpha, Duplicates: dups}

	columns := map[Column]bool{}
	encoders := map[string]bool{}
	for _, r := range latest {
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
	order := rowOrder(rows, opt.RowOrder)
	rowIndex := make([]int, len(rows)) // position in rows → position in t.Rows
	for i, k := range order {
		rowIndex[k] = i
		r := rows[k]
		t.Rows = append(t.Rows, Row{Label: r.Label, MethodLabel: r.MethodLabel, Config: r.Config,
			Cells: make([]Cell, len(t.Columns)), AvgRank: math.NaN()})
	}

	seeds := map[int64]bool{}
	selections := map[string]bool{}
	trains := map[string]*trainUse{} // training configurations of the counted default (not tuned) records
	checksums := make([]map[int64]map[string]bool, len(t.Columns))
	tunings := map[store.Tuning]bool{}
	tunedTrains := map[string]bool{}
	var withoutPos []int       // position in t.Rows of each entry of t.WithoutMetric
	for _, r := range latest { // latest is in (row, dataset, encoder, seed) order
		row := &t.Rows[rowIndex[rowOf[r]]]
		cell := &row.Cells[colIndex[Column{r.Dataset, r.Encoder}]]
		switch r.Status {
		case store.StatusOK:
		case store.StatusDiverged, store.StatusFailed:
			if r.Status == store.StatusDiverged {
				cell.Diverged++
			} else {
				cell.Failed++
			}
			t.Excluded = append(t.Excluded, Excluded{row.Label, r.Dataset, r.Encoder, r.Seed, r.Status, r.Reason, r.Key})
			continue
		default:
			return nil, fmt.Errorf("reports: record %s: field status has unknown value %q", r.Key, r.Status)
		}
		v, ok := opt.Metric.value(r)
		if !ok {
			cell.WithoutMetric++
			t.WithoutMetric = append(t.WithoutMetric, Excluded{row.Label, r.Dataset, r.Encoder, r.Seed, r.Status, "no " + opt.Metric.Short(), r.Key})
			withoutPos = append(withoutPos, rowIndex[rowOf[r]])
			continue
		}
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
			tunedTrains[trainKey(tc)] = true
		} else {
			k := trainKey(tc)
			if trains[k] == nil {
				trains[k] = &trainUse{tc: tc, cfg: configOf(r), rows: map[int]bool{}}
			}
			trains[k].rows[rowIndex[rowOf[r]]] = true
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
	// latest is in row order, which RowOrder may change: list the records without the metric in
	// display order (stable: column and seed order within a row).
	perm := make([]int, len(withoutPos))
	for i := range perm {
		perm[i] = i
	}
	slices.SortStableFunc(perm, func(a, b int) int { return cmp.Compare(withoutPos[a], withoutPos[b]) })
	if len(perm) > 0 {
		sorted := make([]Excluded, len(perm))
		for i, p := range perm {
			sorted[i] = t.WithoutMetric[p]
		}
		t.WithoutMetric = sorted
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
		t.Warnings = append(t.Warnings, t.trainingWarning(trains))
	}
	// Tuned rows may differ from default rows in what bench tune searched, not in the rest. (Default
	// rows that differ among themselves are the warning above, not this one.)
	defaults := map[string]bool{}
	for _, u := range trains {
		tc := u.tc
		tc.LR, tc.BatchSize = 0, 0
		defaults[trainKey(tc)] = true
	}
	mixed := len(tunedTrains) > 1
	for tc := range tunedTrains {
		mixed = mixed || len(defaults) > 0 && !defaults[tc]
	}
	if mixed {
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

// trainUse is one training configuration of counted records and the rows (indices into Table.Rows)
// that use it.
type trainUse struct {
	tc   store.TrainConfig
	cfg  Config
	rows map[int]bool
}

// trainingWarning says that rows were trained differently, and how: rows of one method label show
// their differences in the label, but different methods with one configuration each do not.
// "records use 2 different training configurations (epochs=5: joint; epochs=30: ensemble, ogm)".
func (t *Table) trainingWarning(trains map[string]*trainUse) string {
	uses := slices.Collect(maps.Values(trains))
	cfgs := make([]*Config, len(uses))
	for i, u := range uses {
		u.cfg.MethodParams = nil // the settings of training only
		cfgs[i] = &u.cfg
	}
	names := settingNames(cfgs)
	slices.SortFunc(uses, func(a, b *trainUse) int { return compareConfigs(&a.cfg, &b.cfg, names) })
	for i, u := range uses {
		cfgs[i] = &u.cfg
	}
	var parts []string
	for i, suffix := range configSuffixes(cfgs) {
		var labels []string
		for _, j := range slices.Sorted(maps.Keys(uses[i].rows)) {
			labels = append(labels, t.Rows[j].Label)
		}
		if len(labels) > 5 {
			labels = append(labels[:5], fmt.Sprintf("%d more", len(labels)-5))
		}
		settings := strings.TrimSuffix(strings.TrimPrefix(suffix, " ["), "]")
		parts = append(parts, settings+": "+strings.Join(labels, ", "))
	}
	return fmt.Sprintf("records use %d different training configurations (%s)", len(trains), strings.Join(parts, "; "))
}

// configRows finds the rows of records: one per (label, configuration), sorted by label and then
// configuration, each labelled with the settings that differ among the rows of its label. rowOf
// maps each record to its row's index.
func configRows(records []*store.Record) (rows []Row, rowOf map[*store.Record]int) {
	byKey := map[rowKey]int{}
	keyOf := make(map[*store.Record]rowKey, len(records))
	for _, r := range records {
		cfg := configOf(r)
		k := rowKey{label(r), cfg.key()}
		keyOf[r] = k
		if _, ok := byKey[k]; !ok {
			byKey[k] = len(rows)
			rows = append(rows, Row{MethodLabel: k.label, Config: cfg})
		}
	}
	cfgs := make([]*Config, len(rows))
	for i := range rows {
		cfgs[i] = &rows[i].Config
	}
	names := settingNames(cfgs)
	slices.SortFunc(rows, func(a, b Row) int {
		return cmp.Or(cmp.Compare(a.MethodLabel, b.MethodLabel), compareConfigs(&a.Config, &b.Config, names))
	})
	for i := 0; i < len(rows); {
		j := i
		for j < len(rows) && rows[j].MethodLabel == rows[i].MethodLabel {
			j++
		}
		same := make([]*Config, 0, j-i)
		for k := i; k < j; k++ {
			same = append(same, &rows[k].Config)
		}
		for k, suffix := range configSuffixes(same) {
			rows[i+k].Label = rows[i+k].MethodLabel + suffix
		}
		i = j
	}
	index := map[rowKey]int{}
	for i := range rows {
		index[rowKey{rows[i].MethodLabel, rows[i].Config.key()}] = i
	}
	rowOf = make(map[*store.Record]int, len(records))
	for r, k := range keyOf {
		rowOf[r] = index[k]
	}
	return rows, rowOf
}

// dedup keeps the newest record of each (row, dataset, encoder, seed) and returns the kept
// records sorted by that key, with the groups that had more than one record.
func dedup(records []*store.Record, rows []Row, rowOf map[*store.Record]int) ([]*store.Record, []Duplicate) {
	groups := map[seedKey][]*store.Record{}
	for _, r := range records {
		k := seedKey{rowOf[r], r.Dataset, r.Encoder, r.Seed}
		groups[k] = append(groups[k], r)
	}
	keys := slices.Collect(maps.Keys(groups))
	slices.SortFunc(keys, func(a, b seedKey) int {
		return cmp.Or(cmp.Compare(a.row, b.row), cmp.Compare(a.dataset, b.dataset),
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
			d := Duplicate{Label: rows[k.row].Label, Dataset: k.dataset, Encoder: k.encoder, Seed: k.seed, Kept: g[0].Key}
			for _, r := range g[1:] {
				d.Dropped = append(d.Dropped, r.Key)
			}
			dups = append(dups, d)
		}
	}
	return kept, dups
}

// rowOrder returns the indices of rows in display order: those whose label or method label is in
// first, in that order, then the rest in their (label, configuration) order.
func rowOrder(rows []Row, first []string) []int {
	var order []int
	seen := make([]bool, len(rows))
	for _, l := range first {
		for i, r := range rows {
			if !seen[i] && (r.Label == l || r.MethodLabel == l) {
				order = append(order, i)
				seen[i] = true
			}
		}
	}
	for i := range rows {
		if !seen[i] {
			order = append(order, i)
		}
	}
	return order
}

func joinMetrics() string {
	s := make([]string, len(Metrics))
	for i, m := range Metrics {
		s[i] = string(m)
	}
	return strings.Join(s, ", ")
}

// trainKey identifies a training configuration (TrainConfig holds slices, so it is no map key).
// Its recipe's source and notes follow from the method and dataset and are left out.
func trainKey(tc store.TrainConfig) string {
	tc.RecipeSource, tc.RecipeNotes = "", nil
	b, _ := json.Marshal(tc)
	return string(b)
}
