package registry

import (
	"strings"
	"testing"
)

func TestLookupUnknownListsKnownNames(t *testing.T) {
	r := New[int]("method")
	r.Register("joint", "one head", 1)
	r.Register("ensemble", "averaged heads", 2)
	if e, err := r.Lookup("joint"); err != nil || e.Value != 1 {
		t.Fatalf("Lookup(joint) = %v, %v", e, err)
	}
	_, err := r.Lookup("jiont")
	if err == nil {
		t.Fatal("unknown name accepted")
	}
	want := `unknown method "jiont" (known: ensemble, joint)`
	if err.Error() != want {
		t.Fatalf("error = %q, want %q", err, want)
	}
	if got := strings.Join(r.Names(), ","); got != "ensemble,joint" {
		t.Fatalf("Names = %s", got)
	}
}

func TestDuplicatePanics(t *testing.T) {
	r := New[int]("dataset")
	r.Register("a", "", 1)
	defer func() {
		if recover() == nil {
			t.Fatal("duplicate registration did not panic")
		}
	}()
	r.Register("a", "", 2)
}
