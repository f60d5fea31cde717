package e2e

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"palisade.dev/palisade/internal/testutil"
)

// The kernel's timer slack, which every thread has unless it asked for
// another, and the one serve gives the Go runtime's monitor thread
// (internal/sysmon says why).
const (
	defaultSlackNs = "50000"
	sysmonSlackNs  = "10000000"
)

// threadSlacks is the timer slack of each thread of process pid, by
// thread ID.
func threadSlacks(t *testing.T, pid int) map[int]string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join("/proc", strconv.Itoa(pid), "task"))
	if err != nil {
		t.Fatal(err)
	}
	slacks := map[int]string{}
	for _, e := range entries {
		tid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "timerslack_ns"))
		if err != nil {
			t.Fatal(err)
		}
		slacks[tid] = strings.TrimSpace(string(b))
	}
	return slacks
}

var sysmonThreadRE = regexp.MustCompile(`msg="go runtime: sysmon's timer slack" scope="sysmon thread" thread=(\d+) timer_slack=10ms`)

// TestServeSlowsSysmonAlone: run as root, serve gives the 10 ms timer
// slack to one thread, the one it names in its log, which waits as only
// the runtime's monitor thread does; every other thread keeps the
// kernel's 50 µs, so their timers are as precise as ever. The API
// answers as usual.
func TestServeSlowsSysmonAlone(t *testing.T) {
	testutil.RequireRoot(t)
	t.Parallel()
	s := startServer(t, t.TempDir())
	m := sysmonThreadRE.FindStringSubmatch(s.log.String())
	if m == nil {
		t.Fatalf("no line naming the sysmon thread in the log:\n%s", s.log)
	}
	sysmon, _ := strconv.Atoi(m[1])
	newAccount(t, s) // the API answers
	slacks := threadSlacks(t, s.cmd.Process.Pid)
	if slacks[sysmon] != sysmonSlackNs {
		t.Errorf("thread %d (sysmon, says the log) has a timer slack of %q ns, want %s; all: %v", sysmon, slacks[sysmon], sysmonSlackNs, slacks)
	}
	for tid, slack := range slacks {
		if tid != sysmon && slack != defaultSlackNs {
			t.Errorf("thread %d has a timer slack of %s ns, want the default %s; all: %v", tid, slack, defaultSlackNs, slacks)
		}
	}
	b, err := os.ReadFile(filepath.Join("/proc", m[1], "syscall"))
	if err != nil {
		t.Fatal(err)
	}
	if f := strings.Fields(string(b)); len(f) < 5 || !(f[0] == strconv.Itoa(syscall.SYS_NANOSLEEP) ||
		f[0] == strconv.Itoa(syscall.SYS_FUTEX) && f[4] != "0x0") {
		t.Errorf("thread %d does not wait as sysmon does (nanosleep, or a futex wait with a timeout): %q", sysmon, b)
	}
	s.stop()
}

// TestServeUnprivilegedSlowsEveryThread: run as a user who may not set
// another thread's timer slack, serve re-executes itself (the same
// process) with the slack on the thread that execs, so that every thread
// of the new image has it, sysmon included; it says so in its log and
// serves as usual.
func TestServeUnprivilegedSlowsEveryThread(t *testing.T) {
	testutil.RequireRoot(t) // to run it as another user
	t.Parallel()
	const uid, gid = 4323, 4324
	base := t.TempDir()
	if err := os.Chmod(filepath.Dir(base), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(base, uid, gid); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(base, "data")
	s := startServerAs(t, dir, &syscall.Credential{Uid: uid, Gid: gid})
	if !strings.Contains(s.log.String(), `msg="go runtime: sysmon's timer slack" scope="every thread, set before exec" timer_slack=10ms`) {
		t.Fatalf("no line saying every thread has the slack in the log:\n%s", s.log)
	}
	if n := strings.Count(s.log.String(), "msg=listening"); n != 1 {
		t.Errorf("the log says %d times that serve listens, want once (the re-executed image):\n%s", n, s.log)
	}
	newAccount(t, s) // the API answers
	for tid, slack := range threadSlacks(t, s.cmd.Process.Pid) {
		if slack != sysmonSlackNs {
			t.Errorf("thread %d has a timer slack of %s ns, want %s", tid, slack, sysmonSlackNs)
		}
	}
	s.stop()
}
