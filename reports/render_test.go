package reports

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The fixture, worked by hand (values in %, std is the sample std):
//
//	cremad:  joint       80 82 84 → 82.0 ± 2.0   best
//	         late-fusion 77 80 83 → 80.0 ± 3.0   second; joint − late = {3, 2, 1}: t = 2√3, ν = 2,
//	                                             p = 1 − √(6/7) = 0.0742 ≥ 0.05 → tied †
//	         ogm_ge      71 76 78 → 75.0 ± 3.6   (SS = 16+1+9 = 26, s = √13 = 3.606);
//	                                             joint − ogm = {9, 6, 6}: t = 7, p = 1 − 7/√51 = 0.0198 → not tied
//	synth:   ogm_ge      60 62 64 → 62.0 ± 2.0   best
//	         joint       59 60 61 → 60.0 ± 1.0   second; ogm − joint = {1, 2, 3}: p = 0.0742 → tied †
//	         late-fusion 50 52 (seed 3 diverged) → 51.0 ± 1.4 (n=2); ogm − late = {10, 10}: zero
//	                                             variance, nonzero mean → p = 0 → not tied
//	ranks:   joint 1, 2 → 1.50; late-fusion 2, 3 → 2.50; ogm_ge 3, 1 → 2.00
const goldenMarkdown = `| Method      |         cremad |              synthetic:mix=S | Avg. rank |
|:----------- | --------------:| ----------------------------:| ---------:|
| joint       | **82.0 ± 2.0** |                *60.0 ± 1.0*† |      1.50 |
| late-fusion |  *80.0 ± 3.0*† | 51.0 ± 1.4 (n=2; 1 diverged) |      2.50 |
| ogm\_ge     |     75.0 ± 3.6 |               **62.0 ± 2.0** |      2.00 |

Test accuracy (%): mean ± sample std (n−1) over 3 seeds (seeds 1, 2, 3); cells with fewer seeds show their n. **Bold**: best per column; *italic*: second. †: not significantly worse than the best of its column (two-sided paired t-test over shared seeds, α = 0.05, no multiple-comparison correction). Avg. rank: mean rank over the 2 columns (1 = best), shown only for methods with no missing cell. Model selection: best-val-acc.

- Excluded: late-fusion on synthetic:mix=S, seed 3, diverged (loss NaN at epoch 4).
`

const goldenLaTeX = `% Requires \usepackage{booktabs}.
\begin{table}[t]
  \centering
  \caption{Test accuracy (\%): mean $\pm$ sample std ($n-1$) over 3 seeds (seeds 1, 2, 3); cells with fewer seeds show their n. \textbf{Bold}: best per column; \underline{underlined}: second. $^{\dagger}$: not significantly worse than the best of its column (two-sided paired $t$-test over shared seeds, $\alpha$ = 0.05, no multiple-comparison correction). Avg. rank: mean rank over the 2 columns (1~=~best), shown only for methods with no missing cell. Model selection: best-val-acc.}
  \label{tab:leaderboard-acc}
  \vspace{\abovecaptionskip}
  \begin{tabular}{lrrr}
    \toprule
    Method & cremad & synthetic:mix=S & Avg.\ rank \\
    \midrule
    joint & \textbf{82.0 $\pm$ 2.0} & \underline{60.0 $\pm$ 1.0}$^{\dagger}$ & 1.50 \\
    late-fusion & \underline{80.0 $\pm$ 3.0}$^{\dagger}$ & 51.0 $\pm$ 1.4 (n=2; 1 diverged) & 2.50 \\
    ogm\_ge & 75.0 $\pm$ 3.6 & \textbf{62.0 $\pm$ 2.0} & 2.00 \\
    \bottomrule
  \end{tabular}
  \par\smallskip
  {\footnotesize
  Excluded: late-fusion on synthetic:mix=S, seed 3, diverged (loss NaN at epoch 4).\par
  }
\end{table}
`

func render(t *testing.T, tab *Table, format string) string {
	t.Helper()
	var b bytes.Buffer
	if err := Render(&b, tab, format); err != nil {
		t.Fatalf("Render %s: %v", format, err)
	}
	return b.String()
}

