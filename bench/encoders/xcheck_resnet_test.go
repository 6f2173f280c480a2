package encoders

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/mmfusion/bench/bench"
	"github.com/mmfusion/bench/bench/data"
	"github.com/mmfusion/bench/bench/torchrt"
	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"
)

// xcheckResNetBound is the largest |Δ| allowed between our features and torchvision's.
const xcheckResNetBound = 1e-4

// TestXCheckResNetWeights compares resnet18 with weights=FILE against torchvision 0.16's resnet18
// (fc = Identity, eval mode) on the references scripts/xcheck/resnet.py writes: into $XCHECK_DIR
// under make xcheck, else the committed golden copy testdata/xcheck/resnet.
//
// The golden copy holds torchvision's state-dict layout (state_dict.json: names, shapes, dtypes),
// inputs, and torchvision's features under the FORMULA weights (documented in resnet.py and
// formulaWeights); the test writes those weights under torchvision's names into a safetensors file
// itself and loads it through the param (NewParams, Accepts, New). So without Python it proves that
// the loader maps every torchvision tensor onto the variable that plays its role, that the network
// (strides, paddings, max-pool, shortcuts, eval-mode BatchNorm) computes what torchvision's does,
// and that 1- and 2-channel conv1 are initialised as the reference's mean-over-RGB; the values
// are not torchvision's own. With make xcheck, full/ adds torchvision's own initialisation with
// non-trivial BatchNorm statistics, written by the committed converter
// (datasets/tools/torchvision_to_safetensors.py), at 224×224 — its file (45 MB) is not committed.
func TestXCheckResNetWeights(t *testing.T) {
	lockThread(t)
	dir := os.Getenv("XCHECK_DIR")
	if dir == "" {
		dir = filepath.Join("testdata", "xcheck", "resnet")
	}
	weights := filepath.Join(t.TempDir(), "formula.safetensors")
	writeSafetensors(t, weights, formulaWeights(t, filepath.Join(dir, "state_dict.json")))
	xcheckResNetCase(t, dir, weights, "ResNet-18 features, formula weights (64×64)")

	full := filepath.Join(dir, "full")
	if _, err := os.Stat(filepath.Join(full, "weights.safetensors")); err != nil {
		t.Logf("%s: no full-size weights (make xcheck writes them); formula weights only", full)
		return
	}
	xcheckResNetCase(t, full, filepath.Join(full, "weights.safetensors"), "ResNet-18 features, torchvision init weights (224×224)")
}

// xcheckResNetCase compares, for C = 3, 1 and 2 channels, our features of dir/xC.npy with dir/featC.npy.
func xcheckResNetCase(t *testing.T, dir, weights, step string) {
	t.Helper()
	spec, err := bench.Encoders.Lookup("resnet18")
	if err != nil {
		t.Fatal(err)
	}
	params, err := bench.NewParams("encoder resnet18", spec.Value.Params, map[string]string{"weights": weights})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []int64{3, 1, 2} {
		x, xs := readF32Npy(t, filepath.Join(dir, fmt.Sprintf("x%d.npy", c)))
		want, _ := readF32Npy(t, filepath.Join(dir, fmt.Sprintf("feat%d.npy", c)))
		mod := data.Modality{Name: "m", Shape: xs[1:]}
		if err := spec.Value.CheckModality(mod, params); err != nil {
			t.Fatal(err)
		}
		enc, _ := build(t, "resnet18", mod.Shape, map[string]string{"weights": weights})
		s := torchrt.NewScope()
		var got []float64
		torchrt.NoGrad(func() {
			in := s.T(ts.MustOfSlice(x).MustView(xs, true))
			f := s.T(enc.Forward(s, in, false).MustTotype(gotch.Double, false))
			got = make([]float64, f.Numel())
			f.MustCopyData(got, f.Numel())
		})
		s.Drop()
		if len(got) != len(want) {
			t.Fatalf("C=%d: %d features, want %d", c, len(got), len(want))
		}
		var maxD, maxRef float64
		for i := range got {
			maxD = max(maxD, math.Abs(got[i]-float64(want[i])))
			maxRef = max(maxRef, math.Abs(float64(want[i])))
		}
		verdict := "ok"
		if !(maxD <= xcheckResNetBound) {
			verdict = "FAIL"
			t.Errorf("%s, C=%d: max |Δ| %.3g > %g (features up to %.3g)", step, c, maxD, xcheckResNetBound, maxRef)
		}
		what := map[int64]string{3: "RGB", 1: "1-channel conv1 (mean of RGB)", 2: "2-channel conv1 (mean of RGB)"}[c]
		t.Logf("XCHECK| %s, %s | torchvision 0.16 (torch 2.1) | max Δ %.2g (features up to %.3g in size) | ≤ %g | %s |",
			step, what, maxD, maxRef, xcheckResNetBound, verdict)
	}
}

// stEntry is one tensor to write.
type stEntry struct {
	name  string
	dtype string // F32 or I64
	shape []int64
	f32   []float32
}

// formulaWeights builds the FORMULA weights of scripts/xcheck/resnet.py for the state-dict layout in
// path: tensor k (in the layout's order), element j, s = sin(0.37 j + 1.3 k).
func formulaWeights(t *testing.T, path string) []stEntry {
	t.Helper()
	formulaMu.Lock()
	defer formulaMu.Unlock()
	if formulaCache[path] == nil {
		formulaCache[path] = makeFormulaWeights(t, path)
	}
	out := slices.Clone(formulaCache[path]) // a copy the caller may edit
	for i := range out {
		out[i].shape, out[i].f32 = slices.Clone(out[i].shape), slices.Clone(out[i].f32)
	}
	return out
}

