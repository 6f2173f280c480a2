package reports

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// style holds the few tokens in which Markdown and LaTeX differ, so both share one description of
// what a cell and a caption say.
type style struct {
	pm      string // between mean and std
	dash    string // missing cell
	dagger  string // tied-with-best mark
	percent string
	alpha   string
	nMinus1 string
	tTest   string
	bold    func(string) string
	second  func(string) string // marks the second-best cell
	// legend is the caption's key to the marks: "**Bold**: best per column; *italic*: second".
	legend    string
	oneIsBest string              // "1 = best", unbreakable in LaTeX
	esc       func(string) string // escapes free text (labels, dataset names, reasons)
}

// maxNotes bounds the per-record lines (exclusions, duplicates) printed under a table.
const maxNotes = 20

// pct formats a fraction as a percentage with the given decimals (no % sign).
func pct(v float64, decimals int) string {
	return strconv.FormatFloat(v*100, 'f', decimals, 64)
}

// cellText renders one cell: "mean ± std", marked bold or second by place, a dagger when tied, and a
// parenthesised note when n differs from the table's maximum or seeds were excluded.
func (t *Table) cellText(c Cell, s style) string {
	var v string
	if c.N == 0 {
		v = s.dash
	} else {
		v = pct(c.Mean, t.Decimals)
		if c.N >= 2 {
			v += s.pm + pct(c.Std, t.Decimals)
		}
		switch c.Place {
		case 1:
			v = s.bold(v)
		case 2:
			v = s.second(v)
		}
		if c.Tied {
			v += s.dagger
		}
	}
	var notes []string
	if c.N > 0 && c.N != t.MaxN {
		notes = append(notes, fmt.Sprintf("n=%d", c.N))
	}
	if c.Diverged > 0 {
		notes = append(notes, fmt.Sprintf("%d diverged", c.Diverged))
	}
	if c.Failed > 0 {
		notes = append(notes, fmt.Sprintf("%d failed", c.Failed))
	}
	if c.WithoutMetric > 0 {
		notes = append(notes, fmt.Sprintf("%d without %s", c.WithoutMetric, t.Metric.Short()))
	}
	if len(notes) > 0 {
		v += " (" + strings.Join(notes, "; ") + ")"
	}
	return v
}

func formatRank(r float64) string {
	if math.IsNaN(r) {
		return ""
	}
	return strconv.FormatFloat(r, 'f', 2, 64)
}

// caption describes the table: metric and unit, what ± is and over how many seeds, the marks and
// the test behind the dagger, the rank column and the selection protocol.
func (t *Table) caption(s style) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s (%s): mean%ssample std (%s) over %s", t.Metric.Title(), s.percent, s.pm, s.nMinus1, plural(t.MaxN, "seed"))
	if len(t.Seeds) > 0 && len(t.Seeds) <= 10 {
		ss := make([]string, len(t.Seeds))
		for i, x := range t.Seeds {
			ss[i] = strconv.FormatInt(x, 10)
		}
		fmt.Fprintf(&b, " (%s %s)", pluralWord(len(t.Seeds), "seed"), strings.Join(ss, ", "))
	}
	untested, otherN := false, false
	for _, r := range t.Rows {
		for _, c := range r.Cells {
			if c.N > 0 && c.Place != 1 && !c.Tested {
				untested = true
			}
			if c.N > 0 && c.N != t.MaxN {
				otherN = true
			}
		}
	}
	if otherN {
		b.WriteString("; cells with fewer seeds show their n")
	}
	fmt.Fprintf(&b, ". %s. %s: not significantly worse than the best of its column (two-sided paired %s over shared seeds, %s = %s, no multiple-comparison correction)",
		s.legend, s.dagger, s.tTest, s.alpha, strconv.FormatFloat(t.Alpha, 'g', -1, 64))
	if untested {
		b.WriteString("; cells sharing fewer than 2 seeds with the best are not tested")
	}
	b.WriteString(".")
	if t.HasRankColumn() {
		fmt.Fprintf(&b, " Avg. rank: mean rank over the %d columns (%s), shown only for methods with no missing cell.", len(t.Columns), s.oneIsBest)
	}
	if len(t.Selections) > 0 {
		fmt.Fprintf(&b, " Model selection: %s.", s.esc(strings.Join(t.Selections, ", ")))
	}
	for _, tu := range t.Tuning {
		fmt.Fprintf(&b, " %s.", s.esc(tu))
	}
	return b.String()
}

// notes lists what the caption cannot hold: excluded records, records without the metric,
// duplicates and warnings.
func (t *Table) notes(s style) []string {
	var out []string
	for i, e := range t.Excluded {
		if i == maxNotes {
			out = append(out, fmt.Sprintf("... and %d more excluded records.", len(t.Excluded)-maxNotes))
			break
		}
		line := fmt.Sprintf("Excluded: %s on %s, seed %d, %s", s.esc(e.Label), s.esc(t.Title(Column{e.Dataset, e.Encoder})), e.Seed, e.Status)
		if e.Reason != "" {
			line += " (" + s.esc(e.Reason) + ")"
		}
		out = append(out, line+".")
	}
	out = append(out, t.withoutMetricNotes(s)...)
	for i, d := range t.Duplicates {
		if i == maxNotes {
			out = append(out, fmt.Sprintf("... and %d more duplicated cells.", len(t.Duplicates)-maxNotes))
			break
		}
		out = append(out, fmt.Sprintf("Duplicate: %s on %s, seed %d: %d records; kept the newest (%s).",
			s.esc(d.Label), s.esc(t.Title(Column{d.Dataset, d.Encoder})), d.Seed, len(d.Dropped)+1, s.esc(d.Kept)))
	}
	for _, w := range t.Warnings {
		out = append(out, "Warning: "+s.esc(w)+".")
	}
	return out
}

// withoutMetricNotes says how many "ok" records were left out for lacking the metric, and where:
// "2 records without test acc excluded: ensemble on d (seeds 1, 2)."
func (t *Table) withoutMetricNotes(s style) []string {
	if len(t.WithoutMetric) == 0 {
		return nil
	}
	var parts []string
	more := 0
	for i := 0; i < len(t.WithoutMetric); {
		e := t.WithoutMetric[i]
		var seeds []string
		j := i
		for ; j < len(t.WithoutMetric); j++ {
			f := t.WithoutMetric[j]
			if f.Label != e.Label || f.Dataset != e.Dataset || f.Encoder != e.Encoder {
				break
			}
			seeds = append(seeds, strconv.FormatInt(f.Seed, 10))
		}
		if len(parts) == maxNotes {
			more++
		} else {
			parts = append(parts, fmt.Sprintf("%s on %s (%s %s)", s.esc(e.Label), s.esc(t.Title(Column{e.Dataset, e.Encoder})),
				pluralWord(len(seeds), "seed"), strings.Join(seeds, ", ")))
		}
		i = j
	}
	if more > 0 {
		parts = append(parts, fmt.Sprintf("and %d more cells", more))
	}
	return []string{fmt.Sprintf("%s without %s excluded: %s.", plural(len(t.WithoutMetric), "record"), s.esc(t.Metric.Short()), strings.Join(parts, "; "))}
}

func plural(n int, word string) string {
	return strconv.Itoa(n) + " " + pluralWord(n, word)
}

func pluralWord(n int, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}
