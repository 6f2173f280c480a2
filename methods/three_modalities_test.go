package methods

import (
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/mmfusion/bench/bench"
	"github.com/mmfusion/bench/bench/benchtest"
	"github.com/mmfusion/bench/bench/data"
	"github.com/mmfusion/bench/bench/store"
	"github.com/mmfusion/bench/bench/sweep"
	"github.com/mmfusion/bench/bench/torchrt"
	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"
)

const (
	threeModData = "synthetic:modalities=3,mix=R,train=400,val=200,test=200"
	threeModSpec = "synthetic:mix=R,modalities=3,test=200,train=400,val=200" // as the plan spells it
)

// The refusals a three-modality plan gives, by method (the reason is quoted whole).
var threeModRefusals = map[string]string{
	"dmi":    "method dmi is defined for exactly two modalities: R is defined pairwise, S is bilinear in two V's (methods-beyond.md §5.1); for M modalities run dmi-tdm, DMI-TD (our reading); dataset " + threeModSpec + " has 3",
	"dmi-fc": "method dmi-fc is defined for exactly two modalities: R is defined pairwise, S is bilinear in two V's (methods-beyond.md §5.1); for M modalities run dmi-tdm, DMI-TD (our reading); dataset " + threeModSpec + " has 3",
	"dmi-cd": "method dmi-cd is defined for exactly two modalities: R is defined pairwise, S is bilinear in two V's (methods-beyond.md §5.1); for M modalities run dmi-tdm, DMI-TD (our reading); dataset " + threeModSpec + " has 3",
	"dmi-td": "method dmi-td is defined for exactly two modalities: this is the DMI paper's ablation of the two-modality model (prediction ½(h_T^1 + h_T^2)); for M modalities run dmi-tdm, DMI-TD (our reading); dataset " + threeModSpec + " has 3",
}

