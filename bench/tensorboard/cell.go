package tensorboard

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/mmfusion/bench/bench/store"
	tbpb "github.com/mmfusion/bench/bench/tensorboard/proto"
)

// Tags written per epoch (step = epoch, 1-based) and at the end (step = the selected epoch).
const (
	TagTrainLoss  = "train/loss"
	TagTrainLR    = "train/lr"    // when the record has the epoch's learning rate
	TagTrainStage = "train/stage" // staged methods (DMI) only
	TagValLoss    = "val/loss"
	TagValAcc     = "val/acc"
	TagValF1      = "val/f1" // macro-F1
	TagBestValAcc = "val/best_acc"
	TagBestValF1  = "val/best_f1"
	TagTestAcc    = "test/acc"
	TagTestF1     = "test/f1"
	TagTestLoss   = "test/loss"
	// Per-modality test accuracies are "test/acc/<modality>"; method readouts (DMI's gates, …) at
	// the selected epoch are "test/readout/<name>" and "val/readout/<name>".
)

// Sanitize makes s one safe path segment that keeps its words: every character but ASCII letters,
// digits and . _ = + - becomes '_', runs of '_' shrink to one, leading and trailing '_' and '.' go.
// "joint[fusion=mlp]" → "joint_fusion=mlp"; "synthetic:mix=S" → "synthetic_mix=S".
func Sanitize(s string) string {
	var b strings.Builder
	for _, r := range s {
		ok := r < 128 && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("._=+-", r))
		if !ok {
			r = '_'
		}
		if r == '_' && strings.HasSuffix(b.String(), "_") {
			continue
		}
		b.WriteRune(r)
	}
	out := strings.Trim(b.String(), "_.")
	if out == "" {
		return "_"
	}
	return out
}

// RunName is the run of a cell's record: <label>/<dataset>/<encoder>/seed<N>, and /trial<K> for a
// tuning trial, each segment sanitised. The label is the method with its non-default parameters
// (joint, joint_fusion=mlp, joint_reference_recipe, joint_tuned), so TensorBoard's run filter
// selects by method, dataset, encoder or seed with a regular expression.
func RunName(r *store.Record) string {
	parts := []string{Sanitize(r.Label), Sanitize(r.Dataset), Sanitize(r.Encoder), fmt.Sprintf("seed%d", r.Seed)}
	if r.Label == "" {
		parts[0] = Sanitize(r.Method)
	}
	if r.Trial > 0 {
		parts = append(parts, fmt.Sprintf("trial%d", r.Trial))
	}
	return strings.Join(parts, "/")
}

// HParams are a record's hyper-parameters for the HParams tab: the cell's names, its training
// configuration and every method, encoder and dataset parameter (defaults included) as OWNER.KEY,
// the spelling of --set. Numbers that read as numbers are numbers.
func HParams(r *store.Record, key string) map[string]any {
	t := r.Train
	hp := map[string]any{
		"method": r.Method, "label": r.Label, "dataset": r.Dataset, "encoder": r.Encoder, "seed": r.Seed,
		"optimizer": t.Optimizer, "lr": t.LR, "momentum": t.Momentum, "weight_decay": t.WeightDecay,
		"batch_size": t.BatchSize, "epochs": t.Epochs, "recipe": "shared", "schedule": "none", "init": "default",
	}
	if key != "" {
		hp["key"] = key
	}
	if t.Recipe != "" {
		hp["recipe"] = t.Recipe
	}
	if t.Schedule != nil {
		hp["schedule"] = t.Schedule.Kind
	}
	if t.Init != "" {
		hp["init"] = t.Init
	}
	if t.EarlyStop > 0 {
		hp["early_stop"] = t.EarlyStop
	}
	if r.Trial > 0 {
		hp["trial"] = r.Trial
	}
	dsName, _, _ := strings.Cut(r.Dataset, ":")
	for _, g := range []struct {
		owner  string
		params map[string]string
	}{{r.Method, r.MethodParams}, {r.Encoder, r.EncoderParams}, {dsName, r.DatasetParams}} {
		for k, v := range g.params {
			hp[g.owner+"."+k] = hparamValue(v)
		}
	}
	return hp
}

// EpochScalars are the scalars of one epoch.
func EpochScalars(es store.EpochStats) []Scalar {
	s := []Scalar{{TagTrainLoss, es.TrainLoss}, {TagValLoss, es.ValLoss}, {TagValAcc, es.ValAcc}, {TagValF1, es.ValF1}}
	if es.LR > 0 {
		s = append(s, Scalar{TagTrainLR, es.LR})
	}
	if es.Stage > 0 {
		s = append(s, Scalar{TagTrainStage, float64(es.Stage)})
	}
	return s
}

// FinalScalars are a finished record's scalars at the selected epoch: the validation metrics of
// the selected epoch, the test metrics (none for a tuning trial), per-modality test accuracies and
// method readouts, each only where the record has it.
func FinalScalars(r *store.Record) []Scalar {
	var s []Scalar
	add := func(m store.Metrics, split string, acc, f1, loss string) {
		if acc != "" && m.Has("acc") {
			s = append(s, Scalar{acc, m.Acc})
		}
		if f1 != "" && m.Has("macro_f1") {
			s = append(s, Scalar{f1, m.MacroF1})
		}
		if loss != "" && m.Has("loss") {
			s = append(s, Scalar{loss, m.Loss})
		}
		if split == "test" {
			for _, k := range sortedKeys(m.PerModality) {
				s = append(s, Scalar{"test/acc/" + Sanitize(k), m.PerModality[k]})
			}
		}
		for _, k := range sortedKeys(m.Extra) {
			s = append(s, Scalar{split + "/readout/" + Sanitize(k), m.Extra[k]})
		}
	}
	if r.BestEpoch > 0 { // a selected epoch exists: its validation metrics are real
		add(r.Val, "val", TagBestValAcc, TagBestValF1, "")
	}
	if r.Trial == 0 && r.Status == store.StatusOK {
		add(r.Test, "test", TagTestAcc, TagTestF1, TagTestLoss)
	}
	return s
}

