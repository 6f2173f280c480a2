package datasets

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/mmfusion/bench/bench/data"
)

// Helpers that write small files in the real layouts, so loaders are tested without the real data.

// loadSpec loads a dataset spec and fails the test on error.
func loadSpec(t *testing.T, spec string, seed int64, dataDir string) *data.Set {
	t.Helper()
	s, err := data.Load(spec, seed, dataDir)
	if err != nil {
		t.Fatalf("load %s: %v", spec, err)
	}
	return s
}

// loadSpecErr loads a spec that must fail and returns the error text.
func loadSpecErr(t *testing.T, spec string, seed int64, dataDir string) string {
	t.Helper()
	_, err := data.Load(spec, seed, dataDir)
	if err == nil {
		t.Fatalf("load %s: no error", spec)
	}
	return err.Error()
}

// wantErrContains fails unless err's text contains every substring.
func wantErrContains(t *testing.T, err string, subs ...string) {
	t.Helper()
	for _, s := range subs {
		if !strings.Contains(err, s) {
			t.Errorf("error %q does not contain %q", err, s)
		}
	}
}

func writeFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// csvBytes renders rows like numpy savetxt's default %.18e.
func csvBytes(rows [][]float64) []byte {
	var b strings.Builder
	for _, r := range rows {
		for j, v := range r {
			if j > 0 {
				b.WriteByte(',')
			}
			b.WriteString(strconv.FormatFloat(v, 'e', 18, 64))
		}
		b.WriteByte('\n')
	}
	return []byte(b.String())
}

// idxBytes encodes an unsigned-byte IDX array.
func idxBytes(dims []int, vals []byte) []byte {
	var b bytes.Buffer
	b.Write([]byte{0, 0, idxTypeUbyte, byte(len(dims))})
	for _, d := range dims {
		binary.Write(&b, binary.BigEndian, uint32(d))
	}
	b.Write(vals)
	return b.Bytes()
}

func gzipBytes(t testing.TB, raw []byte) []byte {
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	if _, err := zw.Write(raw); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// wavChunk is one extra RIFF chunk.
type wavChunk struct {
	id   string
	body []byte
}

// wavBytes encodes a PCM WAV file with the given format fields; extra chunks go between fmt and data.
func wavBytes(rate, channels, bits, tag int, samples []int16, extra ...wavChunk) []byte {
	var body bytes.Buffer
	body.WriteString("WAVE")
	fmtChunk := make([]byte, 16)
	binary.LittleEndian.PutUint16(fmtChunk[0:], uint16(tag))
	binary.LittleEndian.PutUint16(fmtChunk[2:], uint16(channels))
	binary.LittleEndian.PutUint32(fmtChunk[4:], uint32(rate))
	binary.LittleEndian.PutUint32(fmtChunk[8:], uint32(rate*channels*bits/8))
	binary.LittleEndian.PutUint16(fmtChunk[12:], uint16(channels*bits/8))
	binary.LittleEndian.PutUint16(fmtChunk[14:], uint16(bits))
	pcm := make([]byte, 2*len(samples))
	for i, s := range samples {
		binary.LittleEndian.PutUint16(pcm[2*i:], uint16(s))
	}
	chunks := append([]wavChunk{{"fmt ", fmtChunk}}, extra...)
	chunks = append(chunks, wavChunk{"data", pcm})
	for _, c := range chunks {
		body.WriteString(c.id)
		binary.Write(&body, binary.LittleEndian, uint32(len(c.body)))
		body.Write(c.body)
		if len(c.body)%2 == 1 {
			body.WriteByte(0)
		}
	}
	var out bytes.Buffer
	out.WriteString("RIFF")
	binary.Write(&out, binary.LittleEndian, uint32(body.Len()))
	out.Write(body.Bytes())
	return out.Bytes()
}

// sine returns n samples of a sine at freq Hz, amplitude amp (of full scale), at rate Hz.
func sine(freq, amp float64, rate, n int) []int16 {
	s := make([]int16, n)
	for i := range s {
		s[i] = int16(amp * 32767 * math.Sin(2*math.Pi*freq*float64(i)/float64(rate)))
	}
	return s
}
