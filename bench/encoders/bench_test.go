package encoders

import (
	"fmt"

	"testing"

	"github.com/mmfusion/bench/bench"
	"github.com/mmfusion/bench/bench/data"
	"github.com/mmfusion/bench/bench/layers"
	"github.com/mmfusion/bench/bench/torchrt"
	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"
)

// BenchmarkResNet18CremaDStep times one training step of the CREMA-D setting (methods.md §0.2) on
// the CPU: two full-width ResNet-18s, audio spectrograms (B, 1, 257, 188) and one RGB frame per
// sample as a clip (B, 3, 1, 224, 224), a concatenation head to 6 classes, cross-entropy, backward
// and an SGD step (momentum 0.9, weight decay 1e-4), batch 2, with 1 and 2 libtorch threads.
func BenchmarkResNet18CremaDStep(b *testing.B) {
	prev := torchrt.NumThreads()
	defer torchrt.SetNumThreads(prev)
	for _, threads := range []int{1, 2} {
		b.Run(fmt.Sprintf("threads=%d", threads), func(b *testing.B) {
			torchrt.SetNumThreads(threads)
			benchCremaDStep(b)
		})
	}
}

func benchCremaDStep(b *testing.B) {
	const batch = 2
	lockThread(b)
	mods := []data.Modality{{Name: "audio", Shape: []int64{1, 257, 188}}, {Name: "visual", Shape: []int64{3, 1, 224, 224}}}
	spec, err := bench.Encoders.Lookup("resnet18")
	if err != nil {
		b.Fatal(err)
	}
	params, _ := bench.NewParams("resnet18", spec.Value.Params, nil)
	torchrt.ManualSeed(1)
	vs := nn.NewVarStore(gotch.CPU)
	var encs []bench.Encoder
	for m, mod := range mods {
		enc, err := spec.Value.New(vs.Root().Sub(fmt.Sprintf("enc%d", m)), mod, params)
		if err != nil {
			b.Fatal(err)
		}
		encs = append(encs, enc)
	}
	head := layers.NewLinear(vs.Root().Sub("head"), 2*encs[0].OutDim(), 6)
	opt, err := nn.NewSGDConfig(0.9, 0, 1e-4, false).Build(vs, 1e-3)
	if err != nil {
		b.Fatal(err)
	}
	data := torchrt.NewScope()
	defer data.Drop()
	xs := []*ts.Tensor{input(data, batch, mods[0].Shape), input(data, batch, mods[1].Shape)}
	y := data.T(ts.MustRandint(6, []int64{batch}, gotch.Int64, gotch.CPU))

	step := func() {
		s := torchrt.NewScope()
		defer s.Drop()
		var zs []*ts.Tensor
		for m, enc := range encs {
			zs = append(zs, enc.Forward(s, xs[m], true))
		}
		logits := head.Forward(s, s.T(ts.MustCat(zs, 1)))
		opt.MustZeroGrad()
		layers.CrossEntropy(s, logits, y).MustBackward()
		opt.MustStep()
	}
	step() // warm-up: first-touch allocations and oneDNN kernel selection
	b.Logf("libtorch %s, %d intra-op threads, batch %d", torchrt.LibtorchVersion(), torchrt.NumThreads(), batch)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		step()
	}
}
