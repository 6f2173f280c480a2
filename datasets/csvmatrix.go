package datasets

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
)

// csvMatrix is a dense row-major table of numbers read from a CSV file.
type csvMatrix struct {
	Rows, Cols int
	Vals       []float64
}

// Row returns row i.
func (m *csvMatrix) Row(i int) []float64 { return m.Vals[i*m.Cols : (i+1)*m.Cols] }

// readCSVMatrix opens and parses a numeric CSV file (see parseCSVMatrix).
func readCSVMatrix(path string) (*csvMatrix, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("file %s: %w", path, err)
	}
	defer f.Close()
	return parseCSVMatrix(f, path)
}

// parseCSVMatrix reads the MOGONET CSV format (numpy savetxt): comma-separated numbers, no header,
// no index column, one row per line, every row as long as the first. A trailing newline and CRLF
// endings are accepted; blank lines, empty fields, text, NaN and ±Inf are not, because a silently
// dropped or invented value would shift or corrupt a sample. Errors name the file (name), the 1-based
// line and column, and the offending text.
func parseCSVMatrix(r io.Reader, name string) (*csvMatrix, error) {
	br := bufio.NewReader(r)
	m := &csvMatrix{}
	for line := 1; ; line++ {
		text, err := br.ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("file %s, line %d: %w", name, line, err)
		}
		atEOF := err != nil
		text = strings.TrimSuffix(strings.TrimSuffix(text, "\n"), "\r")
		if line == 1 {
			text = strings.TrimPrefix(text, "\uFEFF") // a UTF-8 byte-order mark some editors add
		}
		if atEOF && text == "" {
			break // end of file, possibly after a final newline
		}
		if strings.TrimSpace(text) == "" {
			return nil, fmt.Errorf("file %s, line %d: empty line", name, line)
		}
		if err := m.appendRow(text, name, line); err != nil {
			return nil, err
		}
		if atEOF {
			break
		}
	}
	if m.Rows == 0 {
		return nil, fmt.Errorf("file %s: no data rows", name)
	}
	return m, nil
}

// appendRow parses one line and appends it; the first row fixes the column count.
func (m *csvMatrix) appendRow(text, name string, line int) error {
	fields := strings.Split(text, ",")
	if m.Rows > 0 && len(fields) != m.Cols {
		return fmt.Errorf("file %s, line %d: %d columns, want %d (as on line 1)", name, line, len(fields), m.Cols)
	}
	for col, f := range fields {
		f = strings.TrimSpace(f)
		if f == "" {
			return fmt.Errorf("file %s, line %d, column %d: empty value", name, line, col+1)
		}
		v, err := strconv.ParseFloat(f, 64)
		if err != nil && !errors.Is(err, strconv.ErrRange) {
			return fmt.Errorf("file %s, line %d, column %d: %q is not a number", name, line, col+1, f)
		}
		if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("file %s, line %d, column %d: non-finite value %q", name, line, col+1, f)
		}
		m.Vals = append(m.Vals, v)
	}
	if m.Rows == 0 {
		m.Cols = len(fields)
	}
	m.Rows++
	return nil
}

// maxClasses bounds class labels, so a corrupt label file cannot ask for a billion classes.
const maxClasses = 1000

// labelsFromMatrix turns a one-column csvMatrix of labels written as floats ("1.000e+00") into class
// indices. A label must be a whole number in [0, maxClasses).
func labelsFromMatrix(m *csvMatrix, name string) ([]int64, error) {
	if m.Cols != 1 {
		return nil, fmt.Errorf("file %s: %d columns, want 1 label per line", name, m.Cols)
	}
	y := make([]int64, m.Rows)
	for i, v := range m.Vals {
		if v != math.Trunc(v) || v < 0 || v >= maxClasses {
			return nil, fmt.Errorf("file %s, line %d: label %v is not an integer class in [0, %d)", name, i+1, v, maxClasses)
		}
		y[i] = int64(v)
	}
	return y, nil
}
