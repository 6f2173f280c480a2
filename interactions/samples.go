package interactions

import (
	"errors"
	"fmt"
)

// MaxCells bounds |X1|·|X2|·|Y| for [FromSamples], so that a stray large code cannot
// allocate an enormous table.
const MaxCells = 1 << 24

// FromSamples returns the empirical joint distribution p[x1][x2][y] = #{i : x1[i], x2[i],
// y[i]} / n of three columns of category indices, the plug-in estimate that pliang279/PID
// feeds to its CVX estimator (there built by histogramming the cluster codes of each
// modality against the label). Alphabet sizes are max+1 of each column, so unused codes
// below the maximum give zero slices, which [Estimate] handles.
//
// It returns an error for empty input, columns of different lengths, negative indices,
// or a table of more than MaxCells cells. Plug-in mutual information is biased upwards
// when the number of cells is not small compared with n.
func FromSamples(x1, x2, y []int) ([][][]float64, error) {
	n := len(y)
	if n == 0 {
		return nil, errors.New("interactions: FromSamples needs at least one sample")
	}
	if len(x1) != n || len(x2) != n {
		return nil, fmt.Errorf("interactions: FromSamples column lengths differ: x1 %d, x2 %d, y %d", len(x1), len(x2), n)
	}
	size := func(name string, c []int) (int, error) {
		m := 0
		for i, v := range c {
			if v < 0 {
				return 0, fmt.Errorf("interactions: FromSamples: %s[%d] = %d is negative", name, i, v)
			}
			m = max(m, v)
		}
		if m >= MaxCells {
			return 0, fmt.Errorf("interactions: FromSamples: %s alphabet %d too large", name, m+1)
		}
		return m + 1, nil
	}
	n1, err := size("x1", x1)
	if err != nil {
		return nil, err
	}
	n2, err := size("x2", x2)
	if err != nil {
		return nil, err
	}
	ny, err := size("y", y)
	if err != nil {
		return nil, err
	}
	if n1*n2 > MaxCells || n1*n2*ny > MaxCells {
		return nil, fmt.Errorf("interactions: FromSamples: %d×%d×%d table exceeds %d cells", n1, n2, ny, MaxCells)
	}
	flat := make([]float64, n1*n2*ny)
	for i := range y {
		flat[(x1[i]*n2+x2[i])*ny+y[i]]++
	}
	inv := 1 / float64(n)
	for i := range flat {
		flat[i] *= inv
	}
	p := make([][][]float64, n1)
	for a := range p {
		p[a] = make([][]float64, n2)
		for b := range p[a] {
			off := (a*n2 + b) * ny
			p[a][b] = flat[off : off+ny : off+ny]
		}
	}
	return p, nil
}
