package main

// bench merge DIR… --into DIR, and the same merge in memory for report and regress's several --results.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/mmfusion/bench/bench/store"
)

// storeRecord is one record file of a store: the decoded record and its bytes.
type storeRecord struct {
	rec  *store.Record
	raw  []byte
	path string
}

// readStore reads every record file of dir as store.All does (dot-files and folders ignored, a file
// that is not a valid record of its name returned as a problem), keeping each file's bytes.
func readStore(dir string) ([]storeRecord, []store.Problem, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil, fmt.Errorf("results store %s does not exist", dir)
		}
		return nil, nil, err
	}
	var recs []storeRecord
	var probs []store.Problem
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".json") || strings.HasPrefix(name, ".") {
			continue
		}
		p := filepath.Join(dir, name)
		raw, err := os.ReadFile(p)
		if err != nil {
			probs = append(probs, store.Problem{Path: p, Err: err})
			continue
		}
		r, err := store.Decode(raw, p)
		if err == nil && r.Key+".json" != name {
			err = fmt.Errorf("%s: file name does not match record key %q", p, r.Key)
		}
		if err != nil {
			probs = append(probs, store.Problem{Path: p, Err: err})
			continue
		}
		recs = append(recs, storeRecord{rec: r, raw: raw, path: p})
	}
	return recs, probs, nil
}

// sameResult reports whether two records of one key hold the same result: equal in every field but
// when and how long they ran (finished, wall_seconds).
func sameResult(a, b *store.Record) bool {
	x, y := *a, *b
	x.Finished, y.Finished = time.Time{}, time.Time{}
	x.WallSeconds, y.WallSeconds = 0, 0
	bx, err1 := json.Marshal(&x)
	by, err2 := json.Marshal(&y)
	return err1 == nil && err2 == nil && bytes.Equal(bx, by)
}

