package datasets

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"

	"github.com/mmfusion/bench/bench/data"
)

// Gates of a Boolean sample, stored per sample in Split.Aux["gate"] (synthetic.md §2).
const (
	GateAND = iota
	GateOR
	GateXOR
	numGates
)

// GateNames are indexed by gate.
var GateNames = [numGates]string{"AND", "OR", "XOR"}

// Boolean defaults. Sigma 0.5 matches the synthetic family (synthetic.md §1); with d = 16 and
// unit-variance embeddings the two codes of a bit are far apart relative to the noise, so each bit is
// recoverable from its modality and what is hard is only the gate's interaction. Do not tune these to
// favour a method.
const (
	BooleanDefaultMix   = "AND+OR+XOR"
	BooleanDefaultD     = 16
	BooleanDefaultSigma = 0.5
)

var booleanParams = []string{"mix", "d", "sigma", "train", "val", "test", "seed"}

func init() {
	data.Register("boolean",
		"generated Boolean mixtures y = g(x1, x2), g ∈ {AND, OR, XOR}, one bit per modality (synthetic.md §2); e.g. boolean:mix=AND+XOR",
		loadBoolean)
}

// BooleanConfig holds every parameter that determines a Boolean dataset's bytes.
type BooleanConfig struct {
	Mix                 GateMix
	D                   int     // dimension of each modality
	Sigma               float64 // standard deviation of the Gaussian noise added to every dimension
	NTrain, NVal, NTest int
	Seed                int64
}

func loadBoolean(opt data.Options) (*data.Set, error) {
	p, err := newSpecParams("boolean", opt.Params, booleanParams...)
	if err != nil {
		return nil, err
	}
	var cfg BooleanConfig
	mixStr := p.str("mix", BooleanDefaultMix)
	if cfg.Mix, err = ParseGateMix(mixStr); err != nil {
		return nil, fmt.Errorf("dataset boolean: parameter mix: %w", err)
	}
	p.set("mix", cfg.Mix.String())
	if cfg.D, err = p.int("d", BooleanDefaultD, 1); err != nil {
		return nil, err
	}
	if cfg.Sigma, err = p.float("sigma", BooleanDefaultSigma, 0, math.Inf(1)); err != nil {
		return nil, err
	}
	for _, f := range []struct {
		key string
		dst *int
		def int
	}{{"train", &cfg.NTrain, 2000}, {"val", &cfg.NVal, 1000}, {"test", &cfg.NTest, 2000}} {
		if *f.dst, err = p.int(f.key, f.def, 1); err != nil {
			return nil, err
		}
	}
	if cfg.Seed, err = p.seed("seed", opt.Seed); err != nil {
		return nil, err
	}
	set := GenerateBoolean(cfg)
	set.Params = p.used
	if err := set.Finish(); err != nil {
		return nil, err
	}
	return set, nil
}

// PCG stream constants: one stream for the fixed embeddings and one per split, so a split's bytes do
// not depend on the sizes of the others (changing train= leaves test unchanged).
const (
	boolStreamEmbed = 0xb001_e3be
	boolStreamSplit = 0xb001_5900 // + split index
)

// GenerateBoolean draws the dataset of synthetic.md §2. Each modality m embeds its bit b as a fixed
// random vector e[m][b] ~ N(0, I_d) drawn once from the seed, plus N(0, σ²I_d) noise per sample. The
// label is the sample's gate applied to the two bits. The bits and the gate of every sample are kept
// in Split.Aux ("x1", "x2", "gate") for the interaction estimator.
func GenerateBoolean(cfg BooleanConfig) *data.Set {
	er := rand.New(rand.NewPCG(uint64(cfg.Seed), boolStreamEmbed))
	var emb [2][2][]float64 // [modality][bit]
	for m := range emb {
		for b := range emb[m] {
			emb[m][b] = make([]float64, cfg.D)
			for j := range emb[m][b] {
				emb[m][b][j] = er.NormFloat64()
			}
		}
	}
	shape := []int64{int64(cfg.D)}
	set := &data.Set{
		Name:       "boolean",
		NumClasses: 2,
		Modalities: []data.Modality{{Name: "m1", Shape: shape}, {Name: "m2", Shape: shape}},
		Params:     cfg.params(),
	}
	sizes := []int{cfg.NTrain, cfg.NVal, cfg.NTest}
	splits := make([]*data.Split, 3)
	for s, n := range sizes {
		r := rand.New(rand.NewPCG(uint64(cfg.Seed), boolStreamSplit+uint64(s)))
		splits[s] = boolSplit(r, cfg, &emb, n)
	}
	set.Train, set.Val, set.Test = splits[0], splits[1], splits[2]
	return set
}

