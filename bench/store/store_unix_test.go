//go:build unix

package store

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// A record is created 0644 less the umask, like any other file (os.CreateTemp made it 0600).
func TestRecordModeFollowsUmask(t *testing.T) {
	for _, c := range []struct {
		umask int
		want  os.FileMode
	}{{0o022, 0o644}, {0o077, 0o600}, {0o002, 0o644}} {
		dir := t.TempDir()
		s, _ := Open(dir)
		old := syscall.Umask(c.umask)
		err := s.Put(sample("k"))
		syscall.Umask(old)
		if err != nil {
			t.Fatal(err)
		}
		fi, err := os.Stat(filepath.Join(dir, "k.json"))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != c.want {
			t.Errorf("umask %03o: record mode %v, want %v", c.umask, fi.Mode().Perm(), c.want)
		}
	}
}

// deadPID is the pid of a process that has exited.
func deadPID(t *testing.T) int {
	t.Helper()
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Skipf("cannot run true: %v", err)
	}
	return cmd.Process.Pid
}

// ownStart is this process's start time, read independently of the package on Linux.
func ownStart(t *testing.T) uint64 {
	b, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return 0
	}
	s := string(b)
	var start uint64
	fmt.Sscan(strings.Fields(s[strings.LastIndexByte(s, ')')+1:])[19], &start)
	return start
}

func TestParseStat(t *testing.T) {
	line := "4242 (evil) (name 1) S 1 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 98765 1000 10\n"
	st, start, ok := parseStat(line)
	if !ok || st != "S" || start != 98765 {
		t.Fatalf("parseStat = %q, %d, %v; want S, 98765, true", st, start, ok)
	}
	if _, _, ok := parseStat("garbage"); ok {
		t.Error("parseStat accepted garbage")
	}
	if h := self(); h.PID != os.Getpid() || h.StartTime != ownStart(t) {
		t.Errorf("self = %+v, want pid %d start %d", h, os.Getpid(), ownStart(t))
	}
}

func TestTempNamesCarryTheWriter(t *testing.T) {
	name := tempName("k-x.json")
	h, ok := tempWriter(name)
	me := self()
	if !ok || h.PID != me.PID || h.StartTime != me.StartTime || h.Host != me.Host {
		t.Fatalf("tempWriter(%q) = %+v, %v; want this process", name, h, ok)
	}
	want := fmt.Sprintf(".tmp-k-x.json-%d-%d-%s-", os.Getpid(), ownStart(t), me.Host)
	if !strings.HasPrefix(name, want) {
		t.Errorf("temp name %q, want prefix %q", name, want)
	}
	// Put's temporary file has that name: watch it through the open hook.
	var seen string
	defer swap(&openFile, func(name string, flag int, perm os.FileMode) (tempFile, error) {
		seen = name
		return os.OpenFile(name, flag, perm)
	})()
	s, _ := Open(t.TempDir())
	if err := s.Put(sample("k-x")); err != nil {
		t.Fatal(err)
	}
	if h, ok := tempWriter(filepath.Base(seen)); !ok || h.PID != me.PID {
		t.Errorf("Put wrote through %q, not a name carrying this process", seen)
	}
	if sanitizeHost("a-b.example.org") != "a_b_example_org" {
		t.Errorf("sanitizeHost = %q", sanitizeHost("a-b.example.org"))
	}
}

func listDir(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	return names
}

// Temporary files of a live writer survive the cleanup: another process may be about to rename
// its file into place. Those of dead writers, of a pid now reused, and of the old format go.
func TestCleanStaleKeepsLiveWritersTempFiles(t *testing.T) {
	dir := t.TempDir()
	s, _ := Open(dir)
	me := self()
	dead := deadPID(t)
	live := fmt.Sprintf(".tmp-k.json-%d-%d-%s-abcd1234", os.Getpid(), ownStart(t), me.Host)
	otherHost := fmt.Sprintf(".tmp-k.json-%d-1-elsewhere-abcd1234", dead)
	names := map[string]bool{ // name: kept
		live:      true,
		otherHost: true,
		fmt.Sprintf(".tmp-k.json-%d-%d-%s-abcd1234", dead, 5, me.Host):                    false, // dead writer
		fmt.Sprintf(".tmp-k.json-%d-%d-%s-abcd1234", os.Getpid(), ownStart(t)+7, me.Host): false, // pid reused
		".tmp-k.json-123456":          false, // old format, no writer
		".tmp-other-key.json-9876543": false,
		"k.json":                      true,
	}
	if ownStart(t) == 0 {
		delete(names, fmt.Sprintf(".tmp-k.json-%d-%d-%s-abcd1234", os.Getpid(), ownStart(t)+7, me.Host))
	}
	for n := range names {
		writeRaw(t, dir, n, "x")
	}
	old := filepath.Join(dir, fmt.Sprintf(".tmp-k.json-%d-1-elsewhere-00000000", dead))
	writeRaw(t, dir, filepath.Base(old), "x")
	os.Chtimes(old, time.Now().Add(-48*time.Hour), time.Now().Add(-48*time.Hour)) // another host's, abandoned
	names[filepath.Base(old)] = false

	removed, err := s.CleanStale()
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for n, kept := range names {
		if kept {
			want = append(want, n)
		}
	}
	sort.Strings(want)
	if got := listDir(t, dir); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("after CleanStale the store holds\n %v\nwant\n %v\n(removed %v)", got, want, removed)
	}
	if _, err := (&Store{Dir: filepath.Join(dir, "missing")}).CleanStale(); err != nil {
		t.Errorf("CleanStale of a store not created yet: %v", err)
	}
}