func TestRenderMarkdownGolden(t *testing.T) {
	got := render(t, mustBuild(t, fixture(), Options{}), "md")
	if got != goldenMarkdown {
		t.Errorf("markdown differs.\n got:\n%s\nwant:\n%s", got, goldenMarkdown)
	}
}

func TestRenderLaTeXGolden(t *testing.T) {
	got := render(t, mustBuild(t, fixture(), Options{}), "latex")
	if got != goldenLaTeX {
		t.Errorf("latex differs.\n got:\n%s\nwant:\n%s", got, goldenLaTeX)
	}
}

func TestRenderDecimals(t *testing.T) {
	got := squeeze(render(t, mustBuild(t, fixture(), Options{Decimals: 2}), "md"))
	// ogm_ge on cremad: 75.00 ± √13 = 3.6056 → "3.61"; late-fusion on synth: 1.4142 → "1.41".
	for _, want := range []string{"| **82.00 ± 2.00** |", "| 75.00 ± 3.61 |", "51.00 ± 1.41 (n=2; 1 diverged)"} {
		if !strings.Contains(got, want) {
			t.Errorf("2 decimals: missing %q in\n%s", want, got)
		}
	}
}

func TestRenderSingleColumnHasNoRank(t *testing.T) {
	tab := mustBuild(t, append(series("a", "d", "mlp", 0.5, 0.6), series("b", "d", "mlp", 0.7, 0.8)...), Options{})
	got := squeeze(render(t, tab, "md"))
	if strings.Contains(got, "Avg. rank") {
		t.Errorf("one column: no rank column expected:\n%s", got)
	}
	// b − a = {0.2, 0.2} (equal up to rounding): a consistent shift, p ≈ 0 → a is not tied.
	if !strings.HasPrefix(got, "| Method | d |\n|:------ | --------------:|\n| a | *55.0 ± 7.1* |\n| b | **75.0 ± 7.1** |\n") {
		t.Errorf("unexpected table:\n%s", got)
	}
}

func TestLaTeXEscape(t *testing.T) {
	got := latexEscape(`a_b 50% & #1 $x$ {y} ~ ^ \ <>|`)
	want := `a\_b 50\% \& \#1 \$x\$ \{y\} \textasciitilde{} \textasciicircum{} \textbackslash{} \textless{}\textgreater{}\textbar{}`
	if got != want {
		t.Errorf("latexEscape:\n got %s\nwant %s", got, want)
	}
	got = mdEscape("a|b *c* _d_ <u> `e`") // | is escaped by go-pretty, in table cells only
	want = "a|b \\*c\\* \\_d\\_ &lt;u&gt; \\`e\\`"
	if got != want {
		t.Errorf("mdEscape:\n got %s\nwant %s", got, want)
	}
}

