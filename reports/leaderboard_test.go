package reports

import (
	"bytes"
	"testing"
)

func TestLeaderboard(t *testing.T) {
	var b bytes.Buffer
	if err := Leaderboard(&b, fixture()); err != nil {
		t.Fatal(err)
	}
	// Macro-F1 is accuracy − 0.05 in the fixture, so its means are 5 points lower and its stds equal.
	want := `| Method | Dataset | Test acc (%) | Macro-F1 (%) | n |
| :--- | :--- | ---: | ---: | ---: |
| joint | cremad | 82.0 ± 2.0 | 77.0 ± 2.0 | 3 |
| joint | synthetic:mix=S | 60.0 ± 1.0 | 55.0 ± 1.0 | 3 |
| late-fusion | cremad | 80.0 ± 3.0 | 75.0 ± 3.0 | 3 |
| late-fusion | synthetic:mix=S | 51.0 ± 1.4 | 46.0 ± 1.4 | 2 (+1 diverged) |
| ogm\_ge | cremad | 75.0 ± 3.6 | 70.0 ± 3.6 | 3 |
| ogm\_ge | synthetic:mix=S | 62.0 ± 2.0 | 57.0 ± 2.0 | 3 |

mean ± sample std (n−1) over n successful seeds; model selection: best-val-acc.

- Excluded: late-fusion on synthetic:mix=S, seed 3, diverged (loss NaN at epoch 4).
`
	if b.String() != want {
		t.Errorf("leaderboard:\n got:\n%s\nwant:\n%s", b.String(), want)
	}
}
