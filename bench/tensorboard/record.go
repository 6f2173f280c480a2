// Package tensorboard writes TensorBoard event files: one per cell of a sweep (`--tensorboard DIR`),
// holding its training curves, its test metrics and readouts, and its hyper-parameters for the
// HParams tab. The messages are TensorBoard's (wire-compatible subsets in proto/, generated Go code);
// only the TFRecord framing of the file is written here. It does not depend on libtorch.
package tensorboard

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// MaskedCRC is the TFRecord checksum of b: CRC-32C, rotated right by 15 bits, plus 0xa282ead8.
func MaskedCRC(b []byte) uint32 {
	c := crc32.Checksum(b, castagnoli)
	return ((c >> 15) | (c << 17)) + 0xa282ead8
}

// AppendRecord appends one TFRecord frame holding data to buf: the length as a little-endian
// uint64, the masked CRC of those 8 bytes, the data, the masked CRC of the data (CRCs little-endian).
func AppendRecord(buf, data []byte) []byte {
	var n [8]byte
	binary.LittleEndian.PutUint64(n[:], uint64(len(data)))
	buf = append(buf, n[:]...)
	buf = binary.LittleEndian.AppendUint32(buf, MaskedCRC(n[:]))
	buf = append(buf, data...)
	return binary.LittleEndian.AppendUint32(buf, MaskedCRC(data))
}

// maxRecord bounds the length a reader accepts, so a corrupt length cannot allocate gigabytes.
const maxRecord = 64 << 20

// ReadRecords reads every frame of r, checking both CRCs of each. A file that ends inside a frame is
// an error (io.ErrUnexpectedEOF), as is a CRC mismatch.
func ReadRecords(r io.Reader) ([][]byte, error) {
	var out [][]byte
	for i := 0; ; i++ {
		var hdr [12]byte
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			if errors.Is(err, io.EOF) {
				return out, nil
			}
			return out, fmt.Errorf("record %d: header: %w", i, err)
		}
		if got, want := binary.LittleEndian.Uint32(hdr[8:]), MaskedCRC(hdr[:8]); got != want {
			return out, fmt.Errorf("record %d: length CRC %08x, want %08x", i, got, want)
		}
		n := binary.LittleEndian.Uint64(hdr[:8])
		if n > maxRecord {
			return out, fmt.Errorf("record %d: length %d exceeds %d", i, n, maxRecord)
		}
		data := make([]byte, n+4)
		if _, err := io.ReadFull(r, data); err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return out, fmt.Errorf("record %d: data: %w", i, err)
		}
		if got, want := binary.LittleEndian.Uint32(data[n:]), MaskedCRC(data[:n]); got != want {
			return out, fmt.Errorf("record %d: data CRC %08x, want %08x", i, got, want)
		}
		out = append(out, data[:n])
	}
}
