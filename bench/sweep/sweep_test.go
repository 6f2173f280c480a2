package sweep

import (
	"runtime"
	"strings"
	"testing"

	"github.com/mmfusion/bench/bench"
	"github.com/mmfusion/bench/bench/store"
)

func TestShardsPartitionThePlan(t *testing.T) {
	var plan []*Planned
	for i := 0; i < 11; i++ {
		plan = append(plan, &Planned{Cell: &bench.Cell{Seed: int64(i)}, Key: string(rune('a' + i))})
	}
	seen := map[string]int{}
	for i := 0; i < 3; i++ {
		for _, p := range Shard(plan, i, 3) {
			seen[p.Key]++
		}
	}
	if len(seen) != len(plan) {
		t.Fatalf("shards cover %d of %d cells", len(seen), len(plan))
	}
	for k, n := range seen {
		if n != 1 {
			t.Fatalf("cell %s in %d shards", k, n)
		}
	}
	if len(Shard(plan, 0, 3)) != 4 || len(Shard(plan, 2, 3)) != 3 {
		t.Fatal("shards are not balanced")
	}
}

func TestParseShard(t *testing.T) {
	if i, n, err := ParseShard("2/5"); err != nil || i != 2 || n != 5 {
		t.Fatalf("ParseShard(2/5) = %d, %d, %v", i, n, err)
	}
	for _, bad := range []string{"5/5", "-1/3", "1/0", "a/b", "1/3x", "1"} {
		if _, _, err := ParseShard(bad); err == nil {
			t.Errorf("ParseShard(%q) accepted", bad)
		}
	}
}

func TestJobsAndThreadsDoNotOversubscribe(t *testing.T) {
	cores := runtime.NumCPU()
	for _, jobs := range []int{0, 1, 2, 64} {
		j, th := JobsAndThreads(jobs, 0, 100)
		if j*th > max(cores, j) {
			t.Errorf("jobs=%d: %d jobs × %d threads on %d cores", jobs, j, th, cores)
		}
	}
	if j, _ := JobsAndThreads(8, 0, 3); j != 3 {
		t.Errorf("more jobs than cells: %d", j)
	}
}

func TestStagedMethodsNeedStagedEncoders(t *testing.T) {
	bench.Methods.Register("sweep-test-staged", "", bench.MethodSpec{Needs: bench.Needs{EncoderStages: true}})
	bench.Encoders.Register("sweep-test-flat", "", bench.EncoderSpec{})
	bench.Encoders.Register("sweep-test-staged", "", bench.EncoderSpec{Staged: true})
	if err := Incompatible("sweep-test-staged", "sweep-test-flat"); err == nil || !strings.Contains(err.Error(), "does not expose stages") {
		t.Fatalf("Incompatible = %v", err)
	}
	if err := Incompatible("sweep-test-staged", "sweep-test-staged"); err != nil {
		t.Fatal(err)
	}
	opt := Options{Methods: []string{"sweep-test-staged"}, Datasets: []string{"x"}, Encoders: []string{"sweep-test-flat"},
		Seeds: []int64{1}, Train: store.TrainConfig{Epochs: 1, BatchSize: 1, LR: 1}}
	st, _ := store.Open(t.TempDir())
	if _, _, err := Plan(opt, st); err == nil || !strings.Contains(err.Error(), "does not expose stages") {
		t.Fatalf("Plan accepted a staged method on a flat encoder: %v", err)
	}
}
