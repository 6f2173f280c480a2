package perf

import (
	"slices"
	"testing"

	"github.com/mmfusion/bench/bench"
	"github.com/mmfusion/bench/bench/layers"
	"github.com/mmfusion/bench/bench/torchrt"
	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"
)

// perfTestEpochs is a linear head on modality 1 that records its EpochStart calls.
type perfTestEpochs struct {
	enc   bench.Encoder
	head  *layers.Linear
	calls []bench.EpochContext
	lens  []int
}

func (p *perfTestEpochs) Forward(s *torchrt.Scope, b *bench.Batch, train bool) (*ts.Tensor, bench.Outputs) {
	l := p.head.Forward(s, p.enc.Forward(s, b.X[0], train))
	return layers.CrossEntropy(s, l, b.Y), bench.Outputs{Fused: l}
}

func (p *perfTestEpochs) EpochStart(ec *bench.EpochContext) {
	p.calls = append(p.calls, *ec)
	p.lens = append(p.lens, ec.Train.Len())
}

func init() {
	bench.Methods.Register("perf-test-epochs", "test only: records EpochStart", bench.MethodSpec{New: func(env *bench.Env) (bench.Method, error) {
		return &perfTestEpochs{enc: env.Encoders[0], head: layers.NewLinear(env.Path.Sub("head"), env.Encoders[0].OutDim(), env.NumClasses)}, nil
	}})
}

// A perf model starts training epoch 1 as bench.Train does before timing steps: the method's
// EpochStart runs once, at Build, with epoch 1, the model's batch as the training split, its batch
// size and the split's order; steps do not call it again.
func TestBuildStartsTheFirstEpoch(t *testing.T) {
	lockThread(t)
	sp := Spec{Name: "epochs", Method: "perf-test-epochs", Encoder: "mlp", Modalities: synthetic, NumClasses: 4, Batch: 16}
	m, err := Build(sp, 1, gotch.CPU)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	m.TrainStep()
	m.TrainStep()
	p := m.Run.Method.(*perfTestEpochs)
	if len(p.calls) != 1 {
		t.Fatalf("EpochStart ran %d times, want once (at Build)", len(p.calls))
	}
	ec := p.calls[0]
	if ec.Epoch != 1 || ec.BatchSize != 16 || p.lens[0] != 16 || !slices.Equal(ec.Order, m.Batch.Index) {
		t.Fatalf("EpochStart got epoch %d, batch size %d, a split of %d, order %v", ec.Epoch, ec.BatchSize, p.lens[0], ec.Order)
	}
	// The split holds the batch: its rows are the batch's inputs and labels.
	s := torchrt.NewScope()
	defer s.Drop()
	rows := ec.Train.Rows(s, 0, 16, m.Run.Device)
	for k := range rows.X {
		got, want := rows.X[k].Float64Values(), m.Batch.X[k].Float64Values()
		if len(want) != 16*48 || !slices.Equal(got, want) {
			t.Fatalf("modality %d of the split differs from the batch", k)
		}
	}
	if !slices.Equal(rows.Y.Int64Values(), m.Batch.Y.Int64Values()) {
		t.Fatal("the split's labels differ from the batch's")
	}
}
