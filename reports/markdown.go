package reports

import (
	"io"
	"strings"
)

// Markdown marks. GitHub's HTML sanitiser keeps <ins> but drops <u>, so underlining uses <ins>
// (which browsers render underlined).
const (
	mdUnderOpen  = "<ins>"
	mdUnderClose = "</ins>"
)

var mdEscaper = strings.NewReplacer(
	`\`, `\\`, "|", `\|`, "*", `\*`, "_", `\_`, "`", "\\`", "~", `\~`,
	"<", "&lt;", ">", "&gt;", "\r\n", " ", "\n", " ", "\r", " ",
)

// mdEscape makes free text (labels, dataset names, reasons) literal inside a GitHub table cell.
func mdEscape(s string) string { return mdEscaper.Replace(s) }

var markdownStyle = style{
	pm:      " ± ",
	dash:    "—",
	dagger:  "†",
	percent: "%",
	alpha:   "α",
	nMinus1: "n−1",
	tTest:   "t-test",
	bold:    func(s string) string { return "**" + s + "**" },
	under:   func(s string) string { return mdUnderOpen + s + mdUnderClose },
	esc:     mdEscape,
}

// writeMarkdown writes the table as a GitHub-flavoured Markdown pipe table, followed by the
// caption as a paragraph and the notes as a list.
func writeMarkdown(w io.Writer, t *Table) error {
	s := markdownStyle
	header := []string{"Method"}
	align := []string{":---"}
	for _, c := range t.Columns {
		header = append(header, mdEscape(t.Title(c)))
		align = append(align, "---:")
	}
	if t.HasRankColumn() {
		header = append(header, "Avg. rank")
		align = append(align, "---:")
	}
	var b strings.Builder
	mdRow(&b, header)
	mdRow(&b, align)
	for _, r := range t.Rows {
		cells := []string{mdEscape(r.Label)}
		for _, c := range r.Cells {
			cells = append(cells, t.cellText(c, s))
		}
		if t.HasRankColumn() {
			cells = append(cells, orDash(formatRank(r.AvgRank), s.dash))
		}
		mdRow(&b, cells)
	}
	for _, e := range t.Extra {
		cells := []string{"*" + mdEscape(e.Label) + "*"}
		for _, c := range t.Columns {
			cells = append(cells, orDash(mdEscape(e.Cells[c]), s.dash))
		}
		if t.HasRankColumn() {
			cells = append(cells, "")
		}
		mdRow(&b, cells)
	}
	b.WriteString("\n" + t.caption(s) + "\n")
	if notes := t.notes(s); len(notes) > 0 {
		b.WriteString("\n")
		for _, n := range notes {
			b.WriteString("- " + n + "\n")
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func mdRow(b *strings.Builder, cells []string) {
	b.WriteString("| " + strings.Join(cells, " | ") + " |\n")
}

func orDash(s, dash string) string {
	if s == "" {
		return dash
	}
	return s
}
