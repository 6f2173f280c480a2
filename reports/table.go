package reports

import (
	"io"
	"os"
	"strings"

	"github.com/jedib0t/go-pretty/v6/table"
	"github.com/jedib0t/go-pretty/v6/text"
	"golang.org/x/term"
)

// Every table the harness prints is drawn by go-pretty (github.com/jedib0t/go-pretty/v6/table):
// the Markdown pipe tables of `bench report --format md` and `bench regress` with its Markdown
// renderer (columns padded, so the source reads as a table too; it escapes | in cells itself), and
// the terminal tables (`bench run`'s end-of-sweep leaderboard, `bench list`, `bench interactions`)
// with its box renderer: rounded lines and a bold header on a terminal, plain ASCII when the output
// is piped or redirected. LaTeX (booktabs) and CSV (encoding/csv) are written by this package.

// Align is a column's alignment.
type Align int

// Column alignments.
const (
	AlignLeft Align = iota
	AlignRight
)

// TextTable is a table of text cells: a header, an alignment per column (missing ones are left) and
// rows. Cells hold what the output shows: Markdown cells are escaped by their caller (except |,
// which go-pretty escapes).
type TextTable struct {
	Header []string
	Align  []Align
	Rows   [][]string
	// WrapLast wraps the last column (free text) at word boundaries so that a styled table fits
	// the terminal's width; plain output is never wrapped, so each row stays one line for grep.
	WrapLast bool
}

func (tt TextTable) writer() table.Writer {
	w := table.NewWriter()
	w.AppendHeader(toRow(tt.Header))
	for _, r := range tt.Rows {
		w.AppendRow(toRow(r))
	}
	w.SetColumnConfigs(tt.columnConfigs())
	return w
}

func (tt TextTable) columnConfigs() []table.ColumnConfig {
	var cfg []table.ColumnConfig
	for i, a := range tt.Align {
		al := text.AlignLeft
		if a == AlignRight {
			al = text.AlignRight
		}
		cfg = append(cfg, table.ColumnConfig{Number: i + 1, Align: al, AlignHeader: al})
	}
	return cfg
}

func toRow(cells []string) table.Row {
	r := make(table.Row, len(cells))
	for i, c := range cells {
		r[i] = c
	}
	return r
}

// Markdown renders the table as a GitHub-flavoured Markdown pipe table (alignment markers in the
// delimiter row, cells padded to their column's width), ending in a newline.
func (tt TextTable) Markdown() string {
	w := tt.writer()
	w.Style().Markdown.PadContent = true
	return trimLines(w.RenderMarkdown())
}

// Terminal renders the table for a terminal: rounded box lines and a bold header when styled, else
// plain ASCII (columns separated by |, a dashed line under the header, no escape sequences). It
// ends in a newline.
func (tt TextTable) Terminal(styled bool) string { return tt.terminal(styled, 0) }

// terminal renders for a terminal of the given width in columns (0: unknown, no wrapping).
func (tt TextTable) terminal(styled bool, width int) string {
	w := tt.writer()
	if last := len(tt.Header) - 1; styled && tt.WrapLast && width > 0 && last > 0 {
		used := 1 // the left border; each column adds its padding and right border
		for c := 0; c < last; c++ {
			colW := text.StringWidthWithoutEscSequences(tt.Header[c])
			for _, r := range tt.Rows {
				if c < len(r) {
					colW = max(colW, text.StringWidthWithoutEscSequences(r[c]))
				}
			}
			used += colW + 3
		}
		cfg := tt.columnConfigs()
		for len(cfg) <= last {
			cfg = append(cfg, table.ColumnConfig{Number: len(cfg) + 1})
		}
		cfg[last].WidthMax, cfg[last].WidthMaxEnforcer = max(width-used-3, 30), text.WrapSoft
		w.SetColumnConfigs(cfg)
	}
	var s table.Style
	if styled {
		s = table.StyleRounded
		s.Color.Header = text.Colors{text.Bold}
	} else {
		s = table.StyleDefault
		s.Options.DrawBorder = false
	}
	s.Format.Header = text.FormatDefault // as written, not upper-cased
	w.SetStyle(s)
	return trimLines(w.Render())
}

// trimLines drops trailing spaces of each line and ends the text in one newline.
func trimLines(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, " ")
	}
	return strings.Join(lines, "\n") + "\n"
}

// WriteTerminal writes tt to w, styled when w is a terminal (see Styled).
func WriteTerminal(w io.Writer, tt TextTable) error {
	styled, width := Styled(w), 0
	if f, ok := w.(*os.File); ok && styled {
		if cols, _, err := term.GetSize(int(f.Fd())); err == nil {
			width = cols
		}
	}
	_, err := io.WriteString(w, tt.terminal(styled, width))
	return err
}

// Styled says whether output to w may use box-drawing lines and bold/italic escape sequences: w is
// an *os.File on a terminal, NO_COLOR is unset and TERM is not "dumb". Anything else (a pipe, a
// file, a bytes.Buffer in a test) gets plain text.
func Styled(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return false
	}
	return os.Getenv("NO_COLOR") == "" && os.Getenv("TERM") != "dumb"
}
