package store

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// A metric that is absent from the file, null, or inside an absent or null split object decodes to
// 0 but must be told apart from a real 0.
func TestMetricsRecordAbsentAndNullFields(t *testing.T) {
	r0 := sample("k")
	r0.Schema = SchemaVersion
	good, err := json.Marshal(r0)
	if err != nil {
		t.Fatal(err)
	}
	edit := func(f func(m map[string]any)) []byte {
		var m map[string]any
		if err := json.Unmarshal(good, &m); err != nil {
			t.Fatal(err)
		}
		f(m)
		b, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	split := func(m map[string]any, name string) map[string]any { return m[name].(map[string]any) }

	cases := []struct {
		name      string
		data      []byte
		val, test map[string]bool // Has(name) per metric
	}{
		{"complete", good,
			map[string]bool{"acc": true, "macro_f1": true, "loss": true},
			map[string]bool{"acc": true, "macro_f1": true, "loss": true}},
		{"no test object", edit(func(m map[string]any) { delete(m, "test") }),
			map[string]bool{"acc": true, "macro_f1": true, "loss": true},
			map[string]bool{"acc": false, "macro_f1": false, "loss": false}},
		{"test null", edit(func(m map[string]any) { m["test"] = nil }),
			map[string]bool{"acc": true, "macro_f1": true, "loss": true},
			map[string]bool{"acc": false, "macro_f1": false, "loss": false}},
		{"acc null, macro_f1 absent", edit(func(m map[string]any) {
			split(m, "test")["acc"] = nil
			delete(split(m, "test"), "macro_f1")
		}),
			map[string]bool{"acc": true, "macro_f1": true, "loss": true},
			map[string]bool{"acc": false, "macro_f1": false, "loss": true}},
		{"val acc null, real zeros", edit(func(m map[string]any) {
			split(m, "val")["acc"] = nil
			split(m, "test")["acc"] = 0
			split(m, "test")["macro_f1"] = 0
		}),
			map[string]bool{"acc": false, "macro_f1": true, "loss": true},
			map[string]bool{"acc": true, "macro_f1": true, "loss": true}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r, err := Decode(tc.data, "r.json")
			if err != nil {
				t.Fatal(err)
			}
			for name, want := range tc.val {
				if got := r.Val.Has(name); got != want {
					t.Errorf("Val.Has(%q) = %v, want %v", name, got, want)
				}
			}
			for name, want := range tc.test {
				if got := r.Test.Has(name); got != want {
					t.Errorf("Test.Has(%q) = %v, want %v", name, got, want)
				}
			}
			// Writing the record back keeps the absence (as null), so a re-saved record does not
			// acquire fake zeros.
			again, err := json.Marshal(r)
			if err != nil {
				t.Fatal(err)
			}
			r2, err := Decode(again, "again.json")
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(r2, r) {
				t.Errorf("re-encoding changed the record:\n%s", again)
			}
		})
	}
}

// Records built in the process (the trainer's) have every metric, including zeros.
func TestMetricsBuiltInProcessHaveEveryField(t *testing.T) {
	var m Metrics
	for _, name := range []string{"acc", "macro_f1", "loss"} {
		if !m.Has(name) {
			t.Errorf("Metrics{}.Has(%q) = false", name)
		}
	}
	if m.Has("per_modality") || m.Has("nonsense") {
		t.Error("Has of a name that is not a scalar metric must be false")
	}
	// The encoding of an in-process record is unchanged: numbers, never null.
	b, err := json.Marshal(sample("k"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "null") {
		t.Errorf("complete record encoded with null: %s", b)
	}
	if !strings.Contains(string(b), `"test":{"acc":0.8,"macro_f1":0.79,"loss":0,"per_modality":{"m1":0.3}}`) {
		t.Errorf("test metrics encoded as %s", b)
	}
}

// A null record decodes as the json package's convention says: no change.
func TestRecordNullIsNoOp(t *testing.T) {
	r := sample("k")
	if err := json.Unmarshal([]byte("null"), r); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(r, sample("k")) {
		t.Error("unmarshalling null changed the record")
	}
}