// A three-modality synthetic sweep (--methods all): the plan refuses exactly the two-modality methods
// (DMI and its ablations, with their reasons; cen on the mlp encoder, for its encoder), and every
// other method trains through bench.Train to an ok cell above chance with three unimodal accuracies
// where it reports them. A named refused method is a plan error with the same reason; uni-3 is
// skipped on two modalities.
func TestThreeModalitySweepTrainsOrRefuses(t *testing.T) {
	st, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	tiny := map[string]map[string]string{
		"dmi-tdm":   {"stage1_epochs": "4", "stage2_epochs": "2"},
		"mib":       {"hidden": "64", "d": "16"},
		"mib-early": {"hidden": "64", "d": "16"},
		"mib-late":  {"hidden": "64", "d": "16"},
	}
	const epochs = 8
	train := benchtest.Config(epochs)
	train.LR = 0.02
	opt := sweep.Options{Methods: []string{"all"}, Datasets: []string{threeModData}, Encoders: []string{"mlp"},
		Seeds: []int64{1}, Jobs: 1, Device: "cpu", Train: train,
		Sets: map[string]map[string]string{"mlp": {"hidden": "32"}, "dmi-tdm": tiny["dmi-tdm"], "mib": tiny["mib"],
			"mib-early": tiny["mib-early"], "mib-late": tiny["mib-late"]}}
	plan, skipped, err := sweep.Plan(opt, st)
	if err != nil {
		t.Fatal(err)
	}
	for m, want := range threeModRefusals {
		if !slices.Contains(skipped, want) {
			t.Errorf("%s: refusal %q not among the skipped: %q", m, want, skipped)
		}
		named := opt
		named.Methods, named.Sets = []string{m}, nil
		if _, _, err := sweep.Plan(named, st); err == nil || err.Error() != want {
			t.Errorf("named %s: plan error %v, want %q", m, err, want)
		}
	}
	planned := map[string]*bench.Cell{}
	for _, p := range plan {
		if slices.Contains(benchtest.Methods(), p.Cell.Method) { // not the methods other tests register
			planned[p.Cell.Method] = p.Cell
		}
	}
	for _, m := range benchtest.Methods() {
		_, refused := threeModRefusals[m]
		spec, _ := bench.Methods.Lookup(m)
		byEncoder := spec.Value.Needs.CheckEncoder(m, "mlp") != nil // cen: resnet18 only
		if _, ok := planned[m]; ok == (refused || byEncoder) {
			t.Errorf("%s: planned %v, refused %v (by encoder %v)", m, ok, refused, byEncoder)
		}
	}
	if len(planned) < 18 {
		t.Fatalf("only %d methods planned on three modalities", len(planned))
	}
	// mmml with one w_uni per modality of another count is refused at plan time, with its reason.
	mm := opt
	mm.Methods, mm.Sets = []string{"mmml"}, map[string]map[string]string{"mmml": {"w_uni": "1:0.5"}}
	if _, _, err := sweep.Plan(mm, st); err == nil || err.Error() != `method mmml on dataset `+threeModSpec+` (3 modalities): w_uni="1:0.5": want one weight or 3 separated by ':'` {
		t.Errorf("mmml w_uni=1:0.5 on three modalities: %v", err)
	}
	two := opt
	two.Methods, two.Datasets, two.Sets = []string{"uni-3"}, []string{"synthetic:train=96,val=32,test=32"}, nil
	if _, _, err := sweep.Plan(two, st); err == nil || err.Error() != "method uni-3 needs at least 3 modalities; dataset synthetic:test=32,train=96,val=32 has 2" {
		t.Errorf("uni-3 on two modalities: %v", err)
	}

	set := benchtest.Set(t, threeModData, 1)
	perModality := map[string]int{"joint": 3, "ensemble": 3, "ogm": 3, "pmr": 3, "pmr-per": 3, "agm": 3, "mlb": 3,
		"mmml": 3, "mmtm": 3, "qmf": 3, "mib": 3, "mib-late": 3, "dmi-tdm": 3, "uni-3": 1}
	for _, m := range slices.Sorted(func(yield func(string) bool) {
		for k := range planned {
			if !yield(k) {
				return
			}
		}
	}) {
		c := planned[m]
		t.Run(m, func(t *testing.T) {
			if note := c.Label(); strings.Contains(note, "only") {
				t.Fatalf("the cell is not the full method: %s", note)
			}
			rec := benchtest.Train(t, c, set)
			t.Logf("test acc %.3f, per modality %v, extra %d keys", rec.Test.Acc, rec.Test.PerModality, len(rec.Test.Extra))
			if rec.Status != store.StatusOK || len(rec.Curves) != epochs {
				t.Fatalf("status %q, %d epochs", rec.Status, len(rec.Curves))
			}
			if rec.Test.Acc < 0.4 {
				t.Errorf("test accuracy %.3f, want ≥ 0.4 (chance 0.25)", rec.Test.Acc)
			}
			if n, ok := perModality[m]; ok && len(rec.Test.PerModality) != n {
				t.Errorf("%d unimodal accuracies %v, want %d", len(rec.Test.PerModality), rec.Test.PerModality, n)
			}
			if m == "dmi-tdm" {
				for _, k := range []string{"dmi_T1_bits", "dmi_T3_bits", "dmi_S_bits", "dmi_gate_T3", "dmi_gate_S", "s1coef_kl_3"} {
					if _, ok := rec.Test.Extra[k]; !ok {
						t.Errorf("readout %s missing: %v", k, rec.Test.Extra)
					}
				}
				g := rec.Test.Extra["dmi_gate_T1"] + rec.Test.Extra["dmi_gate_T2"] + rec.Test.Extra["dmi_gate_T3"] + rec.Test.Extra["dmi_gate_S"]
				if math.Abs(g-1) > 1e-4 {
					t.Errorf("mean gate weights sum to %v", g)
				}
			}
		})
	}
}

