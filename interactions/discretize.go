package interactions

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"

	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/gonum/stat"
)

// Defaults for [DiscretizeOptions], following pliang279/PID's clustering pipeline
// (synthetic/ and the MultiBench notebooks): KMeans(n_clusters=20) after PCA to 2
// components for the synthetic suite, 5 for real datasets.
const (
	DefaultClusters            = 20
	DefaultComponentsSynthetic = 2
	DefaultComponentsReal      = 5
	DefaultRestarts            = 10
	DefaultMaxIter             = 300
)

// DiscretizeOptions configures [Discretize]. Zero values select the defaults.
type DiscretizeOptions struct {
	Clusters   int    // k-means clusters (0: DefaultClusters)
	Components int    // PCA components (0: DefaultComponentsSynthetic); clipped to min(n, dim)
	Seed       uint64 // seed of the k-means++ initialisations; the result is a function of it
	Restarts   int    // k-means++ initialisations, lowest inertia kept (0: DefaultRestarts)
	MaxIter    int    // Lloyd iterations per initialisation (0: DefaultMaxIter)
}

// DiscretizeInfo records how codes were produced, so that they can be reported next to
// the PID estimate (which depends on k, the PCA dimension and the seed) and reproduced.
type DiscretizeInfo struct {
	Samples, Dim      int     // input shape
	NonFinite         int     // NaN/±Inf entries replaced by 0 before normalising
	Components        int     // PCA components used
	ExplainedVariance float64 // fraction of the (normalised) variance they keep
	Clusters          int     // k requested
	ClustersUsed      int     // distinct codes returned
	Seed              uint64
	Restarts, MaxIter int
	Iterations        int     // Lloyd iterations of the kept initialisation
	Converged         bool    // whether that run stopped because assignments were stable
	Inertia           float64 // within-cluster sum of squares in PCA space

	Mean      []float64   // PCA centring vector (Dim)
	Basis     [][]float64 // Components principal directions, each of length Dim, sign-fixed
	Centroids [][]float64 // centroid of code c in PCA coordinates, c = 0..Clusters-1
}

// String is a one-line summary of the parameters for reports.
func (in DiscretizeInfo) String() string {
	return fmt.Sprintf("l2norm→PCA(%d of %d dims, %.1f%% var)→k-means++(k=%d, used %d, seed=%d, restarts=%d, iters=%d, inertia=%.4g) on n=%d",
		in.Components, in.Dim, 100*in.ExplainedVariance, in.Clusters, in.ClustersUsed, in.Seed,
		in.Restarts, in.Iterations, in.Inertia, in.Samples)
}

