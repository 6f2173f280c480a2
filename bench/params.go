package bench

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"strconv"
	"strings"
)

// ParamSpec declares one hyper-parameter of a method or encoder: its name, its default, the kind of
// value it takes and a one-line help text. Values are validated when a run is set up, so a typo fails
// before training starts.
type ParamSpec struct {
	Name    string
	Default string
	Kind    string // "float", "int", "bool", "string", or "enum:a|b|c"
	Help    string
	// Search is the range `bench tune` samples this parameter from, or "" to keep it fixed:
	// "log:LO:HI" (log-uniform), "lin:LO:HI" (uniform), "int:LO:HI" (uniform integer, inclusive),
	// "choice:a|b|c".
	Search string
}

// Sample draws a value from a Search range with r.
func Sample(search string, r *rand.Rand) (string, error) {
	kind, rest, _ := strings.Cut(search, ":")
	if kind == "choice" {
		opts := strings.Split(rest, "|")
		if rest == "" || len(opts) == 0 {
			return "", fmt.Errorf("search range %q: no choices", search)
		}
		return opts[r.IntN(len(opts))], nil
	}
	loS, hiS, ok := strings.Cut(rest, ":")
	lo, err1 := strconv.ParseFloat(loS, 64)
	hi, err2 := strconv.ParseFloat(hiS, 64)
	if !ok || err1 != nil || err2 != nil || !(lo <= hi) {
		return "", fmt.Errorf("search range %q: want %s:LO:HI with LO ≤ HI", search, kind)
	}
	u := r.Float64()
	switch kind {
	case "lin":
		return strconv.FormatFloat(lo+u*(hi-lo), 'g', 4, 64), nil
	case "log":
		if lo <= 0 {
			return "", fmt.Errorf("search range %q: a log range needs LO > 0", search)
		}
		return strconv.FormatFloat(math.Exp(math.Log(lo)+u*(math.Log(hi)-math.Log(lo))), 'g', 4, 64), nil
	case "int":
		return strconv.Itoa(int(lo) + r.IntN(int(hi)-int(lo)+1)), nil
	}
	return "", fmt.Errorf("search range %q: want log:, lin:, int: or choice:", search)
}

// Params are the values of a set of ParamSpecs, defaults filled in.
type Params struct {
	owner  string
	specs  []ParamSpec
	values map[string]string
}

// NewParams applies overrides to the defaults of specs. An unknown key or a value of the wrong kind
// is an error naming the owner, the key and the value.
func NewParams(owner string, specs []ParamSpec, overrides map[string]string) (Params, error) {
	p := Params{owner: owner, specs: specs, values: map[string]string{}}
	for _, s := range specs {
		p.values[s.Name] = s.Default
	}
	for k, v := range overrides {
		spec, ok := p.spec(k)
		if !ok {
			return p, fmt.Errorf("%s has no parameter %q (known: %s)", owner, k, strings.Join(p.names(), ", "))
		}
		if err := checkKind(spec, v); err != nil {
			return p, fmt.Errorf("%s.%s=%q: %w", owner, k, v, err)
		}
		p.values[k] = v
	}
	return p, nil
}

func checkKind(s ParamSpec, v string) error {
	switch {
	case s.Kind == "float":
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return fmt.Errorf("want a finite number")
		}
	case s.Kind == "int":
		if _, err := strconv.Atoi(v); err != nil {
			return fmt.Errorf("want an integer")
		}
	case s.Kind == "bool":
		if _, err := strconv.ParseBool(v); err != nil {
			return fmt.Errorf("want true or false")
		}
	case strings.HasPrefix(s.Kind, "enum:"):
		opts := strings.Split(strings.TrimPrefix(s.Kind, "enum:"), "|")
		for _, o := range opts {
			if v == o {
				return nil
			}
		}
		return fmt.Errorf("want one of %s", strings.Join(opts, ", "))
	}
	return nil
}

func (p Params) spec(name string) (ParamSpec, bool) {
	for _, s := range p.specs {
		if s.Name == name {
			return s, true
		}
	}
	return ParamSpec{}, false
}

func (p Params) names() []string {
	var n []string
	for _, s := range p.specs {
		n = append(n, s.Name)
	}
	sort.Strings(n)
	return n
}

func (p Params) get(name string) string {
	v, ok := p.values[name]
	if !ok {
		panic(fmt.Sprintf("%s: parameter %q was never declared", p.owner, name))
	}
	return v
}

// String returns a parameter's value.
func (p Params) String(name string) string { return p.get(name) }

// Float returns a float parameter (validated at construction).
func (p Params) Float(name string) float64 {
	f, _ := strconv.ParseFloat(p.get(name), 64)
	return f
}

// Int returns an integer parameter (validated at construction).
func (p Params) Int(name string) int {
	i, _ := strconv.Atoi(p.get(name))
	return i
}

// Bool returns a boolean parameter (validated at construction).
func (p Params) Bool(name string) bool {
	b, _ := strconv.ParseBool(p.get(name))
	return b
}

// Map returns every value, defaults included, for the result record.
func (p Params) Map() map[string]string {
	m := make(map[string]string, len(p.values))
	for k, v := range p.values {
		m[k] = v
	}
	return m
}

// NonDefault lists "key=value" for the values that differ from their defaults, sorted.
func (p Params) NonDefault() []string {
	var out []string
	for _, s := range p.specs {
		if v := p.values[s.Name]; v != s.Default {
			out = append(out, s.Name+"="+v)
		}
	}
	sort.Strings(out)
	return out
}

// ParseSets reads --set arguments "owner.key=value" into overrides per owner.
func ParseSets(sets []string) (map[string]map[string]string, error) {
	out := map[string]map[string]string{}
	for _, s := range sets {
		for _, item := range strings.Split(s, ",") {
			item = strings.TrimSpace(item)
			if item == "" {
				continue
			}
			kv, v, ok := strings.Cut(item, "=")
			owner, key, ok2 := strings.Cut(kv, ".")
			owner, key, v = strings.TrimSpace(owner), strings.TrimSpace(key), strings.TrimSpace(v)
			if !ok || !ok2 || owner == "" || key == "" || v == "" {
				return nil, fmt.Errorf("--set %q: want owner.key=value, e.g. joint.fusion=mlp", item)
			}
			if out[owner] == nil {
				out[owner] = map[string]string{}
			}
			if old, dup := out[owner][key]; dup && old != v {
				return nil, fmt.Errorf("--set: %s.%s given twice (%q and %q)", owner, key, old, v)
			}
			out[owner][key] = v
		}
	}
	return out, nil
}