// AGM's Shapley outputs for M = 3 against the hand formula of methods.md §5.1 on scalar subset
// outputs: φ_a = ⅓[f(avt) − f(vt)] + ⅙[f(av) − f(v)] + ⅙[f(at) − f(t)] + ⅓ f(a), and Σ φ = f(avt).
func TestAGMShapleyThreeModalitiesByHand(t *testing.T) {
	s := torchrt.NewScope()
	defer s.Drop()
	// f by bit mask (a = bit 0, v = bit 1, t = bit 2).
	vals := map[int]float64{1: 1, 2: 2, 4: 4, 3: 10, 5: 20, 6: 40, 7: 100}
	f := make([]*ts.Tensor, 8)
	for k, v := range vals {
		f[k] = s.T(ts.MustOfSlice([]float64{v}))
	}
	phi := agmShapleyM(s, f, 3)
	// φ_a = (100−40)/3 + (10−2)/6 + (20−4)/6 + 1/3 = 20 + 4/3 + 8/3 + 1/3 = 24.333…
	// φ_v = (100−20)/3 + (10−1)/6 + (40−4)/6 + 2/3 = 26.666… + 1.5 + 6 + 0.666… = 34.833…
	// φ_t = (100−10)/3 + (20−1)/6 + (40−2)/6 + 4/3 = 30 + 3.1666… + 6.333… + 1.333… = 40.833…
	want := []float64{24 + 1.0/3, 34 + 5.0/6, 40 + 5.0/6}
	var sum float64
	for m, p := range phi {
		got := p.Float64Values()[0]
		sum += got
		if math.Abs(got-want[m]) > 1e-9 {
			t.Errorf("φ_%d = %v, want %v", m, got, want[m])
		}
	}
	if math.Abs(sum-100) > 1e-9 {
		t.Errorf("Σ φ = %v, want f(avt) = 100", sum)
	}
}

// AGM's coefficients for M = 3 by hand: r_m = exp(3/2·(mean CE − CE_m)), κ = exp(α·min(r̄ − r, 7)).
func TestAGMCoefficientsThreeModalitiesByHand(t *testing.T) {
	st := agmState{cbar: []float64{1, 1, 1}, n: 1}
	// CE = (0.5, 1, 1.5), mean 1: r = (e^0.75, 1, e^−0.75); r̄ = 1 → κ = exp(1 − r) with α = 1.
	k := st.update([]float64{0.5, 1, 1.5}, 1)
	want := []float64{math.Exp(1 - math.Exp(0.75)), 1, math.Exp(1 - math.Exp(-0.75))}
	for m := range want {
		if math.Abs(k[m]-want[m]) > 1e-12 {
			t.Errorf("κ_%d = %v, want %v", m, k[m], want[m])
		}
	}
	if math.Abs(st.cbar[0]-0.75) > 1e-12 || math.Abs(st.cbar[2]-1.25) > 1e-12 {
		t.Errorf("running means %v", st.cbar)
	}
	// The clamp is 7 for three modalities: C̄ = (0, 0, 9), CE = (1, 1, 1): r = 1, r̄_1 = exp(1.5·3) = e^4.5.
	st = agmState{cbar: []float64{0, 0, 9}, n: 3}
	k = st.update([]float64{1, 1, 1}, 0.5)
	if math.Abs(k[0]-math.Exp(3.5)) > 1e-9 {
		t.Errorf("clamped κ_0 = %v, want e^3.5", k[0])
	}
}

// MLB's coefficients for three modalities by hand: ρ_m = mean_{j≠m} s_j / s_m.
func TestMLBCoefficientsThreeModalitiesByHand(t *testing.T) {
	k := mlbCoefficients([]float64{1, 2, 4}, 0.5)
	// ρ = ((2+4)/2/1, (1+4)/2/2, (1+2)/2/4) = (3, 1.25, 0.375)
	want := []float64{1 + math.Tanh(0.5*2), 1 + math.Tanh(0.5*0.25), 1 + math.Tanh(0.5*-0.625)}
	for m := range want {
		if math.Abs(k[m]-want[m]) > 1e-12 {
			t.Errorf("k_%d = %v, want %v", m, k[m], want[m])
		}
	}
}

// PMR's extension to three modalities (methods.md §4.6): β = α for every modality below the best
// score; PER's dominant modality is the unique best. Two modalities keep the code's switch.
func TestPMRThreeModalityBetasAndDominant(t *testing.T) {
	if b := pmrBetas([]float64{3, 5, 1}, 0.7); !slices.Equal(b, []float64{0.7, 0, 0.7}) {
		t.Errorf("β = %v", b)
	}
	if b := pmrBetas([]float64{5, 5, 1}, 0.7); !slices.Equal(b, []float64{0, 0, 0.7}) {
		t.Errorf("β with a tie at the top = %v", b)
	}
	if b := pmrBetas([]float64{2, 1}, 0.7); !slices.Equal(b, []float64{0, 0.7}) {
		t.Errorf("two modalities: β = %v (the code's switch gives the weaker visual α)", b)
	}
	if d := pmrDominant([]float64{3, 5, 1}); d != 1 {
		t.Errorf("dominant %d", d)
	}
	if d := pmrDominant([]float64{5, 5, 1}); d != -1 {
		t.Errorf("dominant on a tie %d", d)
	}
}

