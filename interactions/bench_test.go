package interactions

import (
	"math/rand/v2"
	"testing"
)

func benchEstimate(b *testing.B, n1, n2, ny int, sparsity float64) {
	p := randomTable(rand.New(rand.NewPCG(2024, 1)), n1, n2, ny, sparsity)
	var d PID
	var err error
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		d, err = Estimate(p)
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(d.NewtonSteps), "newton/op")
	b.ReportMetric(d.Gap*1e12, "gap_pbit")
}

// BenchmarkEstimate20x20x10 is the size of a clustered dataset (20 codes per modality)
// with a 10-class label, on a dense random table.
func BenchmarkEstimate20x20x10(b *testing.B)       { benchEstimate(b, 20, 20, 10, 0) }
func BenchmarkEstimate20x20x10Sparse(b *testing.B) { benchEstimate(b, 20, 20, 10, 0.6) }
func BenchmarkEstimate20x20x2(b *testing.B)        { benchEstimate(b, 20, 20, 2, 0) }

func BenchmarkDiscretize2000x48(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	x := make([][]float32, 2000)
	for i := range x {
		x[i] = make([]float32, 48)
		for j := range x[i] {
			x[i][j] = float32(rng.NormFloat64())
		}
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, _, err := Discretize(x, DiscretizeOptions{Seed: 1}); err != nil {
			b.Fatal(err)
		}
	}
}
