package reports

import (
	"encoding/json"
	"io"
	"math"
)

// JSON document written by Render with format "json". Numbers are raw fractions; quantities that
// are undefined (the std of one seed, the rank of an incomplete row, an untested p-value) are null.
type jsonTable struct {
	Metric   string       `json:"metric"`
	Scale    string       `json:"scale"`
	Spread   string       `json:"spread"`
	Test     string       `json:"test"`
	Alpha    float64      `json:"alpha"`
	MaxN     int          `json:"max_n"`
	Seeds    []int64      `json:"seeds"`
	Columns  []jsonColumn `json:"columns"`
	Rows     []jsonRow    `json:"rows"`
	Excluded []Excluded   `json:"excluded"`
	// WithoutMetric lists the "ok" records left out because they lack the metric.
	WithoutMetric []Excluded `json:"without_metric"`
	Duplicates    []jsonDup  `json:"duplicates"`
	Selections    []string   `json:"selections"`
	Warnings      []string   `json:"warnings"`
}

type jsonColumn struct {
	Dataset string `json:"dataset"`
	Encoder string `json:"encoder"`
	Title   string `json:"title"`
}

type jsonRow struct {
	Label       string     `json:"label"`
	MethodLabel string     `json:"method_label"`
	Config      Config     `json:"config"`
	AvgRank     *float64   `json:"avg_rank"`
	Cells       []jsonCell `json:"cells"`
}

type jsonCell struct {
	Dataset  string    `json:"dataset"`
	Encoder  string    `json:"encoder"`
	N        int       `json:"n"`
	Mean     *float64  `json:"mean"`
	Std      *float64  `json:"std"`
	Seeds    []int64   `json:"seeds"`
	Values   []float64 `json:"values"`
	Place    int       `json:"place"`
	Tested   bool      `json:"tested"`
	Tied     bool      `json:"tied"`
	T        *float64  `json:"t"`
	P        *float64  `json:"p_vs_best"`
	Diverged int       `json:"diverged"`
	Failed   int       `json:"failed"`
	// WithoutMetric counts the "ok" records of the cell that lack the metric (absent or null).
	WithoutMetric int `json:"without_metric"`
}

type jsonDup struct {
	Label   string   `json:"label"`
	Dataset string   `json:"dataset"`
	Encoder string   `json:"encoder"`
	Seed    int64    `json:"seed"`
	Kept    string   `json:"kept"`
	Dropped []string `json:"dropped"`
}

func writeJSON(w io.Writer, t *Table) error {
	doc := jsonTable{
		Metric:        string(t.Metric),
		Scale:         "fraction",
		Spread:        "sample std (n-1)",
		Test:          "two-sided paired t-test over shared seeds against the column's best",
		Alpha:         t.Alpha,
		MaxN:          t.MaxN,
		Seeds:         nonNil(t.Seeds),
		Excluded:      nonNil(t.Excluded),
		WithoutMetric: nonNil(t.WithoutMetric),
		Selections:    nonNil(t.Selections),
		Warnings:      nonNil(t.Warnings),
		Duplicates:    []jsonDup{},
	}
	for _, c := range t.Columns {
		doc.Columns = append(doc.Columns, jsonColumn{c.Dataset, c.Encoder, t.Title(c)})
	}
	for _, d := range t.Duplicates {
		doc.Duplicates = append(doc.Duplicates, jsonDup{d.Label, d.Dataset, d.Encoder, d.Seed, d.Kept, d.Dropped})
	}
	for _, r := range t.Rows {
		jr := jsonRow{Label: r.Label, MethodLabel: r.MethodLabel, Config: r.Config, AvgRank: finite(r.AvgRank)}
		for j, c := range r.Cells {
			jc := jsonCell{
				Dataset: t.Columns[j].Dataset, Encoder: t.Columns[j].Encoder,
				N: c.N, Mean: finite(c.Mean), Std: finite(c.Std),
				Seeds: nonNil(c.Seeds), Values: nonNil(c.Values),
				Place: c.Place, Tested: c.Tested, Tied: c.Tied,
				Diverged: c.Diverged, Failed: c.Failed, WithoutMetric: c.WithoutMetric,
			}
			if c.Tested {
				jc.T, jc.P = finite(c.Test.T), finite(c.Test.P)
			}
			jr.Cells = append(jr.Cells, jc)
		}
		doc.Rows = append(doc.Rows, jr)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(doc)
}

// finite returns a pointer to v, or nil (JSON null) when v is NaN or infinite.
func finite(v float64) *float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	return &v
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
