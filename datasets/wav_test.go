package datasets

import (
	"bytes"
	"encoding/binary"
	"path/filepath"
	"slices"
	"testing"
)

func TestReadWAV(t *testing.T) {
	samples := []int16{0, 1, -1, 32767, -32768, 1234}
	for name, b := range map[string][]byte{
		"plain":            wavBytes(8000, 1, 16, 1, samples),
		"with LIST chunk":  wavBytes(8000, 1, 16, 1, samples, wavChunk{"LIST", []byte("odd")}),
		"with empty chunk": wavBytes(8000, 1, 16, 1, samples, wavChunk{"junk", nil}),
	} {
		w, err := readWAV(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if w.SampleRate != 8000 || !slices.Equal(w.Samples, samples) {
			t.Errorf("%s: rate %d samples %v", name, w.SampleRate, w.Samples)
		}
	}
}

func TestReadWAVErrors(t *testing.T) {
	s := []int16{1, 2, 3}
	good := wavBytes(8000, 1, 16, 1, s)
	noData := good[:12+8+16] // RIFF header and fmt chunk only
	dataFirst := slices.Concat(good[:12], good[12+8+16:], good[12:12+8+16])
	oddData := slices.Clone(good)
	binary.LittleEndian.PutUint32(oddData[12+8+16+4:], 5)
	cases := []struct {
		name string
		in   []byte
		want string
	}{
		{"empty", nil, "WAV: truncated RIFF header"},
		{"not RIFF", append([]byte("RIFX"), good[4:]...), `WAV: not a RIFF file (starts with "RIFX")`},
		{"not WAVE", slices.Concat(good[:8], []byte("AVI "), good[12:]), `WAV: RIFF form type "AVI ", want "WAVE"`},
		{"float", wavBytes(8000, 1, 32, 3, s), "WAV: format tag 3, want 1 (PCM 16-bit mono)"},
		{"stereo", wavBytes(8000, 2, 16, 1, s), "WAV: 2 channels, want 1"},
		{"8-bit", wavBytes(8000, 1, 8, 1, s), "WAV: 8 bits per sample, want 16"},
		{"zero rate", wavBytes(0, 1, 16, 1, s), "WAV: sample rate 0 Hz is not plausible"},
		{"missing data chunk", noData, "WAV: no data chunk"},
		{"data before fmt", dataFirst, "WAV: data chunk before fmt chunk"},
		{"truncated data", good[:len(good)-1], "WAV: truncated data chunk: 5 of 6 bytes"},
		{"odd data size", oddData, "WAV: data chunk of 5 bytes is not a whole number of 16-bit samples"},
		{"truncated chunk header", good[:12+4], "WAV: truncated chunk header"},
		{"truncated fmt", good[:12+8+10], "WAV: truncated fmt chunk"},
		{"truncated extra chunk", wavBytes(8000, 1, 16, 1, s, wavChunk{"LIST", make([]byte, 100)})[:12+8+16+8+50], `WAV: truncated "LIST" chunk: 50 of 100 bytes`},
	}
	for _, c := range cases {
		_, err := readWAV(bytes.NewReader(c.in))
		if err == nil {
			t.Errorf("%s: no error", c.name)
			continue
		}
		wantErrContains(t, err.Error(), c.want)
	}
}

func TestReadWAVFileNamesTheFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "0_x_1.wav")
	writeFile(t, p, wavBytes(8000, 2, 16, 1, []int16{1, 2}))
	_, err := readWAVFile(p)
	if err == nil {
		t.Fatal("stereo: no error")
	}
	wantErrContains(t, err.Error(), "file "+p+": WAV: 2 channels")
	_, err = readWAVFile(filepath.Join(t.TempDir(), "absent.wav"))
	wantErrContains(t, err.Error(), "absent.wav", "no such file")
}

func FuzzReadWAV(f *testing.F) {
	f.Add(wavBytes(8000, 1, 16, 1, []int16{1, -2, 3}))
	f.Add(wavBytes(8000, 1, 16, 1, nil, wavChunk{"LIST", []byte("abc")}))
	f.Add(wavBytes(44100, 2, 24, 1, []int16{1}))
	f.Add([]byte("RIFF\x00\x00\x00\x00WAVEdata\xff\xff\xff\xff"))
	f.Fuzz(func(t *testing.T, b []byte) {
		w, err := readWAV(bytes.NewReader(b))
		if err != nil {
			return
		}
		if w.SampleRate <= 0 || 2*len(w.Samples) > len(b) {
			t.Fatalf("rate %d, %d samples from %d bytes", w.SampleRate, len(w.Samples), len(b))
		}
	})
}
