package bench

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/mmfusion/bench/bench/data"
)

// ParamSpec declares one hyper-parameter of a method or encoder: its name, its default, the kind of
// value it takes, the values it may take and a one-line help text. Values are validated when a run is
// set up, so a typo or an out-of-range value fails before training starts.
type ParamSpec struct {
	Name    string
	Default string
	// Kind is "float", "int", "intlist", "bool", "string", or "enum:a|b|c". An "intlist" is one
	// integer or several separated by colons ("128" or "128:512"); its value is kept in canonical
	// form (each element as strconv.Itoa writes it, joined by ":"), so "128", "+128" and "0128" are
	// the same value, and the same cell, as the plain int 128. A "file" is the path of a file, or ""
	// (its default) for none: NewParams reads the file and Map, so result records and cell keys,
	// holds "sha256:<hex>" of its content in place of the path (the same bytes under two paths are one
	// cell, changed bytes a new one); String returns the path, FileSHA256 the hash.
	Kind string
	// Range is the interval a numeric ("int", "intlist" or "float") value must lie in, in interval
	// notation (for an intlist, every element must lie in it):
	// "[1,inf)", "(0,1]", "[0,1)", "(0,inf)", "[-1,inf)". An infinite end is written inf or -inf and
	// is always open ("[-inf,inf]" is not a range); NaN and ±Inf are refused for every float. Enums
	// list their values in Kind, and bools and strings take no Range. Every registered numeric
	// parameter declares one (a test checks it); a numeric spec without Range is unbounded.
	Range string
	Help  string
	// Search is the range `bench tune` samples this parameter from, or "" to keep it fixed:
	// "log:LO:HI" (log-uniform), "lin:LO:HI" (uniform), "int:LO:HI" (uniform integer, inclusive),
	// "choice:a|b|c". It must lie inside Range. A float parameter may also take "lrmult:LO:HI": a
	// multiple of the trial's learning rate, the multiplier log-uniform in [LO, HI] (DMI's stage rates).
	Search string
	// OmitDefault leaves the parameter out of Map (so out of result records and cell keys) while it
	// has its default value. Set it on a parameter added to a method or encoder that already has
	// stored results, so those cells keep their keys; a record without the key had the default.
	OmitDefault bool
}

// Allowed describes the values a parameter may take, for listings: the Range of a number
// ("int in [1,inf)"), that of every element of an intlist ("int[:int...] each in [1,65536]"), the
// values of an enum ("one of linear|mlp"), "true|false", or the kind.
func (s ParamSpec) Allowed() string {
	switch {
	case strings.HasPrefix(s.Kind, "enum:"):
		return "one of " + strings.TrimPrefix(s.Kind, "enum:")
	case s.Kind == "bool":
		return "true|false"
	case s.Kind == "file":
		return "path of a file (keyed by its SHA-256)"
	case s.Kind == "intlist" && s.Range != "":
		return "int[:int...] each in " + s.Range
	case s.Kind == "intlist":
		return "int[:int...]"
	case (s.Kind == "int" || s.Kind == "float") && s.Range != "":
		return s.Kind + " in " + s.Range
	}
	return s.Kind
}

// isNumeric reports whether a kind takes a Range.
func isNumeric(kind string) bool { return kind == "int" || kind == "float" || kind == "intlist" }

// rangeKind is the kind a Range is read for: an intlist's elements are ints.
func rangeKind(kind string) string {
	if kind == "intlist" {
		return "int"
	}
	return kind
}

// parseIntList reads an intlist value: one or more integers separated by ":".
func parseIntList(v string) ([]int, error) {
	parts := strings.Split(v, ":")
	out := make([]int, len(parts))
	for i, e := range parts {
		n, err := strconv.Atoi(e)
		if err != nil {
			where := ""
			if len(parts) > 1 {
				where = fmt.Sprintf(" (element %d of %d is %q)", i+1, len(parts), e)
			}
			return nil, fmt.Errorf("want an integer or integers separated by colons, e.g. 128 or 128:512%s", where)
		}
		out[i] = n
	}
	return out, nil
}

