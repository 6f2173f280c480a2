// Package sweep expands a grid of methods × datasets × encoders × seeds into cells, skips cells whose
// key is already in the store, and runs the rest concurrently with a bound.
package sweep

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/mmfusion/bench/bench"
	"github.com/mmfusion/bench/bench/data"
	"github.com/mmfusion/bench/bench/store"
	"github.com/mmfusion/bench/bench/torchrt"
	"github.com/sugarme/gotch"
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
	// Recipe is bench.RecipeShared (or "": Train for every method) or bench.RecipeReference (each
	// method's reference recipe, resolved per dataset from Train).
	Recipe  string
	Jobs    int // concurrent cells; 0 = number of cores
	Device  string
	DataDir string
	Force   bool // rerun cells already in the store
	// TensorBoard is the directory of one TensorBoard event file per trained cell (--tensorboard;
	// "" = none): bench/tensorboard.
	TensorBoard string
}

// Planned is one cell with its dataset described and its key resolved. A plan holds keys and
// descriptions, never a dataset's arrays: Run loads each (dataset, seed) when its first cell starts.
type Planned struct {
	Cell *bench.Cell
	Key  string
	Done bool   // a result (ok or diverged) is already in the store
	Note string // why a stored record is rerun: "failed before" or "unreadable record quarantined"
	meta *data.Meta

	loadSpec    string // Cell.Dataset with the runtime parameters it was given (cache=DIR), for the load
	claimWaited bool   // another run held its claim at some point
	released    bool   // its dataset reference was given back
}

// ExpandMethods turns ["all"] into every registered method.
func ExpandMethods(names []string) []string {
	if len(names) == 1 && names[0] == "all" {
		return bench.Methods.Names()
	}
	return names
}

// Dedupe drops repeated names, keeping the first of each: --methods joint,joint is one method.
func Dedupe(names []string) []string {
	var out []string
	for _, n := range names {
		if !contains(out, n) {
			out = append(out, n)
		}
	}
	return out
}

// Plan validates every input, describes each (dataset, seed) once (holding one dataset at a time) and
// returns the cells in grid order (dataset, seed, encoder, method) with their keys. Nothing trains
// and nothing is written before every cell of the grid has been checked. With --methods all, a
// method that cannot run on an encoder or a dataset is left out and reported in skipped; a method
// named explicitly is an error.
func Plan(opt Options, st *store.Store) (plan []*Planned, skipped []string, err error) {
	methods := Dedupe(ExpandMethods(opt.Methods))
	all := len(opt.Methods) == 1 && opt.Methods[0] == "all"
	encoders := Dedupe(opt.Encoders)
	if len(methods) == 0 || len(opt.Datasets) == 0 || len(encoders) == 0 || len(opt.Seeds) == 0 {
		return nil, nil, errors.New("nothing to run: need at least one method, dataset, encoder and seed")
	}
	if err := bench.CheckTrain(opt.Train); err != nil {
		return nil, nil, err
	}
	if opt.Jobs < 0 {
		return nil, nil, fmt.Errorf("--jobs %d: must be ≥ 0 (0 = number of cores)", opt.Jobs)
	}
	// Every --set owner must be a method or encoder of this sweep, so a typo cannot be silently ignored.
	for owner := range opt.Sets {
		if !contains(methods, owner) && !contains(encoders, owner) {
			return nil, nil, fmt.Errorf("--set %s.…: %q is not a method or encoder of this run (methods: %s; encoders: %s)",
				owner, owner, strings.Join(methods, ", "), strings.Join(encoders, ", "))
		}
	}
	mparams := map[string]bench.Params{}
	for _, m := range methods {
		spec, err := bench.Methods.Lookup(m)
		if err != nil {
			return nil, nil, err
		}
		for _, e := range encoders {
			if err := Incompatible(m, e); err != nil {
				if !all {
					return nil, nil, err
				}
				skipped = append(skipped, err.Error())
			}
		}
		if mparams[m], err = bench.NewParams("method "+m, spec.Value.Params, opt.Sets[m]); err != nil {
			return nil, nil, err
		}
		if opt.Recipe == bench.RecipeReference {
			continue // checked per dataset below, against the recipe's epochs
		}
		if err := spec.Value.CheckParams(mparams[m], opt.Train.Epochs); err != nil {
			return nil, nil, err
		}
	}
	if opt.Recipe != "" {
		if err := bench.CheckRecipeName(opt.Recipe); err != nil {
			return nil, nil, err
		}
	}
	eparams := map[string]bench.Params{}
	for _, e := range encoders {
		spec, err := bench.Encoders.Lookup(e)
		if err != nil {
			return nil, nil, err
		}
		if eparams[e], err = bench.NewParams("encoder "+e, spec.Value.Params, opt.Sets[e]); err != nil {
			return nil, nil, err
		}
	}
	d := newDescriber(opt.DataDir)
	var cells []*bench.Cell
	seenSpec := map[string]bool{}
	for _, given := range opt.Datasets {
		ds, err := d.canonical(given, opt.Seeds[0])
		if err != nil {
			return nil, nil, err
		}
		if seenSpec[ds] { // another spelling of a dataset already in the grid
			continue
		}
		seenSpec[ds] = true
		meta, err := d.describe(ds, opt.Seeds[0])
		if err != nil {
			return nil, nil, err
		}
		unfit := map[string]bool{} // methods that cannot run on this dataset (only with --methods all)
		trains := map[string]store.TrainConfig{}
		for _, m := range methods {
			ms, _ := bench.Methods.Lookup(m)
			if err := ms.Value.CheckModalities(m, ds, len(meta.Modalities), mparams[m]); err != nil {
				if !all {
					return nil, nil, err
				}
				skipped = append(skipped, err.Error())
				unfit[m] = true
			}
			if trains[m], err = methodTrain(opt, m, ds, mparams[m]); err != nil {
				return nil, nil, err
			}
		}
		for _, seed := range opt.Seeds {
			for _, enc := range encoders {
				for _, m := range methods {
					if unfit[m] || Incompatible(m, enc) != nil {
						continue // only reachable with --methods all
					}
					cells = append(cells, &bench.Cell{Method: m, MethodParams: mparams[m], Dataset: ds, Encoder: enc,
						EncoderParams: eparams[enc], Seed: seed, Train: trains[m]})
				}
			}
		}
	}
	plan, err = planCells(cells, st, d, opt.Force)
	return plan, skipped, err
}

