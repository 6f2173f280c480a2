package datasets

import (
	"fmt"
	"image/color"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"

	"github.com/mmfusion/bench/bench/data"
)

// The training-time rule: one position uniform within each of T segments of ⌊n/T⌋ frames; every
// position of a segment is reached; no draw for one-frame segments, and segmentFrames' positions
// (no draw) with fewer frames than T.
func TestTrainSegmentFramesRule(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	seen := map[int]int{}
	for range 3000 {
		pos := trainSegmentFrames(10, 3, r) // segments 0–2, 3–5, 6–8 (frame 10 is never used)
		for i, p := range pos {
			if p < 3*i || p > 3*i+2 {
				t.Fatalf("segment %d: position %d", i, p)
			}
			seen[p]++
		}
	}
	for p := range 9 {
		if n := seen[p]; n < 850 || n > 1150 { // 1000 expected each
			t.Errorf("position %d drawn %d times in 3000", p, n)
		}
	}
	for _, c := range []struct{ n, frames int }{{8, 8}, {10, 8}, {3, 3}, {2, 3}, {1, 8}} {
		a, b := rand.New(rand.NewPCG(5, 6)), rand.New(rand.NewPCG(5, 6))
		if got, want := trainSegmentFrames(c.n, c.frames, a), segmentFrames(c.n, c.frames); !slices.Equal(got, want) {
			t.Errorf("n=%d T=%d: %v, want segmentFrames' %v", c.n, c.frames, got, want)
		}
		if a.Uint64() != b.Uint64() {
			t.Errorf("n=%d T=%d: the generator was drawn from", c.n, c.frames)
		}
	}
	// Five frames per segment (n = 10, T = 2): the draws are the generator's IntN(5), in order.
	a, b := rand.New(rand.NewPCG(7, 8)), rand.New(rand.NewPCG(7, 8))
	if got, want := trainSegmentFrames(10, 2, a), []int{b.IntN(5), 5 + b.IntN(5)}; !slices.Equal(got, want) {
		t.Errorf("n=10 T=2: %v, want %v", got, want)
	}
}

// frameLevels returns, per frame of a visual buffer [3, T, H, W], its red level (0–255) at the
// centre pixel.
func frameLevels(v []float32, frames int) []int {
	hw := FrameSize * FrameSize
	out := make([]int, frames)
	for f := range frames {
		x := float64(v[f*hw+hw/2+FrameSize/2])
		out[f] = int(math.Round((x*0.229 + 0.485) * 255))
	}
	return out
}

// frameIndex maps a KS fixture frame's red level (20·f) back to its 1-based index f.
func frameIndex(level int) int { return int(math.Round(float64(level) / 20)) }

// KS, fixture of 10 frames per clip (red level 20·f for frame_0000f.jpg): evaluation reads take
// segmentFrames' picks, training reads one frame at random within each segment, reproducibly per
// seed, drawing on every frame of the segment over seeds; with augment=false training reads are
// the evaluation ones. T = 2, 3 and 8 (Table 7's setting).
func TestKSTrainingFramesSegmentSampled(t *testing.T) {
	dir := t.TempDir()
	ksFixture(t, dir, 5, 1)
	for _, c := range []struct {
		frames int
		test   []int   // 1-based evaluation frames
		segs   [][]int // 1-based frames each training pick may be
	}{
		{2, []int{2, 7}, [][]int{{1, 2, 3, 4, 5}, {6, 7, 8, 9, 10}}},
		{3, []int{1, 4, 7}, [][]int{{1, 2, 3}, {4, 5, 6}, {7, 8, 9}}},
		{8, []int{1, 2, 3, 4, 5, 6, 7, 8}, [][]int{{1}, {2}, {3}, {4}, {5}, {6}, {7}, {8}}},
	} {
		t.Run(fmt.Sprintf("T=%d", c.frames), func(t *testing.T) {
			s := loadSpec(t, fmt.Sprintf("ks:classes=3,frames=%d", c.frames), 1, dir)
			if v := s.Modalities[1]; !slices.Equal(v.Shape, []int64{3, int64(c.frames), 224, 224}) {
				t.Fatalf("visual shape %v", v.Shape)
			}
			idx := func(v []float32) []int {
				var out []int
				for _, l := range frameLevels(v, c.frames) {
					out = append(out, frameIndex(l))
				}
				return out
			}
			for _, sp := range []*data.Split{s.Train, s.Val, s.Test} {
				if got := idx(readOne(t, s, sp, 0)[1]); !slices.Equal(got, c.test) {
					t.Errorf("evaluation frames %v, want %v", got, c.test)
				}
			}
			hits := make([]map[int]bool, c.frames)
			for i := range hits {
				hits[i] = map[int]bool{}
			}
			for seed := uint64(0); seed < 40; seed++ {
				got := idx(readAug(t, s, s.Train, 0, seed)[1])
				if again := idx(readAug(t, s, s.Train, 0, seed)[1]); !slices.Equal(got, again) {
					t.Fatalf("seed %d: frames %v then %v", seed, got, again)
				}
				for i, f := range got {
					if !slices.Contains(c.segs[i], f) {
						t.Fatalf("seed %d: frame %d = %d, outside segment %v", seed, i, f, c.segs[i])
					}
					hits[i][f] = true
				}
			}
			for i, h := range hits {
				if len(h) != len(c.segs[i]) {
					t.Errorf("segment %d: frames drawn %v over 40 seeds, want every one of %v", i, h, c.segs[i])
				}
			}
			off := loadSpec(t, fmt.Sprintf("ks:classes=3,frames=%d,augment=false", c.frames), 1, dir)
			if got := idx(readOne(t, off, off.Train, 0)[1]); !slices.Equal(got, c.test) {
				t.Errorf("augment=false: training frames %v, want %v", got, c.test)
			}
		})
	}
}

