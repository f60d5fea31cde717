// Package sysmon gives the Go runtime's monitor thread (sysmon) of a
// long-running Palisade process a timer slack of 10 ms (Tune): what it
// saves, and why no other thread's timers change, is TimerSlack's
// comment. cmd/palisade tunes serve and agent with it; the floor server
// of the e2e cost benchmarks too, so that it stays the floor of a Go
// server tuned the same way.
package sysmon

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// TimerSlack is the timer slack (how late the kernel may end a timed
// sleep, to group wake-ups) that Tune gives the Go runtime's monitor
// thread, sysmon, instead of the kernel's 50 µs: the longest nap sysmon
// takes of itself.
//
// sysmon sleeps deeply while every processor is idle, and the first
// system call of the next request wakes it, to poll every 20 µs until
// it finds the processors idle again or has polled for a millisecond in
// vain. For a server that answers one call at a time, as behind a
// script, that is every call: a thread woken a dozen times per call.
// And each fdatasync of a commit spans several polls, so sysmon takes
// the processor from the thread that waits for the disk and wakes
// another thread to hold it. With the slack, the polls after a wake-up
// are up to 10 ms apart, as the runtime's own are after a millisecond
// of nothing to do, and a call is over before the second one. What
// sysmon is for still happens, later: a goroutine that runs for 10 ms
// is preempted within 20 ms rather than 10, and a processor held by a
// blocking system call is handed on within 10 to 20 ms, as on a busy
// server. An idle process costs nothing more.
const TimerSlack = 10 * time.Millisecond

// DefaultTimerSlack is the kernel's timer slack of every process that
// did not ask for another (init's, inherited).
const DefaultTimerSlack = 50 * time.Microsecond

// Scope says what Tune did.
type Scope string

const (
	SysmonThread Scope = "sysmon thread"                     // set on sysmon alone (root or CAP_SYS_NICE)
	EveryThread  Scope = "every thread, set before exec"     // the process re-executed itself with it
	Inherited    Scope = "left as the environment set it"    // e.g. systemd's TimerSlackNSec
	Unchanged    Scope = "left at the kernel's default 50µs" // tuning failed (logged)
)

// Tune gives sysmon TimerSlack and says where it put it; the thread ID
// is sysmon's when it found it. The kernel lets a thread set its own
// slack, and root (CAP_SYS_NICE) any thread's, through
// /proc/TID/timerslack_ns. With that right, Tune finds sysmon
// (sysmonTID) and sets its slack alone: no other thread's timers
// change. Without it, Tune sets the slack of its own thread and
// re-executes the program there (syscall.Exec does not return then;
// the process keeps its ID). Every thread of the new image, sysmon the
// first, starts with the slack of the thread that made it, so the whole
// process runs with it, and its timers may fire up to 10 ms late. An
// API server does not notice; a data plane, whose agent debounces
// changes for 2 ms, needs root and so takes the first way. A process
// whose slack is other than the kernel's default is left as it is: the
// re-executed one, or one that systemd's TimerSlackNSec= set.
func Tune() (Scope, int, error) {
	current, err := unix.PrctlRetInt(unix.PR_GET_TIMERSLACK, 0, 0, 0, 0)
	if err != nil {
		return Unchanged, 0, fmt.Errorf("read the timer slack: %w", err)
	}
	if time.Duration(current) != DefaultTimerSlack {
		if time.Duration(current) == TimerSlack {
			return EveryThread, 0, nil
		}
		return Inherited, 0, nil
	}
	tid, err := sysmonTID()
	if err != nil {
		return Unchanged, 0, err
	}
	err = os.WriteFile(fmt.Sprintf("/proc/%d/timerslack_ns", tid), []byte(strconv.FormatInt(int64(TimerSlack), 10)), 0)
	if err == nil {
		return SysmonThread, tid, nil
	}
	if !errors.Is(err, os.ErrPermission) {
		return Unchanged, tid, fmt.Errorf("set the timer slack of sysmon (thread %d): %w", tid, err)
	}
	return Unchanged, tid, execWithSlack()
}

// execWithSlack re-executes this program with the same arguments and
// environment on a thread whose timer slack is TimerSlack. It
// returns only if that fails, with the thread's slack put back.
func execWithSlack() error {
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find this program to re-execute it with a timer slack: %w", err)
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := unix.Prctl(unix.PR_SET_TIMERSLACK, uintptr(TimerSlack), 0, 0, 0); err != nil {
		return fmt.Errorf("set the timer slack: %w", err)
	}
	err = syscall.Exec(exe, os.Args, os.Environ())
	_ = unix.Prctl(unix.PR_SET_TIMERSLACK, 0, 0, 0, 0) // 0: back to the thread's default
	return fmt.Errorf("re-execute %s with a timer slack: %w", exe, err)
}

// sysmonTID finds the thread of this process that runs sysmon. The
// runtime starts sysmon before any other thread, first thing in
// runtime.main, so it is the thread whose ID the kernel handed out next
// after the process's own (IDs are handed out in increasing order,
// wrapping at pid_max). That thread must also be seen where only sysmon
// waits: in nanosleep (its polls), or in a futex wait with a timeout
// (its deep sleep; the runtime's other idle threads wait without one).
// It looks a few times, a millisecond apart, since a thread caught
// running shows no system call.
func sysmonTID() (int, error) {
	entries, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return 0, err
	}
	var tids []int
	for _, e := range entries {
		if tid, err := strconv.Atoi(e.Name()); err == nil {
			tids = append(tids, tid)
		}
	}
	tid, ok := nextThread(os.Getpid(), tids)
	if !ok {
		return 0, errors.New("find sysmon: the process has no other thread")
	}
	var seen string
	for range 20 {
		b, err := os.ReadFile(filepath.Join("/proc/self/task", strconv.Itoa(tid), "syscall"))
		if err != nil {
			return 0, err
		}
		seen = strings.TrimSpace(string(b))
		if sysmonWaits(seen) {
			return tid, nil
		}
		time.Sleep(time.Millisecond)
	}
	return 0, fmt.Errorf("find sysmon: thread %d, the first after the process's, is not waiting as sysmon does (%q)", tid, seen)
}

// nextThread is the thread of tids, other than pid, whose ID came first
// after pid, counting on past the largest ID as the kernel wraps.
func nextThread(pid int, tids []int) (int, bool) {
	best, found := 0, false
	for _, tid := range tids {
		if tid == pid {
			continue
		}
		if !found || after(pid, tid) < after(pid, best) {
			best, found = tid, true
		}
	}
	return best, found
}

// after is how far tid lies after pid in the order IDs are handed out:
// IDs below pid came after a wrap, so after every ID above it.
func after(pid, tid int) int {
	if tid > pid {
		return tid - pid
	}
	return tid + (1 << 30) // beyond pid_max's largest value (4,194,304)
}

// sysmonWaits reports whether a line of /proc/TID/syscall (the number of
// the system call the thread waits in, then its arguments in hex) shows
// one of sysmon's waits: nanosleep, or a futex wait with a timeout (the
// fourth argument, a pointer, not 0x0).
func sysmonWaits(line string) bool {
	f := strings.Fields(line)
	if len(f) < 5 {
		return false
	}
	nr, err := strconv.Atoi(f[0])
	if err != nil {
		return false
	}
	switch nr {
	case unix.SYS_NANOSLEEP:
		return true
	case unix.SYS_FUTEX:
		return f[4] != "0x0"
	}
	return false
}
