package datasets

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"

	"github.com/mmfusion/bench/bench/data"
)

// Interaction types of a synthetic sample (../shared/docs/synthetic.md §1). Stored per sample in
// Split.Aux["type"], so the by-construction composition of a mixture can be read back. With M
// modalities the types are R = 0, U_m = m (m = 1…M) and S = M+1 (TypeSFor); the constants below are
// those of the default M = 2.
const (
	TypeR = iota
	TypeU1
	TypeU2
	TypeS
)

// TypeSFor is the type index of synergy with m modalities (M+1; TypeS for M = 2).
func TypeSFor(m int) int { return m + 1 }

// SyntheticTypeNames are the interaction-type names of an m-modality synthetic dataset, by type index:
// R, U1…U_M, S.
func SyntheticTypeNames(m int) []string {
	out := []string{"R"}
	for i := 1; i <= m; i++ {
		out = append(out, fmt.Sprintf("U%d", i))
	}
	return append(out, "S")
}

func init() {
	data.Register("synthetic",
		"generated R/U/S interaction mixtures, M modalities × 3 blocks (synthetic.md §1; modalities=M, default 2); e.g. synthetic:mix=0.5R+0.5S",
		loadSynthetic)
}

// M modalities (modalities=M, default 2; our generalisation of synthetic.md §1, which defines two).
// Every modality m = 1…M has the blocks [R | U | S], d wide each, and the types are:
//
//   - R: every modality's R-block encodes y (g_R^m(c(y))): the label is recoverable from any one
//     modality alone.
//   - U_m: modality m's U-block encodes y (g_U^m(c(y))); every other block of every modality is noise:
//     only modality m carries the label.
//   - S: draw a_1…a_{M−1} uniformly in {0…K−1} and set a_M = (y − Σ_{m<M} a_m) mod K; modality m's
//     S-block encodes a_m (g_S^m(c(a_m))). Any M−1 of the a's are independent, uniform and independent
//     of y, so every proper subset of the modalities (each one alone, or any pair when M = 3) carries
//     zero information about y; all M together determine it (an M-way modular "XOR"). For M = 2 this is
//     exactly synthetic.md's a, b = (y − a) mod K.
//
// Mixtures name R, U (shared equally by U1…U_M), U1…U_M and S, e.g. synthetic:modalities=3,mix=1/4R+1/2U+1/4S.
// The default M = 2 draws the same random numbers in the same order as the two-modality generator
// always has, so its bytes and checksums are unchanged.

// SyntheticConfig holds every parameter that determines a synthetic dataset's bytes.
// Defaults are fixed by synthetic.md and must not be tuned to favour a method.
type SyntheticConfig struct {
	Mix [4]float64 // share of R, U1, U2, S (M = 2)
	// M is the number of modalities (0 means 2). With M ≠ 2, MixM holds the shares of R, U1…U_M, S
	// (length M+2) and Mix is unused.
	M                   int
	MixM                []float64
	K, D, H             int     // classes, block dimension, class-code dimension
	Hidden              int     // width of the fixed random tanh networks
	Sigma               float64 // isotropic noise
	NTrain, NVal, NTest int
	Seed                uint64
}

// DefaultSynthetic returns the defaults of synthetic.md §1 with the given mixture and seed.
func DefaultSynthetic(mix [4]float64, seed uint64) SyntheticConfig {
	return SyntheticConfig{Mix: mix, K: 4, D: 16, H: 8, Hidden: 32, Sigma: 0.5, NTrain: 2000, NVal: 1000, NTest: 2000, Seed: seed}
}

var syntheticParams = []string{"mix", "modalities", "k", "d", "h", "sigma", "train", "val", "test", "seed"}

// maxSyntheticModalities bounds modalities= (the S type draws M−1 codes per sample).
const maxSyntheticModalities = 8

// DefaultMix is the mixture used when none is given: equal shares of every interaction type.
const DefaultMix = "1/3R+1/3U+1/3S"

