package datasets

// BooleanPopulation returns the exact population distribution p[x1][x2][y] of the bits and label
// that GenerateBoolean draws for a gate mixture: x1 and x2 are independent fair bits (r.IntN(2)),
// the gate g has probability mix[g] (a split holds exactly round(mix[g]·n) samples of each gate, so
// mix is the limit of the split shares), and y = g(x1, x2). Hence
//
//	p(x1, x2, y) = ¼ · Σ_g mix[g] · 1[g(x1, x2) = y].
//
// It is the distribution whose PID is the "population" PID of the dataset: the estimate on n samples
// converges to it as n grows (the embeddings and the noise do not enter: the estimator reads the bits).
func BooleanPopulation(mix GateMix) [][][]float64 {
	p := make([][][]float64, 2)
	for a := range p {
		p[a] = make([][]float64, 2)
		for b := range p[a] {
			p[a][b] = make([]float64, 2)
			for g, w := range mix {
				p[a][b][applyGate(g, int64(a), int64(b))] += w / 4
			}
		}
	}
	return p
}

// SingleGate is the mixture of one gate alone (index GateAND, GateOR or GateXOR).
func SingleGate(g int) GateMix {
	var m GateMix
	m[g] = 1
	return m
}
