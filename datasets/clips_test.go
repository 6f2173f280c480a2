package datasets

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// The checksum of a lazily read dataset covers the files' names and sizes and the parameters, without
// reading the files.
func TestClipDigest(t *testing.T) {
	dir := t.TempDir()
	root := cremadFixture(t, dir, 5, 1)
	a := loadSpec(t, "cremad", 1, dir)
	if b := loadSpec(t, "cremad:frames=2", 1, dir); b.SHA256 == a.SHA256 {
		t.Error("frames=2 has the same checksum")
	}
	if b := loadSpec(t, "cremad:sr=16000", 1, dir); b.SHA256 == a.SHA256 || !slices.Equal(b.Modalities[0].Shape, []int64{1, 257, 136}) {
		t.Errorf("sr=16000: shape %v", b.Modalities[0].Shape)
	}
	wav := filepath.Join(root, "AudioWAV", "1003_IEO_DIS_XX.wav")
	writeFile(t, wav, wavBytes(16000, 1, 16, 1, sine(500, 0.5, 16000, 6401)))
	if b := loadSpec(t, "cremad", 1, dir); b.SHA256 == a.SHA256 {
		t.Error("a WAV of another size has the same checksum")
	}
	// Paths enter the digest relative to the dataset folder, so a copy elsewhere has the same checksum.
	other := t.TempDir()
	if err := os.Rename(filepath.Join(dir, "cremad"), filepath.Join(other, "cremad")); err != nil {
		t.Fatal(err)
	}
	b, c := loadSpec(t, "cremad", 1, other), loadSpec(t, "cremad", 1, other)
	if b.SHA256 != c.SHA256 {
		t.Error("same files, different checksums")
	}
	var h1, h2 bytes.Buffer
	b.Train.Source.Digest(&h1)
	loadSpec(t, "cremad:dir="+filepath.Join(other, "cremad"), 1, "").Train.Source.Digest(&h2)
	if h1.String() != h2.String() || !bytes.Contains(h1.Bytes(), []byte("AudioWAV/1000_IEO_NEU_XX.wav:")) {
		t.Errorf("digest depends on how the folder was given:\n%.300s\n%.300s", h1.String(), h2.String())
	}
}

func TestGroupSplit(t *testing.T) {
	var groups []string
	for i := 0; i < 60; i++ {
		groups = append(groups, fmt.Sprintf("g%02d", 8+i%18))
	}
	tr, val := groupSplit(groups, 0.1, 0)
	if len(tr)+len(val) != 60 || len(val) == 0 {
		t.Fatalf("%d + %d", len(tr), len(val))
	}
	held := map[string]bool{}
	for _, i := range val {
		held[groups[i]] = true
	}
	for _, i := range tr {
		if held[groups[i]] {
			t.Fatalf("group %s on both sides", groups[i])
		}
	}
	if len(held) != 2 { // round(0.1·18)
		t.Errorf("%d groups held out, want 2", len(held))
	}
	if tr2, _ := groupSplit(groups, 0.1, 0); !slices.Equal(tr, tr2) {
		t.Error("not deterministic")
	}
	if _, v := groupSplit([]string{"a", "a"}, 0.5, 0); len(v) != 0 {
		t.Errorf("a single group was held out: %v", v)
	}
}
