// Package sweep expands a grid of methods × datasets × encoders × seeds into cells, skips cells whose
// key is already in the store, and runs the rest concurrently with a bound.
package sweep

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/mmfusion/bench/bench"
	"github.com/mmfusion/bench/bench/data"
	"github.com/mmfusion/bench/bench/store"
	"github.com/mmfusion/bench/bench/torchrt"
	"golang.org/x/sync/errgroup"
)

// Options describe a sweep.
type Options struct {
	Methods  []string // registered names, or ["all"]
	Datasets []string // dataset specs
	Encoders []string
	Seeds    []int64
	Sets     map[string]map[string]string // --set overrides by owner (method or encoder name)
	Train    store.TrainConfig            // Threads is filled in from Jobs when 0
	Jobs     int                          // concurrent cells; 0 = number of cores
	Device   string
	DataDir  string
	Force    bool // rerun cells already in the store
}

// Planned is one cell with its dataset and key resolved.
type Planned struct {
	Cell *bench.Cell
	Key  string
	Done bool // already in the store
	set  *data.Set
}

// ExpandMethods turns ["all"] into every registered method.
func ExpandMethods(names []string) []string {
	if len(names) == 1 && names[0] == "all" {
		return bench.Methods.Names()
	}
	return names
}

// Plan validates the options, loads each (dataset, seed) once, and returns the cells in grid order
// (dataset, seed, encoder, method) with their keys.
func Plan(opt Options, st *store.Store) ([]*Planned, error) {
	methods := ExpandMethods(opt.Methods)
	all := len(opt.Methods) == 1 && opt.Methods[0] == "all"
	if len(methods) == 0 || len(opt.Datasets) == 0 || len(opt.Encoders) == 0 || len(opt.Seeds) == 0 {
		return nil, errors.New("nothing to run: need at least one method, dataset, encoder and seed")
	}
	if opt.Train.Epochs < 1 || opt.Train.BatchSize < 1 || !(opt.Train.LR > 0) {
		return nil, fmt.Errorf("epochs (%d) and batch size (%d) must be ≥ 1 and the learning rate (%g) > 0",
			opt.Train.Epochs, opt.Train.BatchSize, opt.Train.LR)
	}
	// Every --set owner must be a method or encoder of this sweep, so a typo cannot be silently ignored.
	for owner := range opt.Sets {
		if !contains(methods, owner) && !contains(opt.Encoders, owner) {
			return nil, fmt.Errorf("--set %s.…: %q is not a method or encoder of this run (methods: %s; encoders: %s)",
				owner, owner, strings.Join(methods, ", "), strings.Join(opt.Encoders, ", "))
		}
	}
	mparams := map[string]bench.Params{}
	for _, m := range methods {
		spec, err := bench.Methods.Lookup(m)
		if err != nil {
			return nil, err
		}
		for _, e := range opt.Encoders {
			if err := Incompatible(m, e); err != nil && !all {
				return nil, err
			}
		}
		if mparams[m], err = bench.NewParams("method "+m, spec.Value.Params, opt.Sets[m]); err != nil {
			return nil, err
		}
	}
	eparams := map[string]bench.Params{}
	for _, e := range opt.Encoders {
		spec, err := bench.Encoders.Lookup(e)
		if err != nil {
			return nil, err
		}
		if eparams[e], err = bench.NewParams("encoder "+e, spec.Value.Params, opt.Sets[e]); err != nil {
			return nil, err
		}
	}
	var cells []*bench.Cell
	for _, ds := range opt.Datasets {
		for _, seed := range opt.Seeds {
			for _, enc := range opt.Encoders {
				for _, m := range methods {
					if Incompatible(m, enc) != nil {
						continue // only reachable with --methods all
					}
					cells = append(cells, &bench.Cell{Method: m, MethodParams: mparams[m], Dataset: ds, Encoder: enc,
						EncoderParams: eparams[enc], Seed: seed, Train: opt.Train})
				}
			}
		}
	}
	plan, err := PlanCells(cells, st, opt.DataDir, opt.Force)
	if err != nil {
		return nil, err
	}
	return plan, nil
}

// PlanCells resolves explicit cells: it loads each (dataset, seed) once and keys the cells.
func PlanCells(cells []*bench.Cell, st *store.Store, dataDir string, force bool) ([]*Planned, error) {
	type dsKey struct {
		spec string
		seed int64
	}
	sets := map[dsKey]*data.Set{}
	var plan []*Planned
	for _, c := range cells {
		k := dsKey{c.Dataset, c.Seed}
		set, ok := sets[k]
		if !ok {
			var err error
			if set, err = data.Load(c.Dataset, c.Seed, dataDir); err != nil {
				return nil, err
			}
			sets[k] = set
		}
		key := c.Key(set.SHA256)
		plan = append(plan, &Planned{Cell: c, Key: key, Done: !force && st.Has(key), set: set})
	}
	return plan, nil
}

// Incompatible says why a method cannot run on an encoder (nil when it can). With --methods all such
// pairs are skipped; a method named explicitly on such an encoder is an error.
func Incompatible(method, encoder string) error {
	ms, err1 := bench.Methods.Lookup(method)
	es, err2 := bench.Encoders.Lookup(encoder)
	if err1 != nil || err2 != nil {
		return nil // reported elsewhere
	}
	if ms.Value.Needs.EncoderStages && !es.Value.Staged {
		return fmt.Errorf("method %s fuses between encoder stages, but encoder %s does not expose stages (staged encoders: %s)",
			method, encoder, strings.Join(stagedEncoders(), ", "))
	}
	return nil
}

