package sweep

import (
	"sync"
	"testing"

	"github.com/mmfusion/bench/bench/data"
	"github.com/mmfusion/bench/bench/store"
)

// cacheSeen records the cache= each load of "cache-probe" was given.
var cacheSeen struct {
	sync.Mutex
	dirs []string
}

func init() {
	// A tiny synthetic dataset that accepts a runtime parameter cache=DIR, as the video datasets do.
	data.Register("cache-probe", "test only", func(opt data.Options) (*data.Set, error) {
		if err := data.UnknownParams("cache-probe", opt.Params, "cache"); err != nil {
			return nil, err
		}
		cacheSeen.Lock()
		cacheSeen.dirs = append(cacheSeen.dirs, opt.Params["cache"])
		cacheSeen.Unlock()
		set, err := data.Load(tiny, opt.Seed, "")
		if err != nil {
			return nil, err
		}
		set.Name = "cache-probe"
		return set, nil
	})
}

// cache=DIR changes no value: it is not part of the spelling or the key, yet the run's load gets it.
func TestRuntimeParamsStayOutOfKeysButReachTheLoad(t *testing.T) {
	st, _ := store.Open(t.TempDir())
	opt := tinyOptions("joint")
	opt.Seeds = []int64{1}
	opt.Datasets = []string{"cache-probe"}
	plain, _, err := Plan(opt, st)
	if err != nil {
		t.Fatal(err)
	}
	opt.Datasets = []string{"cache-probe:cache=/tmp/some-cache"}
	cached, _, err := Plan(opt, st)
	if err != nil {
		t.Fatal(err)
	}
	if len(plain) != 1 || len(cached) != 1 || plain[0].Key != cached[0].Key || cached[0].Cell.Dataset != "cache-probe" {
		t.Fatalf("cache= changed the cell: %q %s vs %q %s", plain[0].Cell.Dataset, plain[0].Key, cached[0].Cell.Dataset, cached[0].Key)
	}
	cacheSeen.Lock()
	cacheSeen.dirs = nil
	cacheSeen.Unlock()
	r := newSharedSets("", cached)
	if _, err := r.acquire(cached[0]); err != nil {
		t.Fatal(err)
	}
	if len(cacheSeen.dirs) != 1 || cacheSeen.dirs[0] != "/tmp/some-cache" {
		t.Fatalf("the run's load got cache=%q, want /tmp/some-cache", cacheSeen.dirs)
	}

	// A dataset that has no such parameter refuses it at plan time.
	opt.Datasets = []string{tiny + ",cache=/tmp/x"}
	if _, _, err := Plan(opt, st); err == nil {
		t.Fatal("synthetic accepted cache= at plan time")
	}
}

func TestSplitRuntime(t *testing.T) {
	for _, c := range []struct{ in, id, rt string }{
		{"cremad", "cremad", ""},
		{"cremad:cache=/c", "cremad", "cache=/c"},
		{"cremad:frames=3,cache=/c,augment=false", "cremad:frames=3,augment=false", "cache=/c"},
	} {
		id, rt := data.SplitRuntime(c.in)
		if id != c.id || rt != c.rt {
			t.Errorf("SplitRuntime(%q) = %q, %q; want %q, %q", c.in, id, rt, c.id, c.rt)
		}
		if back := data.WithRuntime(id, rt); c.rt != "" && back == id {
			t.Errorf("WithRuntime(%q, %q) dropped the runtime part", id, rt)
		}
	}
}
