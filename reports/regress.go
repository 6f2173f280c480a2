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

// Statuses of a Diff. StatusRegressed, StatusMissing and StatusAmbiguous fail a comparison.
const (
	StatusPass      Status = "pass"               // within tolerance (either direction)
	StatusImproved  Status = "improved"           // rose by more than the threshold
	StatusRegressed Status = "REGRESSED"          // dropped by more than the threshold
	StatusMissing   Status = "missing in current" // in the baseline, not in the current run
	StatusAmbiguous Status = "ambiguous"          // a group without configuration, and several in the current run
	StatusNew       Status = "new"                // in the current run only (informational)
)

// Diff is one group of a comparison. Base or Cur is nil when the group is absent on that side;
// Delta, SE and Threshold are NaN then.
type Diff struct {
	Label, Dataset, Encoder string
	// Title is Label plus the configuration settings that differ among the comparison's groups of
	// that label ("joint [epochs=5]"); Label alone when it has one configuration.
	Title     string
	Config    *Config // the baseline group's, else the current one's; nil for an unmatched group of a version 1 baseline
	Base, Cur *Group
	Delta     float64 // Cur.Mean − Base.Mean
	SE        float64 // pooled standard error sqrt(s₁²/n₁ + s₂²/n₂)
	Threshold float64 // max(Tol.Abs, Tol.K · SE): the largest drop that passes
	Status    Status
}

// DiffTable is the outcome of Compare.
type DiffTable struct {
	Metric Metric
	Tol    Tolerance
	Rows   []Diff   // sorted by (label, configuration, dataset, encoder)
	Notes  []string // the comparison as a whole: different metrics, unmatched or ambiguous groups, values left out
	Failed bool
}

// AllowedDrop is the largest drop from baseline group g that passes against a current group with
// no spread estimate (one seed): max(tol.Abs, tol.K · SE) with SE from g alone.
func AllowedDrop(g Group, tol Tolerance) float64 {
	return math.Max(tol.Abs, tol.K*math.Sqrt(varOfMean(g)))
}