func writeClaim(t *testing.T, s *Store, key string, h Holder) string {
	t.Helper()
	b, _ := json.Marshal(h)
	os.MkdirAll(s.Dir, 0o755)
	return writeRaw(t, s.Dir, ".claim-"+key, string(b))
}

func TestClaim(t *testing.T) {
	dir := t.TempDir()
	s, _ := Open(filepath.Join(dir, "results")) // Claim creates the store
	release, h, err := s.Claim("k")
	if err != nil || release == nil || h != nil {
		t.Fatalf("first Claim = %v, %v, %v; want a release", release != nil, h, err)
	}
	var got Holder
	if err := json.Unmarshal(mustRead(t, filepath.Join(s.Dir, ".claim-k")), &got); err != nil || got.PID != os.Getpid() ||
		got.StartTime != ownStart(t) || got.Host != self().Host || time.Since(got.Started) > time.Minute {
		t.Fatalf("claim file holds %+v, %v", got, err)
	}
	r2, h2, err := s.Claim("k")
	if err != nil || r2 != nil || h2 == nil || h2.PID != os.Getpid() || h2.Path != filepath.Join(s.Dir, ".claim-k") {
		t.Fatalf("second Claim = %v, %+v, %v; want held by our pid", r2 != nil, h2, err)
	}
	if !strings.Contains(h2.String(), fmt.Sprint(os.Getpid())) {
		t.Errorf("Holder.String() = %q", h2.String())
	}
	recs, probs, _ := s.All()
	if len(recs)+len(probs) != 0 {
		t.Errorf("All lists the claim: %v %v", recs, probs)
	}
	release()
	release() // harmless
	if _, err := os.Stat(filepath.Join(s.Dir, ".claim-k")); err == nil {
		t.Fatal("release left the claim")
	}
	r3, _, err := s.Claim("k")
	if err != nil || r3 == nil {
		t.Fatalf("Claim after release: %v", err)
	}
	// A release whose claim was taken over in the meantime leaves the new holder's claim alone.
	p := writeClaim(t, s, "k", Holder{PID: 1, Host: "elsewhere", Started: time.Now()})
	r3()
	if _, err := os.Stat(p); err != nil {
		t.Fatal("release removed a claim that was no longer ours")
	}
	// Another host's claim cannot be checked: held.
	if r, h, err := s.Claim("k"); r != nil || h == nil || h.Host != "elsewhere" || err != nil {
		t.Fatalf("Claim of another host's claim = %v, %+v, %v; want held", r != nil, h, err)
	}
	if _, _, err := s.Claim(".bad"); err == nil {
		t.Error("Claim accepted a bad key")
	}
}

func TestClaimTakesOverDeadHolders(t *testing.T) {
	s, _ := Open(t.TempDir())
	me := self()
	cases := map[string]func() string{
		"dead pid": func() string { return writeClaim(t, s, "k", Holder{PID: deadPID(t), StartTime: 1, Host: me.Host}) },
		"pid reused": func() string {
			return writeClaim(t, s, "k", Holder{PID: os.Getpid(), StartTime: ownStart(t) + 3, Host: me.Host})
		},
		"unfinished file of a crash": func() string {
			p := writeRaw(t, s.Dir, ".claim-k", "")
			os.Chtimes(p, time.Now().Add(-time.Hour), time.Now().Add(-time.Hour))
			return p
		},
	}
	if ownStart(t) == 0 {
		delete(cases, "pid reused")
	}
	for name, setup := range cases {
		p := setup()
		release, h, err := s.Claim("k")
		if err != nil || release == nil {
			t.Fatalf("%s: Claim = %v, %+v, %v; want taken over", name, release != nil, h, err)
		}
		var got Holder
		json.Unmarshal(mustRead(t, p), &got)
		if got.PID != os.Getpid() {
			t.Fatalf("%s: claim now holds %+v", name, got)
		}
		release()
	}
	// A claim being written right now (empty, fresh) is not taken over: held by someone unknown.
	defer swap(&claimWait, 50*time.Millisecond)()
	writeRaw(t, s.Dir, ".claim-k", "")
	if r, h, err := s.Claim("k"); r != nil || h == nil || err != nil {
		t.Fatalf("fresh empty claim: %v, %+v, %v; want held", r != nil, h, err)
	}
	if names := listDir(t, s.Dir); strings.Join(names, " ") != ".claim-k" {
		t.Errorf("store holds %v, want only the claim (no takeover lock left)", names)
	}
}

