package reports

import (
	"io"
	"strings"
)

// mdEscaper makes free text literal in Markdown. | is not here: go-pretty escapes it in table cells,
// and outside a table it is literal.
var mdEscaper = strings.NewReplacer(
	`\`, `\\`, "*", `\*`, "_", `\_`, "`", "\\`", "~", `\~`,
	"<", "&lt;", ">", "&gt;", "\r\n", " ", "\n", " ", "\r", " ",
)

// mdEscape makes free text (labels, dataset names, reasons) literal inside a GitHub table cell.
func mdEscape(s string) string { return mdEscaper.Replace(s) }

// markdownStyle marks the best cell of a column bold and the second italic: unlike <ins> or <u>,
// which cmark-gfm's safe mode and pandoc drop and markdown-it prints as text, *…* survives every
// common renderer.
var markdownStyle = style{
	pm:        " ± ",
	dash:      "—",
	dagger:    "†",
	percent:   "%",
	alpha:     "α",
	nMinus1:   "n−1",
	tTest:     "t-test",
	bold:      func(s string) string { return "**" + s + "**" },
	second:    func(s string) string { return "*" + s + "*" },
	legend:    "**Bold**: best per column; *italic*: second",
	oneIsBest: "1 = best",
	esc:       mdEscape,
}

// writeMarkdown writes the table as a GitHub-flavoured Markdown pipe table, followed by the
// caption as a paragraph and the notes as a list.
func writeMarkdown(w io.Writer, t *Table) error {
	tt := t.textTable(markdownStyle, func(label string) string { return "*" + label + "*" })
	var b strings.Builder
	b.WriteString(tt.Markdown())
	b.WriteString("\n" + t.caption(markdownStyle) + "\n")
	if notes := t.notes(markdownStyle); len(notes) > 0 {
		b.WriteString("\n")
		for _, n := range notes {
			b.WriteString("- " + n + "\n")
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// textTable lays the leaderboard out in cells of style s: a Method column, one column per dataset
// (and encoder), the average rank where there is one, then the extra rows, their labels marked by
// extraLabel.
func (t *Table) textTable(s style, extraLabel func(string) string) TextTable {
	tt := TextTable{Header: []string{"Method"}, Align: []Align{AlignLeft}}
	for _, c := range t.Columns {
		tt.Header = append(tt.Header, s.esc(t.Title(c)))
		tt.Align = append(tt.Align, AlignRight)
	}
	if t.HasRankColumn() {
		tt.Header = append(tt.Header, "Avg. rank")
		tt.Align = append(tt.Align, AlignRight)
	}
	for _, r := range t.Rows {
		cells := []string{s.esc(r.Label)}
		for _, c := range r.Cells {
			cells = append(cells, t.cellText(c, s))
		}
		if t.HasRankColumn() {
			cells = append(cells, orDash(formatRank(r.AvgRank), s.dash))
		}
		tt.Rows = append(tt.Rows, cells)
	}
	for _, e := range t.Extra {
		cells := []string{extraLabel(s.esc(e.Label))}
		for _, c := range t.Columns {
			cells = append(cells, orDash(s.esc(e.Cells[c]), s.dash))
		}
		if t.HasRankColumn() {
			cells = append(cells, "")
		}
		tt.Rows = append(tt.Rows, cells)
	}
	return tt
}

func orDash(s, dash string) string {
	if s == "" {
		return dash
	}
	return s
}
