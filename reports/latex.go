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
	pm:        ` $\pm$ `,
	dash:      "---",
	dagger:    `$^{\dagger}$`,
	percent:   `\%`,
	alpha:     `$\alpha$`,
	nMinus1:   `$n-1$`,
	tTest:     `$t$-test`,
	bold:      func(s string) string { return `\textbf{` + s + `}` },
	second:    func(s string) string { return `\underline{` + s + `}` },
	legend:    `\textbf{Bold}: best per column; \underline{underlined}: second`,
	oneIsBest: `1~=~best`,
	esc:       latexEscape,
}

// writeLaTeX writes a table float using booktabs rules; the document needs \usepackage{booktabs}.
// The caption is above the table, so it is followed by \vspace{\abovecaptionskip}: the standard
// classes put that skip above a caption and none below it, which would set the caption on the top
// rule. Notes (exclusions, duplicates, warnings) follow the tabular in footnote size.
func writeLaTeX(w io.Writer, t *Table) error {
	s := latexStyle
	tt := t.textTable(s, func(label string) string { return `\textit{` + label + `}` })
	cols := ""
	for _, a := range tt.Align {
		cols += map[Align]string{AlignLeft: "l", AlignRight: "r"}[a]
	}
	if t.HasRankColumn() {
		tt.Header[len(tt.Header)-1] = `Avg.\ rank` // an inter-word space after the abbreviation's period
	}
	var b strings.Builder
	b.WriteString("% Requires \\usepackage{booktabs}.\n")
	b.WriteString("\\begin{table}[t]\n")
	b.WriteString("  \\centering\n")
	b.WriteString("  \\caption{" + t.caption(s) + "}\n")
	b.WriteString("  \\label{tab:leaderboard-" + latexLabelKey(string(t.Metric)) + "}\n")
	b.WriteString("  \\vspace{\\abovecaptionskip}\n")
	b.WriteString("  \\begin{tabular}{" + cols + "}\n")
	b.WriteString("    \\toprule\n")
	b.WriteString("    " + strings.Join(tt.Header, " & ") + " \\\\\n")
	b.WriteString("    \\midrule\n")
	for i, cells := range tt.Rows {
		if i == len(t.Rows) {
			b.WriteString("    \\midrule\n") // the extra rows
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
