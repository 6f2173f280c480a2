package store

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Holder identifies a process that writes to the store: the holder of a claim, or (encoded in its
// name) the writer of a temporary file.
type Holder struct {
	PID int `json:"pid"`
	// StartTime is the process's start time, on Linux field 22 of /proc/<pid>/stat (clock ticks
	// since boot); with the pid it names one process even after the pid is reused. 0 where unknown.
	StartTime uint64    `json:"start_time"`
	Host      string    `json:"host"`
	Started   time.Time `json:"started"` // when the claim was made; zero for temporary files
	// Path is the claim file (not stored in it).
	Path string `json:"-"`
}

func (h *Holder) String() string {
	if h.PID <= 0 {
		return "an unknown process (its claim " + h.Path + " is being written)"
	}
	s := fmt.Sprintf("pid %d on host %s", h.PID, h.Host)
	if !h.Started.IsZero() {
		s += " since " + h.Started.Local().Format("2006-01-02 15:04:05")
	}
	return s
}

// Alive reports whether the holder may still be running. A process on another host cannot be
// checked and counts as alive; one on this host is dead when its pid is gone (or a zombie) or now
// belongs to a process started at another time.
func (h *Holder) Alive() bool {
	if h.PID <= 0 {
		return false
	}
	if h.Host != self().Host {
		return true
	}
	start, alive := processStart(h.PID)
	if !alive {
		return false
	}
	return h.StartTime == 0 || start == 0 || start == h.StartTime
}

var (
	selfOnce sync.Once
	selfID   Holder
)

// self is this process.
func self() Holder {
	selfOnce.Do(func() {
		selfID.PID = os.Getpid()
		selfID.StartTime, _ = processStart(selfID.PID)
		host, err := os.Hostname()
		if err != nil || host == "" {
			host = "unknown"
		}
		selfID.Host = sanitizeHost(host)
	})
	return selfID
}

// sanitizeHost keeps letters, digits and underscores, so a host name can sit in a file name between
// dashes and never contains ".json-".
func sanitizeHost(h string) string {
	b := []byte(h)
	for i, c := range b {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_') {
			b[i] = '_'
		}
	}
	if len(b) > 64 {
		b = b[:64]
	}
	return string(b)
}

// tempName is the name of a new temporary file for base (such as <key>.json):
// .tmp-<base>-<pid>-<start time>-<host>-<random>.
func tempName(base string) string {
	me := self()
	return fmt.Sprintf(".tmp-%s-%d-%d-%s-%08x", base, me.PID, me.StartTime, me.Host, rand.Uint32())
}

// tempWriter parses the writer out of a temporary record file's name; ok is false for a name of
// the old format (.tmp-<key>.json-<random>, written before names carried the writer), whose writer
// cannot be known and counts as dead.
func tempWriter(name string) (h Holder, ok bool) {
	i := strings.LastIndex(name, ".json-")
	if !strings.HasPrefix(name, ".tmp-") || i < 0 {
		return Holder{}, false
	}
	f := strings.Split(name[i+len(".json-"):], "-")
	if len(f) != 4 || f[2] == "" || sanitizeHost(f[2]) != f[2] {
		return Holder{}, false
	}
	pid, err1 := strconv.Atoi(f[0])
	start, err2 := strconv.ParseUint(f[1], 10, 64)
	if err1 != nil || err2 != nil || pid <= 0 {
		return Holder{}, false
	}
	return Holder{PID: pid, StartTime: start, Host: f[2]}, true
}

// abandonedAge: a temporary file of another host (whose writer cannot be checked) this old is
// abandoned; writing a record takes seconds at most.
const abandonedAge = 24 * time.Hour

// removeDeadTemp removes the temporary file e if its writer is dead; it reports whether it did.
func (s *Store) removeDeadTemp(e fs.DirEntry) (bool, error) {
	h, ok := tempWriter(e.Name())
	if ok && h.Alive() {
		if h.Host == self().Host {
			return false, nil
		}
		fi, err := e.Info()
		if err != nil || time.Since(fi.ModTime()) < abandonedAge {
			return false, nil
		}
	}
	err := os.Remove(filepath.Join(s.Dir, e.Name()))
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil // another process cleaned it up
	}
	return err == nil, err
}