// Discretize turns continuous per-sample features of one modality into category codes,
// mirroring the pipeline pliang279/PID uses before its CVX PID estimator: non-finite
// values are set to 0, each row is L2-normalised (all-zero rows stay zero), the rows are
// projected on their first opts.Components principal components (gonum stat.PC, i.e. an
// SVD of the centred data; each direction's sign is fixed so that its largest-magnitude
// entry is positive), and k-means with opts.Clusters clusters is run: k-means++ seeding
// (Arthur & Vassilvitskii 2007) from a PCG generator seeded with opts.Seed, then Lloyd
// iterations, an empty cluster being re-seeded with the point farthest from its centroid;
// of opts.Restarts initialisations the lowest inertia is kept. Unlike the reference (no
// random_state), the result is deterministic given the seed. Codes are renumbered in order
// of first appearance, so they do not depend on the internal cluster order.
//
// It returns one code in [0, Clusters) per row, and a record of the parameters. Errors:
// no rows, rows of different or zero length, negative options, or fewer rows than
// clusters.
func Discretize(features [][]float32, opts DiscretizeOptions) ([]int, DiscretizeInfo, error) {
	var info DiscretizeInfo
	n := len(features)
	if n == 0 {
		return nil, info, errors.New("interactions: Discretize needs at least one row")
	}
	d := len(features[0])
	if d == 0 {
		return nil, info, errors.New("interactions: Discretize: rows have no features")
	}
	if opts.Clusters < 0 || opts.Components < 0 || opts.Restarts < 0 || opts.MaxIter < 0 {
		return nil, info, fmt.Errorf("interactions: Discretize: negative option in %+v", opts)
	}
	k := cmpOr(opts.Clusters, DefaultClusters)
	comps := cmpOr(opts.Components, DefaultComponentsSynthetic)
	restarts := cmpOr(opts.Restarts, DefaultRestarts)
	maxIter := cmpOr(opts.MaxIter, DefaultMaxIter)
	if n < k {
		return nil, info, fmt.Errorf("interactions: Discretize: %d rows for %d clusters", n, k)
	}
	comps = min(comps, d, n)
	info = DiscretizeInfo{Samples: n, Dim: d, Clusters: k, Seed: opts.Seed, Restarts: restarts, MaxIter: maxIter}

	// Clean and L2-normalise.
	x := mat.NewDense(n, d, nil)
	for i, row := range features {
		if len(row) != d {
			return nil, DiscretizeInfo{}, fmt.Errorf("interactions: Discretize: row %d has %d features, want %d", i, len(row), d)
		}
		dst := x.RawRowView(i)
		ss := 0.0
		for j, v := range row {
			f := float64(v)
			if math.IsNaN(f) || math.IsInf(f, 0) {
				f = 0
				info.NonFinite++
			}
			dst[j] = f
			ss += f * f
		}
		if ss > 0 {
			inv := 1 / math.Sqrt(ss)
			for j := range dst {
				dst[j] *= inv
			}
		}
	}

	// PCA.
	z, err := pca(x, comps, &info)
	if err != nil {
		return nil, DiscretizeInfo{}, err
	}

	// k-means.
	rng := rand.New(rand.NewPCG(opts.Seed, 0x9e3779b97f4a7c15))
	var best *kmeansRun
	for r := 0; r < restarts; r++ {
		run := kmeans(z, n, comps, k, maxIter, rng)
		if best == nil || run.inertia < best.inertia {
			best = run
		}
	}
	// Renumber by first appearance.
	remap := make([]int, k)
	for c := range remap {
		remap[c] = -1
	}
	next := 0
	codes := make([]int, n)
	for i, c := range best.assign {
		if remap[c] < 0 {
			remap[c] = next
			next++
		}
		codes[i] = remap[c]
	}
	for c := range remap {
		if remap[c] < 0 { // empty cluster: put it after the used ones
			remap[c] = next
			next++
		}
	}
	info.Centroids = make([][]float64, k)
	for c := 0; c < k; c++ {
		info.Centroids[remap[c]] = append([]float64(nil), best.centres[c*comps:(c+1)*comps]...)
	}
	info.ClustersUsed = best.used
	info.Iterations = best.iters
	info.Converged = best.converged
	info.Inertia = best.inertia
	return codes, info, nil
}

func cmpOr(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}

// pca projects the rows of x on their first comps principal directions and returns the
// n×comps scores row-major. It fills Mean, Basis, Components and ExplainedVariance.
func pca(x *mat.Dense, comps int, info *DiscretizeInfo) ([]float64, error) {
	n, d := x.Dims()
	mean := make([]float64, d)
	for i := 0; i < n; i++ {
		for j, v := range x.RawRowView(i) {
			mean[j] += v
		}
	}
	for j := range mean {
		mean[j] /= float64(n)
	}
	info.Mean = mean
	info.Components = comps
	basis := make([][]float64, comps)
	totalVar := 0.0
	if n >= 2 {
		var pc stat.PC
		if !pc.PrincipalComponents(x, nil) {
			return nil, errors.New("interactions: Discretize: PCA (SVD) failed")
		}
		vars := pc.VarsTo(nil)
		var vecs mat.Dense
		pc.VectorsTo(&vecs)
		kept := 0.0
		for _, v := range vars {
			totalVar += v
		}
		for c := 0; c < comps; c++ {
			kept += vars[c]
			v := make([]float64, d)
			mat.Col(v, c, &vecs)
			// Fix the sign: largest-magnitude entry positive (first one on ties).
			arg := 0
			for j := range v {
				if math.Abs(v[j]) > math.Abs(v[arg]) {
					arg = j
				}
			}
			if v[arg] < 0 {
				for j := range v {
					v[j] = -v[j]
				}
			}
			basis[c] = v
		}
		if totalVar > 0 {
			info.ExplainedVariance = kept / totalVar
		}
	} else {
		for c := range basis { // a single row: any basis projects it to 0
			basis[c] = make([]float64, d)
			basis[c][c] = 1
		}
	}
	if totalVar == 0 {
		info.ExplainedVariance = 1
	}
	info.Basis = basis
	z := make([]float64, n*comps)
	for i := 0; i < n; i++ {
		row := x.RawRowView(i)
		for c, v := range basis {
			s := 0.0
			for j := range row {
				s += (row[j] - mean[j]) * v[j]
			}
			z[i*comps+c] = s
		}
	}
	return z, nil
}

