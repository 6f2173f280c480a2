package reports

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
)

// Tolerance says how far a mean may drop before Compare fails it. Both are in the metric's units
// (fractions: 0.005 is half a percentage point).
type Tolerance struct {
	Abs float64 `json:"abs"` // drops up to Abs always pass
	K   float64 `json:"k"`   // drops up to K pooled standard errors pass
}

// DefaultTolerance passes drops up to 0.5 percentage points or two pooled standard errors,
// whichever is larger.
var DefaultTolerance = Tolerance{Abs: 0.005, K: 2}

// Status of one group in a comparison.
type Status string

// Statuses of a Diff. Only StatusRegressed and StatusMissing fail a comparison.
const (
	StatusPass      Status = "pass"               // within tolerance (either direction)
	StatusImproved  Status = "improved"           // rose by more than the threshold
	StatusRegressed Status = "REGRESSED"          // dropped by more than the threshold
	StatusMissing   Status = "missing in current" // in the baseline, not in the current run
	StatusNew       Status = "new"                // in the current run only (informational)
)

// Diff is one group of a comparison. Base or Cur is nil when the group is absent on that side;
// Delta, SE and Threshold are NaN then.
type Diff struct {
	Label, Dataset, Encoder string
	Base, Cur               *Group
	Delta                   float64 // Cur.Mean − Base.Mean
	SE                      float64 // pooled standard error sqrt(s₁²/n₁ + s₂²/n₂)
	Threshold               float64 // max(Tol.Abs, Tol.K · SE): the largest drop that passes
	Status                  Status
}

// DiffTable is the outcome of Compare.
type DiffTable struct {
	Metric Metric
	Tol    Tolerance
	Rows   []Diff   // sorted by (label, dataset, encoder)
	Notes  []string // problems with the comparison as a whole (e.g. different metrics)
	Failed bool
}

// Compare checks current against baseline group by group. With means m₁ (baseline) and m₂
// (current), sample stds s₁, s₂ and seed counts n₁, n₂, the pooled standard error of m₂ − m₁ is
//
//	SE = sqrt(s₁²/n₁ + s₂²/n₂)
//
// (Welch's unpooled form; no equal-variance assumption). A group fails when the mean drops by
// more than max(tol.Abs, tol.K · SE), i.e. when m₁ − m₂ > max(tol.Abs, tol.K · SE). A side with
// n < 2 has no spread estimate and contributes 0 to SE, so the threshold falls back towards
// tol.Abs. A group in the baseline but not in current fails (it stopped producing results, e.g.
// every seed diverged); a group only in current is reported as new and does not fail. Baselines
// of different metrics cannot be compared: every group then fails with a note.
func Compare(baseline, current *Baseline, tol Tolerance) (*DiffTable, bool) {
	d := &DiffTable{Metric: baseline.Metric, Tol: tol}
	incomparable := baseline.Metric != current.Metric
	if incomparable {
		d.Notes = append(d.Notes, fmt.Sprintf("baseline measures %s but the current run measures %s; nothing is comparable", baseline.Metric, current.Metric))
		d.Failed = true
	}
	cur := map[cellKey]*Group{}
	for i := range current.Groups {
		cur[current.Groups[i].key()] = &current.Groups[i]
	}
	seen := map[cellKey]bool{}
	for i := range baseline.Groups {
		b := &baseline.Groups[i]
		seen[b.key()] = true
		row := Diff{Label: b.Label, Dataset: b.Dataset, Encoder: b.Encoder, Base: b, Cur: cur[b.key()],
			Delta: math.NaN(), SE: math.NaN(), Threshold: math.NaN()}
		switch {
		case row.Cur == nil:
			row.Status = StatusMissing
		case incomparable:
			row.Status = StatusRegressed
		default:
			c := row.Cur
			row.Delta = c.Mean - b.Mean
			row.SE = math.Sqrt(varOfMean(*b) + varOfMean(*c))
			row.Threshold = math.Max(tol.Abs, tol.K*row.SE)
			switch {
			case -row.Delta > row.Threshold:
				row.Status = StatusRegressed
			case row.Delta > row.Threshold:
				row.Status = StatusImproved
			default:
				row.Status = StatusPass
			}
		}
		if row.Status == StatusRegressed || row.Status == StatusMissing {
			d.Failed = true
		}
		d.Rows = append(d.Rows, row)
	}
	for i := range current.Groups {
		c := &current.Groups[i]
		if !seen[c.key()] {
			d.Rows = append(d.Rows, Diff{Label: c.Label, Dataset: c.Dataset, Encoder: c.Encoder, Cur: c,
				Delta: math.NaN(), SE: math.NaN(), Threshold: math.NaN(), Status: StatusNew})
		}
	}
	sortDiffs(d.Rows)
	return d, d.Failed
}