var (
	formulaMu    sync.Mutex
	formulaCache = map[string][]stEntry{}
)

func makeFormulaWeights(t *testing.T, path string) []stEntry {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var layout [][3]json.RawMessage
	if err := json.Unmarshal(b, &layout); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var out []stEntry
	for k, e := range layout {
		var name, dtype string
		var shape []int64
		if json.Unmarshal(e[0], &name) != nil || json.Unmarshal(e[1], &shape) != nil || json.Unmarshal(e[2], &dtype) != nil {
			t.Fatalf("%s: entry %d: want [name, shape, dtype]", path, k)
		}
		n := int64(1)
		for _, d := range shape {
			n *= d
		}
		if strings.HasSuffix(name, ".num_batches_tracked") {
			out = append(out, stEntry{name: name, dtype: "I64", shape: shape, f32: make([]float32, n)})
			continue
		}
		v := make([]float32, n)
		for j := range v {
			s := math.Sin(0.37*float64(j) + 1.3*float64(k))
			switch {
			case strings.HasSuffix(name, ".running_var"):
				v[j] = float32(1 + 0.5*s)
			case strings.HasSuffix(name, ".running_mean"), strings.HasSuffix(name, ".bias"):
				v[j] = float32(0.1 * s)
			case len(shape) == 1:
				v[j] = float32(1 + 0.2*s)
			default:
				v[j] = float32(2 * s / math.Sqrt(float64(n/shape[0])))
			}
		}
		out = append(out, stEntry{name: name, dtype: dtype2st(dtype), shape: shape, f32: v})
	}
	return out
}

func dtype2st(d string) string {
	if d == "int64" {
		return "I64"
	}
	return "F32"
}

// writeSafetensors writes entries (F32, or I64 from their integer-valued f32) as a safetensors file.
func writeSafetensors(t *testing.T, path string, entries []stEntry) {
	t.Helper()
	header := map[string]any{}
	var data bytes.Buffer
	for _, e := range entries {
		begin := data.Len()
		for _, v := range e.f32 {
			if e.dtype == "I64" {
				binary.Write(&data, binary.LittleEndian, int64(v))
			} else {
				binary.Write(&data, binary.LittleEndian, v)
			}
		}
		header[e.name] = map[string]any{"dtype": e.dtype, "shape": e.shape, "data_offsets": []int{begin, data.Len()}}
	}
	h, err := json.Marshal(header)
	if err != nil {
		t.Fatal(err)
	}
	h = append(h, bytes.Repeat([]byte(" "), (8-len(h)%8)%8)...)
	var out bytes.Buffer
	binary.Write(&out, binary.LittleEndian, uint64(len(h)))
	out.Write(h)
	out.Write(data.Bytes())
	if err := os.WriteFile(path, out.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

var npyShape = regexp.MustCompile(`'shape':\s*\(([^)]*)\)`)

// readF32Npy reads a little-endian float32, C-order .npy file (format 1.0 or 2.0).
func readF32Npy(t *testing.T, path string) ([]float32, []int64) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) < 10 || string(b[1:6]) != "NUMPY" {
		t.Fatalf("%s: not a .npy file", path)
	}
	var hl, off int
	if b[6] == 1 {
		hl, off = int(binary.LittleEndian.Uint16(b[8:])), 10
	} else {
		hl, off = int(binary.LittleEndian.Uint32(b[8:])), 12
	}
	hdr := string(b[off : off+hl])
	if !strings.Contains(hdr, "'descr': '<f4'") || !strings.Contains(hdr, "'fortran_order': False") {
		t.Fatalf("%s: want a little-endian float32 C-order array, header %s", path, hdr)
	}
	m := npyShape.FindStringSubmatch(hdr)
	if m == nil {
		t.Fatalf("%s: no shape in header %s", path, hdr)
	}
	var shape []int64
	n := int64(1)
	for _, f := range strings.Split(m[1], ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		d, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			t.Fatalf("%s: shape %q", path, m[1])
		}
		shape, n = append(shape, d), n*d
	}
	raw := b[off+hl:]
	if int64(len(raw)) != 4*n {
		t.Fatalf("%s: %d data bytes for shape %v", path, len(raw), shape)
	}
	out := make([]float32, n)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
	}
	return out, shape
}

// TestResNet18WeightsNamesMatchVariables checks that the variables of a width-64 resnet18 are named
// as torchvision's state dict (under the encoder's prefix), with the same shapes, so that the
// explicit mapping of loadWeights and the variable names agree.
func TestResNet18WeightsNamesMatchVariables(t *testing.T) {
	lockThread(t)
	_, vs := build(t, "resnet18", []int64{3, 8, 8}, nil)
	defer vs.Destroy() // bench.Variables' copies share the store's C tensors: keep it alive
	vars := bench.Variables(vs, "enc0.")
	want := resnet18StateDict(64)
	if len(vars) != len(want) {
		t.Errorf("%d variables, torchvision's ResNet-18 without fc and num_batches_tracked has %d tensors", len(vars), len(want))
	}
	for _, ns := range want {
		v, ok := vars["enc0."+ns.name]
		if !ok {
			t.Errorf("no variable enc0.%s", ns.name)
			continue
		}
		if got := v.MustSize(); !slices.Equal(got, ns.shape) {
			t.Errorf("enc0.%s: shape %v, torchvision %v", ns.name, got, ns.shape)
		}
	}
}
