// Package tune gives every method the same hyper-parameter budget: N trials drawn by one seeded
// random sampler, each trained and scored on the validation split only; the best configuration per
// method is written as a preset and then run over the sweep's seeds like any other cell.
package tune

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/mmfusion/bench/bench"
	"github.com/mmfusion/bench/bench/store"
)

// Shared is the search space every method gets on top of its own (ParamSpec.Search): the learning
// rate, log-uniform in [1e-3, 1e-1] (methods.md §0.3 quotes [1e-3, 1e-2] for CNN backbones; the
// small synthetic and omics models here train faster with larger rates), and the batch size.
var Shared = []bench.ParamSpec{
	{Name: "lr", Kind: "float", Search: "log:1e-3:1e-1", Help: "SGD learning rate"},
	{Name: "batch_size", Kind: "int", Search: "choice:16|32|64|128", Help: "batch size"},
}

// Selection is what a tuned record says about how it was chosen.
const Selection = "best validation accuracy over the trials; the test split is not read during trials"

// Config is one point of a method's search space.
type Config struct {
	Params    map[string]string `json:"method_params"` // overrides of the method's defaults
	LR        float64           `json:"lr"`
	BatchSize int               `json:"batch_size"`
}

// maxDraws bounds the redraws of a method's own dimensions for one trial (see Sample).
const maxDraws = 1000

// Sample draws trial t (1-based) for a method trained for epochs epochs. The generator is seeded by
// (samplerSeed, t), and the shared dimensions are drawn first, so trial t of every method gets the
// same learning rate and batch size: methods are compared on the same points of the shared space.
// fixed holds --set values, which are not searched. A parameter searched as "lrmult:LO:HI" is the
// trial's learning rate times a log-uniform multiplier in [LO, HI] (DMI's stage rates).
//
// A trial is always a configuration the method accepts (its Validate hook) and the full method in
// epochs epochs (its Partial hook: no DMI trial whose stage 3 never starts): the method's own
// dimensions are redrawn, from the same generator, until they are, which samples uniformly from the
// valid part of the search space. When no draw qualifies (the fixed values or the epoch budget leave
// no room) Sample returns an error saying why.
func Sample(spec bench.MethodSpec, samplerSeed uint64, t int, fixed map[string]string, epochs int) (Config, error) {
	r := rand.New(rand.NewPCG(samplerSeed, uint64(t)))
	cfg := Config{Params: map[string]string{}}
	lr, err := bench.Sample(Shared[0].Search, r)
	if err != nil {
		return cfg, err
	}
	bs, err := bench.Sample(Shared[1].Search, r)
	if err != nil {
		return cfg, err
	}
	cfg.LR, _ = strconv.ParseFloat(lr, 64)
	cfg.BatchSize, _ = strconv.Atoi(bs)
	var why string
	for draw := 0; draw < maxDraws; draw++ {
		cfg.Params = map[string]string{}
		for k, v := range fixed {
			cfg.Params[k] = v
		}
		searched := false
		for _, p := range spec.Params {
			if p.Search == "" {
				continue
			}
			v, err := sampleParam(p.Search, cfg.LR, r) // drawn even when fixed, so the stream stays aligned
			if err != nil {
				return cfg, fmt.Errorf("parameter %s: %w", p.Name, err)
			}
			if _, isFixed := fixed[p.Name]; !isFixed {
				cfg.Params[p.Name] = v
				searched = true
			}
		}
		params, err := bench.NewParams("method", spec.Params, cfg.Params)
		if err != nil {
			return cfg, err
		}
		if why = reject(spec, params, epochs, fixed); why == "" {
			return cfg, nil
		}
		if !searched {
			break // nothing to redraw
		}
	}
	var set []string
	for k, v := range fixed {
		set = append(set, k+"="+v)
	}
	sort.Strings(set)
	given := ""
	if len(set) > 0 {
		given = " and --set " + strings.Join(set, ",")
	}
	return cfg, fmt.Errorf("no trial in its search space is the full method with --epochs %d%s (the last draw: %s)", epochs, given, why)
}

// reject says why a drawn configuration cannot be a trial ("" when it can), naming the values drawn
// or fixed.
func reject(spec bench.MethodSpec, params bench.Params, epochs int, fixed map[string]string) string {
	if spec.Validate != nil {
		if err := spec.Validate(params, epochs); err != nil {
			return err.Error()
		}
	}
	if note := spec.PartialNote(params, epochs); note != "" {
		var vals []string
		for _, p := range spec.Params {
			if _, isFixed := fixed[p.Name]; p.Search != "" || isFixed {
				vals = append(vals, p.Name+"="+params.String(p.Name))
			}
		}
		return fmt.Sprintf("%s would run %s", strings.Join(vals, ", "), note)
	}
	return ""
}

// sampleParam draws one value of a method parameter; "lrmult:LO:HI" is lr times a log-uniform
// multiplier (itself drawn to 4 significant digits, as every value; the product is written exactly).
func sampleParam(search string, lr float64, r *rand.Rand) (string, error) {
	rest, ok := strings.CutPrefix(search, "lrmult:")
	if !ok {
		return bench.Sample(search, r)
	}
	m, err := bench.Sample("log:"+rest, r)
	if err != nil {
		return "", err
	}
	f, _ := strconv.ParseFloat(m, 64)
	return strconv.FormatFloat(f*lr, 'g', 8, 64), nil // a 4-digit multiplier times a 4-digit lr: exact in 8 digits
}

// Preset is a tuned configuration on disk, reused by `bench run --preset`.
type Preset struct {
	Method  string       `json:"method"`
	Dataset string       `json:"dataset"`
	Encoder string       `json:"encoder"`
	Config  Config       `json:"config"`
	Tuning  store.Tuning `json:"tuning"`
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9.=+-]+`)

// PresetPath is presets/<dataset>/<encoder>/<method>.json under dir.
func PresetPath(dir, dataset, encoder, method string) string {
	return filepath.Join(dir, unsafeName.ReplaceAllString(dataset, "_"), encoder, method+".json")
}

// WritePreset writes p atomically.
func WritePreset(path string, p *Preset) error {
	b, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// ReadPresets reads one preset file, or every *.json under a directory.
func ReadPresets(path string) ([]*Preset, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("preset %s: %w", path, err)
	}
	files := []string{path}
	if fi.IsDir() {
		files = nil
		err := filepath.WalkDir(path, func(p string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() && filepath.Ext(p) == ".json" {
				files = append(files, p)
			}
			return err
		})
		if err != nil {
			return nil, err
		}
		sort.Strings(files)
	}
	var out []*Preset
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		var p Preset
		if err := json.Unmarshal(b, &p); err != nil {
			return nil, fmt.Errorf("preset %s: %w", f, err)
		}
		if p.Method == "" || p.Config.LR <= 0 || p.Config.BatchSize <= 0 {
			return nil, fmt.Errorf("preset %s: lacks method, lr or batch size", f)
		}
		out = append(out, &p)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("preset %s: no preset files", path)
	}
	return out, nil
}

// Best returns the trial with the highest validation accuracy among ok records (earliest trial on
// ties), or an error when no trial finished.
func Best(trials []*store.Record) (*store.Record, error) {
	var best *store.Record
	for _, r := range trials {
		if r.Status != store.StatusOK || r.Trial == 0 || !r.Val.Has("acc") { // a missing value is not 0
			continue
		}
		if best == nil || r.Val.Acc > best.Val.Acc || (r.Val.Acc == best.Val.Acc && r.Trial < best.Trial) {
			best = r
		}
	}
	if best == nil {
		return nil, fmt.Errorf("no trial finished")
	}
	return best, nil
}
