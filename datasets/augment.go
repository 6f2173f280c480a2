package datasets

import (
	"fmt"
	"image"
	"math"
	"math/rand/v2"
)

// Training augmentation of the video datasets (cremad, ks), as the reference loaders apply it to
// every training frame: OGM-GE's CramedDataset and generic AVDataset and BalanceBenchmark's KSDataset
// build transforms.Compose([RandomResizedCrop(224), RandomHorizontalFlip(), ToTensor(), Normalize])
// and call it on each frame image inside their frame loop, so every frame of a clip gets its own crop
// and flip. Here: decode the full-resolution frame (decodeFrame), crop it by torchvision's
// RandomResizedCrop.get_params (scale (0.08, 1), ratio (3/4, 4/3), ten attempts, then the centre-crop
// fallback), resize the crop to 224×224 (resizeFrame, bilinear as torchvision's resized_crop), flip it
// with probability ½, normalise. Validation and test frames keep the test transform (Resize((224,
// 224))); augment=false gives the training split the test transform too.
//
// Every draw comes from one PCG generator per sample seeded with data.AugmentSeed(cell seed, epoch,
// sample), consumed frame by frame in torchvision's order (per frame: the crop's attempts, then the
// flip), so a sample's values do not depend on which goroutine reads it or when. The generator is not
// torch's, so the crops are the reference's distribution, not its exact draws. Before the crops, the
// same generator chooses the training frames, one at random within each of T segments
// (BalanceBenchmark's rule; clips.go, trainSegmentFrames).

// Parameters of RandomResizedCrop as every reference loader uses them (torchvision's defaults).
var (
	cropScale = [2]float64{0.08, 1.0}
	cropRatio = [2]float64{3.0 / 4.0, 4.0 / 3.0}
)

// cropAttempts is torchvision's number of tries before the centre-crop fallback.
const cropAttempts = 10

// randomResizedCropBox is torchvision's RandomResizedCrop.get_params for a width × height image:
// up to ten times, a target area uniform in scale·(width·height) and an aspect ratio exp(uniform(log
// ratio)) give w = round(√(area·ratio)), h = round(√(area/ratio)) (round half to even, as Python's
// round); the first that fits (0 < w ≤ width, 0 < h ≤ height) is placed at a top row uniform in
// [0, height−h] and a left column uniform in [0, width−w]. If none fits, the fallback is the centred
// crop of the whole image clamped to the ratio range. uniform returns a value in [0, 1) and intn(n) one
// in [0, n) (torch.empty(1).uniform_ and torch.randint). fallback reports that no attempt fitted.
func randomResizedCropBox(width, height int, uniform func() float64, intn func(int) int) (box image.Rectangle, fallback bool) {
	area := float64(width) * float64(height)
	logLo, logHi := math.Log(cropRatio[0]), math.Log(cropRatio[1])
	for range cropAttempts {
		target := area * (cropScale[0] + (cropScale[1]-cropScale[0])*uniform())
		aspect := math.Exp(logLo + (logHi-logLo)*uniform())
		w := int(math.RoundToEven(math.Sqrt(target * aspect)))
		h := int(math.RoundToEven(math.Sqrt(target / aspect)))
		if 0 < w && w <= width && 0 < h && h <= height {
			i := intn(height - h + 1)
			j := intn(width - w + 1)
			return image.Rect(j, i, j+w, i+h), false
		}
	}
	inRatio := float64(width) / float64(height)
	w, h := width, height
	switch {
	case inRatio < cropRatio[0]:
		h = int(math.RoundToEven(float64(w) / cropRatio[0]))
	case inRatio > cropRatio[1]:
		w = int(math.RoundToEven(float64(h) * cropRatio[1]))
	}
	i, j := (height-h)/2, (width-w)/2
	return image.Rect(j, i, j+w, i+h), true
}

// flipHorizontal mirrors img left to right in place (torchvision's hflip).
func flipHorizontal(img *image.RGBA) {
	b := img.Rect
	for y := b.Min.Y; y < b.Max.Y; y++ {
		row := img.Pix[img.PixOffset(b.Min.X, y) : img.PixOffset(b.Max.X-1, y)+4]
		for l, r := 0, len(row)-4; l < r; l, r = l+4, r-4 {
			for c := 0; c < 4; c++ {
				row[l+c], row[r+c] = row[r+c], row[l+c]
			}
		}
	}
}

// augmentFrame is RandomResizedCrop(size) then RandomHorizontalFlip(0.5) of one decoded frame, with
// draws from r.
func augmentFrame(img *image.RGBA, size int, r *rand.Rand) *image.RGBA {
	b := img.Bounds()
	box, _ := randomResizedCropBox(b.Dx(), b.Dy(), r.Float64, r.IntN)
	out := resizeFrame(img.SubImage(box.Add(b.Min)), size)
	if r.Float64() < 0.5 { // torch.rand(1) < p
		flipHorizontal(out)
	}
	return out
}

// readRGBClipAugmented is readRGBClip with the training transform: each frame its own crop and flip.
func readRGBClipAugmented(files []fileRef, dst []float32, size int, r *rand.Rand) error {
	if want := 3 * len(files) * size * size; len(dst) != want {
		return fmt.Errorf("visual buffer holds %d values, want %d", len(dst), want)
	}
	for t, f := range files {
		img, err := decodeFrame(f.Path)
		if err != nil {
			return err
		}
		putRGBFrame(dst, augmentFrame(img, size, r), t, len(files))
	}
	return nil
}

// augmentRand is the generator of one sample's training transform.
func augmentRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 0x7a1_a06)) }

// clipAugmentParam reads augment=true|false (default true): the training transform of the training
// split. It is recorded in the dataset's Params (and so its checksum and every cell key).
func clipAugmentParam(p *specParams) (bool, error) {
	switch v := p.str("augment", "true"); v {
	case "true":
		return true, nil
	case "false":
		return false, nil
	default:
		return false, p.errorf("augment", v, "want true (RandomResizedCrop and horizontal flip of every training frame, as the reference loaders) or false (the test transform for every split)")
	}
}