// params renders cfg as Set.Params.
func (cfg BooleanConfig) params() map[string]string {
	return map[string]string{
		"mix": cfg.Mix.String(), "d": strconv.Itoa(cfg.D), "sigma": strconv.FormatFloat(cfg.Sigma, 'g', -1, 64),
		"train": strconv.Itoa(cfg.NTrain), "val": strconv.Itoa(cfg.NVal), "test": strconv.Itoa(cfg.NTest),
		"seed": strconv.FormatInt(cfg.Seed, 10),
	}
}

// boolSplit draws n samples: gates first (exact shares, shuffled), then per sample the two bits and
// the noisy embeddings.
func boolSplit(r *rand.Rand, cfg BooleanConfig, emb *[2][2][]float64, n int) *data.Split {
	gates := cfg.Mix.assign(r, n)
	x1, x2 := make([]int64, n), make([]int64, n)
	sp := &data.Split{
		X:   [][]float32{make([]float32, n*cfg.D), make([]float32, n*cfg.D)},
		Y:   make([]int64, n),
		Aux: map[string][]int64{"x1": x1, "x2": x2, "gate": gates},
	}
	for i := 0; i < n; i++ {
		x1[i], x2[i] = int64(r.IntN(2)), int64(r.IntN(2))
		sp.Y[i] = applyGate(int(gates[i]), x1[i], x2[i])
		for m, bit := range [2]int64{x1[i], x2[i]} {
			row := sp.X[m][i*cfg.D : (i+1)*cfg.D]
			for j := range row {
				row[j] = float32(emb[m][bit][j] + cfg.Sigma*r.NormFloat64())
			}
		}
	}
	return sp
}

// applyGate returns g(a, b) for bits a, b.
func applyGate(g int, a, b int64) int64 {
	switch g {
	case GateAND:
		return a & b
	case GateOR:
		return a | b
	default:
		return a ^ b
	}
}

// GateMix is the share of AND, OR and XOR samples; the shares sum to 1.
type GateMix [numGates]float64

// ParseGateMix reads a mixture of gates such as "AND+XOR", "AND+OR+XOR", "0.25AND+0.75XOR" or
// "1/4AND+3/4XOR" (gate names are case-insensitive). Either every term has a weight (a decimal or a
// fraction a/b in (0, 1]) and the weights sum to 1, or no term has one and the gates share equally.
// A gate may appear only once.
func ParseGateMix(s string) (GateMix, error) {
	var mix GateMix
	if strings.TrimSpace(s) == "" {
		return mix, fmt.Errorf("empty gate mixture (want e.g. AND+XOR or 0.25AND+0.75XOR)")
	}
	terms := strings.Split(s, "+")
	var seen [numGates]bool
	weighted := 0 // terms that carry a weight
	var sum float64
	for i, term := range terms {
		term = strings.TrimSpace(term)
		if term == "" {
			return mix, fmt.Errorf("gate mixture %q: term %d is empty", s, i+1)
		}
		wStr, name := splitGateTerm(term)
		g, err := gateIndex(name)
		if err != nil {
			return mix, fmt.Errorf("gate mixture %q: term %q: %w", s, term, err)
		}
		if seen[g] {
			return mix, fmt.Errorf("gate mixture %q: gate %s appears twice", s, GateNames[g])
		}
		seen[g] = true
		w := 1 / float64(len(terms))
		if wStr != "" {
			weighted++
			if w, err = parseMixWeight(wStr); err != nil {
				return mix, fmt.Errorf("gate mixture %q: term %q: %w", s, term, err)
			}
		}
		mix[g] = w
		sum += w
	}
	if weighted != 0 && weighted != len(terms) {
		return mix, fmt.Errorf("gate mixture %q: give a weight for every term or for none", s)
	}
	if math.Abs(sum-1) > 1e-6 {
		return mix, fmt.Errorf("gate mixture %q: weights sum to %g, want 1", s, sum)
	}
	for g := range mix { // remove the rounding error of e.g. 1/3+1/3+1/3
		mix[g] /= sum
	}
	return mix, nil
}

