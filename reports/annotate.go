package reports

import "math"

// annotate sets, per column, which cells are best and second best, which are statistically tied
// with the best, and each row's average rank.
//
// Best and second follow competition ranking on the means: every cell whose mean equals the
// column maximum is best; a second place exists only when the best is unique, and then every cell
// with the next lower mean is second. The reference "best" for the tie test is the first best cell
// in row order; each other non-best cell is compared with it by PairedTTest on the seeds both
// share (best − other). A cell is Tied when that test is defined (≥ 2 shared seeds) and p ≥ Alpha.
// Cells sharing fewer than 2 seeds with the best are left untested (Tested = false), not tied.
//
// Average ranks (AverageRanks) use the column means and are defined only for rows with no
// missing cell.
func annotate(t *Table) {
	for j := range t.Columns {
		ref := -1
		best, second := math.Inf(-1), math.Inf(-1)
		for i := range t.Rows {
			c := &t.Rows[i].Cells[j]
			if c.N == 0 {
				continue
			}
			if c.Mean > best {
				best, ref = c.Mean, i
			}
		}
		if ref < 0 {
			continue
		}
		nBest := 0
		for i := range t.Rows {
			c := &t.Rows[i].Cells[j]
			if c.N == 0 {
				continue
			}
			if c.Mean == best {
				nBest++
			} else if c.Mean > second {
				second = c.Mean
			}
		}
		refCell := &t.Rows[ref].Cells[j]
		for i := range t.Rows {
			c := &t.Rows[i].Cells[j]
			if c.N == 0 {
				continue
			}
			switch {
			case c.Mean == best:
				c.Place = 1
				continue
			case nBest == 1 && c.Mean == second:
				c.Place = 2
			}
			x, y := pairOnSeeds(refCell, c)
			if len(x) < 2 {
				continue
			}
			tt, err := PairedTTest(x, y)
			if err != nil || !tt.Defined() {
				continue
			}
			c.Tested, c.Test = true, tt
			c.Tied = tt.P >= t.Alpha
		}
	}

	if !t.HasRankColumn() {
		return
	}
	means := make([][]float64, len(t.Rows))
	for i, r := range t.Rows {
		means[i] = make([]float64, len(r.Cells))
		for j, c := range r.Cells {
			means[i][j] = c.Mean
		}
	}
	for i, r := range AverageRanks(means) {
		t.Rows[i].AvgRank = r
	}
}

// pairOnSeeds returns the values of a and b on the seeds both have, in ascending seed order.
func pairOnSeeds(a, b *Cell) (x, y []float64) {
	i, j := 0, 0
	for i < len(a.Seeds) && j < len(b.Seeds) {
		switch {
		case a.Seeds[i] == b.Seeds[j]:
			x = append(x, a.Values[i])
			y = append(y, b.Values[j])
			i++
			j++
		case a.Seeds[i] < b.Seeds[j]:
			i++
		default:
			j++
		}
	}
	return x, y
}
