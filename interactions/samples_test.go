package interactions

import (
	"math"
	"strings"
	"testing"
)

func TestFromSamples(t *testing.T) {
	// Four samples of Y = X1 AND X2 plus one repeated (1,1,1).
	x1 := []int{0, 0, 1, 1, 1}
	x2 := []int{0, 1, 0, 1, 1}
	y := []int{0, 0, 0, 1, 1}
	p, err := FromSamples(x1, x2, y)
	if err != nil {
		t.Fatal(err)
	}
	want := [][][]float64{{{0.2, 0}, {0.2, 0}}, {{0.2, 0}, {0, 0.4}}}
	for a := range want {
		for b := range want[a] {
			for c := range want[a][b] {
				if math.Abs(p[a][b][c]-want[a][b][c]) > 1e-15 {
					t.Fatalf("p = %v, want %v", p, want)
				}
			}
		}
	}
	// Alphabet sizes are max+1: an unused code 2 of x2 gives a zero slice.
	p, err = FromSamples([]int{0, 1}, []int{2, 0}, []int{1, 0})
	if err != nil {
		t.Fatal(err)
	}
	if len(p) != 2 || len(p[0]) != 3 || len(p[0][0]) != 2 || p[0][2][1] != 0.5 || p[1][0][0] != 0.5 {
		t.Errorf("shape/contents: %v", p)
	}
	// The empirical AND table of equal counts reproduces the golden values.
	x1, x2, y = nil, nil, nil
	for i := 0; i < 400; i++ {
		a, b := i&1, i>>1&1
		x1, x2, y = append(x1, a), append(x2, b), append(y, a&b)
	}
	p, err = FromSamples(x1, x2, y)
	if err != nil {
		t.Fatal(err)
	}
	d, err := Estimate(p)
	if err != nil || math.Abs(d.S-0.5) > 1e-9 || math.Abs(d.R-(h2(0.25)-0.5)) > 1e-9 {
		t.Errorf("AND from samples: %v, %v", d, err)
	}
}

func TestFromSamplesErrors(t *testing.T) {
	cases := []struct {
		name      string
		x1, x2, y []int
		want      string
	}{
		{"empty", nil, nil, nil, "at least one"},
		{"length", []int{0, 1}, []int{0}, []int{0, 1}, "lengths differ"},
		{"negative x1", []int{-1}, []int{0}, []int{0}, "x1[0] = -1"},
		{"negative y", []int{0, 0}, []int{0, 0}, []int{0, -3}, "y[1] = -3"},
		{"huge", []int{1 << 20}, []int{1 << 20}, []int{0}, "exceeds"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := FromSamples(c.x1, c.x2, c.y)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("err = %v, want one mentioning %q", err, c.want)
			}
		})
	}
}
