package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"syscall"
)

// Store is a directory of records, one file per cell named <key>.json. Besides the records it holds
// only dot-files, which no listing reads as records:
//
//   - .tmp-<key>.json-<pid>-<start>-<host>-<random>: a write in progress (see Put); the writer's pid,
//     process start time and host let CleanStale tell an abandoned one from a live one;
//   - .claim-<key>: the process training that cell (see Claim), and .takeover-<key> for the instant
//     in which a claim of a dead process is replaced;
//   - .quarantine/: records that could not be read, each with a <name>.reason file (see Lookup).
//
// Several processes, on one host or on several hosts sharing the directory, may use a store at once.
type Store struct {
	Dir string
}

// Open returns the store in dir. The directory is created by the first Put or Claim, so a run that
// fails on bad input leaves nothing behind.
func Open(dir string) (*Store, error) {
	if fi, err := os.Stat(dir); err == nil && !fi.IsDir() {
		return nil, fmt.Errorf("results store %s is not a directory", dir)
	}
	return &Store{Dir: dir}, nil
}

func (s *Store) path(key string) string { return filepath.Join(s.Dir, key+".json") }

// quarantineDir is where Lookup moves records it cannot read.
const quarantineDir = ".quarantine"

// checkKey refuses keys that cannot be a record's file name. A key may not start with a dot, so a
// record is never mistaken for (or hidden as) one of the store's own dot-files.
func checkKey(key string) error {
	if key == "" || strings.HasPrefix(key, ".") || strings.ContainsAny(key, "/\\\x00") {
		return fmt.Errorf("store: invalid record key %q", key)
	}
	return nil
}

