package tune

import (
	"context"
	"fmt"
	"io"

	"github.com/mmfusion/bench/bench"
	"github.com/mmfusion/bench/bench/store"
	"github.com/mmfusion/bench/bench/sweep"
)

// Options describe a tuning run on one dataset and encoder.
type Options struct {
	Methods      []string
	Dataset      string
	Encoder      string
	Budget       int     // trials per method
	SamplerSeed  uint64  // the same for every method
	TuneSeed     int64   // seed of the trials' data, initialisation and order (not one of Seeds by default)
	Seeds        []int64 // seeds of the final runs of the tuned (and default) configurations
	Sets         map[string]map[string]string
	Train        store.TrainConfig // epochs, momentum, weight decay; lr and batch size are searched
	Jobs         int
	Device       string
	DataDir      string
	PresetDir    string
	WithDefaults bool   // also run the default configurations on Seeds, for the side-by-side table
	TensorBoard  string // one TensorBoard event file per trained trial and final cell under this directory ("" = none)
}

func (o *Options) validate() error {
	if o.Budget < 1 {
		return fmt.Errorf("--budget %d: want at least 1 trial per method", o.Budget)
	}
	if len(o.Methods) == 0 || len(o.Seeds) == 0 {
		return fmt.Errorf("tune: need at least one method and one seed")
	}
	return nil
}

func (o *Options) sweepOptions() sweep.Options {
	return sweep.Options{Methods: o.Methods, Datasets: []string{o.Dataset}, Encoders: []string{o.Encoder},
		Seeds: o.Seeds, Sets: o.Sets, Train: o.Train, Jobs: o.Jobs, Device: o.Device, DataDir: o.DataDir, TensorBoard: o.TensorBoard}
}

func params(owner string, specs []bench.ParamSpec, overrides map[string]string) (bench.Params, error) {
	return bench.NewParams(owner, specs, overrides)
}

func (o *Options) encoderParams() (bench.Params, error) {
	espec, err := bench.Encoders.Lookup(o.Encoder)
	if err != nil {
		return bench.Params{}, err
	}
	return params("encoder "+o.Encoder, espec.Value.Params, o.Sets[o.Encoder])
}

// TrialCells are the Budget trials of every method, drawn by Sample with the same sampler seed.
func TrialCells(o Options) ([]*bench.Cell, error) {
	if err := o.validate(); err != nil {
		return nil, err
	}
	ep, err := o.encoderParams()
	if err != nil {
		return nil, err
	}
	var cells []*bench.Cell
	for _, m := range o.Methods {
		mspec, err := bench.Methods.Lookup(m)
		if err != nil {
			return nil, err
		}
		for t := 1; t <= o.Budget; t++ {
			cfg, err := Sample(mspec.Value, o.SamplerSeed, t, o.Sets[m], o.Train.Epochs)
			if err != nil {
				return nil, fmt.Errorf("method %s: %w", m, err)
			}
			mp, err := params("method "+m, mspec.Value.Params, cfg.Params)
			if err != nil {
				return nil, err
			}
			tc := o.Train
			tc.LR, tc.BatchSize = cfg.LR, cfg.BatchSize
			cells = append(cells, &bench.Cell{Method: m, MethodParams: mp, Dataset: o.Dataset, Encoder: o.Encoder,
				EncoderParams: ep, Seed: o.TuneSeed, Train: tc, Trial: t})
		}
	}
	return cells, nil
}

// RunTrials trains every trial not yet in the store (resumable like a sweep, same --jobs bound) and
// returns the trial records by method.
func RunTrials(ctx context.Context, o Options, st *store.Store, log io.Writer) (map[string][]*store.Record, error) {
	cells, err := TrialCells(o)
	if err != nil {
		return nil, err
	}
	plan, err := sweep.PlanCells(cells, st, o.DataDir, false)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(log, "tuning: %d methods × %d trials on %s (trial seed %d, sampler seed %d), scored on validation only\n",
		len(o.Methods), o.Budget, o.Dataset, o.TuneSeed, o.SamplerSeed)
	if _, err := sweep.Run(ctx, plan, o.sweepOptions(), st, log); err != nil {
		return nil, err
	}
	recs, err := sweep.Records(plan, st)
	if err != nil {
		return nil, err
	}
	out := map[string][]*store.Record{}
	for _, r := range recs {
		out[r.Method] = append(out[r.Method], r)
	}
	return out, nil
}

