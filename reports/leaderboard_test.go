package reports

import (
	"bytes"
	"strings"
	"testing"
)

// The end-of-run table is the leaderboard bench report prints (places, †, ranks, caption, notes),
// drawn for a terminal; a bytes.Buffer is not one, so it is plain text: no box lines, no escape
// sequences, no Markdown escapes (ogm_ge, not ogm\_ge), places marked [1st] and [2nd].
func TestLeaderboard(t *testing.T) {
	var b bytes.Buffer
	if err := Leaderboard(&b, fixture()); err != nil {
		t.Fatal(err)
	}
	want := " Method      |            cremad |              synthetic:mix=S | Avg. rank\n" +
		"-------------+-------------------+------------------------------+-----------\n" +
		" joint       |  82.0 ± 2.0 [1st] |            60.0 ± 1.0 [2nd]† |      1.50\n" +
		" late-fusion | 80.0 ± 3.0 [2nd]† | 51.0 ± 1.4 (n=2; 1 diverged) |      2.50\n" +
		" ogm_ge      |        75.0 ± 3.6 |             62.0 ± 2.0 [1st] |      2.00\n" +
		"\n" +
		"Test accuracy (%): mean ± sample std (n−1) over 3 seeds (seeds 1, 2, 3); cells with fewer seeds show\n" +
		"their n. [1st]: best per column; [2nd]: second. †: not significantly worse than the best of its\n" +
		"column (two-sided paired t-test over shared seeds, α = 0.05, no multiple-comparison correction).\n" +
		"Avg. rank: mean rank over the 2 columns (1 = best), shown only for methods with no missing cell.\n" +
		"Model selection: best-val-acc. Other metrics and formats: bench report.\n" +
		"\n" +
		"- Excluded: late-fusion on synthetic:mix=S, seed 3, diverged (loss NaN at epoch 4).\n"
	if b.String() != want {
		t.Errorf("leaderboard:\n got:\n%s\nwant:\n%s", b.String(), want)
	}
}

// On a terminal the same table has rounded box lines, a bold header and bold / italic places.
func TestTerminalStyled(t *testing.T) {
	tab := mustBuild(t, fixture(), Options{})
	s := terminalStyle(true)
	got := tab.textTable(s, func(l string) string { return l }).Terminal(true)
	for _, want := range []string{"╭", "╰", "\x1b[1m82.0 ± 2.0\x1b[0m", "\x1b[3m60.0 ± 1.0\x1b[0m†", "ogm_ge"} {
		if !strings.Contains(got, want) {
			t.Errorf("styled table lacks %q:\n%s", want, got)
		}
	}
	if Styled(&bytes.Buffer{}) {
		t.Error("a bytes.Buffer is not a terminal")
	}
}