// Put writes r atomically: a temporary file in the same directory, fsync, rename, then fsync of the
// directory, so a crash leaves either the old state or the complete new file, never a partial one.
// An existing record of the key (such as a failed one) is replaced. The file is created with mode
// 0644 less the umask.
func (s *Store) Put(r *Record) error {
	if err := checkKey(r.Key); err != nil {
		return err
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

// tempFile is the part of *os.File that writeAtomic uses; tests swap openFile to simulate a full disk.
type tempFile interface {
	Write([]byte) (int, error)
	Sync() error
	Close() error
	Name() string
}

var openFile = func(name string, flag int, perm os.FileMode) (tempFile, error) {
	return os.OpenFile(name, flag, perm)
}

// createTemp creates a new temporary file for path, named after the writing process (see tempName),
// with mode 0644 less the umask (os.CreateTemp would make it 0600 whatever the umask).
func createTemp(path string) (tempFile, error) {
	dir, base := filepath.Split(path)
	for range 100 {
		f, err := openFile(filepath.Join(dir, tempName(base)), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
		if errors.Is(err, fs.ErrExist) {
			continue // another write of ours picked the same random suffix
		}
		return f, err
	}
	return nil, fmt.Errorf("creating a temporary file for %s: too many name collisions", path)
}

// syncDir makes a rename in dir durable; tests swap it to simulate a failing fsync.
var syncDir = func(dir string) error {
	if runtime.GOOS == "windows" {
		return nil // directories cannot be opened for syncing there; renames are durable on their own
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if errors.Is(err, syscall.EINVAL) || errors.Is(err, syscall.ENOTSUP) {
		return nil // a file system that cannot sync directories: nothing more can be done
	}
	return err
}

func writeAtomic(path string, data []byte) (err error) {
	tmp, err := createTemp(path)
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	renamed := false
	defer func() {
		if err != nil && !renamed {
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
	renamed = true
	if err = syncDir(filepath.Dir(path)); err != nil {
		return fmt.Errorf("store: syncing directory after writing %s (the file is in place, but may not survive a crash): %w", path, err)
	}
	return nil
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

// State is what the store holds for one cell, as Lookup found it.
type State int

const (
	// Absent: no record; the cell must run.
	Absent State = iota
	// Done: a valid record with status ok or diverged (a divergence is a result); skip the cell.
	Done
	// Retry: a valid record with status failed. It stays on disk for diagnosis, but the cell must
	// run again, and its new record replaces this one.
	Retry
	// Corrupt: the file was not a valid record of the key (unreadable, invalid JSON, another
	// schema, another key, an unknown status). Lookup has moved it to the quarantine; the cell must
	// run.
	Corrupt
)

func (st State) String() string {
	switch st {
	case Absent:
		return "absent"
	case Done:
		return "done"
	case Retry:
		return "retry"
	case Corrupt:
		return "corrupt"
	}
	return fmt.Sprintf("State(%d)", int(st))
}

// NeedsRun reports whether a cell in this state must be trained: every state but Done.
func (st State) NeedsRun() bool { return st != Done }

// Entry is the result of Lookup.
type Entry struct {
	State  State
	Record *Record // Done and Retry: the record on disk; nil otherwise
	// Corrupt only: why the file is not a valid record, and where it has been moved
	// (<dir>/.quarantine/<key>.json, or <key>.json.<n> when that name is taken).
	Problem     error
	Quarantined string
}

// beforeQuarantine runs between Lookup's read of a corrupt file and its move; tests use it to race.
var beforeQuarantine = func() {}

// Lookup reads the record of key and says what the cell needs (see State). A file that is not a
// valid record is moved to the quarantine (Quarantine) and reported as Corrupt, so it never blocks
// the cell again: a later Lookup finds the key Absent. Lookup is safe to run from several processes
// at once: if another one moves or replaces the file first, Lookup looks again. The error is non-nil
// only when the store cannot be read or the quarantine cannot be written; the Entry is then empty.
func (s *Store) Lookup(key string) (Entry, error) {
	if err := checkKey(key); err != nil {
		return Entry{}, err
	}
	path := s.path(key)
	for range 8 {
		rec, fi, problem, err := readChecked(path, key)
		switch {
		case err != nil:
			return Entry{}, fmt.Errorf("store: %w", err)
		case fi == nil:
			return Entry{State: Absent}, nil
		case problem == nil && rec.Status == StatusFailed:
			return Entry{State: Retry, Record: rec}, nil
		case problem == nil:
			return Entry{State: Done, Record: rec}, nil
		}
		beforeQuarantine()
		dest, err := s.quarantine(path, fi, problem)
		if errors.Is(err, errChanged) || errors.Is(err, fs.ErrNotExist) {
			continue // another process moved or replaced the file: look again
		}
		if err != nil {
			return Entry{}, err
		}
		return Entry{State: Corrupt, Problem: problem, Quarantined: dest}, nil
	}
	return Entry{}, fmt.Errorf("store: %s keeps changing while being read", path)
}

// readChecked reads the record file of key. fi is nil when there is no file; problem says why the
// file is not a valid record of key; err is an error that prevents deciding (such as permission
// denied), not a problem of the file's content.
func readChecked(path, key string) (rec *Record, fi fs.FileInfo, problem, err error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, nil, nil
	}
	if err != nil {
		return nil, nil, nil, err
	}
	defer f.Close()
	if fi, err = f.Stat(); err != nil {
		return nil, nil, nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, nil, nil, fmt.Errorf("%s is not a regular file", path)
	}
	data, rerr := io.ReadAll(f)
	if rerr != nil {
		return nil, fi, fmt.Errorf("%s: unreadable: %w", path, rerr), nil
	}
	if rec, problem = Decode(data, path); problem != nil {
		return nil, fi, problem, nil
	}
	if rec.Key != key {
		return nil, fi, fmt.Errorf("%s: file name does not match record key %q", path, rec.Key), nil
	}
	switch rec.Status {
	case StatusOK, StatusDiverged, StatusFailed:
	default:
		return nil, fi, fmt.Errorf("%s: unknown record status %q", path, rec.Status), nil
	}
	return rec, fi, nil, nil
}

// errChanged: the file Lookup judged corrupt was replaced before it could be moved.
var errChanged = errors.New("file replaced while being quarantined")

// Quarantine moves the file at path (normally a record of this store) to <dir>/.quarantine/<name>,
// or <name>.<n> when that is taken, and writes reason into <name>.reason beside it. It returns an
// error wrapping fs.ErrNotExist when path is gone, for instance because another process moved it
// first. Lookup calls it for files that are not valid records.
func (s *Store) Quarantine(path string, reason error) error {
	_, err := s.quarantine(path, nil, reason)
	return err
}

// quarantine moves path away; when judged is not nil it must still be that file, else the move is
// undone and errChanged returned.
func (s *Store) quarantine(path string, judged fs.FileInfo, reason error) (string, error) {
	qdir := filepath.Join(s.Dir, quarantineDir)
	if err := os.MkdirAll(qdir, 0o755); err != nil {
		return "", fmt.Errorf("store: quarantine: %w", err)
	}
	base := filepath.Base(path)
	dest := filepath.Join(qdir, base)
	for n := 1; exists(dest) || exists(dest+".reason"); n++ {
		dest = filepath.Join(qdir, fmt.Sprintf("%s.%d", base, n))
	}
	if err := os.Rename(path, dest); err != nil {
		return "", fmt.Errorf("store: quarantining %s: %w", path, err)
	}
	if judged != nil {
		if moved, err := os.Lstat(dest); err == nil && !os.SameFile(judged, moved) {
			// A newer file replaced the corrupt one after it was read: put that one back, unless an
			// even newer one is already there (then keep this one here, saying why).
			if err := os.Link(dest, path); err == nil {
				os.Remove(dest)
				return "", errChanged
			} else if !errors.Is(err, fs.ErrExist) && !exists(path) && os.Rename(dest, path) == nil {
				return "", errChanged
			}
			reason = fmt.Errorf("%s was replaced twice while being quarantined; this copy was not checked (the file now at %s is newer)", path, path)
			s.writeReason(dest, reason)
			return "", errChanged
		}
	}
	if err := s.writeReason(dest, reason); err != nil {
		return dest, err
	}
	if err := syncDir(s.Dir); err != nil {
		return dest, fmt.Errorf("store: syncing %s after quarantining %s: %w", s.Dir, path, err)
	}
	return dest, nil
}

func (s *Store) writeReason(dest string, reason error) error {
	text := "unknown reason"
	if reason != nil {
		text = reason.Error()
	}
	self := self()
	text += fmt.Sprintf("\nquarantined by pid %d on host %s\n", self.PID, self.Host)
	return writeAtomic(dest+".reason", []byte(text))
}

func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

// Problem is a file that could not be read as a record.
type Problem struct {
	Path string
	Err  error
}

// All reads every record in the store, sorted by key. Files that are not valid records are returned
// as problems (by name) and skipped, never fatal, and never moved: reports only read. Dot-files
// (writes in progress, claims) and directories (the quarantine) are ignored.
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
		if e.IsDir() || !strings.HasSuffix(name, ".json") || strings.HasPrefix(name, ".") {
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

// WriteLog writes text (a failed cell's stack) to logs/<key>.log beside the records, atomically,
// and returns its path. Records stay small and one line says why a cell failed; the log says where.
func (s *Store) WriteLog(key, text string) (string, error) {
	if err := checkKey(key); err != nil {
		return "", err
	}
	dir := filepath.Join(s.Dir, "logs")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	path := filepath.Join(dir, key+".log")
	return path, writeAtomic(path, []byte(text))
}
