package reports

import (
	"fmt"
	"io"
	"strings"

	"github.com/mmfusion/bench/bench/store"
)

// Leaderboard writes the short Markdown summary `bench run` prints when a sweep ends: one row per
// table row (method label and configuration, see Build) and column (dataset, plus encoder when
// several are present) with test accuracy and test macro-F1 as mean ± sample std in percent, and
// n, the number of successful seeds with a test accuracy. Diverged and failed seeds, and records
// without a test accuracy, are counted beside n and listed under the table; macro-F1 shows its own
// n where fewer records have one, and records without it are listed too. It has no bold, ranks or
// tests; use Build and Render for the full leaderboard.
func Leaderboard(w io.Writer, records []*store.Record) error {
	acc, err := Build(records, Options{Metric: MetricAcc})
	if err != nil {
		return err
	}
	f1, err := Build(records, Options{Metric: MetricMacroF1})
	if err != nil {
		return err
	}
	var b strings.Builder
	mdRow(&b, []string{"Method", "Dataset", "Test acc (%)", "Macro-F1 (%)", "n"})
	mdRow(&b, []string{":---", ":---", "---:", "---:", "---:"})
	for i, r := range acc.Rows { // both tables come from the same records: the same rows and columns
		for j, c := range r.Cells {
			fc := f1.Rows[i].Cells[j]
			if c.N == 0 && c.Diverged == 0 && c.Failed == 0 && c.WithoutMetric == 0 && fc.N == 0 {
				continue
			}
			n := fmt.Sprint(c.N)
			if c.Diverged > 0 {
				n += fmt.Sprintf(" (+%d diverged)", c.Diverged)
			}
			if c.Failed > 0 {
				n += fmt.Sprintf(" (+%d failed)", c.Failed)
			}
			if c.WithoutMetric > 0 {
				n += fmt.Sprintf(" (+%d without %s)", c.WithoutMetric, acc.Metric.Short())
			}
			f1Text := plainMeanStd(fc, f1.Decimals)
			if fc.N > 0 && fc.N != c.N {
				f1Text += fmt.Sprintf(" (n=%d)", fc.N)
			}
			mdRow(&b, []string{mdEscape(r.Label), mdEscape(acc.Title(acc.Columns[j])),
				plainMeanStd(c, acc.Decimals), f1Text, n})
		}
	}
	b.WriteString("\nmean ± sample std (n−1) over n successful seeds; model selection: " + mdEscape(orDash(strings.Join(acc.Selections, ", "), "—")) + ".\n")
	notes := append(acc.notes(markdownStyle), f1.withoutMetricNotes(markdownStyle)...)
	if len(notes) > 0 {
		b.WriteString("\n")
		for _, n := range notes {
			b.WriteString("- " + n + "\n")
		}
	}
	_, err = io.WriteString(w, b.String())
	return err
}

func plainMeanStd(c Cell, decimals int) string {
	if c.N == 0 {
		return "—"
	}
	s := pct(c.Mean, decimals)
	if c.N >= 2 {
		s += " ± " + pct(c.Std, decimals)
	}
	return s
}