// formatIntList is the canonical spelling of an intlist.
func formatIntList(xs []int) string {
	parts := make([]string, len(xs))
	for i, x := range xs {
		parts[i] = strconv.Itoa(x)
	}
	return strings.Join(parts, ":")
}

// canonical spells a value of s's kind (already checked) one way; only intlists have more than one
// spelling that matters, other kinds are kept as given.
func canonical(s ParamSpec, v string) string {
	if s.Kind == "intlist" {
		if xs, err := parseIntList(v); err == nil {
			return formatIntList(xs)
		}
	}
	return v
}

// interval is a parsed Range.
type interval struct {
	lo, hi         float64
	loOpen, hiOpen bool
}

func (iv interval) contains(x float64) bool {
	if x < iv.lo || x > iv.hi || (iv.loOpen && x == iv.lo) || (iv.hiOpen && x == iv.hi) {
		return false
	}
	return !math.IsNaN(x)
}

// parseRange reads a Range in interval notation for a parameter of the given kind ("int" or
// "float"). Integer parameters need integer (or infinite) ends.
func parseRange(kind, r string) (interval, error) {
	var iv interval
	bad := func(why string) (interval, error) {
		return iv, fmt.Errorf("range %q: %s (want interval notation such as [1,inf), (0,1] or [0,1))", r, why)
	}
	if len(r) < 5 {
		return bad("too short")
	}
	switch r[0] {
	case '[':
	case '(':
		iv.loOpen = true
	default:
		return bad("must start with [ or (")
	}
	switch r[len(r)-1] {
	case ']':
	case ')':
		iv.hiOpen = true
	default:
		return bad("must end with ] or )")
	}
	loS, hiS, ok := strings.Cut(r[1:len(r)-1], ",")
	if !ok || strings.Contains(hiS, ",") {
		return bad("want two ends separated by one comma")
	}
	end := func(s string) (float64, bool) {
		switch s = strings.TrimSpace(s); s {
		case "inf", "+inf":
			return math.Inf(1), true
		case "-inf":
			return math.Inf(-1), true
		}
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return 0, false
		}
		return f, true
	}
	var ok1, ok2 bool
	iv.lo, ok1 = end(loS)
	iv.hi, ok2 = end(hiS)
	switch {
	case !ok1 || !ok2:
		return bad("each end must be a number, inf or -inf")
	case (math.IsInf(iv.lo, 0) && !iv.loOpen) || (math.IsInf(iv.hi, 0) && !iv.hiOpen):
		return bad("an infinite end must be open")
	case math.IsInf(iv.lo, 1) || math.IsInf(iv.hi, -1) || iv.lo > iv.hi || (iv.lo == iv.hi && (iv.loOpen || iv.hiOpen)):
		return bad("empty")
	case kind == "int" && (!isWhole(iv.lo) || !isWhole(iv.hi)):
		return bad("an integer parameter needs integer ends")
	case kind != "int" && kind != "float":
		return bad(fmt.Sprintf("only int and float parameters take a range, not %q", kind))
	}
	return iv, nil
}

func isWhole(f float64) bool { return math.IsInf(f, 0) || f == math.Trunc(f) }

