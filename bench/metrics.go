package bench

// Accuracy is the fraction of predictions equal to the labels.
func Accuracy(pred, y []int64) float64 {
	if len(y) == 0 {
		return 0
	}
	c := 0
	for i := range y {
		if pred[i] == y[i] {
			c++
		}
	}
	return float64(c) / float64(len(y))
}

// MacroF1 is the unweighted mean over the k classes of F1 = 2·TP / (2·TP + FP + FN). A class with no
// true and no predicted sample has F1 0 (as scikit-learn with zero_division=0), so a degenerate model
// is not rewarded.
func MacroF1(pred, y []int64, k int) float64 {
	tp := make([]int, k)
	fp := make([]int, k)
	fn := make([]int, k)
	for i := range y {
		if pred[i] == y[i] {
			tp[y[i]]++
		} else {
			fp[pred[i]]++
			fn[y[i]]++
		}
	}
	var sum float64
	for c := 0; c < k; c++ {
		if d := 2*tp[c] + fp[c] + fn[c]; d > 0 {
			sum += 2 * float64(tp[c]) / float64(d)
		}
	}
	return sum / float64(k)
}