func loadSynthetic(opt data.Options) (*data.Set, error) {
	p := opt.Params
	if err := data.UnknownParams("synthetic", p, syntheticParams...); err != nil {
		return nil, err
	}
	mixStr := p["mix"]
	if mixStr == "" {
		mixStr = DefaultMix
	}
	nmod := 2
	if v, ok := p["modalities"]; ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 2 || n > maxSyntheticModalities {
			return nil, fmt.Errorf("dataset synthetic: modalities=%q: want an integer in [2, %d]", v, maxSyntheticModalities)
		}
		nmod = n
	}
	mixM, err := ParseMixM(mixStr, nmod)
	if err != nil {
		return nil, fmt.Errorf("dataset synthetic: %w", err)
	}
	var mix [4]float64
	if nmod == 2 {
		copy(mix[:], mixM)
	}
	cfg := DefaultSynthetic(mix, uint64(opt.Seed))
	if nmod != 2 {
		cfg.M, cfg.MixM = nmod, mixM
	}
	ints := []struct {
		key string
		dst *int
		min int
	}{{"k", &cfg.K, 2}, {"d", &cfg.D, 1}, {"h", &cfg.H, 1}, {"train", &cfg.NTrain, 1}, {"val", &cfg.NVal, 1}, {"test", &cfg.NTest, 1}}
	for _, f := range ints {
		if v, ok := p[f.key]; ok {
			n, err := strconv.Atoi(v)
			if err != nil || n < f.min {
				return nil, fmt.Errorf("dataset synthetic: %s=%q: want an integer ≥ %d", f.key, v, f.min)
			}
			*f.dst = n
		}
	}
	if v, ok := p["sigma"]; ok {
		s, err := strconv.ParseFloat(v, 64)
		if err != nil || s < 0 || math.IsNaN(s) || math.IsInf(s, 0) {
			return nil, fmt.Errorf("dataset synthetic: sigma=%q: want a finite number ≥ 0", v)
		}
		cfg.Sigma = s
	}
	if v, ok := p["seed"]; ok {
		s, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("dataset synthetic: seed=%q: want a non-negative integer", v)
		}
		cfg.Seed = s
	}
	set := GenerateSynthetic(cfg)
	set.Params["mix"] = mixStr
	return set, set.Finish()
}

// ParseMix reads a mixture such as "R", "S", "U1+U2", "1/4U+3/4R", "0.5R+0.5S", "1/3R+1/3U+1/3S".
// U stands for U1 and U2 in equal parts. Either every term has a weight (a fraction a/b or a decimal)
// and the weights sum to 1, or none has and the terms share equally. Returns shares of R, U1, U2, S.
func ParseMix(s string) ([4]float64, error) {
	var mix [4]float64
	m, err := ParseMixM(s, 2)
	if err != nil {
		return mix, err
	}
	copy(mix[:], m)
	return mix, nil
}

// ParseMixM is ParseMix for nmod modalities: the terms are R, U (U1…U_M in equal parts), U1…U_M
// and S, and the result holds the shares of R, U1…U_M, S (length nmod+2).
func ParseMixM(s string, nmod int) ([]float64, error) {
	mix := make([]float64, nmod+2)
	sIdx := TypeSFor(nmod)
	var us []string
	for m := 1; m <= nmod; m++ {
		us = append(us, fmt.Sprintf("U%d", m))
	}
	if strings.TrimSpace(s) == "" {
		return mix, fmt.Errorf("empty mixture")
	}
	terms := strings.Split(s, "+")
	weighted := -1
	var sum float64
	for _, term := range terms {
		term = strings.TrimSpace(term)
		i := strings.IndexAny(term, "RUS")
		if i < 0 {
			return mix, fmt.Errorf("mixture %q: term %q names no interaction type (R, U, %s, S)", s, term, strings.Join(us, ", "))
		}
		wStr, typ := term[:i], term[i:]
		hasW := wStr != ""
		if weighted == -1 {
			weighted = map[bool]int{false: 0, true: 1}[hasW]
		} else if (weighted == 1) != hasW {
			return mix, fmt.Errorf("mixture %q: give a weight for every term or for none", s)
		}
		w := 1.0 / float64(len(terms))
		if hasW {
			var err error
			if w, err = parseMixWeight(wStr); err != nil {
				return mix, fmt.Errorf("mixture %q: term %q: %w", s, term, err)
			}
		}
		switch typ {
		case "R":
			mix[TypeR] += w
		case "U":
			for m := 1; m <= nmod; m++ {
				mix[m] += w / float64(nmod)
			}
		case "S":
			mix[sIdx] += w
		default:
			m := -1
			for j, u := range us {
				if typ == u {
					m = j + 1
				}
			}
			if m < 0 {
				return mix, fmt.Errorf("mixture %q: unknown interaction type %q (want R, U, %s or S)", s, typ, strings.Join(us, ", "))
			}
			mix[m] += w
		}
		sum += w
	}
	if math.Abs(sum-1) > 1e-6 {
		return mix, fmt.Errorf("mixture %q: weights sum to %g, not 1", s, sum)
	}
	return mix, nil
}