// splitGateTerm splits "0.25AND" into "0.25" and "AND": gate names are letters, so the weight is
// everything before the first letter (exponents such as 1e-1 are therefore not accepted).
func splitGateTerm(term string) (weight, name string) {
	i := strings.IndexFunc(term, func(r rune) bool { return (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') })
	if i < 0 {
		return term, ""
	}
	return strings.TrimSpace(term[:i]), strings.TrimSpace(term[i:])
}

// gateIndex maps a gate name (case-insensitive) to its index.
func gateIndex(name string) (int, error) {
	for g, n := range GateNames {
		if strings.EqualFold(name, n) {
			return g, nil
		}
	}
	if name == "" {
		return 0, fmt.Errorf("no gate name (known: AND, OR, XOR)")
	}
	return 0, fmt.Errorf("unknown gate %q (known: AND, OR, XOR)", name)
}

// parseMixWeight (shared by the boolean and synthetic mixtures) reads a weight written as a decimal ("0.25") or a fraction ("1/4"); it must lie in (0, 1].
func parseMixWeight(w string) (float64, error) {
	var v float64
	if num, den, ok := strings.Cut(w, "/"); ok {
		a, err1 := strconv.ParseFloat(num, 64)
		b, err2 := strconv.ParseFloat(den, 64)
		if err1 != nil || err2 != nil || b == 0 {
			return 0, fmt.Errorf("bad weight %q (want a decimal such as 0.25 or a fraction such as 1/4)", w)
		}
		v = a / b
	} else {
		var err error
		if v, err = strconv.ParseFloat(w, 64); err != nil {
			return 0, fmt.Errorf("bad weight %q (want a decimal such as 0.25 or a fraction such as 1/4)", w)
		}
	}
	if !(v > 0 && v <= 1) { // also rejects NaN
		return 0, fmt.Errorf("bad weight %q: not in (0, 1]", w)
	}
	return v, nil
}

// String is the canonical spelling: "AND+XOR" for equal shares, else weights with %g ("0.25AND+0.75XOR").
func (m GateMix) String() string {
	var terms []string
	equal := true
	first := -1.0
	for _, w := range m {
		if w == 0 {
			continue
		}
		if first < 0 {
			first = w
		} else if math.Abs(w-first) > 1e-12 {
			equal = false
		}
	}
	for g, w := range m {
		if w == 0 {
			continue
		}
		if equal {
			terms = append(terms, GateNames[g])
		} else {
			terms = append(terms, strconv.FormatFloat(w, 'g', -1, 64)+GateNames[g])
		}
	}
	return strings.Join(terms, "+")
}

// assign returns n gates with exactly round(share·n) of each (largest remainder, ties to the lower
// gate index) in random order, so a split's composition is known by construction.
func (m GateMix) assign(r *rand.Rand, n int) []int64 {
	var counts [numGates]int
	var rem [numGates]float64
	total := 0
	for g, w := range m {
		exact := w * float64(n)
		counts[g] = int(math.Floor(exact))
		rem[g] = exact - float64(counts[g])
		total += counts[g]
	}
	for ; total > n; total-- { // only from floating-point error in shares that sum to 1
		counts[argmaxInt(counts[:])]--
	}
	for ; total < n; total++ {
		best := 0
		for g := range rem {
			if m[g] > 0 && (m[best] == 0 || rem[g] > rem[best]) {
				best = g
			}
		}
		counts[best]++
		rem[best] = -1
	}
	gates := make([]int64, 0, n)
	for g, c := range counts {
		for j := 0; j < c; j++ {
			gates = append(gates, int64(g))
		}
	}
	r.Shuffle(len(gates), func(i, j int) { gates[i], gates[j] = gates[j], gates[i] })
	return gates
}

// argmaxInt returns the index of the largest value (the first on ties).
func argmaxInt(v []int) int {
	best := 0
	for i := range v {
		if v[i] > v[best] {
			best = i
		}
	}
	return best
}
