package datasets

import (
	"bufio"
	"image"
	"image/draw"
	"image/jpeg"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestXCheckFrames compares our frame decoding (decodeFrame) and decode + Resize((224, 224))
// (loadFrame) with PIL's Image.open(p).convert('RGB') and .resize((224, 224), Image.BILINEAR), on
// the images and references scripts/xcheck/frames.py writes: into $XCHECK_DIR under make xcheck,
// else the committed golden copy testdata/xcheck/frames. It logs one XCHECK| row per figure, and
// logs per file the figures of the stock image/jpeg decode (chroma replication) for comparison.
func TestXCheckFrames(t *testing.T) {
	dir := os.Getenv("XCHECK_DIR")
	if dir == "" {
		dir = filepath.Join("testdata", "xcheck", "frames")
	}
	cases := readFrameCases(t, filepath.Join(dir, "cases.tsv"))
	type group struct {
		step, ref string
		maxBound  int
		meanBound float64
	}
	groups := []group{
		{"JPEG 4:2:0 frames, decode", "PIL (libjpeg-turbo)", 3, 0.5},
		{"JPEG 4:2:0 frames, decode + resize 224", "PIL (libjpeg-turbo)", 3, 0.5},
		{"JPEG 4:2:2 frames, decode", "PIL (libjpeg-turbo)", 3, 0.5},
		{"JPEG 4:4:4 frames, decode", "PIL (libjpeg-turbo)", 3, 0.5},
		{"JPEG greyscale frames, decode", "PIL (libjpeg-turbo)", 3, 0.5},
		{"PNG frames, resize 224", "PIL", 1, 0.5},
	}
	kindName := map[string]string{"420": "JPEG 4:2:0", "422": "JPEG 4:2:2", "444": "JPEG 4:4:4", "gray": "JPEG greyscale", "png": "PNG"}
	stats := map[string]*levelDiff{}
	for _, c := range cases {
		path := filepath.Join(dir, c.file)
		ours, err := decodeFrame(path)
		if err != nil {
			t.Fatal(err)
		}
		stock := stockDecode(t, path)
		if c.kind != "png" {
			step := kindName[c.kind] + " frames, decode"
			ref := readRGBNpy(t, filepath.Join(dir, c.name+".npy"), c.w, c.h)
			d, s := diffRGB(ours, ref), diffRGB(stock, ref)
			t.Logf("%-22s decode:     ours max %2d mean %.3f | image/jpeg max %2d mean %.3f", c.name, d.max, d.mean(), s.max, s.mean())
			accumulate(stats, step, d)
		}
		if c.has224 {
			step := kindName[c.kind] + " frames, decode + resize 224"
			if c.kind == "png" {
				step = "PNG frames, resize 224"
			}
			ref := readRGBNpy(t, filepath.Join(dir, c.name+"_224.npy"), FrameSize, FrameSize)
			got, err := loadFrame(path, FrameSize)
			if err != nil {
				t.Fatal(err)
			}
			d, s := diffRGB(got, ref), diffRGB(resizeFrame(stock, FrameSize), ref)
			t.Logf("%-22s resize 224: ours max %2d mean %.3f | image/jpeg max %2d mean %.3f", c.name, d.max, d.mean(), s.max, s.mean())
			accumulate(stats, step, d)
		}
	}
	for _, g := range groups {
		d := stats[g.step]
		if d == nil {
			t.Errorf("%s: no case in %s", g.step, dir)
			continue
		}
		verdict := "ok"
		if d.max > g.maxBound || d.mean() > g.meanBound {
			verdict = "FAIL"
			t.Errorf("%s: max %d, mean %.3f levels from PIL; want max ≤ %d, mean ≤ %g", g.step, d.max, d.mean(), g.maxBound, g.meanBound)
		}
		t.Logf("XCHECK| %s | %s | max %d, mean %.2f levels | max ≤ %d, mean ≤ %g | %s |",
			g.step, g.ref, d.max, d.mean(), g.maxBound, g.meanBound, verdict)
	}
}

type frameCase struct {
	name, file, kind string
	quality, w, h    int
	has224           bool
}

// readFrameCases reads frames.py's cases.tsv: name file kind quality width height has_224.
func readFrameCases(t *testing.T, path string) []frameCase {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("frame references: %v (make xcheck writes them; XCHECK_UPDATE=1 refreshes the golden copy)", err)
	}
	defer f.Close()
	var cases []frameCase
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fs := strings.Split(line, "\t")
		if len(fs) != 7 {
			t.Fatalf("%s: line %q: want 7 tab-separated fields", path, line)
		}
		n := make([]int, 4)
		for i, s := range []string{fs[3], fs[4], fs[5], fs[6]} {
			if n[i], err = strconv.Atoi(s); err != nil {
				t.Fatalf("%s: line %q: %v", path, line, err)
			}
		}
		cases = append(cases, frameCase{fs[0], fs[1], fs[2], n[0], n[1], n[2], n[3] == 1})
	}
	if err := sc.Err(); err != nil || len(cases) == 0 {
		t.Fatalf("%s: %v, %d cases", path, err, len(cases))
	}
	return cases
}

// stockDecode is the decode before jpeg.go: image/jpeg (or image/png) and image/draw's conversion,
// which replicates subsampled chroma.
func stockDecode(t *testing.T, path string) *image.RGBA {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var src image.Image
	if strings.HasSuffix(path, ".jpg") {
		src, err = jpeg.Decode(f)
	} else {
		src, _, err = image.Decode(f)
	}
	if err != nil {
		t.Fatal(err)
	}
	dst := image.NewRGBA(src.Bounds())
	draw.Draw(dst, dst.Bounds(), src, src.Bounds().Min, draw.Src)
	return dst
}

// readRGBNpy reads a uint8 [h, w, 3] reference.
func readRGBNpy(t *testing.T, path string, w, h int) []float32 {
	t.Helper()
	a, err := readNpyFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Shape) != 3 || a.Shape[0] != h || a.Shape[1] != w || a.Shape[2] != 3 {
		t.Fatalf("%s: shape %v, want [%d %d 3]", path, a.Shape, h, w)
	}
	return a.Data
}

// levelDiff accumulates absolute differences in grey levels over R, G and B.
type levelDiff struct {
	max      int
	sum, num int64
}

func (d *levelDiff) mean() float64 { return float64(d.sum) / float64(max(d.num, 1)) }

func diffRGB(img *image.RGBA, ref []float32) levelDiff {
	var d levelDiff
	w, h := img.Rect.Dx(), img.Rect.Dy()
	for y := range h {
		for x := range w {
			for c := range 3 {
				v := int(img.Pix[y*img.Stride+4*x+c]) - int(ref[(y*w+x)*3+c])
				v = max(v, -v)
				d.max = max(d.max, v)
				d.sum += int64(v)
				d.num++
			}
		}
	}
	return d
}

func accumulate(stats map[string]*levelDiff, step string, d levelDiff) {
	s := stats[step]
	if s == nil {
		s = &levelDiff{}
		stats[step] = s
	}
	s.max = max(s.max, d.max)
	s.sum += d.sum
	s.num += d.num
}