// methodTrain is the training configuration of method m's cells on the dataset spec ds: opt.Train
// under the shared protocol, the method's reference recipe resolved for the dataset otherwise,
// checked (with the method's parameters against its epochs) before anything trains.
func methodTrain(opt Options, m, ds string, params bench.Params) (store.TrainConfig, error) {
	if opt.Recipe != bench.RecipeReference {
		return opt.Train, nil
	}
	name, _, err := data.ParseSpec(ds)
	if err != nil {
		return opt.Train, err
	}
	t, err := bench.ResolveRecipe(opt.Recipe, m, name, opt.Train)
	if err != nil {
		return t, err
	}
	if err := bench.CheckTrain(t); err != nil {
		return t, fmt.Errorf("%s reference recipe: %w", m, err)
	}
	spec, _ := bench.Methods.Lookup(m)
	if err := spec.Value.CheckParams(params, t.Epochs); err != nil {
		return t, fmt.Errorf("%s under its reference recipe (%d epochs): %w", m, t.Epochs, err)
	}
	return t, nil
}

// PlanCells resolves explicit cells (tuning trials, presets): it canonicalises their dataset specs,
// checks each against its dataset, describes each (dataset, seed) once and keys the cells.
func PlanCells(cells []*bench.Cell, st *store.Store, dataDir string, force bool) ([]*Planned, error) {
	return planCells(cells, st, newDescriber(dataDir), force)
}

