package datasets

import (
	"fmt"
	"image/color"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mmfusion/bench/bench/data"
)

var ucfFixtureClasses = []string{"Basketball", "ApplyEyeMakeup", "YoYo"} // classInd order; sorted: A, B, Y

// ucfFixture writes a tiny UCF101 copy under dir/ucf101 with the lists in ucfTrainTestlist/: per
// class, training groups g08-g11 and test group g01 (one clip each). RGB: frame_00001 … frame_00006
// (5×4; red 30·f, green 60·label; the test clips' frames are PNG files). Flow: frame000001 … frame000009,
// u level 10·f, v level 200 − 10·f.
func ucfFixture(t *testing.T, dir string) string {
	t.Helper()
	root := filepath.Join(dir, "ucf101")
	lists := filepath.Join(root, "ucfTrainTestlist")
	var ind, tr, te strings.Builder
	for i, c := range ucfFixtureClasses {
		fmt.Fprintf(&ind, "%d %s\r\n", i+1, c)
		label := slices.Index([]string{"ApplyEyeMakeup", "Basketball", "YoYo"}, c)
		for _, g := range []int{1, 8, 9, 10, 11} {
			video := fmt.Sprintf("v_%s_g%02d_c01", c, g)
			if g == 1 {
				fmt.Fprintf(&te, "%s/%s.avi\r\n", c, video)
			} else {
				fmt.Fprintf(&tr, "%s/%s.avi %d\r\n", c, video, i+1)
			}
			for f := 1; f <= 6; f++ {
				col := color.RGBA{uint8(30 * f), uint8(60 * label), 0, 255}
				if g == 1 {
					writeFile(t, filepath.Join(root, "frames", video, fmt.Sprintf("frame_%05d.png", f)), solidPNG(t, 5, 4, col))
				} else {
					writeFile(t, filepath.Join(root, "frames", video, fmt.Sprintf("frame_%05d.jpg", f)), solidJPEG(t, 5, 4, col))
				}
			}
			for f := 1; f <= 9; f++ {
				name := fmt.Sprintf("frame%06d.jpg", f)
				writeFile(t, filepath.Join(root, "u", video, name), grayJPEG(t, 5, 4, uint8(10*f)))
				writeFile(t, filepath.Join(root, "v", video, name), grayJPEG(t, 5, 4, uint8(200-10*f)))
			}
		}
	}
	writeFile(t, filepath.Join(lists, "classInd.txt"), []byte(ind.String()))
	writeFile(t, filepath.Join(lists, "trainlist01.txt"), []byte(tr.String()))
	writeFile(t, filepath.Join(lists, "testlist01.txt"), []byte(te.String()))
	return root
}

