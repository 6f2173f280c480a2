package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Store is a directory of records, one file per cell named <key>.json.
type Store struct {
	Dir string
}

// Open returns the store in dir. The directory is created by the first Put, so a run that fails on
// bad input leaves nothing behind.
func Open(dir string) (*Store, error) {
	if fi, err := os.Stat(dir); err == nil && !fi.IsDir() {
		return nil, fmt.Errorf("results store %s is not a directory", dir)
	}
	return &Store{Dir: dir}, nil
}

func (s *Store) path(key string) string { return filepath.Join(s.Dir, key+".json") }

// Has reports whether a record for key exists.
func (s *Store) Has(key string) bool {
	_, err := os.Stat(s.path(key))
	return err == nil
}

// Put writes r atomically: a temporary file in the same directory, fsync, then rename, so a crash
// leaves either the old state or the complete new file, never a partial one.
func (s *Store) Put(r *Record) error {
	if r.Key == "" || strings.ContainsAny(r.Key, "/\\") {
		return fmt.Errorf("store: invalid record key %q", r.Key)
	}
	r.Schema = SchemaVersion
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("store: encoding record %s: %w", r.Key, err)
	}
	if err := os.MkdirAll(s.Dir, 0o755); err != nil {
		return fmt.Errorf("results store %s: %w", s.Dir, err)
	}
	return writeAtomic(s.path(r.Key), append(data, '\n'))
}

// tempFile is the part of *os.File that writeAtomic uses; tests swap createTemp to simulate a full disk.
type tempFile interface {
	Write([]byte) (int, error)
	Sync() error
	Close() error
	Name() string
}

var createTemp = func(dir, pattern string) (tempFile, error) { return os.CreateTemp(dir, pattern) }

func writeAtomic(path string, data []byte) (err error) {
	dir := filepath.Dir(path)
	tmp, err := createTemp(dir, ".tmp-"+filepath.Base(path)+"-*")
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err = tmp.Write(data); err != nil {
		return fmt.Errorf("store: writing %s: %w", path, err)
	}
	if err = tmp.Sync(); err != nil {
		return fmt.Errorf("store: syncing %s: %w", path, err)
	}
	if err = tmp.Close(); err != nil {
		return fmt.Errorf("store: closing %s: %w", path, err)
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("store: renaming into %s: %w", path, err)
	}
	if d, derr := os.Open(dir); derr == nil { // make the rename itself durable
		d.Sync()
		d.Close()
	}
	return nil
}

// RemoveTemp deletes temporary files a killed write of key left behind. Call it before rerunning
// the cell; other keys' writes are not touched.
func (s *Store) RemoveTemp(key string) {
	matches, _ := filepath.Glob(filepath.Join(s.Dir, ".tmp-"+key+".json-*"))
	for _, m := range matches {
		os.Remove(m)
	}
}

// Get reads the record for key.
func (s *Store) Get(key string) (*Record, error) {
	return ReadFile(s.path(key))
}

// ReadFile reads and validates one record file.
func ReadFile(path string) (*Record, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Decode(data, path)
}

// Decode parses a record; name is used in error messages.
func Decode(data []byte, name string) (*Record, error) {
	var r Record
	dec := json.NewDecoder(strings.NewReader(string(data)))
	if err := dec.Decode(&r); err != nil {
		return nil, fmt.Errorf("%s: not a valid record: %w", name, err)
	}
	if r.Key == "" || r.Method == "" || r.Dataset == "" {
		return nil, fmt.Errorf("%s: record lacks key, method or dataset", name)
	}
	if r.Schema != SchemaVersion {
		return nil, fmt.Errorf("%s: record schema %d, this harness reads %d", name, r.Schema, SchemaVersion)
	}
	return &r, nil
}

// Problem is a file that could not be read as a record.
type Problem struct {
	Path string
	Err  error
}

// All reads every record in the store, sorted by key. Files that are not valid records are returned
// as problems (by name) and skipped, never fatal; temporary files of writes in progress are ignored.
func (s *Store) All() ([]*Record, []Problem, error) {
	entries, err := os.ReadDir(s.Dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil, fmt.Errorf("results store %s does not exist", s.Dir)
		}
		return nil, nil, err
	}
	var recs []*Record
	var probs []Problem
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".json") || strings.HasPrefix(name, ".tmp-") {
			continue
		}
		p := filepath.Join(s.Dir, name)
		r, err := ReadFile(p)
		if err != nil {
			probs = append(probs, Problem{Path: p, Err: err})
			continue
		}
		if r.Key+".json" != name {
			probs = append(probs, Problem{Path: p, Err: fmt.Errorf("%s: file name does not match record key %q", p, r.Key)})
			continue
		}
		recs = append(recs, r)
	}
	sort.Slice(recs, func(i, j int) bool { return recs[i].Key < recs[j].Key })
	return recs, probs, nil
}
