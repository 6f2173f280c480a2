package torchrt

import (
	"math"
	"runtime"
	"testing"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"
)

func TestSeedAndThreads(t *testing.T) {
	SetNumThreads(1)
	if NumThreads() != 1 {
		t.Fatalf("threads = %d", NumThreads())
	}
	ManualSeed(7)
	a := ts.MustRandn([]int64{4}, gotch.Float, gotch.CPU)
	ManualSeed(7)
	b := ts.MustRandn([]int64{4}, gotch.Float, gotch.CPU)
	if !a.MustEqual(b, false) {
		t.Fatal("same seed gave different numbers")
	}
}

func TestLibtorchInfo(t *testing.T) {
	_ = ts.MustOnes([]int64{1}, gotch.Float, gotch.CPU) // make sure libtorch is loaded
	if LibtorchPath() == "" {
		t.Fatal("libtorch_cpu.so not found in /proc/self/maps")
	}
	if v := LibtorchVersion(); v == "unknown" {
		t.Fatalf("libtorch version unknown (path %s)", LibtorchPath())
	}
	if d, err := ResolveDevice("cpu"); err != nil || DeviceName(d) != "cpu" {
		t.Fatalf("ResolveDevice(cpu) = %v, %v", d, err)
	}
	if _, err := ResolveDevice("tpu"); err == nil {
		t.Fatal("ResolveDevice(tpu) accepted")
	}
}

func TestScopeFreesTensors(t *testing.T) {
	s := NewScope()
	x := s.T(ts.MustOnes([]int64{3}, gotch.Float, gotch.CPU))
	y := s.T(x.MustMulScalar(ts.FloatScalar(2), false))
	kept := s.Keep(s.T(y.MustSum(gotch.Float, false)))
	if s.Len() != 2 {
		t.Fatalf("scope holds %d tensors, want 2", s.Len())
	}
	s.Drop()
	if x.Ctensor() != nil || y.Ctensor() != nil {
		t.Fatal("tensors still hold C memory after Drop")
	}
	if v := kept.MustFloat64Value(nil); v != 6 {
		t.Fatalf("kept tensor = %v, want 6", v)
	}
}

func TestNoGradRestoresPreviousMode(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	x := ts.MustOnes([]int64{2}, gotch.Float, gotch.CPU).MustSetRequiresGrad(true, false)
	NoGrad(func() {
		if y := x.MustMulScalar(ts.FloatScalar(2), false); y.MustRequiresGrad() {
			t.Fatal("grad mode on inside NoGrad")
		}
		NoGrad(func() {}) // nested: must restore "off", not "on"
		if y := x.MustMulScalar(ts.FloatScalar(2), false); y.MustRequiresGrad() {
			t.Fatal("nested NoGrad turned grad mode back on")
		}
	})
	if y := x.MustMulScalar(ts.FloatScalar(2), false); !y.MustRequiresGrad() {
		t.Fatal("grad mode off after NoGrad")
	}
}

// A scope hands out one scalar per value until it drops (0 and -0 apart), frees each once, and after
// Drop makes fresh ones.
func TestScopeScalarsPerValue(t *testing.T) {
	s := NewScope()
	live := ts.LiveScalars
	a, b, c, z, nz := s.Scalar(0.5), s.Scalar(0.5), s.Scalar(-1), s.Scalar(0), s.Scalar(math.Copysign(0, -1))
	if a != b || a == c || z == nz {
		t.Fatalf("scalars per value: 0.5 twice same %v, 0.5 vs -1 same %v, 0 vs -0 same %v", a == b, a == c, z == nz)
	}
	if n := ts.LiveScalars - live; n != 4 {
		t.Fatalf("%d scalars made for 4 values", n)
	}
	x := ts.MustOnes([]int64{2}, gotch.Float, gotch.CPU)
	defer x.MustDrop()
	y := s.T(x.MustMulScalar(b, false))
	if v := y.Float64Values(); v[0] != 0.5 || v[1] != 0.5 {
		t.Fatalf("x·0.5 = %v", v)
	}
	s.Drop()
	if ts.LiveScalars != live {
		t.Fatalf("Drop left %d scalars", ts.LiveScalars-live)
	}
	if d := s.Scalar(0.5); d == a {
		t.Fatal("a dropped scalar was handed out again")
	}
	s.Drop()
}