// varOfMean is s²/n, or 0 when n < 2 (no spread estimate).
func varOfMean(g Group) float64 {
	if g.N < 2 {
		return 0
	}
	return g.Std * g.Std / float64(g.N)
}

func sortDiffs(rows []Diff) {
	g := make([]Group, len(rows))
	idx := map[cellKey]Diff{}
	for i, r := range rows {
		g[i] = Group{Label: r.Label, Dataset: r.Dataset, Encoder: r.Encoder}
		idx[g[i].key()] = r
	}
	sortGroups(g)
	for i := range g {
		rows[i] = idx[g[i].key()]
	}
}

// RenderDiff writes d as a GitHub Markdown table ("md") or JSON ("json"). Numbers in Markdown
// are percentages (pp = percentage points).
func RenderDiff(w io.Writer, d *DiffTable, format string) error {
	switch strings.ToLower(format) {
	case "md", "markdown":
		return writeDiffMarkdown(w, d)
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(diffJSON(d))
	}
	return fmt.Errorf("reports: unknown diff format %q (known: md, json)", format)
}

func writeDiffMarkdown(w io.Writer, d *DiffTable) error {
	var b strings.Builder
	mdRow(&b, []string{"Method", "Dataset", "Encoder", "Baseline", "Current", "Δ (pp)", "Allowed drop (pp)", "Status"})
	mdRow(&b, []string{":---", ":---", ":---", "---:", "---:", "---:", "---:", ":---"})
	for _, r := range d.Rows {
		status := string(r.Status)
		if r.Status == StatusRegressed || r.Status == StatusMissing {
			status = "**" + status + "**"
		}
		mdRow(&b, []string{mdEscape(r.Label), mdEscape(r.Dataset), mdEscape(r.Encoder),
			groupText(r.Base), groupText(r.Cur), signedPP(r.Delta), ppOrDash(r.Threshold), status})
	}
	verdict := "PASS"
	if d.Failed {
		verdict = "FAIL"
	}
	fmt.Fprintf(&b, "\n%s: %s. A group fails when its mean drops by more than max(%s pp, %s × SE), SE = sqrt(s₁²/n₁ + s₂²/n₂) over seeds; a group missing from the current run fails.\n",
		verdict, mdEscape(d.Metric.Title()), pp(d.Tol.Abs), strconv.FormatFloat(d.Tol.K, 'g', -1, 64))
	for _, n := range d.Notes {
		b.WriteString("\n- " + mdEscape(n) + "\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func groupText(g *Group) string {
	if g == nil {
		return "—"
	}
	s := pct(g.Mean, 2)
	if g.N >= 2 {
		s += " ± " + pct(g.Std, 2)
	}
	return s + " (n=" + strconv.Itoa(g.N) + ")"
}

func pp(v float64) string { return pct(v, 2) }

func ppOrDash(v float64) string {
	if math.IsNaN(v) {
		return "—"
	}
	return pp(v)
}

func signedPP(v float64) string {
	if math.IsNaN(v) {
		return "—"
	}
	s := pp(v)
	if v >= 0 {
		s = "+" + s
	}
	return s
}

type diffRowJSON struct {
	Label     string   `json:"label"`
	Dataset   string   `json:"dataset"`
	Encoder   string   `json:"encoder"`
	Base      *Group   `json:"baseline"`
	Cur       *Group   `json:"current"`
	Delta     *float64 `json:"delta"`
	SE        *float64 `json:"se"`
	Threshold *float64 `json:"threshold"`
	Status    Status   `json:"status"`
}

type diffDocJSON struct {
	Metric Metric        `json:"metric"`
	Tol    Tolerance     `json:"tolerance"`
	Failed bool          `json:"failed"`
	Notes  []string      `json:"notes"`
	Rows   []diffRowJSON `json:"rows"`
}

func diffJSON(d *DiffTable) diffDocJSON {
	doc := diffDocJSON{Metric: d.Metric, Tol: d.Tol, Failed: d.Failed, Notes: nonNil(d.Notes), Rows: []diffRowJSON{}}
	for _, r := range d.Rows {
		doc.Rows = append(doc.Rows, diffRowJSON{r.Label, r.Dataset, r.Encoder, r.Base, r.Cur,
			finite(r.Delta), finite(r.SE), finite(r.Threshold), r.Status})
	}
	return doc
}
