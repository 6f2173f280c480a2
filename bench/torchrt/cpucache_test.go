package torchrt

import (
	"strings"
	"testing"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"
)

// libtorch allocates CPU tensors through the cache: a dropped tensor's block is kept (its size class:
// 4,000 floats = 16,000 bytes → 16,384) and handed to the next tensor of that class, which reads as
// what it was made (zeros), not as the block's old contents; ReleaseFreeMemory empties the cache;
// with a budget of 0 nothing is kept.
func TestCPUCacheReusesAndReleases(t *testing.T) {
	defer SetCPUCache(CPUCacheBudget()) // the budget this process runs with
	if !CPUCacheActive() {
		t.Fatal("libtorch's CPU allocator is not the cache")
	}
	ReleaseFreeMemory()
	if b := CPUCacheBytes(); b != 0 {
		t.Fatalf("after ReleaseFreeMemory the cache holds %d bytes", b)
	}
	a := ts.MustFull([]int64{4000}, ts.FloatScalar(7), gotch.Float, gotch.CPU)
	a.MustDrop()
	if b := CPUCacheBytes(); b != 16384 {
		t.Fatalf("a dropped 16,000-byte tensor left %d bytes cached, want its class, 16384", b)
	}
	z := ts.MustZeros([]int64{3990}, gotch.Float, gotch.CPU) // same class: reuses the block
	if b := CPUCacheBytes(); b != 0 {
		t.Fatalf("a tensor of the same class did not take the cached block (%d bytes still cached)", b)
	}
	if s := z.MustSum(gotch.Double, false); s.MustFloat64Value(nil) != 0 {
		t.Fatal("zeros made in a reused block are not zero")
	}
	z.MustDrop()
	ReleaseFreeMemory()
	if b := CPUCacheBytes(); b != 0 {
		t.Fatalf("ReleaseFreeMemory left %d bytes cached", b)
	}
	SetCPUCache(0)
	ts.MustOnes([]int64{4000}, gotch.Float, gotch.CPU).MustDrop()
	if b := CPUCacheBytes(); b != 0 {
		t.Fatalf("with a budget of 0 the cache kept %d bytes", b)
	}
	SetCPUCache(20000) // one 16 KiB block fits, a second does not
	x, y := ts.MustOnes([]int64{4000}, gotch.Float, gotch.CPU), ts.MustOnes([]int64{4000}, gotch.Float, gotch.CPU)
	x.MustDrop()
	y.MustDrop()
	if b := CPUCacheBytes(); b != 16384 {
		t.Fatalf("a 20,000-byte budget holds %d bytes, want one 16,384-byte block", b)
	}
	ReleaseFreeMemory()
}

// The cache's size classes: 64 bytes, then four per octave; a tensor's block is at least its size.
func TestCPUCacheSizeClasses(t *testing.T) {
	defer SetCPUCache(CPUCacheBudget()) // the budget this process runs with
	SetCPUCache(1 << 30)
	for _, c := range []struct{ floats, class int64 }{{1, 64}, {16, 64}, {17, 80}, {32, 128}, {33, 160}, {1000, 4096}, {1025, 5120}, {300_000, 1 << 20 * 5 / 4}} {
		ReleaseFreeMemory()
		ts.MustOnes([]int64{c.floats}, gotch.Float, gotch.CPU).MustDrop()
		if b := CPUCacheBytes(); b != c.class {
			t.Errorf("%d floats (%d bytes): class %d, want %d", c.floats, 4*c.floats, b, c.class)
		}
	}
	ReleaseFreeMemory()
}

// An op that fails still reports libtorch's message (gotch reads the error only when the call wrote
// no tensor: scripts/setup.sh, patch 10), and the next op that succeeds reports none.
func TestFailedOpReportsItsError(t *testing.T) {
	a := ts.MustOnes([]int64{2, 3}, gotch.Float, gotch.CPU)
	defer a.MustDrop()
	if _, err := a.Matmul(a, false); err == nil || !strings.Contains(err.Error(), "shapes cannot be multiplied") {
		t.Fatalf("matmul of 2×3 by 2×3: err = %v, want libtorch's shape error", err)
	}
	r, err := a.Relu(false)
	if err != nil {
		t.Fatalf("an op after a failed one: %v", err)
	}
	r.MustDrop()
}
