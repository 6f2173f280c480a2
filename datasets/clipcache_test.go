package datasets

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// cacheEntries lists the cache's entry files.
func cacheEntries(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".f32") {
			out = append(out, p)
		}
		return nil
	})
	return out
}

func TestClipCacheServesTheSameTensorsAndNeverStale(t *testing.T) {
	dir := t.TempDir()
	root := cremadFixture(t, dir, 5, 1)
	cache := filepath.Join(dir, "cache")
	plain := loadSpec(t, "cremad", 1, dir)
	cached := loadSpec(t, "cremad:cache="+cache, 1, dir)
	if plain.SHA256 != cached.SHA256 {
		t.Fatalf("cache= changed the dataset checksum: %s vs %s", plain.SHA256, cached.SHA256)
	}
	if _, err := os.Stat(cache); !os.IsNotExist(err) {
		t.Fatalf("loading wrote the cache folder before any read (err %v)", err)
	}
	want := readOne(t, plain, plain.Test, 0)
	miss := readOne(t, cached, cached.Test, 0)
	if len(cacheEntries(t, cache)) != 1 {
		t.Fatalf("after one read: entries %v, want 1", cacheEntries(t, cache))
	}
	hit := readOne(t, cached, cached.Test, 0)
	for m := range want {
		if !slices.Equal(miss[m], want[m]) || !slices.Equal(hit[m], want[m]) {
			t.Fatalf("modality %d: cached values differ from a plain read", m)
		}
	}

	// A corrupt entry is recomputed, not served.
	entry := cacheEntries(t, cache)[0]
	b, _ := os.ReadFile(entry)
	b[100] ^= 0xff
	os.WriteFile(entry, b, 0o644)
	if got := readOne(t, cached, cached.Test, 0); !slices.Equal(got[1], want[1]) || !slices.Equal(got[0], want[0]) {
		t.Fatal("a corrupt cache entry was served")
	}

	// A changed file is a new key: the old entry is not used.
	wav := filepath.Join(root, "AudioWAV", cached.Test.Source.(*clipSource).samples[0].Name+".wav")
	orig, _ := os.ReadFile(wav)
	changed := slices.Clone(orig)
	changed[len(changed)-2] ^= 0x40 // one sample near the end
	os.WriteFile(wav, changed, 0o644)
	replain := loadSpec(t, "cremad", 1, dir)
	fresh := readOne(t, replain, replain.Test, 0)
	if got := readOne(t, cached, cached.Test, 0); !slices.Equal(got[0], fresh[0]) {
		t.Fatal("after the WAV changed, the cache served the old spectrogram")
	}
	if n := len(cacheEntries(t, cache)); n != 2 {
		t.Fatalf("entries after a changed file: %d, want 2", n)
	}

	// Another parameter shaping the values (frames) is another key, too.
	three := loadSpec(t, "cremad:frames=3,cache="+cache, 1, dir)
	readOne(t, three, three.Test, 0)
	if n := len(cacheEntries(t, cache)); n != 3 {
		t.Fatalf("entries after frames=3: %d, want 3", n)
	}
}

func TestClipCacheFolderIsCheckedAtLoad(t *testing.T) {
	dir := t.TempDir()
	cremadFixture(t, dir, 5, 1)
	file := filepath.Join(dir, "a-file")
	os.WriteFile(file, nil, 0o644)
	if msg := loadSpecErr(t, "cremad:cache="+filepath.Join(file, "sub"), 1, dir); !strings.Contains(msg, "not a folder") {
		t.Fatalf("cache under a file: %s, want 'not a folder'", msg)
	}
}