func (s *Store) claimPath(key string) string    { return filepath.Join(s.Dir, ".claim-"+key) }
func (s *Store) takeoverPath(key string) string { return filepath.Join(s.Dir, ".takeover-"+key) }

// writingGrace: a claim file without a valid holder is being written for at most this long (the
// holder is written right after the file is created); older, it was left by a crash.
const writingGrace = 10 * time.Second

// claimState is what a claim (or takeover) file says.
type claimState int

const (
	claimGone    claimState = iota // no file
	claimHeld                      // a live holder (or one on another host)
	claimDead                      // a dead holder, or an unfinished file left by a crash
	claimWriting                   // created an instant ago; the holder is not written yet
)

// inspect reads the claim or takeover file at path.
func inspect(path string) (*Holder, claimState, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, claimGone, nil
	}
	if err != nil {
		return nil, 0, err
	}
	h := &Holder{}
	if json.Unmarshal(data, h) != nil || h.PID <= 0 {
		fi, err := os.Lstat(path)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, claimGone, nil
		}
		if err != nil {
			return nil, 0, err
		}
		h = &Holder{Path: path}
		if time.Since(fi.ModTime()) < writingGrace {
			return h, claimWriting, nil
		}
		return h, claimDead, nil
	}
	h.Path = path
	if h.Alive() {
		return h, claimHeld, nil
	}
	return h, claimDead, nil
}

// createExclusive creates path with data, failing with fs.ErrExist if it exists.
func createExclusive(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
	}
	return err
}

// claimWait bounds how long Claim waits for a claim that is being written or taken over by another
// process (an instant, normally).
var claimWait = 2 * time.Second