func stagedEncoders() []string {
	var out []string
	for _, e := range bench.Encoders.Entries() {
		if e.Value.Staged {
			out = append(out, e.Name)
		}
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Shard keeps the cells whose position in the plan is i modulo n (0 ≤ i < n). Every shard must be
// given the same grid; the plan order is deterministic, so the n shards partition the cells exactly,
// and since each cell writes only its own file, their stores merge by copying files.
func Shard(plan []*Planned, i, n int) []*Planned {
	var out []*Planned
	for j, p := range plan {
		if j%n == i {
			out = append(out, p)
		}
	}
	return out
}

// ParseShard reads "i/n".
func ParseShard(s string) (int, int, error) {
	var i, n int
	if _, err := fmt.Sscanf(s, "%d/%d", &i, &n); err != nil || n < 1 || i < 0 || i >= n || fmt.Sprintf("%d/%d", i, n) != s {
		return 0, 0, fmt.Errorf("--shard %q: want i/n with 0 ≤ i < n, e.g. 0/4", s)
	}
	return i, n, nil
}

// Records reads the stored record of every planned cell, in plan order.
func Records(plan []*Planned, st *store.Store) ([]*store.Record, error) {
	recs := make([]*store.Record, 0, len(plan))
	for _, p := range plan {
		r, err := st.Get(p.Key)
		if err != nil {
			return nil, err
		}
		recs = append(recs, r)
	}
	return recs, nil
}

// Summary counts what a sweep did.
type Summary struct {
	Ran, Skipped, Diverged, Failed int
	Wall                           time.Duration
}

// JobsAndThreads picks the concurrency: jobs cells at once, each with threads intra-op threads, so
// jobs × threads does not exceed the cores.
func JobsAndThreads(jobs, threads, cells int) (int, int) {
	cores := runtime.NumCPU()
	if jobs <= 0 {
		jobs = cores
	}
	jobs = max(1, min(jobs, cells))
	if threads <= 0 {
		threads = max(1, cores/jobs)
	}
	return jobs, threads
}

// Run trains every planned cell that is not done and writes one record per finished cell. A cell
// that diverges or fails is recorded with its reason and the sweep goes on; cancelling ctx stops new
// cells and abandons running ones without writing anything for them.
func Run(ctx context.Context, plan []*Planned, opt Options, st *store.Store, log io.Writer) (Summary, error) {
	began := time.Now()
	var todo []*Planned
	sum := Summary{}
	for _, p := range plan {
		if p.Done {
			sum.Skipped++
		} else {
			todo = append(todo, p)
		}
	}
	if len(todo) == 0 {
		return sum, nil
	}
	jobs, threads := JobsAndThreads(opt.Jobs, opt.Train.Threads, len(todo))
	dev, err := torchrt.ResolveDevice(opt.Device)
	if err != nil {
		return sum, err
	}
	versions := Versions()
	rep := NewReporter(log, len(todo))
	defer rep.Close()
	rep.Logf("running %d cells (%d already done) on %s: %d at a time, %d libtorch thread(s) each\n",
		len(todo), sum.Skipped, torchrt.DeviceName(dev), jobs, threads)
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(jobs)
	for _, p := range todo {
		p := p
		g.Go(func() error {
			if gctx.Err() != nil {
				return gctx.Err()
			}
			c := *p.Cell
			c.Train.Threads = threads
			name := fmt.Sprintf("%s %s %s seed %d", c.Label(), c.Dataset, c.Encoder, c.Seed)
			st.RemoveTemp(p.Key) // a write killed part-way by an earlier, crashed run
			cr := rep.CellStarted(name, c.Train.Epochs)
			rec, err := bench.Train(gctx, &c, p.set, dev, cr.Epoch)
			if err != nil && gctx.Err() != nil {
				cr.Abort()
				return gctx.Err() // interrupted: write nothing for this cell
			}
			if err != nil && !errors.Is(err, bench.ErrDiverged) {
				rec = failedRecord(&c, p.set, err)
			}
			rec.Key, rec.Versions = p.Key, versions
			if rec.Finished.IsZero() {
				rec.Finished = time.Now().UTC()
			}
			if werr := st.Put(rec); werr != nil {
				cr.Abort()
				return fmt.Errorf("%s: %w", name, werr)
			}
			mu.Lock()
			switch rec.Status {
			case store.StatusDiverged:
				sum.Diverged++
			case store.StatusFailed:
				sum.Failed++
			default:
				sum.Ran++
			}
			mu.Unlock()
			rep.CellFinished(rec, name)
			return nil
		})
	}
	err = g.Wait()
	sum.Wall = time.Since(began)
	return sum, err
}

func statusWord(r *store.Record) string {
	if r.Status == store.StatusOK {
		return "ok"
	}
	return r.Status + " (" + r.Reason + ")"
}

func failedRecord(c *bench.Cell, set *data.Set, err error) *store.Record {
	r := c.NewRecord(set)
	r.Status, r.Reason = store.StatusFailed, err.Error()
	return r
}