// MMTM over three maps: one joint squeeze Z = ReLU(W_z [S_1; S_2; S_3] + b_z) with C_Z =
// ⌊2·(2+3+1)/4⌋ = 3, and one excitation per modality, recomputed in float64.
func TestMMTMModuleSqueezesThreeModalities(t *testing.T) {
	s := torchrt.NewScope()
	defer s.Drop()
	av := []float32{1, 2, 3, 4, 5, 6, -1, 0, 2, 2, 7, -3}
	bv := []float32{0.5, -0.5, 1, 3, -2, 4}
	cv := []float32{2, -1, 0.5, 4}
	a := mmtmTensor(s, av, 1, 2, 2, 3)
	b := mmtmTensor(s, bv, 1, 3, 2)
	c := mmtmTensor(s, cv, 1, 1, 4)
	vs := nn.NewVarStore(gotch.CPU)
	defer vs.Destroy()
	mod := newMMTMModule(vs.Root(), []int64{2, 3, 1}, 4)
	if mod.squeeze.In != 6 || mod.squeeze.Out != 3 || len(mod.excite) != 3 || mod.excite[2].Out != 1 {
		t.Fatalf("squeeze %d→%d, %d excitations", mod.squeeze.In, mod.squeeze.Out, len(mod.excite))
	}
	outs := mod.forward(s, []*ts.Tensor{a, b, c}, 1)
	sq := mibGoConcat(mibGo(mmtmSqueeze(s, a)), mibGo(mmtmSqueeze(s, b)), mibGo(mmtmSqueeze(s, c)))
	if !mibClose(sq[0][5], (2-1+0.5+4)/4.0, 1e-6) {
		t.Fatalf("S_3 = %v", sq[0][5])
	}
	z := mibGoMap(mibGoLinear(sq, mod.squeeze), mibGoRelu)
	sig := func(v float64) float64 { return 1 / (1 + math.Exp(-v)) }
	for m, vals := range [][]float32{av, bv, cv} {
		g := mibGoMap(mibGoLinear(z, mod.excite[m]), sig)[0]
		got := mibGo(s.T(outs[m].MustFlatten(0, -1, false)))[0]
		per := len(vals) / len(g)
		for k, v := range vals {
			if want := g[k/per] * float64(v); !mibClose(got[k], want, 1e-5) {
				t.Fatalf("modality %d: X̃[%d] = %v, want %v", m, k, got[k], want)
			}
		}
	}
}

// The DMI-TD synergy input for three modalities is [V^1; V^2; V^3; V^1⊙V^2; V^1⊙V^3; V^2⊙V^3]
// (width 6d) and the gate has four heads; uni-3 reads modality 3 only.
func TestDMITDMShapesOnThreeModalities(t *testing.T) {
	set := benchtest.Set(t, "synthetic:modalities=3,train=64,val=32,test=32", 1)
	run, tr := benchtest.Build(t, benchtest.Cell(t, dmiTDMName, map[string]string{"embed_size": "8"}, 1, 20), set)
	m := run.Method.(*DMITDM)
	if m.syn.In != 6*8 || m.gate.Layers[len(m.gate.Layers)-1].Out != 4 || len(m.headT) != 3 {
		t.Fatalf("synergy in %d, gate out %d, %d T heads", m.syn.In, m.gate.Layers[len(m.gate.Layers)-1].Out, len(m.headT))
	}
	if b, byRole := dmiBranchesM([]data.Modality{{Name: "a"}, {Name: "b"}, {Name: "c", Role: data.RoleAudio}}); !slices.Equal(b, []int{0, 1, 1}) || !byRole {
		t.Errorf("branches %v by role %v", b, byRole)
	}
	s := torchrt.NewScope()
	defer s.Drop()
	for _, stage := range []int{1, 2, 3} {
		m.stage = stage
		var out bench.Outputs
		ts.NoGrad(func() { _, out = m.Forward(s, benchtest.Batch(s, tr, 0, 16, 1), false) })
		if sh := out.Fused.MustSize(); sh[0] != 16 || sh[1] != 4 || len(out.PerModality) != 3 {
			t.Fatalf("stage %d: fused %v, %d unimodal", stage, sh, len(out.PerModality))
		}
	}
}