// Processes racing to take over one dead claim: exactly one wins.
func TestClaimRaceOnDeadClaim(t *testing.T) {
	s, _ := Open(t.TempDir())
	dead := deadPID(t)
	for round := range 50 {
		writeClaim(t, s, "k", Holder{PID: dead, StartTime: 1, Host: self().Host})
		var wins sync.WaitGroup
		var mu sync.Mutex
		var releases []func()
		var holders int
		start := make(chan struct{})
		for range 8 {
			wins.Add(1)
			go func() {
				defer wins.Done()
				<-start
				r, h, err := s.Claim("k")
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err != nil:
					t.Error(err)
				case r != nil:
					releases = append(releases, r)
				case h != nil:
					holders++
				}
			}()
		}
		close(start)
		wins.Wait()
		if len(releases) != 1 || holders != 7 {
			t.Fatalf("round %d: %d winners and %d held, want 1 and 7", round, len(releases), holders)
		}
		releases[0]()
		if names := listDir(t, s.Dir); len(names) != 0 {
			t.Fatalf("round %d: left %v", round, names)
		}
	}
}

func TestCleanStaleRemovesDeadClaims(t *testing.T) {
	s, _ := Open(t.TempDir())
	me := self()
	dead := deadPID(t)
	release, _, err := s.Claim("live")
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	writeClaim(t, s, "dead", Holder{PID: dead, StartTime: 1, Host: me.Host})
	writeClaim(t, s, "remote", Holder{PID: dead, Host: "elsewhere"})
	b, _ := json.Marshal(Holder{PID: dead, Host: me.Host, Started: time.Now()})
	writeRaw(t, s.Dir, ".takeover-stale", string(b))
	b, _ = json.Marshal(Holder{PID: 1, Host: "elsewhere", Started: time.Now().Add(-time.Hour)})
	writeRaw(t, s.Dir, ".takeover-remote-old", string(b))
	b, _ = json.Marshal(Holder{PID: 1, Host: "elsewhere", Started: time.Now()})
	writeRaw(t, s.Dir, ".takeover-remote-now", string(b))
	if err := s.Put(sample("rec")); err != nil {
		t.Fatal(err)
	}
	removed, err := s.CleanStale()
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(listDir(t, s.Dir), " "); got != ".claim-live .claim-remote .takeover-remote-now rec.json" {
		t.Errorf("after CleanStale: %s (removed %v)", got, removed)
	}
	if len(removed) != 3 {
		t.Errorf("removed %v, want the dead claim and the two stale takeover locks", removed)
	}
}

// TestHelperHolder is the other process of TestTwoProcesses: it claims a cell and opens a temporary
// record file in the store named by STORE_TEST_HOLDER, says so, and waits to be killed.
func TestHelperHolder(t *testing.T) {
	dir := os.Getenv("STORE_TEST_HOLDER")
	if dir == "" {
		t.Skip("only run as a child of TestTwoProcesses")
	}
	s, _ := Open(dir)
	release, h, err := s.Claim("k")
	if err != nil || release == nil {
		fmt.Println("claim failed:", h, err)
		os.Exit(1)
	}
	f, err := createTemp(s.path("k"))
	if err != nil {
		fmt.Println(err)
		os.Exit(1)
	}
	fmt.Println("holding", filepath.Base(f.Name()))
	time.Sleep(time.Minute)
	os.Exit(1)
}

// Another live process's claim and temporary file are left alone; once it is killed, both are
// taken over or cleaned up.
func TestTwoProcesses(t *testing.T) {
	s, _ := Open(t.TempDir())
	child := exec.Command(os.Args[0], "-test.run=^TestHelperHolder$")
	child.Env = append(os.Environ(), "STORE_TEST_HOLDER="+s.Dir)
	out, _ := child.StdoutPipe()
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	defer child.Process.Kill()
	line, err := bufio.NewReader(out).ReadString('\n')
	tmp, ok := strings.CutPrefix(strings.TrimSpace(line), "holding ")
	if err != nil || !ok {
		t.Fatalf("child said %q, %v", line, err)
	}
	if r, h, err := s.Claim("k"); r != nil || err != nil || h == nil || h.PID != child.Process.Pid {
		t.Fatalf("Claim while the child holds k = %v, %+v, %v; want held by pid %d", r != nil, h, err, child.Process.Pid)
	}
	if removed, err := s.CleanStale(); err != nil || len(removed) != 0 {
		t.Fatalf("CleanStale with a live child removed %v, %v", removed, err)
	}
	if _, err := os.Stat(filepath.Join(s.Dir, tmp)); err != nil {
		t.Fatalf("the live child's temporary file is gone: %v", err)
	}
	child.Process.Signal(syscall.SIGKILL)
	child.Wait()
	removed, err := s.CleanStale()
	if err != nil || len(removed) != 2 {
		t.Fatalf("CleanStale after the child died removed %v, %v; want its claim and temporary file", removed, err)
	}
	if names := listDir(t, s.Dir); len(names) != 0 {
		t.Fatalf("store holds %v after the cleanup, want nothing", names)
	}
}
