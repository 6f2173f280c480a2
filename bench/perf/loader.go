package perf

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"runtime"
	"time"

	"github.com/mmfusion/bench/bench"
	"github.com/mmfusion/bench/bench/data"
	"github.com/mmfusion/bench/bench/torchrt"
)

// LoaderConfig is `bench perf --loader`: how fast each side reads, decodes and transforms a CREMA-D
// layout under the training transform (RandomResizedCrop + flip per frame; audio resampled to
// 22,050 Hz and turned into OGM-GE's spectrogram). Go: bench.ReadTrainingEpoch with runtime.NumCPU
// decoding goroutines per batch and Prefetch batches ahead; PyTorch: perf/run_loader.py, a torch
// DataLoader with Workers = runtime.NumCPU worker processes over OGM-GE's dataset class (librosa, PIL,
// torchvision transforms). Both sides read the first Clips clips of train.csv in order, Batch per
// batch; the first batch of each timed pass is not timed on the PyTorch side (worker start-up), so the
// Go side times its pass after an untimed one (which also warms the page cache for both sides).
type LoaderConfig struct {
	Layout             string // a CREMA-D layout (bench export --dataset avmnist --layout cremad)
	Frames             int    // frames per clip (cremad:frames=)
	Clips, Batch       int
	Rounds             int
	Prefetch           int
	Python, PythonPath string // the interpreter with librosa, Pillow, torchvision; PYTHONPATH with torch
	Runner             string // perf/run_loader.py
	NoTorch            bool
	Threads            int // libtorch intra-op threads of the Go side (making tensors); the PyTorch main process uses 1
	Log                io.Writer
}

// LoaderReport is what perf-loader.json holds.
type LoaderReport struct {
	Layout         string    `json:"layout"`
	Clips          int       `json:"clips"`
	Batch          int       `json:"batch"`
	Frames         int       `json:"frames"`
	Cores          int       `json:"cores"`
	GoWorkers      int       `json:"go_workers"`      // decoding goroutines per batch
	TorchWorkers   int       `json:"pytorch_workers"` // DataLoader worker processes
	Prefetch       int       `json:"prefetch"`
	GoClipsPerS    []float64 `json:"go_clips_per_s"`
	TorchClipsPerS []float64 `json:"pytorch_clips_per_s,omitempty"`
	GoMedian       float64   `json:"go_median"`
	TorchMedian    float64   `json:"pytorch_median,omitempty"`
	Speedup        float64   `json:"speedup,omitempty"` // ours / PyTorch (higher: Go faster)
	Target         float64   `json:"target"`
	TargetMet      bool      `json:"target_met"`
}

// LoaderTarget is the target for speedup = ours / PyTorch.
const LoaderTarget = 1.5

// RunLoader measures both sides Rounds times, alternating, and reports medians.
func RunLoader(c LoaderConfig) (*LoaderReport, error) {
	torchrt.SetNumThreads(max(1, c.Threads))
	spec := fmt.Sprintf("cremad:dir=%s,frames=%d", c.Layout, c.Frames)
	set, err := data.Load(spec, 1, "")
	if err != nil {
		return nil, err
	}
	if set.Train.Len() < 2*c.Batch {
		return nil, fmt.Errorf("%s: %d training clips, want at least %d (2 batches)", c.Layout, set.Train.Len(), 2*c.Batch)
	}
	clips := min(c.Clips, set.Train.Len())
	rep := &LoaderReport{Layout: c.Layout, Clips: clips, Batch: c.Batch, Frames: c.Frames, Cores: runtime.NumCPU(),
		GoWorkers: runtime.NumCPU(), TorchWorkers: runtime.NumCPU(), Prefetch: c.Prefetch, Target: LoaderTarget}
	goPass := func() (float64, error) {
		t0 := time.Now()
		n, err := bench.ReadTrainingEpoch(context.Background(), set.Train, set.Modalities, 1, c.Batch, clips, c.Prefetch)
		if err != nil {
			return 0, err
		}
		return float64(n) / time.Since(t0).Seconds(), nil
	}
	logf := func(format string, a ...any) {
		if c.Log != nil {
			fmt.Fprintf(c.Log, format, a...)
		}
	}
	logf("perf --loader: %s, %d clips, batch %d, %d frame(s); warm-up pass (Go, untimed)\n", c.Layout, clips, c.Batch, c.Frames)
	if _, err := goPass(); err != nil {
		return nil, err
	}
	// The validation carve takes some clips of train.csv; the PyTorch side reads train.csv's first rows,
	// which are the same kind of clip (same sizes), so the rates are comparable, not the same files.
	for r := range c.Rounds {
		if !c.NoTorch {
			cmd := (&Config{Python: c.Python, PythonPath: c.PythonPath}).pythonCommand(c.Runner, "--root", c.Layout,
				"--workers", fmt.Sprint(rep.TorchWorkers), "--batch", fmt.Sprint(c.Batch), "--frames", fmt.Sprint(c.Frames),
				"--clips", fmt.Sprint(clips))
			out, err := (&Config{Log: c.Log, PythonPath: c.PythonPath}).runPython(cmd)
			if err != nil {
				return nil, err
			}
			var py struct {
				ClipsPerS float64 `json:"clips_per_s"`
			}
			if err := json.Unmarshal(out, &py); err != nil {
				return nil, fmt.Errorf("reading %s's JSON: %w", c.Runner, err)
			}
			rep.TorchClipsPerS = append(rep.TorchClipsPerS, py.ClipsPerS)
			logf("perf --loader: round %d/%d: PyTorch %.1f clips/s\n", r+1, c.Rounds, py.ClipsPerS)
		}
		v, err := goPass()
		if err != nil {
			return nil, err
		}
		rep.GoClipsPerS = append(rep.GoClipsPerS, v)
		logf("perf --loader: round %d/%d: Go %.1f clips/s\n", r+1, c.Rounds, v)
	}
	rep.GoMedian = median(rep.GoClipsPerS)
	if len(rep.TorchClipsPerS) > 0 {
		rep.TorchMedian = median(rep.TorchClipsPerS)
		rep.Speedup = rep.GoMedian / rep.TorchMedian
		rep.TargetMet = rep.Speedup >= LoaderTarget
	}
	return rep, nil
}

// Print writes the report's table.
func (r *LoaderReport) Print(w io.Writer) {
	fmt.Fprintf(w, "\nloader: %s, training transform, %d clips, batch %d, %d frame(s) per clip, %d cores\n", r.Layout, r.Clips, r.Batch, r.Frames, r.Cores)
	fmt.Fprintf(w, "  Go       %7.1f clips/s (median of %v; %d decoding goroutines per batch, %d batches prefetched)\n", r.GoMedian, round1(r.GoClipsPerS), r.GoWorkers, r.Prefetch)
	if r.TorchMedian > 0 {
		fmt.Fprintf(w, "  PyTorch  %7.1f clips/s (median of %v; DataLoader, %d worker processes)\n", r.TorchMedian, round1(r.TorchClipsPerS), r.TorchWorkers)
		verdict := "met"
		if !r.TargetMet {
			verdict = "MISSED"
		}
		fmt.Fprintf(w, "  speedup = ours / PyTorch = %.2f (target ≥ %.1f: %s)\n", r.Speedup, r.Target, verdict)
	}
}

func round1(v []float64) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = float64(int(x*10+0.5)) / 10
	}
	return out
}
