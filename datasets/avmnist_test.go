package datasets

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// writeAVMNISTFixture writes nImages gzipped t10k MNIST images (label ⌊i/5⌋ mod 10, so every pool
// holds every digit; every pixel = 25·label)
// and, per digit, FSDD-style recordings of two speakers with the given takes: a sine at 62.5·(4+5d) Hz,
// i.e. on the first bin of band 4+5d, so the spectrogram reveals the digit.
func writeAVMNISTFixture(t *testing.T, dir string, nImages int, takes []int) {
	t.Helper()
	pix := make([]byte, nImages*784)
	lab := make([]byte, nImages)
	for i := range lab {
		lab[i] = byte(i / 5 % 10)
		for j := 0; j < 784; j++ {
			pix[i*784+j] = lab[i] * 25
		}
	}
	writeFile(t, filepath.Join(dir, "mnist", "t10k-images-idx3-ubyte.gz"), gzipBytes(t, idxBytes([]int{nImages, 28, 28}, pix)))
	writeFile(t, filepath.Join(dir, "mnist", "t10k-labels-idx1-ubyte"), idxBytes([]int{nImages}, lab)) // not gzipped
	rec := filepath.Join(dir, "fsdd", "recordings")
	for d := 0; d < 10; d++ {
		for _, sp := range []string{"alice", "bob"} {
			for _, take := range takes {
				samples := sine(62.5*float64(4+5*d), 0.3, 8000, 2000+100*take)
				writeFile(t, filepath.Join(rec, fmt.Sprintf("%d_%s_%d.wav", d, sp, take)), wavBytes(8000, 1, 16, 1, samples))
			}
		}
	}
	writeFile(t, filepath.Join(rec, "README.txt"), []byte("ignored"))
}

var fixtureTakes = []int{0, 1, 4, 5, 7, 10, 12, 49}

func TestAVMNISTFixture(t *testing.T) {
	dir := t.TempDir()
	writeAVMNISTFixture(t, dir, 100, fixtureTakes) // t10k pools: train 60, val 20, test 20
	s := loadSpec(t, "avmnist:n_train=50,n_val=20,n_test=10", 3, dir)
	if s.NumClasses != 10 || len(s.Modalities) != 2 {
		t.Fatalf("%+v", s.Modalities)
	}
	if img, aud := s.Modalities[0], s.Modalities[1]; img.Name != "image" || !slices.Equal(img.Shape, []int64{1, 28, 28}) ||
		aud.Name != "audio" || !slices.Equal(aud.Shape, []int64{1, 64, 32}) {
		t.Fatalf("modalities %+v", s.Modalities)
	}
	if s.Train.Len() != 50 || s.Val.Len() != 20 || s.Test.Len() != 10 {
		t.Fatalf("sizes %d/%d/%d", s.Train.Len(), s.Val.Len(), s.Test.Len())
	}
	if s.Params["images"] != "t10k" || s.Params["n_train"] != "50" || s.Params["seed"] != "3" || s.Params["split_seed"] != "0" {
		t.Errorf("Params %v", s.Params)
	}
	for _, ns := range s.Splits() {
		sp := ns.Split
		for i := range sp.Y {
			ix := sp.Aux["image_index"][i]
			pool := map[int64]string{0: "test", 1: "val"}[ix%5]
			if pool == "" {
				pool = "train"
			}
			if pool != ns.Name {
				t.Fatalf("%s sample %d uses image %d of the %s pool", ns.Name, i, ix, pool)
			}
			if sp.Y[i] != ix/5%10 || sp.X[0][i*784] != float32(25*(ix/5%10))/255 {
				t.Fatalf("%s sample %d: label %d, pixel %g for image %d", ns.Name, i, sp.Y[i], sp.X[0][i*784], ix)
			}
			if take := sp.Aux["audio_take"][i]; avSplitNames[fsddPool(int(take))] != ns.Name {
				t.Fatalf("%s sample %d uses FSDD take %d", ns.Name, i, take)
			}
		}
	}
	// The audio must be a recording of the image's digit: the sine of digit d peaks in band 4+5d.
	a := s.Train.X[1]
	per := 64 * 32
	for i, y := range s.Train.Y {
		spec := a[i*per : (i+1)*per]
		col := make([]float64, 64)
		for f := range col {
			col[f] = float64(spec[f*32+16])
		}
		if k := argmax(col); k != 4+5*int(y) {
			t.Fatalf("train sample %d (digit %d): audio peaks at band %d, want %d", i, y, k, 4+5*y)
		}
	}
}

func TestAVMNISTDeterminism(t *testing.T) {
	dir := t.TempDir()
	writeAVMNISTFixture(t, dir, 100, fixtureTakes)
	spec := "avmnist:n_train=60,n_val=20,n_test=20"
	a, b, c := loadSpec(t, spec, 1, dir), loadSpec(t, spec, 1, dir), loadSpec(t, spec, 2, dir)
	if a.SHA256 != b.SHA256 {
		t.Error("same seed, different SHA-256")
	}
	if a.SHA256 == c.SHA256 {
		t.Error("different seeds, same pairing")
	}
	// The images do not depend on the run seed; only the pairing does.
	if !slices.Equal(a.Test.Aux["image_index"], c.Test.Aux["image_index"]) || !slices.Equal(a.Train.X[0], c.Train.X[0]) {
		t.Error("run seed changed the images")
	}
}