// checkRange reports whether v (already of the right kind) lies in s's Range. For an intlist,
// bad is the 0-based index of the first element outside it.
func checkRange(s ParamSpec, v string) (inRange bool, bad int, err error) {
	if s.Range == "" {
		return true, 0, nil
	}
	iv, err := parseRange(rangeKind(s.Kind), s.Range)
	if err != nil {
		return false, 0, err
	}
	if s.Kind == "intlist" {
		xs, err := parseIntList(v)
		if err != nil {
			return false, 0, err
		}
		for i, x := range xs {
			if !iv.contains(float64(x)) {
				return false, i, nil
			}
		}
		return true, 0, nil
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil {
		return false, 0, err
	}
	return iv.contains(f), 0, nil
}

// checkValue checks v against s's kind and range. The error names the owner, key, value and the
// allowed values, e.g. `method dmi: stage1_epochs=-3 is out of range [1,inf)`.
func checkValue(owner string, s ParamSpec, v string) error {
	if err := checkKind(s, v); err != nil {
		return fmt.Errorf("%s.%s=%q: %w", owner, s.Name, v, err)
	}
	ok, bad, err := checkRange(s, v)
	if err != nil {
		return fmt.Errorf("%s: parameter %s is declared with a bad %w", owner, s.Name, err)
	}
	if !ok {
		if xs, _ := parseIntList(v); s.Kind == "intlist" && len(xs) > 1 {
			return fmt.Errorf("%s: %s=%s: element %d of %d (%d) is out of range %s", owner, s.Name, v, bad+1, len(xs), xs[bad], s.Range)
		}
		return fmt.Errorf("%s: %s=%s is out of range %s", owner, s.Name, v, s.Range)
	}
	return nil
}

// CheckSpecs checks a list of parameter declarations: names unique and non-empty, kinds known, a
// valid Range on every numeric parameter (none on the others), the default valid and inside the
// range, and the Search range of `bench tune` of the right kind and inside the range. The registries'
// declarations are checked by a test; owner names them in the error.
func CheckSpecs(owner string, specs []ParamSpec) error {
	seen := map[string]bool{}
	for _, s := range specs {
		if s.Name == "" || seen[s.Name] {
			return fmt.Errorf("%s: parameter name %q empty or declared twice", owner, s.Name)
		}
		seen[s.Name] = true
		if err := checkSpec(owner, s); err != nil {
			return err
		}
	}
	return nil
}

func checkSpec(owner string, s ParamSpec) error {
	numeric := isNumeric(s.Kind)
	switch {
	case numeric && s.Range == "":
		return fmt.Errorf("%s: %s (%s) declares no Range", owner, s.Name, s.Kind)
	case numeric:
		if _, err := parseRange(rangeKind(s.Kind), s.Range); err != nil {
			return fmt.Errorf("%s: %s: %w", owner, s.Name, err)
		}
	case s.Kind == "bool" || s.Kind == "string" || s.Kind == "file" || (strings.HasPrefix(s.Kind, "enum:") && len(s.Kind) > len("enum:")):
		if s.Range != "" {
			return fmt.Errorf("%s: %s: a %s parameter takes no Range (got %q)", owner, s.Name, s.Kind, s.Range)
		}
		if s.Kind == "file" && (s.Default != "" || s.Search != "") {
			return fmt.Errorf("%s: %s: a file parameter defaults to \"\" (none) and is not tuned", owner, s.Name)
		}
	default:
		return fmt.Errorf("%s: %s: unknown kind %q", owner, s.Name, s.Kind)
	}
	if err := checkValue(owner, s, s.Default); err != nil {
		return fmt.Errorf("default: %w", err)
	}
	if c := canonical(s, s.Default); c != s.Default {
		return fmt.Errorf("%s: %s: default %q is not in canonical form (write %q)", owner, s.Name, s.Default, c)
	}
	if s.Search == "" {
		return nil
	}
	kind, rest, _ := strings.Cut(s.Search, ":")
	var ends []string
	switch {
	case kind == "lrmult" && s.Kind == "float":
		// The value is the multiplier times the trial's learning rate: its Range is checked when the
		// trial's parameters are built. Only the multiplier range is checked here.
		if _, err := Sample("log:"+rest, rand.New(rand.NewPCG(1, 2))); err != nil {
			return fmt.Errorf("%s: %s: %w", owner, s.Name, err)
		}
		return nil
	case kind == "choice":
		ends = strings.Split(rest, "|")
	case (kind == "lin" || kind == "log") && s.Kind == "float", kind == "int" && (s.Kind == "int" || s.Kind == "intlist"):
		lo, hi, ok := strings.Cut(rest, ":")
		if !ok {
			return fmt.Errorf("%s: %s: search range %q: want %s:LO:HI", owner, s.Name, s.Search, kind)
		}
		ends = []string{lo, hi}
		if _, err := Sample(s.Search, rand.New(rand.NewPCG(1, 2))); err != nil {
			return fmt.Errorf("%s: %s: %w", owner, s.Name, err)
		}
	default:
		return fmt.Errorf("%s: %s: search range %q does not fit a %s parameter", owner, s.Name, s.Search, s.Kind)
	}
	for _, v := range ends {
		if err := checkValue(owner, s, v); err != nil {
			return fmt.Errorf("search range %s: %w", s.Search, err)
		}
	}
	return nil
}

// CheckParams runs the method's Validate hook, if any, on params for a run of epochs epochs. The
// error names the owner, e.g. `method ogm: modulation_start=9 > modulation_end=3: …`.
func (s MethodSpec) CheckParams(params Params, epochs int) error {
	if s.Validate == nil {
		return nil
	}
	if err := s.Validate(params, epochs); err != nil {
		return fmt.Errorf("%s: %w", params.owner, err)
	}
	return nil
}

// CheckModality runs the encoder's Accepts hook, if any, on one modality. The error names the
// encoder and the modality, as Build does: `encoder lenet for modality m1: shape [48]: want …`.
func (s EncoderSpec) CheckModality(mod data.Modality, params Params) error {
	if s.Accepts == nil {
		return nil
	}
	if err := s.Accepts(mod, params); err != nil {
		return fmt.Errorf("%s for modality %s: %w", params.owner, mod.Name, err)
	}
	return nil
}

// CheckCell checks what can be known about a cell before building it, given its dataset's
// modalities: the method's Needs and FitModalities (MethodSpec.CheckModalities), its Validate hook with c.Train.Epochs, and the
// encoder's Accepts hook on every modality. Build refuses the same cells later, so a planner that
// calls CheckCell refuses them before anything trains. (Needs.EncoderStages needs no data: see
// sweep.Incompatible.)
func CheckCell(c *Cell, mods []data.Modality) error {
	ms, err := Methods.Lookup(c.Method)
	if err != nil {
		return err
	}
	if err := ms.Value.CheckModalities(c.Method, c.Dataset, len(mods), c.MethodParams); err != nil {
		return err
	}
	if err := ms.Value.CheckParams(c.MethodParams, c.Train.Epochs); err != nil {
		return err
	}
	es, err := Encoders.Lookup(c.Encoder)
	if err != nil {
		return err
	}
	if c.Train.Init == InitXavierNormal {
		for _, sp := range es.Value.Params { // the init runs after New and would overwrite loaded weights
			if sp.Kind == "file" && c.EncoderParams.String(sp.Name) != "" {
				return fmt.Errorf("%s.%s: loaded weights would be re-drawn by the %s initialisation of %s's recipe", c.Encoder, sp.Name, InitXavierNormal, c.Method)
			}
		}
	}
	for _, mod := range mods {
		if err := es.Value.CheckModality(mod, c.EncoderParams); err != nil {
			return err
		}
	}
	return nil
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
	hashes map[string]string // "file" parameters with a value: hex SHA-256 of the file's content
}

// NewParams applies overrides to the defaults of specs. An unknown key, a value of the wrong kind or
// a value outside the parameter's Range is an error naming the owner, the key, the value and what is
// allowed, e.g. `method dmi: stage1_epochs=-3 is out of range [1,inf)`. Values are stored in
// canonical form (see ParamSpec.Kind), which is what Map, NonDefault and cell keys see. Overrides
// are checked in key order, so the error is the same on every run. Constraints between parameters,
// or against the run's epochs or data, are not checked here: see MethodSpec.Validate,
// EncoderSpec.Accepts and CheckCell.
func NewParams(owner string, specs []ParamSpec, overrides map[string]string) (Params, error) {
	p := Params{owner: owner, specs: specs, values: map[string]string{}, hashes: map[string]string{}}
	for _, s := range specs {
		p.values[s.Name] = s.Default
	}
	keys := make([]string, 0, len(overrides))
	for k := range overrides {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := overrides[k]
		spec, ok := p.spec(k)
		if !ok {
			return p, fmt.Errorf("%s has no parameter %q (known: %s)", owner, k, strings.Join(p.names(), ", "))
		}
		if err := checkValue(owner, spec, v); err != nil {
			return p, err
		}
		p.values[k] = canonical(spec, v)
		if spec.Kind == "file" && v != "" {
			sum, err := fileSHA256(v)
			if err != nil {
				return p, fmt.Errorf("%s: %s=%s: %w", owner, k, v, err)
			}
			p.hashes[k] = sum
		}
	}
	for _, s := range specs { // a default outside its own range is a declaration bug; say so early
		if _, over := overrides[s.Name]; !over {
			if err := checkValue(owner, s, s.Default); err != nil {
				return p, fmt.Errorf("default: %w", err)
			}
		}
	}
	return p, nil
}

// Owner is the owner named in errors, e.g. "method dmi" or "encoder mlp".
func (p Params) Owner() string { return p.owner }

// Changed reports whether a parameter's value differs from its default (as NonDefault does).
func (p Params) Changed(name string) bool {
	s, ok := p.spec(name)
	return ok && p.get(name) != s.Default
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
	case s.Kind == "intlist":
		if _, err := parseIntList(v); err != nil {
			return err
		}
	case s.Kind == "bool":
		if _, err := strconv.ParseBool(v); err != nil {
			return fmt.Errorf("want true or false")
		}
	case s.Kind == "file" && v != "":
		if fi, err := os.Stat(v); err != nil {
			return err
		} else if !fi.Mode().IsRegular() {
			return fmt.Errorf("not a regular file")
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

// String returns a parameter's value (a "file" parameter's path).
func (p Params) String(name string) string { return p.get(name) }

// FileSHA256 returns the hex SHA-256 of a "file" parameter's content as NewParams read it, or "" when
// the parameter has no value. A reader of the file checks it, so a file changed after planning
// is refused rather than trained under the old key.
func (p Params) FileSHA256(name string) string {
	p.get(name) // panics on an undeclared name
	return p.hashes[name]
}

// keyed is the value Map and NonDefault report: a "file" parameter's content hash, not its path.
func (p Params) keyed(name, v string) string {
	if h := p.hashes[name]; h != "" {
		return "sha256:" + h
	}
	return v
}

// fileSHA256 is the hex SHA-256 of a file's content.
func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

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

// Ints returns an intlist parameter, one element per colon-separated integer (validated at
// construction).
func (p Params) Ints(name string) []int {
	xs, _ := parseIntList(p.get(name))
	return xs
}

// Bool returns a boolean parameter (validated at construction).
func (p Params) Bool(name string) bool {
	b, _ := strconv.ParseBool(p.get(name))
	return b
}

// Map returns every value, defaults included, for the result record and the cell key; a parameter
// declared OmitDefault is left out while it has its default, and a "file" parameter's value is
// "sha256:<hex>" of its content.
func (p Params) Map() map[string]string {
	m := make(map[string]string, len(p.values))
	for k, v := range p.values {
		if s, ok := p.spec(k); ok && s.OmitDefault && v == s.Default {
			continue
		}
		m[k] = p.keyed(k, v)
	}
	return m
}

// NonDefault lists "key=value" for the values that differ from their defaults, sorted.
func (p Params) NonDefault() []string {
	var out []string
	for _, s := range p.specs {
		if v := p.values[s.Name]; v != s.Default {
			out = append(out, s.Name+"="+p.keyed(s.Name, v))
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
