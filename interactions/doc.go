// Package interactions estimates how two modalities X1, X2 share information about
// a label Y, using the partial information decomposition (PID) of Bertschinger, Rauh,
// Olbrich, Jost and Ay, "Quantifying unique information", Entropy 16 (2014) 2161–2183
// ("BROJA"), in the form used by Liang et al., "Quantifying & Modeling Multimodal
// Interactions" (NeurIPS 2023, github.com/pliang279/PID).
//
// For a discrete joint p(x1, x2, y), let Δp be the set of joints q with the same
// pairwise marginals q(x1, y) = p(x1, y) and q(x2, y) = p(x2, y), and let
// q* = argmin_{q∈Δp} I_q(X1,X2;Y). Then, in bits,
//
//	R  = I_p(X1;Y) + I_p(X2;Y) − I_{q*}(X1,X2;Y)   (redundancy)
//	U1 = I_p(X1;Y) − R                            (unique to X1)
//	U2 = I_p(X2;Y) − R                            (unique to X2)
//	S  = I_p(X1,X2;Y) − I_{q*}(X1,X2;Y)           (synergy)
//
// so that R+U1+U2+S = I_p(X1,X2;Y), R+U1 = I_p(X1;Y) and R+U2 = I_p(X2;Y).
//
// The package has three parts:
//
//   - [Estimate]: the exact BROJA optimisation for a dense table p[x1][x2][y]
//     (an interior-point method on the convex dual, stopped on a certified duality
//     gap; see [Estimate] for details).
//   - [FromSamples]: the empirical joint of three category-index columns.
//   - [Discretize]: the reference pipeline's way of turning continuous features into
//     categories (row L2 normalisation, PCA, seeded k-means++).
//
// Everything is plain Go (gonum for dense linear algebra); no libtorch.
package interactions
