package store

// WriteFileAtomic writes data to path through a synced temporary file in the same folder renamed over
// path, then syncs the folder: readers see the old content or the new, never a partial file. It is the
// store's own record writer (writeAtomic), exported for other commands that write result files
// (bench dump).
func WriteFileAtomic(path string, data []byte) error { return writeAtomic(path, data) }