func TestUCF101Fixture(t *testing.T) {
	dir := t.TempDir()
	ucfFixture(t, dir)
	s := loadSpec(t, "ucf101", 1, dir)
	if r, f := s.Modalities[0], s.Modalities[1]; s.NumClasses != 3 || r.Name != "rgb" || !slices.Equal(r.Shape, []int64{3, 3, 224, 224}) ||
		f.Name != "flow" || !slices.Equal(f.Shape, []int64{2, 3, 224, 224}) {
		t.Fatalf("classes %d, modalities %+v", s.NumClasses, s.Modalities)
	}
	// 4 training groups: one (all its 3 clips) held out.
	if s.Train.Len() != 9 || s.Val.Len() != 3 || s.Test.Len() != 3 {
		t.Fatalf("sizes %d/%d/%d, want 9/3/3", s.Train.Len(), s.Val.Len(), s.Test.Len())
	}
	if !slices.Equal(s.Val.Y, []int64{1, 0, 2}) || !slices.Equal(s.Test.Y, []int64{1, 0, 2}) {
		t.Errorf("labels: val %v, test %v (classInd lists Basketball, ApplyEyeMakeup, YoYo)", s.Val.Y, s.Test.Y)
	}
	src := s.Val.Source.(*clipSource)
	if g := ucfGroup(src.samples[0].Name); g != ucfGroup(src.samples[1].Name) || g != ucfGroup(src.samples[2].Name) {
		t.Errorf("validation clips from several groups: %v", src.samples)
	}
	if s.Params["split"] != "1" || s.Params["frames"] != "3" || s.Params["flow_frames"] != "3" {
		t.Errorf("Params %v", s.Params)
	}
	hw := 224 * 224
	for _, sp := range []*struct {
		name string
		read func(int) [][]float32
		y    []int64
	}{
		{"train", func(i int) [][]float32 { return readOne(t, s, s.Train, i) }, s.Train.Y},
		{"test", func(i int) [][]float32 { return readOne(t, s, s.Test, i) }, s.Test.Y},
	} {
		for i, y := range sp.y {
			x := sp.read(i)
			for f, red := range []uint8{30, 90, 150} { // frames 1, 3, 5 of 6
				if got := float64(x[0][f*hw+9]); !closeTo(got, imagenet(red, 0), 0.1) {
					t.Errorf("%s %d rgb frame %d: red %g, want ≈ %g", sp.name, i, f, got, imagenet(red, 0))
				}
			}
			if got := float64(x[0][(3+2)*hw+9]); !closeTo(got, imagenet(uint8(60*y), 1), 0.1) {
				t.Errorf("%s %d: green %g for label %d", sp.name, i, got, y)
			}
			for f, lv := range []float64{10, 40, 70} { // flow frames 1, 4, 7 of 9
				if u, v := float64(x[1][f*hw+3]), float64(x[1][(3+f)*hw+3]); !closeTo(u, lv/255, 0.02) || !closeTo(v, (200-lv)/255, 0.02) {
					t.Errorf("%s %d flow frame %d: u %g v %g, want ≈ %g %g", sp.name, i, f, u, v, lv/255, (200-lv)/255)
				}
			}
		}
	}
	one := loadSpec(t, "ucf101:frames=1,flow_frames=2", 1, dir)
	if !slices.Equal(one.Modalities[0].Shape, []int64{3, 1, 224, 224}) || !slices.Equal(one.Modalities[1].Shape, []int64{2, 2, 224, 224}) {
		t.Errorf("shapes %v %v", one.Modalities[0].Shape, one.Modalities[1].Shape)
	}
	readOne(t, one, one.Test, 0)
}

func TestUCF101MissingAndMalformed(t *testing.T) {
	empty := t.TempDir()
	e := filepath.Join(empty, "ucf101")
	wantErrContains(t, loadSpecErr(t, "ucf101:split=2", 1, empty), "dataset ucf101: list files not found",
		filepath.Join(e, "classInd.txt")+" or "+filepath.Join(e, "ucfTrainTestlist", "classInd.txt"),
		filepath.Join(e, "trainlist02.txt"), filepath.Join(e, "ucfTrainTestlist", "testlist02.txt"))
	wantErrContains(t, loadSpecErr(t, "ucf101:split=4", 1, empty), `split="4": want 1, 2 or 3`)

	dir := t.TempDir()
	root := ucfFixture(t, dir)
	vFrame := filepath.Join(root, "v", "v_YoYo_g09_c01", "frame000004.jpg")
	rgb := filepath.Join(root, "frames", "v_Basketball_g01_c01")
	os.Remove(vFrame)
	os.RemoveAll(rgb)
	wantErrContains(t, loadSpecErr(t, "ucf101", 1, dir), "1 of 12 clips", vFrame+" (missing; the v frame beside frame000004.jpg of u)")
	os.Remove(filepath.Join(root, "u", "v_YoYo_g09_c01", "frame000004.jpg")) // now u and v agree: 8 frames
	wantErrContains(t, loadSpecErr(t, "ucf101", 1, dir), "1 of 3 clips", rgb+"/ (frame folder missing)")
	s := loadSpec(t, "ucf101:missing=skip", 1, dir)
	if s.Test.Len() != 2 || s.Train.Len()+s.Val.Len() != 12 {
		t.Errorf("missing=skip: %d training and %d test clips", s.Train.Len()+s.Val.Len(), s.Test.Len())
	}
	bad := filepath.Join(root, "u", "v_YoYo_g01_c01", "frame000004.jpg")
	writeFile(t, bad, []byte("\xff\xd8 truncated"))
	wantErrContains(t, readErr(s, s.Test, 1), "test sample 1 (v_YoYo_g01_c01): file "+bad+": decoding image")

	lists := filepath.Join(root, "ucfTrainTestlist")
	writeFile(t, filepath.Join(lists, "testlist01.txt"), []byte("YoYo/v_YoYo_g01_c01.avi\nSurfing/v_Surfing_g01_c01.avi\n"))
	wantErrContains(t, loadSpecErr(t, "ucf101", 1, dir), "testlist01.txt, line 2: class \"Surfing\" is not in classInd.txt")
	writeFile(t, filepath.Join(lists, "testlist01.txt"), []byte("v_YoYo_g01_c01.avi\n"))
	wantErrContains(t, loadSpecErr(t, "ucf101", 1, dir), "testlist01.txt, line 1:", "want Class/video.avi")
	writeFile(t, filepath.Join(lists, "classInd.txt"), []byte("1 A\n2\n"))
	wantErrContains(t, loadSpecErr(t, "ucf101", 1, dir), "classInd.txt, line 2:", `want "index ClassName"`)
}

