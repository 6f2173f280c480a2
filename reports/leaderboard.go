package reports

import (
	"fmt"
	"io"
	"strings"

	"github.com/mmfusion/bench/bench/store"
)

// Leaderboard writes the short Markdown summary `bench run` prints when a sweep ends: one row per
// method label and column (dataset, plus encoder when several are present) with test accuracy
// and test macro-F1 as mean ± sample std in percent, and n, the number of successful seeds.
// Diverged and failed seeds are counted beside n and listed, with their reasons, under the
// table. It has no bold, ranks or tests; use Build and Render for the full leaderboard.
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
	for i, r := range acc.Rows {
		for j, c := range r.Cells {
			if c.N == 0 && c.Diverged == 0 && c.Failed == 0 {
				continue
			}
			n := fmt.Sprint(c.N)
			if c.Diverged > 0 {
				n += fmt.Sprintf(" (+%d diverged)", c.Diverged)
			}
			if c.Failed > 0 {
				n += fmt.Sprintf(" (+%d failed)", c.Failed)
			}
			mdRow(&b, []string{mdEscape(r.Label), mdEscape(acc.Title(acc.Columns[j])),
				plainMeanStd(c, acc.Decimals), plainMeanStd(f1.Rows[i].Cells[j], f1.Decimals), n})
		}
	}
	b.WriteString("\nmean ± sample std (n−1) over n successful seeds; model selection: " + mdEscape(orDash(strings.Join(acc.Selections, ", "), "—")) + ".\n")
	if notes := acc.notes(markdownStyle); len(notes) > 0 {
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