// CREMA-D with more frames per clip (Image-04-FPS, 10 frames, red level 20·f for 0000{f−1}.jpg):
// frames=2 and frames=8 read [3, T, 224, 224] clips, evaluation at segmentFrames' picks and
// training within the segments.
func TestCremadFramesPerClip(t *testing.T) {
	dir := t.TempDir()
	root := cremadFixture(t, dir, 5, 1)
	for k := range CremadClasses {
		for i := range 6 {
			clip := fmt.Sprintf("10%02d_IEO_%s_XX", i, CremadClasses[k])
			for f := 1; f <= 10; f++ {
				writeFile(t, filepath.Join(root, "Image-04-FPS", clip, fmt.Sprintf("%05d.jpg", f-1)),
					solidJPEG(t, 8, 6, color.RGBA{uint8(20 * f), 100, 0, 255}))
			}
		}
	}
	for _, c := range []struct {
		frames int
		test   []int
		seg    int // frames per segment
	}{{2, []int{2, 7}, 5}, {8, []int{1, 2, 3, 4, 5, 6, 7, 8}, 1}} {
		s := loadSpec(t, fmt.Sprintf("cremad:fps=4,frames=%d", c.frames), 1, dir)
		if v := s.Modalities[1]; !slices.Equal(v.Shape, []int64{3, int64(c.frames), 224, 224}) {
			t.Fatalf("visual shape %v", v.Shape)
		}
		var got []int
		for _, l := range frameLevels(readOne(t, s, s.Test, 0)[1], c.frames) {
			got = append(got, frameIndex(l))
		}
		if !slices.Equal(got, c.test) {
			t.Errorf("T=%d: test frames %v, want %v", c.frames, got, c.test)
		}
		distinct := map[int]bool{}
		for seed := uint64(0); seed < 20; seed++ {
			for i, l := range frameLevels(readAug(t, s, s.Train, 0, seed)[1], c.frames) {
				f := frameIndex(l)
				if f < i*c.seg+1 || f > (i+1)*c.seg {
					t.Fatalf("T=%d seed %d: frame %d = %d outside its segment", c.frames, seed, i, f)
				}
				if i == 0 {
					distinct[f] = true
				}
			}
		}
		if want := min(c.seg, 3); len(distinct) < want {
			t.Errorf("T=%d: first-segment frames %v over 20 seeds", c.frames, distinct)
		}
	}
}

// The training split's checksum covers every frame a training read may choose: changing a frame
// that no evaluation read uses changes it with augment=true, not with augment=false.
func TestTrainFramePoolInChecksum(t *testing.T) {
	dir := t.TempDir()
	root := ksFixture(t, dir, 5, 1)
	before, beforeOff := loadSpec(t, "ks:classes=3", 1, dir), loadSpec(t, "ks:classes=3,augment=false", 1, dir)
	// frame 2 of every training clip: never an evaluation pick (1, 4, 7), a training candidate.
	for k := range 3 {
		for i := range 5 {
			name := fmt.Sprintf("yt%d-%d_%06d_%06d", k, i, 10*i, 10*i+10)
			writeFile(t, filepath.Join(root, "train_frames", name, "frame_00002.jpg"), solidJPEG(t, 12, 8, color.RGBA{1, 2, 3, 255}))
		}
	}
	after, afterOff := loadSpec(t, "ks:classes=3", 1, dir), loadSpec(t, "ks:classes=3,augment=false", 1, dir)
	if before.SHA256 == after.SHA256 {
		t.Error("augment=true: a training-candidate frame changed and the checksum did not")
	}
	if beforeOff.SHA256 != afterOff.SHA256 {
		t.Error("augment=false: a frame no read uses changed the checksum")
	}
}