func planCells(cells []*bench.Cell, st *store.Store, d *describer, force bool) ([]*Planned, error) {
	var plan []*Planned
	seen := map[string]bool{}
	for _, c := range cells {
		ds, err := d.canonical(c.Dataset, c.Seed)
		if err != nil {
			return nil, err
		}
		c.Dataset = ds
		if err := bench.CheckTrain(c.Train); err != nil {
			return nil, err
		}
		meta, err := d.describe(ds, c.Seed)
		if err != nil {
			return nil, err
		}
		if err := bench.CheckCell(c, meta.Modalities); err != nil {
			return nil, err
		}
		key := c.Key(meta.SHA256)
		if seen[key] { // the same cell twice (e.g. --methods joint,joint): train it once
			continue
		}
		seen[key] = true
		p := &Planned{Cell: c, Key: key, meta: meta, loadSpec: data.WithRuntime(ds, d.runtime[ds])}
		if !force {
			e, err := st.Lookup(key)
			if err != nil {
				return nil, err
			}
			switch e.State {
			case store.Done:
				p.Done = true
			case store.Retry:
				p.Note = "failed before: retried"
			case store.Corrupt:
				p.Note = fmt.Sprintf("unreadable record moved to %s (%v): retrained", e.Quarantined, e.Problem)
			}
		}
		plan = append(plan, p)
	}
	return plan, nil
}

// describer describes each (dataset, seed) once and spells each dataset spec canonically; it keeps
// descriptions only, so planning a sweep holds at most one dataset's arrays at a time.
type describer struct {
	dataDir  string
	metas    map[dataKey]*data.Meta
	spelling map[string]string // spec as given → canonical
	runtime  map[string]string // canonical spec → its runtime parameters (data.SplitRuntime), first spelling's
}

type dataKey struct {
	spec string
	seed int64
}

func newDescriber(dataDir string) *describer {
	return &describer{dataDir: dataDir, metas: map[dataKey]*data.Meta{}, spelling: map[string]string{}, runtime: map[string]string{}}
}

func (d *describer) describe(spec string, seed int64) (*data.Meta, error) {
	k := dataKey{spec, seed}
	if m, ok := d.metas[k]; ok {
		return m, nil
	}
	m, err := data.Describe(spec, seed, d.dataDir)
	if err != nil {
		return nil, err
	}
	debug.FreeOSMemory() // the arrays just described are garbage: give their memory back before the next
	d.metas[k] = m
	return m, nil
}

// canonical spells spec one way (data.Canonical), comparing its parameters with the defaults the bare
// dataset name gets with the same seed. The first seed asked decides the spelling for every seed, so a
// spec is one column.
func (d *describer) canonical(given string, seed int64) (string, error) {
	if c, ok := d.spelling[given]; ok {
		return c, nil
	}
	spec, runtime := data.SplitRuntime(given) // cache=DIR and the like: not part of the spelling
	if runtime != "" {                        // but checked now, by the dataset, as every parameter is
		if _, err := d.describe(given, seed); err != nil {
			return "", err
		}
	}
	name, params, err := data.ParseSpec(spec)
	if err != nil {
		return "", err
	}
	c := name
	if len(params) > 0 {
		used, err := d.describe(spec, seed)
		if err != nil {
			return "", err
		}
		var defaults map[string]string
		if def, err := d.describe(name, seed); err == nil {
			defaults = def.Params
		}
		if c, err = data.Canonical(spec, used.Params, defaults); err != nil {
			return "", err
		}
		d.metas[dataKey{c, seed}] = used
	}
	d.spelling[given] = c
	if _, ok := d.runtime[c]; !ok && runtime != "" {
		d.runtime[c] = runtime
	}
	return c, nil
}

