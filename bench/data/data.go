// Package data defines what a dataset yields (per-modality arrays and labels for train, validation and
// test) and the registry datasets add themselves to. It does not depend on libtorch, so parsers and
// generators can be tested and fuzzed without it.
package data

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"math"
	"slices"
	"sort"
	"strings"

	"github.com/mmfusion/bench/bench/registry"
)

// Modality describes one input stream.
type Modality struct {
	Name  string  // e.g. "audio", "m1"
	Shape []int64 // per-sample shape, e.g. [48] or [1 28 28]
	// Role is what kind of signal the stream is (RoleVisual, RoleAudio, …), where the dataset knows
	// it; "" when it has none (synthetic and Boolean data). Methods whose reference treats modalities
	// differently by kind read it (DMI's per-branch stage-1 coefficients). It is not part of the
	// dataset checksum, so declaring a role does not change any cell key.
	Role string `json:",omitempty"`
}

// Modality roles. A dataset declares one per modality where the kind of signal is known; Finish
// refuses any other value.
const (
	RoleVisual  = "visual"  // frames or images (CREMA-D, KS and UCF101 RGB, AV-MNIST digits, MOSEI facial features)
	RoleAudio   = "audio"   // spectrograms or acoustic features (CREMA-D, KS, AV-MNIST, MOSEI)
	RoleFlow    = "flow"    // optical flow (UCF101)
	RoleText    = "text"    // word embeddings (MOSEI)
	RoleOmics   = "omics"   // molecular profiles (ROSMAP's mRNA, methylation and miRNA views)
	RoleTabular = "tabular" // other per-sample feature vectors
)

// Roles lists the roles a modality may declare (besides "" for none).
var Roles = []string{RoleVisual, RoleAudio, RoleFlow, RoleText, RoleOmics, RoleTabular}

// KnownRole reports whether r is "" or one of Roles.
func KnownRole(r string) bool {
	if r == "" {
		return true
	}
	for _, k := range Roles {
		if r == k {
			return true
		}
	}
	return false
}

// Size is the number of values per sample.
func (m Modality) Size() int {
	n := 1
	for _, d := range m.Shape {
		n *= int(d)
	}
	return n
}

// Split holds one split. X[m] is the row-major (N, Shape...) array of modality m, in memory; a
// split too large for memory (video datasets) sets Source instead and leaves X nil. Y is always in
// memory.
type Split struct {
	X      [][]float32
	Source Source
	Y      []int64
	// Aux holds optional per-sample side information that is not an input (e.g. the raw bits and gate
	// of a Boolean sample, or the interaction type of a synthetic sample), keyed by name.
	Aux map[string][]int64
}

// Len is the number of samples.
func (s *Split) Len() int { return len(s.Y) }

// Source reads samples on demand, for splits that do not fit in memory. Read may be called from
// several goroutines at once.
type Source interface {
	// Read fills dst[m] (one modality's values for one sample, len = Modality.Size()) with sample i.
	// A missing or malformed file is an error naming the file.
	Read(i int, dst [][]float32) error
	// Digest writes what identifies the data (file names, sizes, parameters) into h, for the
	// dataset checksum; reading every byte of a video dataset at start-up would be too slow.
	Digest(h io.Writer)
}

// AugmentedSource is a Source whose split has a random training transform (CREMA-D's and KS's
// RandomResizedCrop + horizontal flip of every frame). Only a training split's Source implements
// it, and only when the dataset's augmentation is on (augment=true, the default); validation and
// test splits, and training splits with augment=false, are plain Sources whose Read is the test
// transform. The trainer calls ReadAugmented for the batches of its training epochs (bench.Run.
// TrainEpoch) and Read everywhere else (evaluation, a method's epoch hook).
type AugmentedSource interface {
	Source
	// ReadAugmented fills dst with sample i under the training transform, drawing every random choice
	// from a generator seeded by seed alone (AugmentSeed of the cell seed, the epoch and i), so a read
	// gives the same values whichever goroutine makes it and whenever. Errors are Read's.
	ReadAugmented(i int, dst [][]float32, seed uint64) error
}

// AugmentSeed is the seed of sample i's training transform in epoch epoch of a cell with seed
// cellSeed: a SplitMix64 hash of the three, so every (cell, epoch, sample) draws its own stream and
// reads can run in any order or in parallel without changing a value.
func AugmentSeed(cellSeed int64, epoch, sample int) uint64 {
	z := uint64(cellSeed)
	for _, v := range []uint64{0xa06_3e47, uint64(int64(epoch)), uint64(int64(sample))} {
		z = splitMix64(z ^ v)
	}
	return z
}