// Claim claims the cell of key for this process, so that overlapping runs on one store never train
// a cell twice. It creates <dir>/.claim-<key> exclusively, holding this process's pid, start time,
// host and the time. If the claim exists and its holder is a dead process of this host (its pid is
// gone, or reused by a process started at another time), or the file is an unfinished one left by a
// crash, Claim takes it over; of several processes taking over one claim at once exactly one wins.
//
// It returns one of: release != nil (the claim is ours; call release once the cell's record is
// written or the cell is abandoned; it removes the claim only if it is still ours, and may be called
// more than once); holder != nil (another live process, or one on another host whose liveness
// cannot be checked, holds the cell: skip it; a claim of a host that is gone must be removed by
// hand, at holder.Path); or err != nil. A second Claim of a key in the same process finds it held
// by this process's pid.
func (s *Store) Claim(key string) (release func(), holder *Holder, err error) {
	if err := checkKey(key); err != nil {
		return nil, nil, err
	}
	if err := os.MkdirAll(s.Dir, 0o755); err != nil {
		return nil, nil, fmt.Errorf("results store %s: %w", s.Dir, err)
	}
	path := s.claimPath(key)
	me := self()
	me.Started = time.Now().UTC()
	data, _ := json.Marshal(me)
	data = append(data, '\n')
	deadline := time.Now().Add(claimWait)
	for {
		err := createExclusive(path, data)
		if err == nil {
			return releaser(path, data), nil, nil
		}
		if !errors.Is(err, fs.ErrExist) {
			return nil, nil, fmt.Errorf("store: claiming %s: %w", key, err)
		}
		h, st, err := inspect(path)
		if err != nil {
			return nil, nil, fmt.Errorf("store: claim of %s: %w", key, err)
		}
		again := st == claimGone // released an instant ago
		switch st {
		case claimHeld:
			return nil, h, nil
		case claimDead:
			removed, err := s.removeDeadClaim(key)
			if err != nil && !errors.Is(err, errBusy) {
				return nil, nil, err
			}
			again = removed
		}
		if again && time.Now().Before(deadline) {
			continue // create it again; O_EXCL decides between racing takers
		}
		// Being written, or being taken over by another process: wait for the outcome.
		if time.Now().After(deadline) {
			if h == nil {
				h = &Holder{Path: path}
			}
			return nil, h, nil // someone is about to hold it
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func releaser(path string, ours []byte) func() {
	var once sync.Once
	return func() {
		once.Do(func() {
			if data, err := os.ReadFile(path); err == nil && bytes.Equal(data, ours) {
				os.Remove(path)
			}
		})
	}
}

// errBusy: another live process is taking over the same claim right now.
var errBusy = errors.New("claim is being taken over by another process")

// removeDeadClaim removes the claim of key if it is dead, under the takeover lock .takeover-<key>:
// checking that the claim is dead and removing it must not interleave with another taker, which
// could meanwhile have replaced it with its own live claim. The lock is held for an instant; one
// left by a dead process is removed.
func (s *Store) removeDeadClaim(key string) (bool, error) {
	lock := s.takeoverPath(key)
	me := self()
	me.Started = time.Now().UTC()
	ours, _ := json.Marshal(me)
	err := createExclusive(lock, ours)
	if errors.Is(err, fs.ErrExist) {
		stale, ierr := staleLock(lock)
		if ierr != nil {
			return false, fmt.Errorf("store: %w", ierr)
		}
		if !stale {
			return false, errBusy
		}
		// Left by a crash. Two processes removing the same stale lock at once could both get in;
		// that needs a crash within the instant a lock is held, and a race right after.
		os.Remove(lock)
		err = createExclusive(lock, ours)
		if errors.Is(err, fs.ErrExist) {
			return false, errBusy
		}
	}
	if err != nil {
		return false, fmt.Errorf("store: takeover of the claim of %s: %w", key, err)
	}
	defer releaser(lock, ours)()
	path := s.claimPath(key)
	_, st, err := inspect(path)
	if err != nil || st != claimDead {
		return false, err
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return false, fmt.Errorf("store: removing the dead claim %s: %w", path, err)
	}
	return true, nil
}

// staleLock reports whether the takeover lock at path was left by a crash: its holder is dead, or
// the file is unfinished and old, or it belongs to another host and is older than a lock is ever held.
func staleLock(path string) (bool, error) {
	h, st, err := inspect(path)
	if err != nil {
		return false, err
	}
	if st == claimHeld && h.Host != self().Host && time.Since(h.Started) > writingGrace {
		return true, nil
	}
	return st == claimDead, nil
}

// CleanStale removes what dead processes left in the store: temporary files of interrupted writes
// (including every one in the old, unnamed format) and claims whose holder is dead, with stale
// takeover locks. What live processes, in this process or others, are writing or hold is kept, as
// is what processes of other hosts hold (their temporary files only once a day old). It returns the
// paths removed; a store that does not exist yet is empty. Call it before a sweep.
func (s *Store) CleanStale() ([]string, error) {
	entries, err := os.ReadDir(s.Dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var removed []string
	var first error
	note := func(ok bool, err error, path string) {
		if ok {
			removed = append(removed, path)
		}
		if err != nil && !errors.Is(err, errBusy) && first == nil {
			first = err
		}
	}
	for _, e := range entries {
		name := e.Name()
		path := filepath.Join(s.Dir, name)
		switch {
		case e.IsDir():
		case strings.HasPrefix(name, ".tmp-"):
			ok, err := s.removeDeadTemp(e)
			note(ok, err, path)
		case strings.HasPrefix(name, ".claim-"):
			if _, st, err := inspect(path); err != nil || st != claimDead {
				note(false, err, path)
				continue // a live claim needs no lock to be left alone
			}
			ok, err := s.removeDeadClaim(strings.TrimPrefix(name, ".claim-"))
			note(ok, err, path)
		case strings.HasPrefix(name, ".takeover-"):
			// Removing a stale lock races only with another cleaner or taker of the same stale lock.
			if stale, err := staleLock(path); err == nil && stale {
				err := os.Remove(path)
				note(err == nil, nil, path)
			}
		}
	}
	return removed, first
}
