package datasets

import (
	"math"
	"slices"
	"strings"
	"testing"
)

func TestParseCSVMatrix(t *testing.T) {
	ok := []struct {
		in         string
		rows, cols int
		vals       []float64
	}{
		{"1,2\n3,4\n", 2, 2, []float64{1, 2, 3, 4}},
		{"1,2\n3,4", 2, 2, []float64{1, 2, 3, 4}},              // no final newline
		{"1.0e+00,2\r\n3, 4\r\n", 2, 2, []float64{1, 2, 3, 4}}, // CRLF and a space
		{"\uFEFF5\n", 1, 1, []float64{5}},                      // byte-order mark
		{"1.813813162555837355e-01\n", 1, 1, []float64{0.1813813162555837355}},
	}
	for _, c := range ok {
		m, err := parseCSVMatrix(strings.NewReader(c.in), "x.csv")
		if err != nil {
			t.Errorf("parse %q: %v", c.in, err)
			continue
		}
		if m.Rows != c.rows || m.Cols != c.cols || !slices.Equal(m.Vals, c.vals) {
			t.Errorf("parse %q = %d×%d %v", c.in, m.Rows, m.Cols, m.Vals)
		}
	}
	bad := []struct{ in, want string }{
		{"", "file x.csv: no data rows"},
		{"1,2\n3\n", "file x.csv, line 2: 1 columns, want 2 (as on line 1)"},
		{"1,2\n3,4,5\n", "file x.csv, line 2: 3 columns, want 2"},
		{"1,2\n3,abc\n", `file x.csv, line 2, column 2: "abc" is not a number`},
		{"1,nan\n", `file x.csv, line 1, column 2: non-finite value "nan"`},
		{"NaN\n", `non-finite value "NaN"`},
		{"1\n-Inf\n", `file x.csv, line 2, column 1: non-finite value "-Inf"`},
		{"1e999\n", `non-finite value "1e999"`},
		{"1,2\n\n3,4\n", "file x.csv, line 2: empty line"},
		{"1,,2\n", "file x.csv, line 1, column 2: empty value"},
	}
	for _, c := range bad {
		_, err := parseCSVMatrix(strings.NewReader(c.in), "x.csv")
		if err == nil {
			t.Errorf("parse %q: no error", c.in)
			continue
		}
		wantErrContains(t, err.Error(), c.want)
	}
}

func TestLabelsFromMatrix(t *testing.T) {
	m, _ := parseCSVMatrix(strings.NewReader("0.000000000000000000e+00\n1.000000000000000000e+00\n"), "l.csv")
	y, err := labelsFromMatrix(m, "l.csv")
	if err != nil || !slices.Equal(y, []int64{0, 1}) {
		t.Fatalf("labels %v, %v", y, err)
	}
	for in, want := range map[string]string{
		"0\n0.5\n": "file l.csv, line 2: label 0.5 is not an integer class",
		"-1\n":     "file l.csv, line 1: label -1 is not an integer class",
		"1e6\n":    "label 1e+06 is not an integer class in [0, 1000)",
		"0,1\n":    "file l.csv: 2 columns, want 1 label per line",
	} {
		m, err := parseCSVMatrix(strings.NewReader(in), "l.csv")
		if err == nil {
			_, err = labelsFromMatrix(m, "l.csv")
		}
		if err == nil {
			t.Errorf("labels %q: no error", in)
			continue
		}
		wantErrContains(t, err.Error(), want)
	}
}

func FuzzParseCSVMatrix(f *testing.F) {
	for _, s := range []string{"1,2\n3,4\n", "1.5e-01\r\n", "", "\n", "1,\n", "nan", "1,2\n3\n", "\uFEFF0x1p-2,1_0\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := parseCSVMatrix(strings.NewReader(string(b)), "fuzz.csv")
		if err != nil {
			if !strings.Contains(err.Error(), "fuzz.csv") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		if m.Rows < 1 || m.Cols < 1 || len(m.Vals) != m.Rows*m.Cols {
			t.Fatalf("%d×%d with %d values", m.Rows, m.Cols, len(m.Vals))
		}
		for _, v := range m.Vals {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				t.Fatalf("non-finite value %v accepted", v)
			}
		}
		if m.Cols == 1 {
			labelsFromMatrix(m, "fuzz.csv") // must not panic
		}
	})
}
