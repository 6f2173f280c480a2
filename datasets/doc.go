// Package datasets holds the datasets the harness can train on. Each file registers one dataset with
// bench/data in its init func, so importing the package (for its side effects) makes them all
// available by name:
//
//   - synthetic: generated R/U/S interaction mixtures (synthetic.go)
//   - boolean:   generated AND/OR/XOR mixtures of two bits (boolean.go)
//   - rosmap:    real multi-omics data in the MOGONET layout (rosmap.go, csvmatrix.go)
//   - avmnist:   MNIST images paired by label with FSDD spoken-digit spectrograms
//     (avmnist.go, idx.go, wav.go, spectrogram.go)
//
// Real datasets read their files from a data root resolved by resolveDataRoot (datadir.go). File
// parsers are separate from the loaders so they can be unit- and fuzz-tested without any data.
package datasets