// Compare checks current against baseline group by group. With means m₁ (baseline) and m₂
// (current), sample stds s₁, s₂ and seed counts n₁, n₂, the pooled standard error of m₂ − m₁ is
//
//	SE = sqrt(s₁²/n₁ + s₂²/n₂)
//
// (Welch's unpooled form; no equal-variance assumption). A group fails when the mean drops by
// more than max(tol.Abs, tol.K · SE), i.e. when m₁ − m₂ > max(tol.Abs, tol.K · SE). A side with
// n < 2 has no spread estimate and contributes 0 to SE, so the threshold falls back towards
// tol.Abs. Groups match on (label, configuration, dataset, encoder). A group in the baseline but
// not in current fails (it stopped producing results, e.g. every seed diverged or lacks the
// metric); a group only in current is reported as new and does not fail; both are listed in the
// notes too. Baselines of different metrics cannot be compared: every group then fails with a
// note.
//
// A baseline group without a configuration (a version 1 file) matches the current group of the same
// label, dataset and encoder when there is exactly one; when the current run has several
// configurations of it, which one the baseline measured is unknown, so the group fails as
// ambiguous (rewrite the baseline with --update) and the current groups are reported as new.
func Compare(baseline, current *Baseline, tol Tolerance) (*DiffTable, bool) {
	d := &DiffTable{Metric: baseline.Metric, Tol: tol}
	incomparable := baseline.Metric != current.Metric
	if incomparable {
		d.Notes = append(d.Notes, fmt.Sprintf("baseline measures %s but the current run measures %s; nothing is comparable", baseline.Metric, current.Metric))
		d.Failed = true
	}
	cur := map[groupKey]*Group{}
	byLabel := map[labelKey][]*Group{}
	for i := range current.Groups {
		c := &current.Groups[i]
		cur[c.key()] = c
		byLabel[c.labelKey()] = append(byLabel[c.labelKey()], c)
	}
	matched := map[*Group]bool{}
	var ambiguous []int // indices into d.Rows
	for i := range baseline.Groups {
		b := &baseline.Groups[i]
		row := Diff{Label: b.Label, Dataset: b.Dataset, Encoder: b.Encoder, Config: b.Config, Base: b,
			Delta: math.NaN(), SE: math.NaN(), Threshold: math.NaN()}
		if b.Config != nil {
			row.Cur = cur[b.key()]
		} else if cands := byLabel[b.labelKey()]; len(cands) == 1 {
			row.Cur, row.Config = cands[0], cands[0].Config
		} else if len(cands) > 1 {
			row.Status = StatusAmbiguous
			ambiguous = append(ambiguous, len(d.Rows))
		}
		switch {
		case row.Status == StatusAmbiguous:
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
		if row.Cur != nil {
			matched[row.Cur] = true
		}
		if row.Status == StatusRegressed || row.Status == StatusMissing || row.Status == StatusAmbiguous {
			d.Failed = true
		}
		d.Rows = append(d.Rows, row)
	}
	for i := range current.Groups {
		c := &current.Groups[i]
		if !matched[c] {
			d.Rows = append(d.Rows, Diff{Label: c.Label, Dataset: c.Dataset, Encoder: c.Encoder, Config: c.Config, Cur: c,
				Delta: math.NaN(), SE: math.NaN(), Threshold: math.NaN(), Status: StatusNew})
		}
	}
	titleDiffs(d.Rows)
	for _, i := range ambiguous {
		r := d.Rows[i]
		var titles []string
		for _, o := range d.Rows {
			if o.Status == StatusNew && o.Label == r.Label && o.Dataset == r.Dataset && o.Encoder == r.Encoder {
				titles = append(titles, o.Title)
			}
		}
		d.Notes = append(d.Notes, fmt.Sprintf("%s: the baseline group has no training configuration (an older baseline) and the results have %d configurations of it (%s), so which one it measured is unknown; it fails. Rewrite the baseline with bench regress --update.",
			groupName(r.Label, r.Dataset, r.Encoder), len(titles), strings.Join(titles, "; ")))
	}
	sortDiffs(d.Rows)
	var missing, added []string
	for _, r := range d.Rows {
		switch r.Status {
		case StatusMissing:
			missing = append(missing, groupName(r.Title, r.Dataset, r.Encoder))
		case StatusNew:
			added = append(added, groupName(r.Title, r.Dataset, r.Encoder))
		}
	}
	if len(missing) > 0 {
		d.Notes = append(d.Notes, fmt.Sprintf("%s %s no results in the current run (fails): %s.",
			plural(len(missing), "baseline group"), verb(len(missing), "has", "have"), strings.Join(missing, "; ")))
	}
	if len(added) > 0 {
		d.Notes = append(d.Notes, fmt.Sprintf("%s of the current run %s not in the baseline and %s not checked: %s.",
			plural(len(added), "group"), verb(len(added), "is", "are"), verb(len(added), "was", "were"), strings.Join(added, "; ")))
	}
	for _, r := range d.Rows {
		for _, side := range []struct {
			g    *Group
			name string
		}{{r.Base, "the baseline"}, {r.Cur, "the current run"}} {
			if side.g != nil && side.g.WithoutMetric > 0 {
				d.Notes = append(d.Notes, fmt.Sprintf("%s: %s without %s excluded from %s.",
					groupName(r.Title, r.Dataset, r.Encoder), plural(side.g.WithoutMetric, "record"), d.Metric.Short(), side.name))
			}
		}
	}
	return d, d.Failed
}

func groupName(title, dataset, encoder string) string {
	return title + " on " + dataset + " / " + encoder
}

func verb(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// titleDiffs sets each row's Title: its label, plus the settings that differ among the rows'
// configurations of that label.
func titleDiffs(rows []Diff) {
	byLabel := map[string][]int{}
	for i := range rows {
		byLabel[rows[i].Label] = append(byLabel[rows[i].Label], i)
	}
	for label, idx := range byLabel {
		var cfgs []*Config
		pos := map[string]int{} // configuration key → index in cfgs
		for _, i := range idx {
			if c := rows[i].Config; c != nil {
				if _, ok := pos[c.key()]; !ok {
					pos[c.key()] = len(cfgs)
					cfgs = append(cfgs, c)
				}
			}
		}
		suffixes := configSuffixes(cfgs)
		for _, i := range idx {
			rows[i].Title = label
			if c := rows[i].Config; c != nil {
				rows[i].Title += suffixes[pos[c.key()]]
			}
		}
	}
}

// varOfMean is s²/n, or 0 when n < 2 (no spread estimate).
func varOfMean(g Group) float64 {
	if g.N < 2 {
		return 0
	}
	return g.Std * g.Std / float64(g.N)
}

func sortDiffs(rows []Diff) {
	sortByGroup(rows, func(x *Diff) (string, *Config, string, string) { return x.Label, x.Config, x.Dataset, x.Encoder })
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
	tt := TextTable{
		Header: []string{"Method", "Dataset", "Encoder", "Baseline", "Current", "Δ (pp)", "Allowed drop (pp)", "Status"},
		Align:  []Align{AlignLeft, AlignLeft, AlignLeft, AlignRight, AlignRight, AlignRight, AlignRight, AlignLeft},
	}
	for _, r := range d.Rows {
		status := string(r.Status)
		if r.Status == StatusRegressed || r.Status == StatusMissing || r.Status == StatusAmbiguous {
			status = "**" + status + "**"
		}
		tt.Rows = append(tt.Rows, []string{mdEscape(r.Title), mdEscape(r.Dataset), mdEscape(r.Encoder),
			groupText(r.Base), groupText(r.Cur), signedPP(r.Delta), ppOrDash(r.Threshold), status})
	}
	var b strings.Builder
	b.WriteString(tt.Markdown())
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
	Title     string   `json:"title"`
	Config    *Config  `json:"config"`
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
		doc.Rows = append(doc.Rows, diffRowJSON{r.Label, r.Title, r.Config, r.Dataset, r.Encoder, r.Base, r.Cur,
			finite(r.Delta), finite(r.SE), finite(r.Threshold), r.Status})
	}
	return doc
}