// Incompatible says why a method cannot run on an encoder (nil when it can). With --methods all such
// pairs are skipped; a method named explicitly on such an encoder is an error.
func Incompatible(method, encoder string) error {
	ms, err1 := bench.Methods.Lookup(method)
	es, err2 := bench.Encoders.Lookup(encoder)
	if err1 != nil || err2 != nil {
		return nil // reported elsewhere
	}
	if err := ms.Value.Needs.CheckEncoder(method, encoder); err != nil {
		return err
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
	Unfinished                     int // started but stopped before a record was stored (interrupted): nothing stored
	ByOthers                       int // of Skipped: stored by another run while this one ran
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

// Run trains every planned cell that is not done and writes one record per finished cell.
//
//   - Each (dataset, seed) is loaded when its first cell starts, shared by the concurrent cells that
//     use it and dropped when its last cell ends.
//   - A cell is claimed in the store before it trains, so two runs on one store never train it twice:
//     a cell another live process is training waits until the end, then is skipped when that process
//     stored it (or trained here if it gave up).
//   - A cell that diverges or fails (an error or a panic: a libtorch error, out of memory, a vanished
//     file) is recorded with a one-line reason, its stack in logs/<key>.log beside the store, and the
//     sweep goes on.
//   - Cancelling ctx stops new cells and abandons running ones without writing anything for them.
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
	if _, err := st.CleanStale(); err != nil { // temp files and claims of dead processes only
		return sum, err
	}
	rep := NewReporter(log, len(todo))
	defer rep.Close()
	rep.Logf("running %d cells (%d already done) on %s: %d at a time, %d libtorch thread(s) each\n",
		len(todo), sum.Skipped, torchrt.DeviceName(dev), jobs, threads)
	for _, p := range todo {
		if p.Note != "" {
			rep.Logf("%s: %s\n", cellName(p.Cell), p.Note)
		}
	}
	r := &runner{st: st, dev: dev, threads: threads, rep: rep, versions: Versions(), force: opt.Force,
		sets: newSharedSets(opt.DataDir, todo), tensorboard: opt.TensorBoard}
	var mu sync.Mutex
	var waiting []*Planned // claimed by another live run
	count := func(o outcome) {
		mu.Lock()
		defer mu.Unlock()
		switch o {
		case notRun:
			sum.Unfinished++
		case ranOK:
			sum.Ran++
		case ranDiverged:
			sum.Diverged++
		case ranFailed:
			sum.Failed++
		case storedElsewhere:
			sum.Skipped++
			sum.ByOthers++
		}
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(jobs)
	for _, p := range todo {
		g.Go(func() error {
			o, err := r.cell(gctx, p)
			if o == claimedElsewhere {
				mu.Lock()
				waiting = append(waiting, p)
				mu.Unlock()
				return nil
			}
			count(o)
			return err
		})
	}
	err = g.Wait()
	// Cells another run was training: wait for it, then take its record or train what it left.
	if err == nil && len(waiting) > 0 {
		rep.Logf("waiting for %d cell(s) another run is training\n", len(waiting))
		for len(waiting) > 0 && err == nil {
			var still []*Planned
			for _, p := range waiting {
				o, cerr := r.cell(ctx, p)
				if cerr != nil {
					err = cerr
					break
				}
				if o == claimedElsewhere {
					still = append(still, p)
				} else {
					count(o)
				}
			}
			waiting = still
			if len(waiting) > 0 && err == nil {
				select {
				case <-ctx.Done():
					err = ctx.Err()
				case <-time.After(claimPoll):
				}
			}
		}
	}
	sum.Wall = time.Since(began)
	return sum, err
}

// claimPoll is how often a run looks again at cells another run is training.
var claimPoll = time.Second

type outcome int

const (
	notRun outcome = iota // interrupted, or the store could not be written: nothing stored, not counted
	ranOK
	ranDiverged
	ranFailed
	claimedElsewhere // another live run holds the cell's claim
	storedElsewhere  // another run stored the cell's result meanwhile
)

type runner struct {
	st       *store.Store
	dev      gotch.Device
	threads  int
	rep      Reporter
	versions store.Versions
	force    bool
	sets     *sharedSets

	tensorboard string // Options.TensorBoard
}

func cellName(c *bench.Cell) string {
	name := fmt.Sprintf("%s %s %s seed %d", c.Label(), c.Dataset, c.Encoder, c.Seed)
	if c.Trial > 0 {
		name += fmt.Sprintf(" trial %d", c.Trial)
	}
	return name
}

// cell claims, trains and stores one cell. An error is returned only when the sweep must stop
// (interrupted, or the store cannot be written); everything else a cell does ends as its record.
func (r *runner) cell(ctx context.Context, p *Planned) (outcome, error) {
	if err := ctx.Err(); err != nil {
		return notRun, err
	}
	release, holder, err := r.st.Claim(p.Key)
	if err != nil {
		return notRun, err
	}
	if holder != nil {
		p.claimWaited = true
		return claimedElsewhere, nil
	}
	defer release()
	if !r.force || p.claimWaited {
		// Another run may have stored it since planning (or while we waited for its claim).
		if e, err := r.st.Lookup(p.Key); err == nil && e.State == store.Done {
			r.sets.release(p)
			return storedElsewhere, nil
		}
	}
	c := *p.Cell
	c.Train.Threads = r.threads
	name := cellName(&c)
	cr := r.withBoard(r.rep.CellStarted(name, c.Train.Epochs), &c, p, name)
	rec, err := r.train(ctx, &c, p, cr)
	if err != nil && ctx.Err() != nil {
		cr.Abort()
		return notRun, ctx.Err() // interrupted: write nothing for this cell
	}
	if err != nil && !errors.Is(err, bench.ErrDiverged) {
		rec = c.NewRecord(p.meta)
		rec.Status, rec.Reason = store.StatusFailed, oneLine(err.Error())
		var pe *bench.PanicError
		if errors.As(err, &pe) {
			if path, lerr := r.st.WriteLog(p.Key, fmt.Sprintf("%s\n%v\n\n%s", name, pe.Value, pe.Stack)); lerr == nil {
				rec.Reason += " (stack in " + path + ")"
			}
		}
	}
	rec.Key, rec.Versions = p.Key, r.versions
	if rec.Finished.IsZero() {
		rec.Finished = time.Now().UTC()
	}
	if werr := r.st.Put(rec); werr != nil {
		cr.Abort()
		return notRun, fmt.Errorf("%s: %w", name, werr)
	}
	finishBoard(cr, rec)
	r.rep.CellFinished(rec, name)
	switch rec.Status {
	case store.StatusDiverged:
		return ranDiverged, nil
	case store.StatusFailed:
		return ranFailed, nil
	}
	return ranOK, nil
}

// train loads the cell's dataset (shared with the other cells of the same dataset and seed) and
// trains the cell.
func (r *runner) train(ctx context.Context, c *bench.Cell, p *Planned, cr CellReporter) (*store.Record, error) {
	set, err := r.sets.acquire(p)
	defer r.sets.release(p)
	if err != nil {
		return nil, err
	}
	if set.SHA256 != p.meta.SHA256 {
		return nil, fmt.Errorf("dataset %s (seed %d) changed since the plan was made (SHA-256 %.12s…, planned %.12s…)",
			c.Dataset, c.Seed, set.SHA256, p.meta.SHA256)
	}
	return bench.Train(ctx, c, set, r.dev, cr.Epoch)
}

func oneLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i] + " …"
	}
	return s
}