// finalStep is the step of the final scalars: the selected epoch, else the last epoch written.
func finalStep(r *store.Record) int64 {
	if r.BestEpoch > 0 {
		return int64(r.BestEpoch)
	}
	if n := len(r.Curves); n > 0 {
		return int64(r.Curves[n-1].Epoch)
	}
	return 0
}

// Cell is the event file of one training cell. A nil *Cell does nothing, so a sweep without
// --tensorboard calls the same methods.
type Cell struct {
	w    *Writer
	f    *os.File
	path string
	key  string
	now  func() time.Time
}

// dirMu serialises choosing a run directory, so two cells of one process never share one.
var dirMu sync.Mutex

// keyHash is the hash that ends a cell key (bench.Cell.Key: "<readable prefix>_<16 hex digits>").
func keyHash(key string) string { return key[strings.LastIndexByte(key, '_')+1:] }

// fileKey is the part of a cell key that ends its event files' names: the key's hash.
func fileKey(key string) string { h := keyHash(key); return h[:min(len(h), 16)] }

// hostname is the host part of event file names.
func hostname() string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "localhost"
	}
	return Sanitize(h)
}

// CheckDir makes root (with its parents) and checks that a file can be created in it: the plan-time
// check of --tensorboard, before anything trains.
func CheckDir(root string) error {
	if root == "" {
		return errors.New("--tensorboard: empty directory")
	}
	if err := os.MkdirAll(root, 0o755); err != nil {
		return fmt.Errorf("--tensorboard %s: %w", root, err)
	}
	f, err := os.CreateTemp(root, ".bench-write-check-*")
	if err != nil {
		return fmt.Errorf("--tensorboard %s: cannot write there: %w", root, err)
	}
	name := f.Name()
	f.Close()
	return os.Remove(name)
}

// StartCell creates the event file of the cell whose record (key fields filled, no metrics yet) is
// r and whose key is key, under root/<RunName(r)>/, named
// events.out.tfevents.<unix seconds>.<host>.<the key's 16-hex-digit hash>, and writes the file
// version and the HParams session start. When the run directory already holds event files of
// another cell (another configuration with the same run name: e.g. an encoder parameter, the
// epochs), the run directory gets "-<first 8 digits of the key's hash>" instead. now is the clock
// (time.Now when nil).
func StartCell(root string, r *store.Record, key string, now func() time.Time) (*Cell, error) {
	if now == nil {
		now = time.Now
	}
	dirMu.Lock()
	defer dirMu.Unlock()
	dir := filepath.Join(root, filepath.FromSlash(RunName(r)))
	if others(dir, key) {
		dir += "-" + fileKey(key)[:min(len(fileKey(key)), 8)]
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	t := now()
	path := filepath.Join(dir, fmt.Sprintf("events.out.tfevents.%d.%s.%s", t.Unix(), hostname(), fileKey(key)))
	for i := 1; ; i++ { // a rerun of the same cell within the same second
		if _, err := os.Lstat(path); errors.Is(err, os.ErrNotExist) {
			break
		}
		path = filepath.Join(dir, fmt.Sprintf("events.out.tfevents.%d.%s.%s.%d", t.Unix(), hostname(), fileKey(key), i))
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return nil, err
	}
	c := &Cell{f: f, path: path, key: key, now: now}
	if c.w, err = NewWriter(f, now); err == nil {
		err = c.w.SessionStart(HParams(r, key), "", t)
	}
	if err != nil {
		c.Abort()
		return nil, err
	}
	return c, nil
}

// others reports whether dir holds event files of a cell other than key.
func others(dir, key string) bool {
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if strings.Contains(e.Name(), "tfevents") && !strings.Contains(e.Name(), "."+fileKey(key)) {
			return true
		}
	}
	return false
}

// Path is the event file's path ("" for a nil Cell).
func (c *Cell) Path() string {
	if c == nil {
		return ""
	}
	return c.path
}

// Epoch writes one epoch's scalars.
func (c *Cell) Epoch(es store.EpochStats) error {
	if c == nil {
		return nil
	}
	return c.w.Scalars(int64(es.Epoch), EpochScalars(es)...)
}

// Finish writes the final scalars of the stored record and the session end (success for an ok
// record, failure for a diverged or failed one), closes the file and removes the files an earlier
// run of the same cell left in the run directory (a forced rerun replaces the stored record, so its
// curves replace the old ones too).
func (c *Cell) Finish(r *store.Record) error {
	if c == nil {
		return nil
	}
	status := tbpb.Status_STATUS_FAILURE
	if r.Status == store.StatusOK {
		status = tbpb.Status_STATUS_SUCCESS
	}
	if c.w.Err() == nil {
		c.w.Scalars(finalStep(r), FinalScalars(r)...)
		c.w.SessionEnd(status, c.now())
	}
	err := errors.Join(c.w.Err(), c.f.Close())
	if err != nil {
		return err
	}
	dir := filepath.Dir(c.path)
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if p := filepath.Join(dir, e.Name()); p != c.path && strings.Contains(e.Name(), "tfevents") && strings.Contains(e.Name(), "."+fileKey(c.key)) {
			os.Remove(p)
		}
	}
	return nil
}

// Abort closes and removes the file: the cell was interrupted and nothing of it is stored.
func (c *Cell) Abort() {
	if c == nil {
		return
	}
	c.f.Close()
	os.Remove(c.path)
}