func TestRenderCSV(t *testing.T) {
	got := render(t, mustBuild(t, fixture(), Options{}), "csv")
	rows, err := csv.NewReader(strings.NewReader(got)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	wantHeader := "label,dataset,encoder,metric,n,mean,std,place,tied,p_vs_best,diverged,failed,avg_rank," +
		"without_metric,method_label,epochs,lr,batch_size,momentum,weight_decay,optimizer,recipe,seed=1,seed=2,seed=3"
	if strings.Join(rows[0], ",") != wantHeader {
		t.Errorf("header %v", rows[0])
	}
	if len(rows) != 1+6 {
		t.Fatalf("%d rows, want header + 3 labels × 2 columns", len(rows))
	}
	const seed1 = 22 // index of the first seed column
	// late-fusion on synth: n = 2, seeds 1 and 2 present, seed 3 empty, one diverged, not tied, p = 0.
	lf := rows[4]
	if lf[0] != "late-fusion" || lf[1] != "synthetic:mix=S" || lf[4] != "2" || lf[5] != "0.51" ||
		lf[8] != "false" || lf[9] != "0" || lf[10] != "1" || lf[13] != "0" || lf[seed1] != "0.5" || lf[seed1+1] != "0.52" || lf[seed1+2] != "" {
		t.Errorf("late-fusion row: %v", lf)
	}
	if j := rows[1]; j[0] != "joint" || j[7] != "1" || j[12] != "1.5" || j[seed1] != "0.8" || j[seed1+2] != "0.84" {
		t.Errorf("joint row: %v", j)
	}
	// The training configuration of the row (the fixture's records: 10 epochs, lr 0.01, batch 64, SGD,
	// the shared protocol: an empty recipe).
	if j := rows[1]; strings.Join(j[14:seed1], ",") != "joint,10,0.01,64,0,0,sgd," {
		t.Errorf("joint configuration: %v", j[14:seed1])
	}
}

func TestRenderJSON(t *testing.T) {
	got := render(t, mustBuild(t, fixture(), Options{}), "json")
	var doc struct {
		Metric string  `json:"metric"`
		MaxN   int     `json:"max_n"`
		Seeds  []int64 `json:"seeds"`
		Rows   []struct {
			Label   string   `json:"label"`
			AvgRank *float64 `json:"avg_rank"`
			Cells   []struct {
				N      int       `json:"n"`
				Mean   *float64  `json:"mean"`
				Std    *float64  `json:"std"`
				Values []float64 `json:"values"`
				Place  int       `json:"place"`
				Tied   bool      `json:"tied"`
				P      *float64  `json:"p_vs_best"`
			} `json:"cells"`
		} `json:"rows"`
		Excluded []Excluded `json:"excluded"`
	}
	if err := json.Unmarshal([]byte(got), &doc); err != nil {
		t.Fatalf("invalid JSON: %v\n%s", err, got)
	}
	if doc.Metric != "acc" || doc.MaxN != 3 || len(doc.Seeds) != 3 || len(doc.Rows) != 3 {
		t.Fatalf("header: %+v", doc)
	}
	og := doc.Rows[2]
	if og.Label != "ogm_ge" || *og.AvgRank != 2 || og.Cells[0].N != 3 || !near(*og.Cells[0].P, 1-7/math.Sqrt(51), 1e-9) || og.Cells[0].Tied {
		t.Errorf("ogm_ge: %+v", og)
	}
	if c := og.Cells[1]; c.Place != 1 || !near(*c.Mean, 0.62, 1e-12) || c.P != nil || len(c.Values) != 3 {
		t.Errorf("ogm_ge synth: %+v", c)
	}
	if len(doc.Excluded) != 1 || doc.Excluded[0].Status != "diverged" || doc.Excluded[0].Seed != 3 {
		t.Errorf("excluded: %+v", doc.Excluded)
	}
}

func TestRenderUnknownFormat(t *testing.T) {
	err := Render(&bytes.Buffer{}, mustBuild(t, fixture(), Options{}), "html")
	if err == nil || !strings.Contains(err.Error(), "html") {
		t.Errorf("want an error naming the format, got %v", err)
	}
}

// TestLaTeXCompiles runs pdflatex on the rendered table (with nasty labels) when it is installed.
func TestLaTeXCompiles(t *testing.T) {
	pdflatex, err := exec.LookPath("pdflatex")
	if err != nil {
		t.Skip("pdflatex not found on PATH; skipping the LaTeX compile check (the golden test still checks the source)")
	}
	rs := append(fixture(), series(`weird_label 50% & #1 {x} ~^\`, "cremad", "mlp", 0.7, 0.71, 0.72)...)
	rs = append(rs, rec("late-fusion", "cremad", "vit", 1, 0.6, failed("out of memory: 100% of GPU")))
	tab := mustBuild(t, rs, Options{})
	doc := "\\documentclass{article}\n\\usepackage{booktabs}\n\\begin{document}\n" + render(t, tab, "latex") + "\\end{document}\n"
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "t.tex"), []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(pdflatex, "-interaction=nonstopmode", "-halt-on-error", "t.tex")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("pdflatex failed: %v\n%s\n--- source ---\n%s", err, out, doc)
	}
	if fi, err := os.Stat(filepath.Join(dir, "t.pdf")); err != nil || fi.Size() == 0 {
		t.Fatalf("no PDF produced: %v", err)
	}
}