// loadDataset loads the datasets of a run; a variable so tests can count and watch the loads.
var loadDataset = data.Load

// sharedSets loads a (dataset, seed) when its first cell starts, shares it between concurrent cells
// and drops it when its last planned cell has released it.
type sharedSets struct {
	dataDir string
	load    func(spec string, seed int64, dataDir string) (*data.Set, error) // data.Load; tests count calls
	mu      sync.Mutex
	sets    map[dataKey]*sharedSet
}

type sharedSet struct {
	refs  int // cells of the plan that have not released it yet
	ready chan struct{}
	set   *data.Set
	err   error
}

func newSharedSets(dataDir string, todo []*Planned) *sharedSets {
	s := &sharedSets{dataDir: dataDir, load: loadDataset, sets: map[dataKey]*sharedSet{}}
	for _, p := range todo {
		k := dataKey{p.Cell.Dataset, p.Cell.Seed}
		if s.sets[k] == nil {
			s.sets[k] = &sharedSet{}
		}
		s.sets[k].refs++
	}
	return s
}

func (s *sharedSets) acquire(p *Planned) (*data.Set, error) {
	k := dataKey{p.Cell.Dataset, p.Cell.Seed}
	s.mu.Lock()
	e := s.sets[k]
	if e.ready == nil { // first user loads; the others wait for it
		e.ready = make(chan struct{})
		s.mu.Unlock()
		e.set, e.err = s.load(cmp.Or(p.loadSpec, k.spec), k.seed, s.dataDir)
		close(e.ready)
	} else {
		s.mu.Unlock()
		<-e.ready
	}
	return e.set, e.err
}

// release is called once per planned cell, whether it trained or not.
func (s *sharedSets) release(p *Planned) {
	if p.released {
		return
	}
	p.released = true
	k := dataKey{p.Cell.Dataset, p.Cell.Seed}
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.sets[k]
	if e.refs--; e.refs == 0 {
		e.set = nil // the last cell of this dataset and seed is done: let it go
		delete(s.sets, k)
	}
}

func statusWord(r *store.Record) string {
	if r.Status == store.StatusOK {
		return "ok"
	}
	return r.Status + " (" + r.Reason + ")"
}
