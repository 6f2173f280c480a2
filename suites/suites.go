// Package suites holds the paper's experiments as committed files (suites/<paper>/<name>.json,
// embedded in the binary) and parses them. A suite names a grid (methods, datasets, encoders,
// recipes, seeds, epochs, --set values) and the paper's published numbers; `bench suite run NAME`
// runs the grid through the same sweep code as `bench run` and prints ours beside the paper's.
//
// The package checks a suite's structure only; whether its methods, datasets and encoders are
// registered is checked by the caller (cmd/bench), which links the registries.
package suites

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path"
	"sort"
	"strings"
)

//go:embed dmi/*.json
var files embed.FS

// Kinds of suite.
const (
	KindGrid = "grid" // a training grid; ours beside the paper's accuracy (and other metrics)
	KindPID  = "pid"  // PID of Boolean mixtures (exact, bootstrap, DMI readout, paper rows), plus a dmi grid
)

// Dataset is one column of a suite: the label the paper uses and our dataset spec.
type Dataset struct {
	Label string `json:"label"`
	Spec  string `json:"spec"`
}

// PIDRow is one published R/U1/U2/S row (normalised to 100) of a PID table.
type PIDRow struct {
	Name   string     `json:"name"` // e.g. "CVX", "DMI", "truth"
	Values [4]float64 `json:"values"`
}

// Suite is one experiment of a paper.
type Suite struct {
	Name   string `json:"-"` // from the file's path: "dmi/fig1"
	Title  string `json:"title"`
	Source string `json:"source"` // where in the paper: "DMI, Table 5"
	Kind   string `json:"kind"`   // KindGrid (default) or KindPID

	Methods []string `json:"methods"`
	// Pending methods are in the paper but may not be registered in this build (being written):
	// registered ones are run, the others are listed as not available.
	Pending  []string  `json:"pending_methods,omitempty"`
	Datasets []Dataset `json:"datasets"`
	Encoders []string  `json:"encoders"`
	Recipes  []string  `json:"recipes,omitempty"` // "shared" and/or "reference"; default shared
	Seeds    int       `json:"seeds"`
	Epochs   int       `json:"epochs"`
	Sets     []string  `json:"sets,omitempty"` // OWNER.KEY=VALUE, as --set
	// Metrics reported: "acc" (default) and/or "macro_f1".
	Metrics []string `json:"metrics,omitempty"`

	// Paper: metric → method → dataset label → the published number in percent; null for a cell
	// the paper leaves empty ("–"). A method or dataset absent from the map has no published value.
	Paper map[string]map[string]map[string]*float64 `json:"paper,omitempty"`
	// PaperPID: dataset label → published PID rows (KindPID).
	PaperPID map[string][]PIDRow `json:"paper_pid,omitempty"`
	// Figure: "heatmap" draws rows = methods, columns = datasets, colour = accuracy.
	Figure string `json:"figure,omitempty"`
	// Bootstrap resamples for KindPID (default 1000).
	Bootstrap int `json:"bootstrap,omitempty"`
	// Notes are printed under the results: what the paper gives, what we could not reproduce.
	Notes []string `json:"notes,omitempty"`
}

// Names lists the committed suites, sorted.
func Names() []string {
	var names []string
	_ = fs.WalkDir(files, ".", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".json") {
			names = append(names, strings.TrimSuffix(p, ".json"))
		}
		return nil
	})
	sort.Strings(names)
	return names
}

// Lookup returns the committed suite NAME ("dmi/fig1"), or, when NAME ends in .json, the suite in
// that file.
func Lookup(name string) (*Suite, error) {
	if strings.HasSuffix(name, ".json") {
		b, err := os.ReadFile(name)
		if err != nil {
			return nil, fmt.Errorf("suite %s: %w", name, err)
		}
		return Parse(strings.TrimSuffix(path.Base(name), ".json"), b)
	}
	b, err := files.ReadFile(name + ".json")
	if err != nil {
		return nil, fmt.Errorf("no suite %q (known: %s; or give a .json file)", name, strings.Join(Names(), ", "))
	}
	return Parse(name, b)
}