// block indices within a modality: [R | U | S], each D wide.
const (
	blockR = 0
	blockU = 1
	blockS = 2
)

// tanhNet is a fixed random 2-layer network g(c) = W2 tanh(W1 c), rescaled so that its outputs over
// the K class codes have unit mean square: signal blocks then have the same scale as the N(0, 1)
// noise that fills suppressed blocks.
type tanhNet struct{ out [][]float64 } // out[class] = g(c(class)), precomputed

func newTanhNet(r *rand.Rand, codes [][]float64, hidden, d int) tanhNet {
	h := len(codes[0])
	w1 := gaussMatrix(r, hidden, h, 1/math.Sqrt(float64(h)))
	w2 := gaussMatrix(r, d, hidden, 1/math.Sqrt(float64(hidden)))
	out := make([][]float64, len(codes))
	var ms float64
	for k, c := range codes {
		z := make([]float64, hidden)
		for i := range z {
			z[i] = math.Tanh(dot(w1[i], c))
		}
		out[k] = make([]float64, d)
		for i := range out[k] {
			out[k][i] = dot(w2[i], z)
			ms += out[k][i] * out[k][i]
		}
	}
	scale := 1 / math.Sqrt(ms/float64(len(codes)*d))
	for _, o := range out {
		for i := range o {
			o[i] *= scale
		}
	}
	return tanhNet{out: out}
}

func gaussMatrix(r *rand.Rand, rows, cols int, std float64) [][]float64 {
	m := make([][]float64, rows)
	for i := range m {
		m[i] = make([]float64, cols)
		for j := range m[i] {
			m[i][j] = r.NormFloat64() * std
		}
	}
	return m
}

func dot(a, b []float64) float64 {
	var s float64
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}

