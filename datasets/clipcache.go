package datasets

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"syscall"

	"github.com/mmfusion/bench/bench/store"
)

// An on-disk cache of test-transform samples (cache=DIR in a video dataset's spec): decoding JPEG
// frames and computing spectrograms is most of a lazy split's read time, and the test transform gives
// the same tensor every epoch, for validation and test splits and for training splits with
// augment=false. Augmented reads are never cached (their values change every epoch).
//
// A sample's entry is DIR/<k[:2]>/<k>.f32, k the SHA-256 of: clipCacheVersion, the dataset, the
// parameters that shape the values (the source digest: frames, sr, …), the buffer sizes, and the
// SHA-256 of every file the sample reads. So a changed file, another parameter or a new version of the
// preprocessing code is a miss, never a stale hit; the path of the data does not matter. The entry
// holds the float32 values, little-endian, then the SHA-256 of those bytes, checked on every hit: a
// truncated or corrupt entry is recomputed and rewritten, not served. Entries are written atomically
// (store.WriteFileAtomic). cache=DIR is a path, so it is not part of the cell key: it changes no value.

// clipCacheVersion names the preprocessing code whose outputs the cache holds. Bump it with any
// change to decoding, resampling, spectrograms or the test transform, so old entries stop matching.
const clipCacheVersion = "clip-cache-2 (libjpeg-fancy decode, soxr-hq resample, Pillow-exact bilinear resize, table log)"

// cacheKey is the sample's cache key, reading (and hashing) every file it uses.
func (s *clipSource) cacheKey(c *clipSample, dst [][]float32) (string, error) {
	h := sha256.New()
	fmt.Fprintf(h, "%s\n%s\n%s\n", clipCacheVersion, s.dataset, s.digest)
	for _, d := range dst {
		fmt.Fprintf(h, "%d ", len(d))
	}
	for _, f := range c.Files {
		fh, err := os.Open(f.Path)
		if err != nil {
			return "", fmt.Errorf("file %s: %w", f.Path, err)
		}
		fileSum := sha256.New()
		_, err = io.Copy(fileSum, fh)
		fh.Close()
		if err != nil {
			return "", fmt.Errorf("file %s: %w", f.Path, err)
		}
		h.Write(fileSum.Sum(nil))
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// readCached fills dst from the cache, or reads the sample with s.read and stores it.
func (s *clipSource) readCached(c *clipSample, dst [][]float32) error {
	key, err := s.cacheKey(c, dst)
	if err != nil {
		return err
	}
	path := filepath.Join(s.cache, key[:2], key+".f32")
	n := 0
	for _, d := range dst {
		n += len(d)
	}
	if b, err := os.ReadFile(path); err == nil && len(b) == 4*n+sha256.Size {
		payload := b[:4*n]
		if sum := sha256.Sum256(payload); string(sum[:]) == string(b[4*n:]) {
			off := 0
			for _, d := range dst {
				for j := range d {
					d[j] = math.Float32frombits(binary.LittleEndian.Uint32(payload[off:]))
					off += 4
				}
			}
			return nil
		}
	}
	if err := s.read(c, dst); err != nil {
		return err
	}
	b := make([]byte, 4*n, 4*n+sha256.Size)
	off := 0
	for _, d := range dst {
		for _, v := range d {
			binary.LittleEndian.PutUint32(b[off:], math.Float32bits(v))
			off += 4
		}
	}
	sum := sha256.Sum256(b)
	b = append(b, sum[:]...)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("cache=%s: %w", s.cache, err)
	}
	if err := store.WriteFileAtomic(path, b); err != nil {
		return fmt.Errorf("cache=%s: %w", s.cache, err)
	}
	return nil
}

// clipCacheParam reads cache=DIR (a path: not recorded in the parameters) and checks, before any cell
// runs and without writing anything, that DIR is a writable folder or can be made in one.
func clipCacheParam(p *specParams) (string, error) {
	dir := p.path("cache")
	if dir == "" {
		return "", nil
	}
	probe := dir
	for {
		fi, err := os.Stat(probe)
		if err == nil {
			if !fi.IsDir() {
				return "", p.errorf("cache", dir, "%s is not a folder", probe)
			}
			if err := syscall.Access(probe, 2 /* W_OK */); err != nil {
				return "", p.errorf("cache", dir, "folder %s is not writable: %v", probe, err)
			}
			return dir, nil
		}
		parent := filepath.Dir(probe)
		if !(os.IsNotExist(err) || errors.Is(err, syscall.ENOTDIR)) || parent == probe {
			return "", p.errorf("cache", dir, "%v", err)
		}
		probe = parent
	}
}
