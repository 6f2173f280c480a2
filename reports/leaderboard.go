package reports

import (
	"io"
	"strings"

	"github.com/jedib0t/go-pretty/v6/text"
	"github.com/mmfusion/bench/bench/store"
)

// terminalStyle writes cells and captions as plain text: nothing is escaped, the best cell of a
// column is bold and the second italic when styled (escape sequences), else they are marked
// "[1st]" and "[2nd]".
func terminalStyle(styled bool) style {
	s := style{pm: " ± ", dash: "—", dagger: "†", percent: "%", alpha: "α", nMinus1: "n−1", tTest: "t-test",
		oneIsBest: "1 = best", esc: func(s string) string { return s }}
	if styled {
		s.bold = func(v string) string { return text.Bold.Sprint(v) }
		s.second = func(v string) string { return text.Italic.Sprint(v) }
		s.legend = text.Bold.Sprint("Bold") + ": best per column; " + text.Italic.Sprint("italic") + ": second"
	} else {
		s.bold = func(v string) string { return v + " [1st]" }
		s.second = func(v string) string { return v + " [2nd]" }
		s.legend = "[1st]: best per column; [2nd]: second"
	}
	return s
}

// captionWidth is where the terminal leaderboard's caption and notes wrap.
const captionWidth = 100

// Leaderboard writes the leaderboard `bench run` prints when a sweep ends: the table `bench report`
// prints (test accuracy; bold best, second, † ties, average ranks, caption and notes) for the given
// records (the run's cells), drawn as a terminal table: styled on a terminal, plain text when w is
// a pipe or a file (see Styled), never with Markdown escapes.
func Leaderboard(w io.Writer, records []*store.Record) error {
	t, err := Build(records, Options{Metric: MetricAcc})
	if err != nil {
		return err
	}
	styled := Styled(w)
	s := terminalStyle(styled)
	caption := t.caption(s)
	var b strings.Builder
	b.WriteString(t.textTable(s, func(label string) string { return label }).Terminal(styled))
	b.WriteString("\n" + trimLines(text.WrapSoft(caption+" Other metrics and formats: bench report.", captionWidth)))
	if notes := t.notes(s); len(notes) > 0 {
		b.WriteString("\n")
		for _, n := range notes {
			b.WriteString(trimLines(text.WrapSoft("- "+n, captionWidth)))
		}
	}
	_, err = io.WriteString(w, b.String())
	return err
}
