package datasets

import (
	"fmt"
	"math"
	"strconv"

	"github.com/mmfusion/bench/bench/data"
)

// specParams reads a dataset's typed parameters from its spec and records the value actually used,
// defaults included, so Set.Params can tell two runs apart by what determined their bytes.
type specParams struct {
	dataset string
	raw     map[string]string
	used    map[string]string
}

// newSpecParams rejects any parameter the dataset does not know.
func newSpecParams(dataset string, raw map[string]string, known ...string) (*specParams, error) {
	if err := data.UnknownParams(dataset, raw, known...); err != nil {
		return nil, err
	}
	return &specParams{dataset: dataset, raw: raw, used: map[string]string{}}, nil
}

func (p *specParams) errorf(key, val, format string, args ...any) error {
	return fmt.Errorf("dataset %s: parameter %s=%q: %s", p.dataset, key, val, fmt.Sprintf(format, args...))
}

// str returns the raw value or def, and records it.
func (p *specParams) str(key, def string) string {
	v, ok := p.raw[key]
	if !ok {
		v = def
	}
	p.used[key] = v
	return v
}

// path returns a folder or file override without recording it: a path names where the bytes were
// read, not what they are (the checksum covers that), and it differs between machines.
func (p *specParams) path(key string) string { return p.raw[key] }

// int returns an integer ≥ min, or def when the key is absent.
func (p *specParams) int(key string, def, min int) (int, error) {
	v, ok := p.raw[key]
	if !ok {
		p.used[key] = strconv.Itoa(def)
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, p.errorf(key, v, "not an integer")
	}
	if n < min {
		return 0, p.errorf(key, v, "must be at least %d", min)
	}
	p.used[key] = strconv.Itoa(n)
	return n, nil
}

// float returns a finite number in [lo, hi], or def when the key is absent.
func (p *specParams) float(key string, def, lo, hi float64) (float64, error) {
	v, ok := p.raw[key]
	x := def
	if ok {
		var err error
		if x, err = strconv.ParseFloat(v, 64); err != nil || math.IsNaN(x) || math.IsInf(x, 0) {
			return 0, p.errorf(key, v, "not a finite number")
		}
		if x < lo || x > hi {
			return 0, p.errorf(key, v, "must be in [%g, %g]", lo, hi)
		}
	}
	p.used[key] = strconv.FormatFloat(x, 'g', -1, 64)
	return x, nil
}

// seed returns a 64-bit seed, or def (usually Options.Seed) when the key is absent.
func (p *specParams) seed(key string, def int64) (int64, error) {
	v, ok := p.raw[key]
	s := def
	if ok {
		var err error
		if s, err = strconv.ParseInt(v, 10, 64); err != nil {
			return 0, p.errorf(key, v, "not a 64-bit integer")
		}
	}
	p.used[key] = strconv.FormatInt(s, 10)
	return s, nil
}

// set records a derived value (e.g. a canonical spelling) under key.
func (p *specParams) set(key, val string) { p.used[key] = val }
