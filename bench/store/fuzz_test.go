package store

import (
	"encoding/json"
	"testing"
)

// FuzzDecode: any bytes give a record or a clear error naming the file, never a panic.
func FuzzDecode(f *testing.F) {
	good, _ := json.Marshal(sample("k"))
	f.Add(good)
	f.Add([]byte(`{"schema":1,"key":"k"}`))
	f.Add([]byte(`{"schema":1,"key":"k","method":"joint","dataset":"d","curves":[{"epoch":1}]`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := Decode(b, "fuzz.json")
		if err != nil {
			if r != nil {
				t.Fatal("error with a record")
			}
			return
		}
		if r.Key == "" || r.Method == "" || r.Dataset == "" || r.Schema != SchemaVersion {
			t.Fatalf("accepted an incomplete record: %+v", r)
		}
	})
}