func TestAVMNISTErrors(t *testing.T) {
	dir := t.TempDir()
	writeAVMNISTFixture(t, dir, 100, fixtureTakes)
	empty := t.TempDir()
	cases := []struct {
		spec, dir string
		want      []string
	}{
		{"avmnist:n_train=61", dir, []string{"n_train=61 exceeds the 60 images of the train pool (images=t10k)"}},
		{"avmnist:images=train", dir, []string{"MNIST files not found",
			filepath.Join(dir, "mnist", "train-images-idx3-ubyte") + " or " + filepath.Join(dir, "mnist", "train-images-idx3-ubyte.gz")}},
		{"avmnist:images=png", dir, []string{`parameter images="png": want auto, t10k or train`}},
		{"avmnist", empty, []string{"MNIST files not found (folder from data root --data-dir)",
			filepath.Join(empty, "mnist", "t10k-images-idx3-ubyte.gz"), filepath.Join(empty, "mnist", "t10k-labels-idx1-ubyte.gz")}},
		{"avmnist:n_train=10,n_val=10,n_test=10,fsdd_dir=" + filepath.Join(empty, "nope"), dir, []string{"FSDD folder " + filepath.Join(empty, "nope")}},
		{"avmnist:n_val=0", dir, []string{`n_val="0": must be at least 1`}},
	}
	for _, c := range cases {
		wantErrContains(t, loadSpecErr(t, c.spec, 1, c.dir), c.want...)
	}

	// A pool without a recording of some digit.
	d2 := t.TempDir()
	writeAVMNISTFixture(t, d2, 100, []int{0, 5, 10})
	os.Remove(filepath.Join(d2, "fsdd", "recordings", "3_alice_5.wav"))
	os.Remove(filepath.Join(d2, "fsdd", "recordings", "3_bob_5.wav"))
	wantErrContains(t, loadSpecErr(t, "avmnist:n_train=60,n_val=20,n_test=10", 1, d2),
		"no FSDD recording of digit 3 with a val take (takes 5-9)")

	// Mismatched counts and a stereo recording.
	d3 := t.TempDir()
	writeAVMNISTFixture(t, d3, 100, []int{0, 5, 10})
	writeFile(t, filepath.Join(d3, "mnist", "t10k-labels-idx1-ubyte"), idxBytes([]int{99}, make([]byte, 99)))
	wantErrContains(t, loadSpecErr(t, "avmnist:n_train=10,n_val=10,n_test=10", 1, d3), "has 100 images but", "has 99 labels")
	d4 := t.TempDir()
	writeAVMNISTFixture(t, d4, 100, []int{0, 5, 10})
	bad := filepath.Join(d4, "fsdd", "recordings", "7_bob_10.wav")
	writeFile(t, bad, wavBytes(16000, 1, 16, 1, []int16{1}))
	wantErrContains(t, loadSpecErr(t, "avmnist:n_train=60,n_val=10,n_test=10", 1, d4),
		"file "+bad+": sample rate 16000 Hz, want 8000")
}

// With the 60k training images present, images=auto uses them: train 0-54,999, val 55,000-59,999,
// test = the t10k images. The fixture's training images are blank to keep it small.
func TestAVMNISTTrainImages(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 47 MB of blank training images")
	}
	dir := t.TempDir()
	writeAVMNISTFixture(t, dir, 100, fixtureTakes)
	const n = 60000
	lab := make([]byte, n)
	for i := range lab {
		lab[i] = byte(i % 10)
	}
	writeFile(t, filepath.Join(dir, "mnist", "train-images-idx3-ubyte.gz"), gzipBytes(t, idxBytes([]int{n, 28, 28}, make([]byte, n*784))))
	writeFile(t, filepath.Join(dir, "mnist", "train-labels-idx1-ubyte.gz"), gzipBytes(t, idxBytes([]int{n}, lab)))
	s := loadSpec(t, "avmnist:n_train=100,n_val=50,n_test=100", 1, dir)
	if s.Params["images"] != "train" {
		t.Fatalf("images = %q, want train", s.Params["images"])
	}
	for _, ix := range s.Train.Aux["image_index"] {
		if ix >= mnistTrainVal {
			t.Fatalf("training image %d is in the validation range", ix)
		}
	}
	for _, ix := range s.Val.Aux["image_index"] {
		if ix < mnistTrainVal {
			t.Fatalf("validation image %d is in the training range", ix)
		}
	}
	if got := s.Test.Aux["image_index"]; !slices.Equal(got, seq(100)) {
		t.Fatalf("test images %v, want all 100 t10k images", got)
	}
	// images=t10k still ignores them.
	if s := loadSpec(t, "avmnist:images=t10k,n_train=60,n_val=10,n_test=10", 1, dir); s.Params["images"] != "t10k" {
		t.Errorf("images = %q", s.Params["images"])
	}
}

func seq(n int) []int64 {
	s := make([]int64, n)
	for i := range s {
		s[i] = int64(i)
	}
	return s
}

func TestParseFSDDName(t *testing.T) {
	for name, ok := range map[string]bool{
		"7_jackson_32.wav": true, "0_george_0.wav": true, "10_x_1.wav": false, "7_jackson_32.WAV": false,
		"7__3.wav": false, "7_a_b.wav": false, "7_a_-1.wav": false, "7_a_1_2.wav": false, "README": false,
	} {
		if _, _, _, got := parseFSDDName(name); got != ok {
			t.Errorf("parseFSDDName(%q) ok = %v, want %v", name, got, ok)
		}
	}
}