// GenerateSynthetic draws the dataset of synthetic.md §1 (with cfg.M modalities, see "M modalities"
// above). Everything (class codes, the fixed networks, sample types, labels, noise) comes from one PCG
// stream seeded by cfg.Seed, so the same config gives the same bytes.
func GenerateSynthetic(cfg SyntheticConfig) *data.Set {
	nmod := cfg.M
	if nmod == 0 {
		nmod = 2
	}
	mix := cfg.Mix[:]
	if nmod != 2 {
		mix = cfg.MixM
	}
	sType := TypeSFor(nmod)
	r := rand.New(rand.NewPCG(cfg.Seed, 0x5ee0_5ee0))
	codes := gaussMatrix(r, cfg.K, cfg.H, 1)
	// nets[m][block]
	nets := make([][3]tanhNet, nmod)
	for m := range nets {
		for b := range nets[m] {
			nets[m][b] = newTanhNet(r, codes, cfg.Hidden, cfg.D)
		}
	}
	dim := 3 * cfg.D
	mods := make([]data.Modality, nmod)
	for m := range mods {
		mods[m] = data.Modality{Name: fmt.Sprintf("m%d", m+1), Shape: []int64{int64(dim)}}
	}
	names := SyntheticTypeNames(nmod)
	shares := make([]string, len(mix))
	for t, w := range mix {
		shares[t] = fmt.Sprintf("%s=%g", names[t], w)
	}
	set := &data.Set{
		Name:       "synthetic",
		NumClasses: cfg.K,
		Modalities: mods,
		Params: map[string]string{
			"k": strconv.Itoa(cfg.K), "d": strconv.Itoa(cfg.D), "h": strconv.Itoa(cfg.H),
			"hidden": strconv.Itoa(cfg.Hidden), "sigma": strconv.FormatFloat(cfg.Sigma, 'g', -1, 64),
			"train": strconv.Itoa(cfg.NTrain), "val": strconv.Itoa(cfg.NVal), "test": strconv.Itoa(cfg.NTest),
			"seed":       strconv.FormatUint(cfg.Seed, 10),
			"modalities": strconv.Itoa(nmod),
			"shares":     strings.Join(shares, ","),
		},
	}
	gen := func(n int) *data.Split {
		types := assignTypes(r, mix, n)
		sp := &data.Split{X: make([][]float32, nmod), Y: make([]int64, n), Aux: map[string][]int64{"type": types}}
		for m := range sp.X {
			sp.X[m] = make([]float32, n*dim)
		}
		codesS := make([]int, nmod)
		for i := 0; i < n; i++ {
			y := r.IntN(cfg.K)
			sp.Y[i] = int64(y)
			// Every block starts as N(0,1) noise ("suppressed"); the sample's type overwrites its signal blocks.
			for m := 0; m < nmod; m++ {
				row := sp.X[m][i*dim : (i+1)*dim]
				for j := range row {
					row[j] = float32(r.NormFloat64())
				}
			}
			put := func(m, block int, v []float64) {
				row := sp.X[m][i*dim+block*cfg.D : i*dim+(block+1)*cfg.D]
				for j := range row {
					row[j] = float32(v[j])
				}
			}
			switch t := int(types[i]); {
			case t == TypeR:
				for m := 0; m < nmod; m++ {
					put(m, blockR, nets[m][blockR].out[y])
				}
			case t == sType:
				// a_1…a_{M−1} uniform, a_M = (y − Σ a) mod K (M = 2: a, b = (y − a) mod K).
				rest := y
				for m := 0; m < nmod-1; m++ {
					codesS[m] = r.IntN(cfg.K)
					rest -= codesS[m]
				}
				codesS[nmod-1] = (rest%cfg.K + cfg.K) % cfg.K
				for m := 0; m < nmod; m++ {
					put(m, blockS, nets[m][blockS].out[codesS[m]])
				}
			default: // U_t: modality t alone
				put(t-1, blockU, nets[t-1][blockU].out[y])
			}
			for m := 0; m < nmod; m++ {
				row := sp.X[m][i*dim : (i+1)*dim]
				for j := range row {
					row[j] += float32(cfg.Sigma * r.NormFloat64())
				}
			}
		}
		return sp
	}
	set.Train, set.Val, set.Test = gen(cfg.NTrain), gen(cfg.NVal), gen(cfg.NTest)
	return set
}

// assignTypes gives exactly round(share·n) samples of each type (largest remainder), in random order.
func assignTypes(r *rand.Rand, mix []float64, n int) []int64 {
	counts := make([]int, len(mix))
	rem := make([]float64, len(mix))
	total := 0
	for t, w := range mix {
		exact := w * float64(n)
		counts[t] = int(math.Floor(exact))
		rem[t] = exact - float64(counts[t])
		total += counts[t]
	}
	for ; total < n; total++ {
		best := 0
		for t := range rem {
			if rem[t] > rem[best] {
				best = t
			}
		}
		counts[best]++
		rem[best] = -1
	}
	types := make([]int64, 0, n)
	for t, c := range counts {
		for j := 0; j < c; j++ {
			types = append(types, int64(t))
		}
	}
	r.Shuffle(n, func(i, j int) { types[i], types[j] = types[j], types[i] })
	return types
}

// Composition returns the share of each interaction type in a split of a two-modality synthetic
// dataset, by construction (CompositionM for M modalities).
func Composition(sp *data.Split) map[string]float64 { return CompositionM(sp, 2) }

// CompositionM returns the share of each interaction type (R, U1…U_M, S) in a split of an
// nmod-modality synthetic dataset, by construction.
func CompositionM(sp *data.Split, nmod int) map[string]float64 {
	typeNames := SyntheticTypeNames(nmod)
	counts := map[string]int{}
	for _, t := range sp.Aux["type"] {
		counts[typeNames[t]]++
	}
	out := map[string]float64{}
	for name, c := range counts {
		out[name] = float64(c) / float64(len(sp.Aux["type"]))
	}
	return out
}