func TestUCFGroup(t *testing.T) {
	for name, want := range map[string]string{
		"v_ApplyEyeMakeup_g08_c01": "g08", "v_YoYo_g25_c05": "g25", "clip_7": "clip_7",
	} {
		if got := ucfGroup(name); got != want {
			t.Errorf("ucfGroup(%q) = %q, want %q", name, got, want)
		}
	}
}

// ucfFixtureSHA is the bare ucf101's checksum on ucfFixture, computed with ucf101.go before the
// modalities parameter existed: the default must keep it.
const ucfFixtureSHA = "b9394a99177ac3e9df99e61d7e3a99512afebdc1c81fb07e1fbe86ba55ff7b3d"

func TestUCF101Modalities(t *testing.T) {
	dir := t.TempDir()
	root := ucfFixture(t, dir)
	def := loadSpec(t, "ucf101", 1, dir)
	if def.SHA256 != ucfFixtureSHA {
		t.Errorf("default checksum %s, want %s (unchanged)", def.SHA256, ucfFixtureSHA)
	}
	if def.Params["modalities"] != "rgb+flow" || def.Params["diff_frames"] != "" {
		t.Errorf("default Params %v", def.Params)
	}
	same := loadSpec(t, "ucf101:modalities=rgb+flow", 1, dir)
	if same.SHA256 != ucfFixtureSHA {
		t.Errorf("modalities=rgb+flow: checksum %s, want the default's", same.SHA256)
	}
	if c, err := data.Canonical("ucf101:modalities=rgb+flow", same.Params, def.Params); err != nil || c != "ucf101" {
		t.Errorf("Canonical = %q, %v; want ucf101", c, err)
	}
	for spec, want := range map[string][]string{
		"ucf101:modalities=rgb+flow+diff":           {"rgb 3x3", "flow 2x3", "diff 3x3"},
		"ucf101:modalities=diff+rgb,diff_frames=2":  {"diff 3x2", "rgb 3x3"},
		"ucf101:modalities=flow+diff+rgb,frames=2":  {"flow 2x3", "diff 3x2", "rgb 3x2"},
		"ucf101:modalities=diff,diff_frames=4":      {"diff 3x4"},
		"ucf101:modalities=flow+rgb":                {"flow 2x3", "rgb 3x3"},
		"ucf101:modalities=diff+flow,flow_frames=2": {"diff 3x3", "flow 2x2"},
	} {
		s := loadSpec(t, spec, 1, dir)
		var got []string
		for _, m := range s.Modalities {
			if m.Shape[2] != 224 || m.Shape[3] != 224 || m.Role == "" {
				t.Errorf("%s: %s shape %v role %q", spec, m.Name, m.Shape, m.Role)
			}
			got = append(got, fmt.Sprintf("%s %dx%d", m.Name, m.Shape[0], m.Shape[1]))
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s: modalities %v, want %v", spec, got, want)
		}
		if s.SHA256 == ucfFixtureSHA {
			t.Errorf("%s: same checksum as the default", spec)
		}
		readOne(t, s, s.Train, 0)
		x := readOne(t, s, s.Test, 0)
		for k, m := range s.Modalities {
			if m.Name == "diff" { // test frames are PNG, red 30·f: every adjacent pair differs by 30 in red
				hw := 224 * 224
				td := int(m.Shape[1])
				for f := range td {
					if r, g := float64(x[k][f*hw+7]), float64(x[k][(td+f)*hw+7]); !closeTo(r, 30.0/255/0.452, 1e-5) || g != 0 {
						t.Errorf("%s diff frame %d: red %g green %g, want %g 0", spec, f, r, g, 30.0/255/0.452)
					}
				}
			}
		}
	}
	full := loadSpec(t, "ucf101:modalities=rgb+flow+diff", 1, dir)
	if full.Params["modalities"] != "rgb+flow+diff" || full.Params["diff_frames"] != "3" {
		t.Errorf("Params %v", full.Params)
	}
	if c, err := data.Canonical("ucf101:modalities=rgb+flow+diff,diff_frames=3", full.Params, def.Params); err != nil || c != "ucf101:diff_frames=3,modalities=rgb+flow+diff" {
		t.Errorf("Canonical = %q, %v", c, err)
	}
	// The other modalities read as in the default.
	xd, xf := readOne(t, def, def.Test, 1), readOne(t, full, full.Test, 1)
	if !slices.Equal(xd[0], xf[0]) || !slices.Equal(xd[1], xf[1]) {
		t.Errorf("rgb or flow differs with diff added")
	}

	// A hand-computed difference: two solid frames a, b give (b − a)/255/0.452 per channel.
	clip := filepath.Join(root, "frames", "v_YoYo_g01_c01")
	os.RemoveAll(clip)
	a, b := color.RGBA{10, 200, 50, 255}, color.RGBA{250, 20, 60, 255}
	writeFile(t, filepath.Join(clip, "frame_00001.png"), solidPNG(t, 5, 4, a))
	writeFile(t, filepath.Join(clip, "frame_00002.png"), solidPNG(t, 5, 4, b))
	s := loadSpec(t, "ucf101:modalities=diff+rgb,diff_frames=2", 1, dir)
	x := readOne(t, s, s.Test, 2) // test order: Basketball, ApplyEyeMakeup, YoYo
	if src := s.Test.Source.(*clipSource); src.samples[2].Name != "v_YoYo_g01_c01" {
		t.Fatalf("test sample 2 is %s", src.samples[2].Name)
	}
	hw := 224 * 224
	for c, d := range []float64{240, -180, 10} {
		for f := range 2 { // 2 frames: both pairs are (1, 2)
			want := d / 255 / 0.452
			if got := float64(x[0][(c*2+f)*hw+1234]); !closeTo(got, want, 1e-5) {
				t.Errorf("channel %d pair %d: %g, want %g", c, f, got, want)
			}
		}
	}

	wantErrContains(t, loadSpecErr(t, "ucf101:modalities=rgb+depth", 1, dir), `modalities="rgb+depth"`, `unknown modality "depth"`, "rgb, flow, diff")
	wantErrContains(t, loadSpecErr(t, "ucf101:modalities=rgb+rgb", 1, dir), "rgb given twice")
	wantErrContains(t, loadSpecErr(t, "ucf101:diff_frames=2", 1, dir), "diff_frames", "needs diff in modalities")
	wantErrContains(t, loadSpecErr(t, "ucf101:modalities=rgb+diff,diff_frames=0", 1, dir), "must be at least 1")
	os.Remove(filepath.Join(clip, "frame_00002.png"))
	wantErrContains(t, loadSpecErr(t, "ucf101:modalities=rgb+flow+diff", 1, dir), clip+"/ (1 .jpg/.png frames; diff needs at least 2")
	loadSpec(t, "ucf101", 1, dir) // rgb alone is content with 1 frame
}
