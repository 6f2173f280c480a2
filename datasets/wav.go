package datasets

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
)

// wavPCM16 is a decoded mono 16-bit PCM WAV file.
type wavPCM16 struct {
	SampleRate int
	Samples    []int16
}

// wavMaxFmtChunk bounds the fmt chunk read into memory; data chunks are read incrementally.
const wavMaxFmtChunk = 1 << 16

// readWAVFile opens and decodes path (see readWAV).
func readWAVFile(path string) (*wavPCM16, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("file %s: %w", path, err)
	}
	defer f.Close()
	w, err := readWAV(bufio.NewReader(f))
	if err != nil {
		return nil, fmt.Errorf("file %s: %w", path, err)
	}
	return w, nil
}

// readWAV decodes a RIFF/WAVE stream holding uncompressed PCM, mono, 16-bit samples: the only format
// FSDD uses, so anything else is an error rather than a conversion we would have to get right.
// Chunks other than "fmt " and "data" are skipped; reading stops after the data chunk.
func readWAV(r io.Reader) (*wavPCM16, error) {
	var hdr [12]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, fmt.Errorf("WAV: truncated RIFF header: %w", err)
	}
	if string(hdr[0:4]) != "RIFF" {
		return nil, fmt.Errorf("WAV: not a RIFF file (starts with %q)", hdr[0:4])
	}
	if string(hdr[8:12]) != "WAVE" {
		return nil, fmt.Errorf("WAV: RIFF form type %q, want \"WAVE\"", hdr[8:12])
	}
	var w *wavPCM16 // set by the fmt chunk
	for {
		id, size, err := readChunkHeader(r)
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("WAV: no data chunk")
		}
		if err != nil {
			return nil, err
		}
		switch id {
		case "fmt ":
			if w, err = readFmtChunk(r, size); err != nil {
				return nil, err
			}
		case "data":
			if w == nil {
				return nil, fmt.Errorf("WAV: data chunk before fmt chunk")
			}
			if w.Samples, err = readPCM16(r, size); err != nil {
				return nil, err
			}
			return w, nil
		default:
			if err := skipChunk(r, id, size); err != nil {
				return nil, err
			}
		}
	}
}

// readChunkHeader returns io.EOF only at a clean end between chunks.
func readChunkHeader(r io.Reader) (string, uint32, error) {
	var h [8]byte
	n, err := io.ReadFull(r, h[:])
	if n == 0 && errors.Is(err, io.EOF) {
		return "", 0, io.EOF
	}
	if err != nil {
		return "", 0, fmt.Errorf("WAV: truncated chunk header: %w", err)
	}
	return string(h[0:4]), binary.LittleEndian.Uint32(h[4:8]), nil
}

// readFmtChunk checks that the format is PCM (tag 1), mono, 16-bit, and returns the sample rate.
func readFmtChunk(r io.Reader, size uint32) (*wavPCM16, error) {
	if size < 16 || size > wavMaxFmtChunk {
		return nil, fmt.Errorf("WAV: fmt chunk of %d bytes, want 16 to %d", size, wavMaxFmtChunk)
	}
	buf := make([]byte, size+size%2) // chunks are padded to an even size
	if _, err := io.ReadFull(r, buf); err != nil {
		return nil, fmt.Errorf("WAV: truncated fmt chunk: %w", err)
	}
	tag := binary.LittleEndian.Uint16(buf[0:])
	channels := binary.LittleEndian.Uint16(buf[2:])
	rate := binary.LittleEndian.Uint32(buf[4:])
	bits := binary.LittleEndian.Uint16(buf[14:])
	if tag != 1 {
		return nil, fmt.Errorf("WAV: format tag %d, want 1 (PCM 16-bit mono)", tag)
	}
	if channels != 1 {
		return nil, fmt.Errorf("WAV: %d channels, want 1 (PCM 16-bit mono)", channels)
	}
	if bits != 16 {
		return nil, fmt.Errorf("WAV: %d bits per sample, want 16 (PCM 16-bit mono)", bits)
	}
	if rate == 0 || rate > 1<<20 {
		return nil, fmt.Errorf("WAV: sample rate %d Hz is not plausible", rate)
	}
	return &wavPCM16{SampleRate: int(rate)}, nil
}

// readPCM16 reads size bytes of little-endian int16 samples, growing the buffer as data arrive so a
// header that lies about the size cannot force a huge allocation.
func readPCM16(r io.Reader, size uint32) ([]int16, error) {
	if size%2 != 0 {
		return nil, fmt.Errorf("WAV: data chunk of %d bytes is not a whole number of 16-bit samples", size)
	}
	raw, err := io.ReadAll(io.LimitReader(r, int64(size)))
	if err != nil {
		return nil, fmt.Errorf("WAV: reading data chunk: %w", err)
	}
	if len(raw) < int(size) {
		return nil, fmt.Errorf("WAV: truncated data chunk: %d of %d bytes", len(raw), size)
	}
	s := make([]int16, len(raw)/2)
	for i := range s {
		s[i] = int16(binary.LittleEndian.Uint16(raw[2*i:]))
	}
	return s, nil
}

func skipChunk(r io.Reader, id string, size uint32) error {
	n := int64(size) + int64(size%2)
	if got, err := io.CopyN(io.Discard, r, n); err != nil {
		return fmt.Errorf("WAV: truncated %q chunk: %d of %d bytes", id, got, n)
	}
	return nil
}
