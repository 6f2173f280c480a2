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
// Split.Aux["type"], so the by-construction composition of a mixture can be read back.
const (
	TypeR = iota
	TypeU1
	TypeU2
	TypeS
)

var typeNames = []string{"R", "U1", "U2", "S"}

func init() {
	data.Register("synthetic",
		"generated R/U/S interaction mixtures, 2 modalities × 3 blocks (synthetic.md §1); e.g. synthetic:mix=0.5R+0.5S",
		loadSynthetic)
}

// SyntheticConfig holds every parameter that determines a synthetic dataset's bytes.
// Defaults are fixed by synthetic.md and must not be tuned to favour a method.
type SyntheticConfig struct {
	Mix                 [4]float64 // share of R, U1, U2, S
	K, D, H             int        // classes, block dimension, class-code dimension
	Hidden              int        // width of the fixed random tanh networks
	Sigma               float64    // isotropic noise
	NTrain, NVal, NTest int
	Seed                uint64
}

// DefaultSynthetic returns the defaults of synthetic.md §1 with the given mixture and seed.
func DefaultSynthetic(mix [4]float64, seed uint64) SyntheticConfig {
	return SyntheticConfig{Mix: mix, K: 4, D: 16, H: 8, Hidden: 32, Sigma: 0.5, NTrain: 2000, NVal: 1000, NTest: 2000, Seed: seed}
}

var syntheticParams = []string{"mix", "k", "d", "h", "sigma", "train", "val", "test", "seed"}

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
	mix, err := ParseMix(mixStr)
	if err != nil {
		return nil, fmt.Errorf("dataset synthetic: %w", err)
	}
	cfg := DefaultSynthetic(mix, uint64(opt.Seed))
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
			return mix, fmt.Errorf("mixture %q: term %q names no interaction type (R, U, U1, U2, S)", s, term)
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
			mix[TypeU1] += w / 2
			mix[TypeU2] += w / 2
		case "U1":
			mix[TypeU1] += w
		case "U2":
			mix[TypeU2] += w
		case "S":
			mix[TypeS] += w
		default:
			return mix, fmt.Errorf("mixture %q: unknown interaction type %q (want R, U, U1, U2 or S)", s, typ)
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

// GenerateSynthetic draws the dataset of synthetic.md §1. Everything (class codes, the fixed networks,
// sample types, labels, noise) comes from one PCG stream seeded by cfg.Seed, so the same config gives
// the same bytes.
func GenerateSynthetic(cfg SyntheticConfig) *data.Set {
	r := rand.New(rand.NewPCG(cfg.Seed, 0x5ee0_5ee0))
	codes := gaussMatrix(r, cfg.K, cfg.H, 1)
	// nets[m][block]
	var nets [2][3]tanhNet
	for m := range nets {
		for b := range nets[m] {
			nets[m][b] = newTanhNet(r, codes, cfg.Hidden, cfg.D)
		}
	}
	dim := 3 * cfg.D
	set := &data.Set{
		Name:       "synthetic",
		NumClasses: cfg.K,
		Modalities: []data.Modality{{Name: "m1", Shape: []int64{int64(dim)}}, {Name: "m2", Shape: []int64{int64(dim)}}},
		Params: map[string]string{
			"k": strconv.Itoa(cfg.K), "d": strconv.Itoa(cfg.D), "h": strconv.Itoa(cfg.H),
			"hidden": strconv.Itoa(cfg.Hidden), "sigma": strconv.FormatFloat(cfg.Sigma, 'g', -1, 64),
			"train": strconv.Itoa(cfg.NTrain), "val": strconv.Itoa(cfg.NVal), "test": strconv.Itoa(cfg.NTest),
			"seed":   strconv.FormatUint(cfg.Seed, 10),
			"shares": fmt.Sprintf("R=%g,U1=%g,U2=%g,S=%g", cfg.Mix[0], cfg.Mix[1], cfg.Mix[2], cfg.Mix[3]),
		},
	}
	gen := func(n int) *data.Split {
		types := assignTypes(r, cfg.Mix, n)
		sp := &data.Split{X: [][]float32{make([]float32, n*dim), make([]float32, n*dim)}, Y: make([]int64, n),
			Aux: map[string][]int64{"type": types}}
		for i := 0; i < n; i++ {
			y := r.IntN(cfg.K)
			sp.Y[i] = int64(y)
			// Every block starts as N(0,1) noise ("suppressed"); the sample's type overwrites its signal blocks.
			for m := 0; m < 2; m++ {
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
			switch types[i] {
			case TypeR:
				put(0, blockR, nets[0][blockR].out[y])
				put(1, blockR, nets[1][blockR].out[y])
			case TypeU1:
				put(0, blockU, nets[0][blockU].out[y])
			case TypeU2:
				put(1, blockU, nets[1][blockU].out[y])
			case TypeS:
				a := r.IntN(cfg.K)
				b := ((y-a)%cfg.K + cfg.K) % cfg.K
				put(0, blockS, nets[0][blockS].out[a])
				put(1, blockS, nets[1][blockS].out[b])
			}
			for m := 0; m < 2; m++ {
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
func assignTypes(r *rand.Rand, mix [4]float64, n int) []int64 {
	counts := make([]int, 4)
	rem := make([]float64, 4)
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

// Composition returns the share of each interaction type in a split, by construction.
func Composition(sp *data.Split) map[string]float64 {
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
