package sysmon

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestNextThread(t *testing.T) {
	cases := []struct {
		pid  int
		tids []int
		want int
		ok   bool
	}{
		{100, []int{100, 101, 105}, 101, true},
		{100, []int{105, 100, 103}, 103, true},                 // in any order
		{100, []int{100, 40, 107}, 107, true},                  // an ID below pid came after a wrap
		{4000000, []int{4000000, 300, 12}, 12, true},           // both after a wrap: the smaller first
		{4000000, []int{4000000, 300, 4000001}, 4000001, true}, // before the wrap
		{100, []int{100}, 0, false},
	}
	for _, c := range cases {
		got, ok := nextThread(c.pid, c.tids)
		if got != c.want || ok != c.ok {
			t.Errorf("nextThread(%d, %v) = %d, %v; want %d, %v", c.pid, c.tids, got, ok, c.want, c.ok)
		}
	}
}

func TestSysmonWaits(t *testing.T) {
	line := func(nr int, args ...string) string {
		return fmt.Sprintf("%d %s 0x7ffc5a1e8e38 0x4712a3", nr, strings.Join(args, " "))
	}
	cases := []struct {
		line string
		want bool
	}{
		{line(unix.SYS_NANOSLEEP, "0x7f545cdfed28", "0x0", "0x0", "0x0", "0x0", "0x0"), true},                    // a poll
		{line(unix.SYS_FUTEX, "0x1ef3480", "0x80", "0x0", "0x7f545cdfed28", "0x0", "0x0"), true},                 // deep sleep: a timeout
		{line(unix.SYS_FUTEX, "0x1ef1b38", "0x80", "0x0", "0x0", "0x0", "0x0"), false},                           // an idle thread: none
		{line(unix.SYS_EPOLL_PWAIT, "0x6", "0x7f545bdfc584", "0x80", "0xffffffffffffffff", "0x0", "0x8"), false}, // the network poller
		{"running", false},
		{"-1 0x7ffc5a1e8e38 0x4712a3", false}, // blocked outside a system call
		{"", false},
	}
	for _, c := range cases {
		if got := sysmonWaits(c.line); got != c.want {
			t.Errorf("sysmonWaits(%q) = %v, want %v", c.line, got, c.want)
		}
	}
}

// TestTuneSysmonFindsSysmon: as root, in this test process (a Go program
// like any other), Tune gives the slack to one thread alone, the
// first after the process's own, which then waits as sysmon does.
func TestTuneSysmonFindsSysmon(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: setting another thread's timer slack needs CAP_SYS_NICE")
	}
	scope, tid, err := Tune()
	if scope == Inherited {
		t.Skip("this process inherited a timer slack other than the kernel's default")
	}
	if err != nil || scope != SysmonThread {
		t.Fatalf("Tune() = %q, %d, %v; want the sysmon thread", scope, tid, err)
	}
	file := fmt.Sprintf("/proc/%d/timerslack_ns", tid)
	defer os.WriteFile(file, []byte("0"), 0) // 0: back to the thread's default
	b, err := os.ReadFile(file)
	if err != nil || strings.TrimSpace(string(b)) != fmt.Sprint(int64(TimerSlack)) {
		t.Fatalf("%s: %q, %v; want %d", file, b, err, int64(TimerSlack))
	}
	own, err := unix.PrctlRetInt(unix.PR_GET_TIMERSLACK, 0, 0, 0, 0)
	if err != nil || time.Duration(own) != DefaultTimerSlack {
		t.Errorf("this thread's slack is %d (%v), want the default %v", own, err, DefaultTimerSlack)
	}
}