// All parses every committed suite.
func All() ([]*Suite, error) {
	var out []*Suite
	for _, n := range Names() {
		s, err := Lookup(n)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

// Parse reads a suite file strictly (unknown fields are errors) and checks its structure.
func Parse(name string, b []byte) (*Suite, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	s := &Suite{}
	if err := dec.Decode(s); err != nil {
		return nil, fmt.Errorf("suite %s: %w", name, err)
	}
	s.Name = name
	if err := s.check(); err != nil {
		return nil, fmt.Errorf("suite %s: %w", name, err)
	}
	return s, nil
}

func (s *Suite) check() error {
	if s.Kind == "" {
		s.Kind = KindGrid
	}
	if s.Kind != KindGrid && s.Kind != KindPID {
		return fmt.Errorf("kind %q: want %s or %s", s.Kind, KindGrid, KindPID)
	}
	if s.Title == "" || s.Source == "" {
		return fmt.Errorf("needs a title and a source")
	}
	if len(s.Methods)+len(s.Pending) == 0 || len(s.Datasets) == 0 || len(s.Encoders) == 0 {
		return fmt.Errorf("needs methods, datasets and encoders")
	}
	if s.Seeds < 1 || s.Epochs < 1 {
		return fmt.Errorf("seeds %d, epochs %d: want ≥ 1", s.Seeds, s.Epochs)
	}
	if len(s.Recipes) == 0 {
		s.Recipes = []string{"shared"}
	}
	for _, r := range s.Recipes {
		if r != "shared" && r != "reference" {
			return fmt.Errorf("recipe %q: want shared or reference", r)
		}
	}
	if len(s.Metrics) == 0 {
		s.Metrics = []string{"acc"}
	}
	for _, m := range s.Metrics {
		if m != "acc" && m != "macro_f1" {
			return fmt.Errorf("metric %q: want acc or macro_f1", m)
		}
	}
	if err := unique("method", append(append([]string(nil), s.Methods...), s.Pending...)); err != nil {
		return err
	}
	var labels []string
	for _, d := range s.Datasets {
		if d.Label == "" || d.Spec == "" {
			return fmt.Errorf("dataset %+v: needs a label and a spec", d)
		}
		labels = append(labels, d.Label)
	}
	if err := unique("dataset label", labels); err != nil {
		return err
	}
	for metric, byMethod := range s.Paper {
		if !contains(s.Metrics, metric) {
			return fmt.Errorf("paper numbers for metric %q, which the suite does not report", metric)
		}
		for m, byData := range byMethod {
			if !contains(s.Methods, m) && !contains(s.Pending, m) {
				return fmt.Errorf("paper numbers for method %q, which is not in the suite", m)
			}
			for l := range byData {
				if !contains(labels, l) {
					return fmt.Errorf("paper numbers for dataset %q, which is not in the suite", l)
				}
			}
		}
	}
	for l := range s.PaperPID {
		if !contains(labels, l) {
			return fmt.Errorf("paper PID rows for dataset %q, which is not in the suite", l)
		}
	}
	if s.Figure != "" && s.Figure != "heatmap" {
		return fmt.Errorf("figure %q: want heatmap or none", s.Figure)
	}
	if s.Bootstrap < 0 {
		return fmt.Errorf("bootstrap %d: want ≥ 0", s.Bootstrap)
	}
	if s.Kind == KindPID && s.Bootstrap == 0 {
		s.Bootstrap = 1000
	}
	return nil
}

// Label is the suite's label of a dataset spec ("" when the spec is not a column).
func (s *Suite) Label(spec string) string {
	for _, d := range s.Datasets {
		if d.Spec == spec {
			return d.Label
		}
	}
	return ""
}

// PaperValue is the published number of (metric, method, dataset label): ok is false when the paper
// gives none; v is nil for a cell the paper leaves empty.
func (s *Suite) PaperValue(metric, method, label string) (v *float64, ok bool) {
	v, ok = s.Paper[metric][method][label]
	return v, ok
}

// HasPaperNumbers reports whether the suite carries any published number.
func (s *Suite) HasPaperNumbers() bool { return len(s.Paper) > 0 || len(s.PaperPID) > 0 }

func unique(what string, xs []string) error {
	seen := map[string]bool{}
	for _, x := range xs {
		if x == "" {
			return fmt.Errorf("empty %s", what)
		}
		if seen[x] {
			return fmt.Errorf("%s %q listed twice", what, x)
		}
		seen[x] = true
	}
	return nil
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}