func splitMix64(z uint64) uint64 {
	z += 0x9e3779b97f4a7c15
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// ReadSample returns sample i of one modality from memory or from the Source.
func (s *Split) ReadSample(i int, mods []Modality, dst [][]float32) error {
	if s.Source != nil {
		return s.Source.Read(i, dst)
	}
	for m, mod := range mods {
		n := mod.Size()
		copy(dst[m], s.X[m][i*n:(i+1)*n])
	}
	return nil
}

// Set is a loaded dataset.
type Set struct {
	Name       string            // the registered name, e.g. "synthetic"
	Params     map[string]string // every parameter that determines the bytes, defaults included
	NumClasses int
	Modalities []Modality
	Train      *Split
	Val        *Split
	Test       *Split
	SHA256     string // of what was read or generated; set by Finish
}

// Splits returns the splits in a fixed order with their names.
func (s *Set) Splits() []NamedSplit {
	return []NamedSplit{{"train", s.Train}, {"val", s.Val}, {"test", s.Test}}
}

// NamedSplit pairs a split with its name for messages.
type NamedSplit struct {
	Name  string
	Split *Split
}

// Finish validates the set (shapes, label range, finite values, non-empty splits, every class in the
// training split) and computes its checksum. Every dataset calls it before returning.
func (s *Set) Finish() error {
	if s.NumClasses < 2 {
		return fmt.Errorf("dataset %s: %d classes; need at least 2", s.Name, s.NumClasses)
	}
	if len(s.Modalities) == 0 {
		return fmt.Errorf("dataset %s: no modalities", s.Name)
	}
	for _, mod := range s.Modalities {
		if !KnownRole(mod.Role) {
			return fmt.Errorf("dataset %s: modality %s: unknown role %q (known: %s, or none)", s.Name, mod.Name, mod.Role, strings.Join(Roles, ", "))
		}
	}
	h := sha256.New()
	var buf [8]byte
	for _, ns := range s.Splits() {
		sp := ns.Split
		if sp == nil || sp.Len() == 0 {
			return fmt.Errorf("dataset %s: %s split is empty", s.Name, ns.Name)
		}
		if sp.Source != nil {
			sp.Source.Digest(h) // values are checked when read
		} else if len(sp.X) != len(s.Modalities) {
			return fmt.Errorf("dataset %s: %s split has %d modalities, want %d", s.Name, ns.Name, len(sp.X), len(s.Modalities))
		}
		n := sp.Len()
		for m, mod := range s.Modalities {
			if sp.Source != nil {
				break
			}
			if want := n * mod.Size(); len(sp.X[m]) != want {
				return fmt.Errorf("dataset %s: %s split, modality %s: %d values for %d samples of shape %v (want %d)",
					s.Name, ns.Name, mod.Name, len(sp.X[m]), n, mod.Shape, want)
			}
			for i, v := range sp.X[m] {
				if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
					return fmt.Errorf("dataset %s: %s split, modality %s: non-finite value %v in sample %d",
						s.Name, ns.Name, mod.Name, v, i/mod.Size())
				}
			}
			for _, v := range sp.X[m] {
				binary.LittleEndian.PutUint32(buf[:4], math.Float32bits(v))
				h.Write(buf[:4])
			}
		}
		for i, y := range sp.Y {
			if y < 0 || y >= int64(s.NumClasses) {
				return fmt.Errorf("dataset %s: %s split, sample %d: label %d out of range [0, %d)", s.Name, ns.Name, i, y, s.NumClasses)
			}
			binary.LittleEndian.PutUint64(buf[:], uint64(y))
			h.Write(buf[:])
		}
	}
	seen := make([]bool, s.NumClasses)
	for _, y := range s.Train.Y {
		seen[y] = true
	}
	for c, ok := range seen {
		if !ok {
			return fmt.Errorf("dataset %s: class %d is missing from the training split", s.Name, c)
		}
	}
	s.SHA256 = hex.EncodeToString(h.Sum(nil))
	return nil
}

// Options are what a dataset factory receives.
type Options struct {
	Params  map[string]string // from the dataset spec, e.g. "synthetic:mix=S" gives {"mix": "S"}
	Seed    int64             // the cell's seed; generators and split shuffles derive from it unless a param fixes them
	DataDir string            // root of real data (--data-dir or $BENCH_DATA_DIR); datasets look in DataDir/<name>
}

// Factory loads or generates a dataset.
type Factory func(opt Options) (*Set, error)

// Datasets is the dataset registry; each dataset file adds itself in init.
var Datasets = registry.New[Factory]("dataset")

// Register adds a dataset under name with a one-line description.
func Register(name, description string, f Factory) { Datasets.Register(name, description, f) }

// ParseSpec splits a dataset spec "name:key=value,key=value" into its name and parameters.
// Values may not contain ',' or '='.
func ParseSpec(spec string) (string, map[string]string, error) {
	name, rest, _ := strings.Cut(spec, ":")
	name = strings.TrimSpace(name)
	if name == "" {
		return "", nil, fmt.Errorf("dataset spec %q: empty name", spec)
	}
	params := map[string]string{}
	if strings.TrimSpace(rest) == "" {
		return name, params, nil
	}
	for _, kv := range strings.Split(rest, ",") {
		k, v, ok := strings.Cut(kv, "=")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if !ok || k == "" || v == "" || strings.Contains(v, "=") {
			return "", nil, fmt.Errorf("dataset spec %q: %q is not key=value", spec, kv)
		}
		if _, dup := params[k]; dup {
			return "", nil, fmt.Errorf("dataset spec %q: %q given twice", spec, k)
		}
		params[k] = v
	}
	return name, params, nil
}

