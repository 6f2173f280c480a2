package reports

import (
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"testing"
	"time"

	"github.com/mmfusion/bench/bench/store"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// rec makes an "ok" record of test accuracy acc (macro-F1 acc − 0.05, validation accuracy
// acc + 0.01); opts adjust anything else.
func rec(label, dataset, encoder string, seed int64, acc float64, opts ...func(*store.Record)) *store.Record {
	r := &store.Record{
		Schema:        store.SchemaVersion,
		Key:           fmt.Sprintf("%s-%s-%s-%d", label, dataset, encoder, seed),
		Status:        store.StatusOK,
		Method:        label,
		Label:         label,
		Dataset:       dataset,
		DatasetSHA256: "sha-" + dataset,
		Encoder:       encoder,
		Seed:          seed,
		Selection:     "best-val-acc",
		Train:         store.TrainConfig{Optimizer: "sgd", LR: 0.01, BatchSize: 64, Epochs: 10},
		Test:          store.Metrics{Acc: acc, MacroF1: acc - 0.05},
		Val:           store.Metrics{Acc: acc + 0.01},
		Finished:      t0,
	}
	for _, o := range opts {
		o(r)
	}
	return r
}

func diverged(reason string) func(*store.Record) {
	return func(r *store.Record) {
		r.Status, r.Reason = store.StatusDiverged, reason
		r.Test, r.Val = store.Metrics{Acc: math.NaN(), MacroF1: math.NaN()}, store.Metrics{Acc: math.NaN()}
	}
}

func failed(reason string) func(*store.Record) {
	return func(r *store.Record) { r.Status, r.Reason = store.StatusFailed, reason }
}

func finishedAt(d time.Duration, key string) func(*store.Record) {
	return func(r *store.Record) { r.Finished, r.Key = t0.Add(d), key }
}

// series makes one record per value, with seeds 1, 2, 3, ...
func series(label, dataset, encoder string, accs ...float64) []*store.Record {
	var out []*store.Record
	for i, a := range accs {
		out = append(out, rec(label, dataset, encoder, int64(i+1), a))
	}
	return out
}

// fixture is the 3-method × 2-dataset × 3-seed example used by the golden tests; the expected
// statistics are worked out by hand in render_test.go.
func fixture() []*store.Record {
	var rs []*store.Record
	rs = append(rs, series("joint", "cremad", "mlp", 0.80, 0.82, 0.84)...)
	rs = append(rs, series("ogm_ge", "cremad", "mlp", 0.71, 0.76, 0.78)...)
	rs = append(rs, series("late-fusion", "cremad", "mlp", 0.77, 0.80, 0.83)...)
	rs = append(rs, series("ogm_ge", "synthetic:mix=S", "mlp", 0.60, 0.62, 0.64)...)
	rs = append(rs, series("joint", "synthetic:mix=S", "mlp", 0.59, 0.60, 0.61)...)
	rs = append(rs, series("late-fusion", "synthetic:mix=S", "mlp", 0.50, 0.52)...)
	rs = append(rs, rec("late-fusion", "synthetic:mix=S", "mlp", 3, 0, diverged("loss NaN at epoch 4")))
	return rs
}

func mustBuild(t *testing.T, rs []*store.Record, opt Options) *Table {
	t.Helper()
	tab, err := Build(rs, opt)
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	return tab
}

func near(a, b, tol float64) bool {
	if math.IsInf(a, 0) || math.IsInf(b, 0) {
		return a == b
	}
	return math.Abs(a-b) <= tol
}

// without makes the record read as if its file lacked a metric: without("test") drops the whole
// test object, without("test", "acc") writes "acc": null. It goes through the store's decoder, the
// path every stored record takes.
func without(split string, field ...string) func(*store.Record) {
	return func(r *store.Record) {
		b, err := json.Marshal(r)
		if err != nil {
			panic(err)
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			panic(err)
		}
		if len(field) == 0 {
			delete(m, split)
		} else {
			for _, f := range field {
				m[split].(map[string]any)[f] = nil
			}
		}
		if b, err = json.Marshal(m); err != nil {
			panic(err)
		}
		d, err := store.Decode(b, r.Key+".json")
		if err != nil {
			panic(err)
		}
		*r = *d
	}
}

// squeeze undoes the padding of Markdown table cells (runs of spaces become one), so tests can look
// for a row without knowing its columns' widths.
func squeeze(md string) string { return regexp.MustCompile(` {2,}`).ReplaceAllString(md, " ") }

// train sets the training configuration fields of a record.
func train(f func(*store.TrainConfig)) func(*store.Record) {
	return func(r *store.Record) { f(&r.Train) }
}
