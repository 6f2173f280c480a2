package reports

import (
	"io"
	"strings"
)

var latexEscaper = strings.NewReplacer(
	`\`, `\textbackslash{}`, "{", `\{`, "}", `\}`, "$", `\$`, "&", `\&`, "#", `\#`, "%", `\%`,
	"_", `\_`, "^", `\textasciicircum{}`, "~", `\textasciitilde{}`, "<", `\textless{}`, ">", `\textgreater{}`,
	"|", `\textbar{}`, "—", "---", "–", "--", "±", `$\pm$`, "\r\n", " ", "\n", " ", "\r", " ",
)

// latexEscape makes free text (labels, dataset names, reasons) literal in LaTeX text mode.
func latexEscape(s string) string { return latexEscaper.Replace(s) }

var latexStyle = style{
	pm:      ` $\pm$ `,
	dash:    "---",
	dagger:  `$^{\dagger}$`,
	percent: `\%`,
	alpha:   `$\alpha$`,
	nMinus1: `$n-1$`,
	tTest:   `$t$-test`,
	bold:    func(s string) string { return `\textbf{` + s + `}` },
	under:   func(s string) string { return `\underline{` + s + `}` },
	esc:     latexEscape,
}

// writeLaTeX writes a table float using booktabs rules; the document needs \usepackage{booktabs}.
// Notes (exclusions, duplicates, warnings) follow the tabular in footnote size.
func writeLaTeX(w io.Writer, t *Table) error {
	s := latexStyle
	cols := "l" + strings.Repeat("r", len(t.Columns))
	header := []string{"Method"}
	for _, c := range t.Columns {
		header = append(header, latexEscape(t.Title(c)))
	}
	if t.HasRankColumn() {
		cols += "r"
		header = append(header, `Avg.\ rank`)
	}
	var b strings.Builder
	b.WriteString("% Requires \\usepackage{booktabs}.\n")
	b.WriteString("\\begin{table}[t]\n")
	b.WriteString("  \\centering\n")
	b.WriteString("  \\caption{" + t.caption(s) + "}\n")
	b.WriteString("  \\label{tab:leaderboard-" + latexLabelKey(string(t.Metric)) + "}\n")
	b.WriteString("  \\begin{tabular}{" + cols + "}\n")
	b.WriteString("    \\toprule\n")
	b.WriteString("    " + strings.Join(header, " & ") + " \\\\\n")
	b.WriteString("    \\midrule\n")
	for _, r := range t.Rows {
		cells := []string{latexEscape(r.Label)}
		for _, c := range r.Cells {
			cells = append(cells, t.cellText(c, s))
		}
		if t.HasRankColumn() {
			cells = append(cells, orDash(formatRank(r.AvgRank), s.dash))
		}
		b.WriteString("    " + strings.Join(cells, " & ") + " \\\\\n")
	}
	if len(t.Extra) > 0 {
		b.WriteString("    \\midrule\n")
	}
	for _, e := range t.Extra {
		cells := []string{"\\textit{" + latexEscape(e.Label) + "}"}
		for _, c := range t.Columns {
			cells = append(cells, orDash(latexEscape(e.Cells[c]), s.dash))
		}
		if t.HasRankColumn() {
			cells = append(cells, "")
		}
		b.WriteString("    " + strings.Join(cells, " & ") + " \\\\\n")
	}
	b.WriteString("    \\bottomrule\n")
	b.WriteString("  \\end{tabular}\n")
	if notes := t.notes(s); len(notes) > 0 {
		b.WriteString("  \\par\\smallskip\n")
		b.WriteString("  {\\footnotesize\n")
		for _, n := range notes {
			b.WriteString("  " + n + "\\par\n")
		}
		b.WriteString("  }\n")
	}
	b.WriteString("\\end{table}\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// latexLabelKey keeps the characters that are safe in \label.
func latexLabelKey(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' {
			return r
		}
		return '-'
	}, s)
}