// Choose picks each method's best trial and writes its preset.
func Choose(o Options, trials map[string][]*store.Record) (map[string]*Preset, error) {
	presets := map[string]*Preset{}
	for _, m := range o.Methods {
		best, err := Best(trials[m])
		if err != nil {
			return nil, fmt.Errorf("method %s: %w", m, err)
		}
		mspec, _ := bench.Methods.Lookup(m)
		overrides := map[string]string{}
		for _, p := range mspec.Value.Params {
			if v := best.MethodParams[p.Name]; v != p.Default {
				overrides[p.Name] = v
			}
		}
		p := &Preset{Method: m, Dataset: o.Dataset, Encoder: o.Encoder,
			Config: Config{Params: overrides, LR: best.Train.LR, BatchSize: best.Train.BatchSize},
			Tuning: store.Tuning{Budget: o.Budget, SamplerSeed: o.SamplerSeed, TuneSeed: o.TuneSeed,
				BestTrial: best.Trial, BestValAcc: best.Val.Acc, Selection: Selection}}
		if o.PresetDir != "" {
			if err := WritePreset(PresetPath(o.PresetDir, o.Dataset, o.Encoder, m), p); err != nil {
				return nil, err
			}
		}
		presets[m] = p
	}
	return presets, nil
}

// FinalCells are each preset's configuration on every seed (and, with WithDefaults, the default
// configurations too).
func FinalCells(o Options, presets map[string]*Preset) ([]*bench.Cell, error) {
	ep, err := o.encoderParams()
	if err != nil {
		return nil, err
	}
	var cells []*bench.Cell
	for _, seed := range o.Seeds {
		for _, m := range o.Methods {
			mspec, err := bench.Methods.Lookup(m)
			if err != nil {
				return nil, err
			}
			if o.WithDefaults {
				mp, err := params("method "+m, mspec.Value.Params, o.Sets[m])
				if err != nil {
					return nil, err
				}
				cells = append(cells, &bench.Cell{Method: m, MethodParams: mp, Dataset: o.Dataset, Encoder: o.Encoder,
					EncoderParams: ep, Seed: seed, Train: o.Train})
			}
			if p := presets[m]; p != nil {
				c, err := ApplyPreset(p, mspec.Value, ep, seed, o.Train)
				if err != nil {
					return nil, err
				}
				cells = append(cells, c)
			}
		}
	}
	return cells, nil
}

// ApplyPreset makes the cell of a tuned configuration.
func ApplyPreset(p *Preset, spec bench.MethodSpec, ep bench.Params, seed int64, base store.TrainConfig) (*bench.Cell, error) {
	mp, err := bench.NewParams("method "+p.Method, spec.Params, p.Config.Params)
	if err != nil {
		return nil, fmt.Errorf("preset for %s no longer matches the method: %w", p.Method, err)
	}
	tc := base
	tc.LR, tc.BatchSize = p.Config.LR, p.Config.BatchSize
	tuning := p.Tuning
	return &bench.Cell{Method: p.Method, MethodParams: mp, Dataset: p.Dataset, Encoder: p.Encoder, EncoderParams: ep,
		Seed: seed, Train: tc, Tuning: &tuning}, nil
}

// RunFinal trains the final cells and returns their plan (to read the records for the report).
func RunFinal(ctx context.Context, o Options, presets map[string]*Preset, st *store.Store, log io.Writer) ([]*sweep.Planned, error) {
	cells, err := FinalCells(o, presets)
	if err != nil {
		return nil, err
	}
	plan, err := sweep.PlanCells(cells, st, o.DataDir, false)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(log, "final runs: tuned configurations%s on seeds %v\n", map[bool]string{true: " and defaults", false: ""}[o.WithDefaults], o.Seeds)
	_, err = sweep.Run(ctx, plan, o.sweepOptions(), st, log)
	return plan, err
}
