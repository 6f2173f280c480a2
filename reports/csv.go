package reports

import (
	"encoding/csv"
	"io"
	"math"
	"strconv"
)

// writeCSV writes one row per (row, column) with the raw fractions at full precision: n, mean,
// sample std, place (1 best, 2 second), whether tied with the best and the p-value of that test,
// excluded counts, the row's average rank, the records without the metric, the records' label and
// the row's training configuration (one column per configFields entry; empty for a setting that
// bench tune searched per column), then one column per seed of the table ("seed=<s>", empty where
// the cell lacks that seed). The first 13 columns are those of earlier versions, in their order.
func writeCSV(w io.Writer, t *Table) error {
	cw := csv.NewWriter(w)
	header := []string{"label", "dataset", "encoder", "metric", "n", "mean", "std", "place", "tied", "p_vs_best", "diverged", "failed", "avg_rank",
		"without_metric", "method_label"}
	for _, f := range configFields {
		header = append(header, f.name)
	}
	for _, s := range t.Seeds {
		header = append(header, "seed="+strconv.FormatInt(s, 10))
	}
	if err := cw.Write(header); err != nil {
		return err
	}
	for _, r := range t.Rows {
		for j, c := range r.Cells {
			col := t.Columns[j]
			rec := []string{r.Label, col.Dataset, col.Encoder, string(t.Metric), strconv.Itoa(c.N),
				csvFloat(c.Mean), csvFloat(c.Std), csvPlace(c.Place), csvTied(c), csvP(c),
				strconv.Itoa(c.Diverged), strconv.Itoa(c.Failed), csvFloat(r.AvgRank),
				strconv.Itoa(c.WithoutMetric), r.MethodLabel}
			for _, f := range configFields {
				rec = append(rec, configText(r.Config.Train[f.name]))
			}
			bySeed := map[int64]float64{}
			for k, s := range c.Seeds {
				bySeed[s] = c.Values[k]
			}
			for _, s := range t.Seeds {
				if v, ok := bySeed[s]; ok {
					rec = append(rec, csvFloat(v))
				} else {
					rec = append(rec, "")
				}
			}
			if err := cw.Write(rec); err != nil {
				return err
			}
		}
	}
	cw.Flush()
	return cw.Error()
}

func csvFloat(v float64) string {
	if math.IsNaN(v) {
		return ""
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

func csvPlace(p int) string {
	if p == 0 {
		return ""
	}
	return strconv.Itoa(p)
}

func csvTied(c Cell) string {
	if !c.Tested {
		return ""
	}
	return strconv.FormatBool(c.Tied)
}

func csvP(c Cell) string {
	if !c.Tested {
		return ""
	}
	return csvFloat(c.Test.P)
}