// differingFields names the top-level record fields in which a and b differ (timing ignored).
func differingFields(a, b *store.Record) []string {
	fields := func(r *store.Record) map[string]json.RawMessage {
		c := *r
		c.Finished, c.WallSeconds = time.Time{}, 0
		data, _ := json.Marshal(&c)
		m := map[string]json.RawMessage{}
		json.Unmarshal(data, &m)
		return m
	}
	fa, fb := fields(a), fields(b)
	var out []string
	for k, v := range fa {
		if !bytes.Equal(v, fb[k]) {
			out = append(out, k)
		}
	}
	for k := range fb {
		if _, ok := fa[k]; !ok {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

// merger merges the records of several stores by key. A key seen once is taken; a second record of
// the key that holds the same result (sameResult) is fine and the first kept; a failed record (not a
// result: a rerun retries it) gives way to an ok or diverged one and never replaces one; any other
// difference is a conflict, and neither record wins.
type merger struct {
	recs      map[string]storeRecord
	conflicts []string
	replaced  int // failed records replaced by a result
	same      int // second copies of a record
}

func newMerger() *merger { return &merger{recs: map[string]storeRecord{}} }

func (m *merger) add(r storeRecord) {
	old, ok := m.recs[r.rec.Key]
	switch {
	case !ok:
		m.recs[r.rec.Key] = r
	case sameResult(old.rec, r.rec):
		m.same++
	case old.rec.Status == store.StatusFailed && r.rec.Status != store.StatusFailed:
		m.recs[r.rec.Key] = r
		m.replaced++
	case r.rec.Status == store.StatusFailed:
		// keep the result (or the first failure)
	default:
		m.conflicts = append(m.conflicts, fmt.Sprintf("%s: %s and %s differ in %s",
			r.rec.Key, old.path, r.path, strings.Join(differingFields(old.rec, r.rec), ", ")))
	}
}

func (m *merger) conflictError() error {
	if len(m.conflicts) == 0 {
		return nil
	}
	return fmt.Errorf("%d record(s) conflict (same key, different result):\n  %s", len(m.conflicts), strings.Join(m.conflicts, "\n  "))
}

// sorted returns the merged records by key.
func (m *merger) sorted() []storeRecord {
	out := make([]storeRecord, 0, len(m.recs))
	for _, r := range m.recs {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].rec.Key < out[j].rec.Key })
	return out
}

// resultsDirs reads several --results values (repeated, or comma lists); none means "results".
func resultsDirs(l listFlag) []string {
	var dirs []string
	seen := map[string]bool{}
	for _, v := range l {
		for _, d := range splitList(v) {
			if !seen[filepath.Clean(d)] {
				seen[filepath.Clean(d)] = true
				dirs = append(dirs, d)
			}
		}
	}
	if len(dirs) == 0 {
		dirs = []string{"results"}
	}
	return dirs
}

// loadStores reads and merges the records of several stores in memory, by bench merge's rules; a
// conflict is an error. Unreadable files are reported by name and skipped.
func loadStores(dirs []string, stderr io.Writer) ([]*store.Record, error) {
	if len(dirs) == 1 {
		return loadRecords(dirs[0], stderr)
	}
	m := newMerger()
	for _, d := range dirs {
		if fi, err := os.Stat(d); err == nil && !fi.IsDir() {
			return nil, usagef("results store %s is not a directory", d)
		}
		recs, probs, err := readStore(d)
		if err != nil {
			return nil, usageError{err}
		}
		for _, p := range probs {
			fmt.Fprintf(stderr, "bench: skipping %v\n", p.Err)
		}
		for _, r := range recs {
			m.add(r)
		}
	}
	if err := m.conflictError(); err != nil {
		return nil, err
	}
	if len(m.recs) == 0 {
		return nil, usagef("no readable records in %s", strings.Join(dirs, ", "))
	}
	var out []*store.Record
	for _, r := range m.sorted() {
		out = append(out, r.rec)
	}
	return out, nil
}

const mergeUsage = `usage: bench merge DIR... --into DIR [--dry-run]

Copies the records of the stores DIR... into the store --into (created when missing), by key:
a key absent there is copied (the file as it is); a record holding the same result (every field
equal but finished and wall_seconds) is fine; a failed record gives way to an ok or diverged one
and never replaces one; a record differing in anything else is a conflict: all conflicts are
listed, nothing is written, and the exit status is 1. Unreadable files are named and skipped (exit 1
after the rest is merged). Only records are merged (not logs, claims or the quarantine).`

func cmdMerge(args []string, stdout, stderr io.Writer) error {
	var into string
	var dirs []string
	dry := false
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "-h" || a == "-help" || a == "--help":
			fmt.Fprintln(stdout, mergeUsage)
			return nil
		case a == "--into" || a == "-into":
			if i+1 == len(args) {
				return usagef("merge: --into needs a directory\n%s", mergeUsage)
			}
			i++
			into = args[i]
		case strings.HasPrefix(a, "--into=") || strings.HasPrefix(a, "-into="):
			_, into, _ = strings.Cut(a, "=")
		case a == "--dry-run" || a == "-dry-run":
			dry = true
		case strings.HasPrefix(a, "-"):
			return usagef("merge: unknown flag %q\n%s", a, mergeUsage)
		default:
			dirs = append(dirs, a)
		}
	}
	if into == "" || len(dirs) == 0 {
		return usagef("merge: want at least one store and --into DIR\n%s", mergeUsage)
	}
	if fi, err := os.Stat(into); err == nil && !fi.IsDir() {
		return usagef("merge: --into %s is not a directory", into)
	}
	m := newMerger()
	if _, err := os.Stat(into); err == nil {
		recs, probs, err := readStore(into)
		if err != nil {
			return err
		}
		if len(probs) > 0 {
			for _, p := range probs {
				fmt.Fprintf(stderr, "bench: %v\n", p.Err)
			}
			return fmt.Errorf("merge: --into %s holds %d unreadable record file(s); run bench run on it (it quarantines them) or move them away first", into, len(probs))
		}
		for _, r := range recs {
			m.add(r)
		}
	}
	before := map[string]storeRecord{}
	for k, v := range m.recs {
		before[k] = v
	}
	problems, seen := 0, map[string]bool{filepath.Clean(into): true}
	for _, d := range dirs {
		if seen[filepath.Clean(d)] {
			continue
		}
		seen[filepath.Clean(d)] = true
		if fi, err := os.Stat(d); err != nil || !fi.IsDir() {
			return usagef("merge: %s is not a results store (not a directory)", d)
		}
		recs, probs, err := readStore(d)
		if err != nil {
			return err
		}
		for _, p := range probs {
			fmt.Fprintf(stderr, "bench: skipping %v\n", p.Err)
		}
		problems += len(probs)
		for _, r := range recs {
			m.add(r)
		}
	}
	if err := m.conflictError(); err != nil {
		return fmt.Errorf("merge: %w\nnothing written to %s", err, into)
	}
	var write []storeRecord
	for _, r := range m.sorted() {
		if old, ok := before[r.rec.Key]; !ok || old.path != r.path {
			write = append(write, r)
		}
	}
	if !dry {
		if err := os.MkdirAll(into, 0o755); err != nil {
			return err
		}
		for _, r := range write {
			if err := store.WriteFileAtomic(filepath.Join(into, r.rec.Key+".json"), r.raw); err != nil {
				return err
			}
		}
	}
	verb := "wrote"
	if dry {
		verb = "would write (--dry-run)"
	}
	fmt.Fprintf(stderr, "bench: merge: %s %d record(s) into %s (%d failed record(s) replaced by results, %d duplicate(s) with the same result); it holds %d\n",
		verb, len(write), into, m.replaced, m.same, len(m.recs))
	if problems > 0 {
		return fmt.Errorf("merge: %d unreadable file(s) skipped (named above)", problems)
	}
	return nil
}