// RuntimeParams are dataset parameters that say how to read the data, not what is read (cache=DIR,
// the video datasets' on-disk cache of decoded samples): they change no value, so they are not part
// of a dataset's canonical spelling or of any cell key; the sweep hands them to the load.
var RuntimeParams = []string{"cache"}

// SplitRuntime separates spec's runtime parameters (RuntimeParams) from the rest: identity is spec
// without them (parameters in the order given), runtime the removed "key=value" pairs joined by
// commas ("" if none).
func SplitRuntime(spec string) (identity, runtime string) {
	name, rest, ok := strings.Cut(spec, ":")
	if !ok {
		return spec, ""
	}
	var keep, rt []string
	for _, kv := range strings.Split(rest, ",") {
		k, _, _ := strings.Cut(kv, "=")
		if slices.Contains(RuntimeParams, strings.TrimSpace(k)) {
			rt = append(rt, strings.TrimSpace(kv))
		} else {
			keep = append(keep, kv)
		}
	}
	if len(keep) == 0 {
		return name, strings.Join(rt, ",")
	}
	return name + ":" + strings.Join(keep, ","), strings.Join(rt, ",")
}

// WithRuntime appends runtime parameters ("key=value,…", from SplitRuntime) to a spec.
func WithRuntime(spec, runtime string) string {
	switch {
	case runtime == "":
		return spec
	case strings.Contains(spec, ":"):
		return spec + "," + runtime
	default:
		return spec + ":" + runtime
	}
}

// Load parses spec, finds the dataset and loads it.
func Load(spec string, seed int64, dataDir string) (*Set, error) {
	name, params, err := ParseSpec(spec)
	if err != nil {
		return nil, err
	}
	e, err := Datasets.Lookup(name)
	if err != nil {
		return nil, err
	}
	s, err := e.Value(Options{Params: params, Seed: seed, DataDir: dataDir})
	if err != nil {
		return nil, err
	}
	if s.SHA256 == "" {
		if err := s.Finish(); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// UnknownParams returns an error naming any key of params that is not in known.
func UnknownParams(dataset string, params map[string]string, known ...string) error {
	var bad []string
	for k := range params {
		found := false
		for _, kk := range known {
			if k == kk {
				found = true
			}
		}
		if !found {
			bad = append(bad, k)
		}
	}
	if len(bad) > 0 {
		sort.Strings(bad)
		return fmt.Errorf("dataset %s: unknown parameter(s) %s (known: %s)", dataset, strings.Join(bad, ", "), strings.Join(known, ", "))
	}
	return nil
}

// Meta is what planning needs of a dataset, without its arrays: a plan holds keys, not tensors. Its
// Modalities carry their roles; cell keys use SHA256, which covers the arrays and labels only.
type Meta struct {
	Name       string
	Params     map[string]string
	NumClasses int
	Modalities []Modality
	SHA256     string
}

// Meta returns the set's description.
func (s *Set) Meta() *Meta {
	return &Meta{Name: s.Name, Params: s.Params, NumClasses: s.NumClasses, Modalities: s.Modalities, SHA256: s.SHA256}
}

// Describe loads and validates spec for seed and returns its description only; the arrays become
// garbage at once, so describing many (dataset, seed) pairs holds one dataset at a time.
func Describe(spec string, seed int64, dataDir string) (*Meta, error) {
	s, err := Load(spec, seed, dataDir)
	if err != nil {
		return nil, err
	}
	return s.Meta(), nil
}

// Canonical spells a dataset spec one way whatever the order or spelling of its parameters: the name,
// then the parameters that differ from the dataset's defaults, sorted by key, each as the dataset
// recorded the value it used (so mix=S and mix=1S are one spelling). used is the spec's Params as
// loaded, defaults the Params of the bare name loaded with the same seed (nil when the bare name
// cannot be loaded: then every given parameter is kept). A parameter the dataset does not record
// (a path) keeps its given value.
func Canonical(spec string, used, defaults map[string]string) (string, error) {
	name, given, err := ParseSpec(spec)
	if err != nil {
		return "", err
	}
	var parts []string
	for k, v := range given {
		if u, ok := used[k]; ok {
			v = u
		}
		if d, ok := defaults[k]; ok && d == v {
			continue
		}
		parts = append(parts, k+"="+v)
	}
	if len(parts) == 0 {
		return name, nil
	}
	sort.Strings(parts)
	return name + ":" + strings.Join(parts, ","), nil
}
