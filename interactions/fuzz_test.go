package interactions

import (
	"encoding/binary"
	"errors"
	"math"
	"testing"
)

// FuzzEstimate feeds arbitrary small tables to Estimate: it must not panic, and must
// return either an error or a decomposition satisfying the identities, with q* ∈ Δp.
// The first byte picks the shape, the second the encoding: small counts (normalised,
// so valid), or raw float64 bits (anything, including NaN, Inf, negatives, unnormalised).
func FuzzEstimate(f *testing.F) {
	f.Add([]byte{0x11, 0, 1, 0, 0, 1, 0, 1, 1, 0})
	f.Add([]byte{0x25, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17})
	f.Add([]byte{0x3f, 0, 255, 0, 0, 1, 0, 0, 0, 0, 200, 0, 0, 3})
	f.Add([]byte{0x00, 1, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f})
	f.Add([]byte{0x15, 1, 0, 0, 0, 0, 0, 0, 0xf8, 0x7f, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f})
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) < 2 {
			return
		}
		n1, n2, ny := 1+int(data[0]&3), 1+int(data[0]>>2&3), 1+int(data[0]>>4&3)
		raw := data[1]&1 == 1
		body := data[2:]
		p := zeros(n1, n2, ny)
		sum := 0.0
		k := 0
		for a := range p {
			for b := range p[a] {
				for y := range p[a][b] {
					var v float64
					if raw {
						if len(body) >= 8*(k+1) {
							v = math.Float64frombits(binary.LittleEndian.Uint64(body[8*k:]))
						}
					} else if k < len(body) {
						v = float64(body[k])
					}
					p[a][b][y] = v
					sum += v
					k++
				}
			}
		}
		if !raw && sum > 0 {
			for a := range p {
				for b := range p[a] {
					for y := range p[a][b] {
						p[a][b][y] /= sum
					}
				}
			}
		}
		d, err := Estimate(p)
		if err != nil {
			if !raw && sum > 0 && !errors.Is(err, ErrNotConverged) {
				t.Fatalf("valid table rejected: %v (%v)", err, p)
			}
			return
		}
		vals := []float64{d.R, d.U1, d.U2, d.S, d.I1, d.I2, d.I12, d.Gap}
		for _, v := range vals {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				t.Fatalf("non-finite result %v for %v", d, p)
			}
		}
		for _, v := range vals[:4] {
			if v < -1e-8 {
				t.Fatalf("negative term %v for %v", d, p)
			}
		}
		if e := d.R + d.U1 + d.U2 + d.S - d.I12; math.Abs(e) > 1e-8 {
			t.Fatalf("identity off by %g: %v", e, d)
		}
		if e := d.R + d.U1 - d.I1; math.Abs(e) > 1e-8 {
			t.Fatalf("R+U1 off by %g: %v", e, d)
		}
		// Compare q* with the rescaled table Estimate actually used.
		flat, _, _, _, _ := validate(p)
		if m := marginalError(unflatten(flat, n1, n2, ny), d.Q); m > 1e-9 {
			t.Fatalf("q* marginals off by %g", m)
		}
	})
}