type kmeansRun struct {
	assign    []int
	centres   []float64 // k*dim
	inertia   float64
	iters     int
	used      int
	converged bool
}

// kmeans runs one k-means++ initialisation followed by Lloyd iterations on the n×dim
// row-major points z.
func kmeans(z []float64, n, dim, k, maxIter int, rng *rand.Rand) *kmeansRun {
	dist2 := func(i int, c []float64) float64 {
		s := 0.0
		for j := 0; j < dim; j++ {
			e := z[i*dim+j] - c[j]
			s += e * e
		}
		return s
	}
	centres := make([]float64, k*dim)
	d2 := make([]float64, n)
	first := rng.IntN(n)
	copy(centres[:dim], z[first*dim:(first+1)*dim])
	for i := range d2 {
		d2[i] = dist2(i, centres[:dim])
	}
	for c := 1; c < k; c++ {
		total := 0.0
		for _, v := range d2 {
			total += v
		}
		pick := -1
		if total > 0 {
			u := rng.Float64() * total
			acc := 0.0
			for i, v := range d2 {
				acc += v
				if v > 0 && acc >= u {
					pick = i
					break
				}
			}
			if pick < 0 { // rounding at the top end
				for i := n - 1; i >= 0; i-- {
					if d2[i] > 0 {
						pick = i
						break
					}
				}
			}
		} else {
			pick = rng.IntN(n) // all points coincide with chosen centres
		}
		cc := centres[c*dim : (c+1)*dim]
		copy(cc, z[pick*dim:(pick+1)*dim])
		for i := range d2 {
			d2[i] = min(d2[i], dist2(i, cc))
		}
	}

	run := &kmeansRun{assign: make([]int, n), centres: centres}
	for i := range run.assign {
		run.assign[i] = -1
	}
	counts := make([]int, k)
	sums := make([]float64, k*dim)
	for it := 1; it <= maxIter; it++ {
		run.iters = it
		changed := false
		for i := 0; i < n; i++ {
			bc, bd := 0, math.Inf(1)
			for c := 0; c < k; c++ {
				if dd := dist2(i, centres[c*dim:(c+1)*dim]); dd < bd {
					bc, bd = c, dd
				}
			}
			if run.assign[i] != bc {
				run.assign[i] = bc
				changed = true
			}
			d2[i] = bd
		}
		if !changed {
			run.converged = true
			break
		}
		// Re-seed empty clusters with the point farthest from its centroid.
		clear(counts)
		for _, c := range run.assign {
			counts[c]++
		}
		for c := 0; c < k; c++ {
			if counts[c] > 0 {
				continue
			}
			far := -1
			for i := 0; i < n; i++ {
				if counts[run.assign[i]] > 1 && (far < 0 || d2[i] > d2[far]) {
					far = i
				}
			}
			if far < 0 || d2[far] == 0 {
				continue // fewer distinct points than clusters
			}
			counts[run.assign[far]]--
			run.assign[far] = c
			counts[c] = 1
			d2[far] = 0
		}
		// Update the centroids (a cluster that stayed empty keeps its old centre).
		clear(sums)
		for i, c := range run.assign {
			for j := 0; j < dim; j++ {
				sums[c*dim+j] += z[i*dim+j]
			}
		}
		for c := 0; c < k; c++ {
			if counts[c] > 0 {
				inv := 1 / float64(counts[c])
				for j := 0; j < dim; j++ {
					centres[c*dim+j] = sums[c*dim+j] * inv
				}
			}
		}
	}
	// Final inertia and the number of non-empty clusters with the final centroids.
	clear(counts)
	for i, c := range run.assign {
		run.inertia += dist2(i, centres[c*dim:(c+1)*dim])
		counts[c]++
	}
	for _, m := range counts {
		if m > 0 {
			run.used++
		}
	}
	return run
}
