package bench

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// The connection-rate runs saturate the traffic's CPU, so connections/s is
// the inverse of what a connection costs there, plus whatever else the
// machine runs on that CPU meanwhile. The CPU time the traffic's own tasks
// got measures the first alone: the client helper's, the server helper's,
// and that of the CPU's ksoftirqd (the router's forwarding runs in
// softirq context, mostly in the helpers' time, when the kernel defers it
// in ksoftirqd's). The scheduler counts that time in nanoseconds,
// softirqs served in a task's time included and time stolen by the
// hypervisor excluded, so a neighbour's work on the same CPU does not
// enter it.

// processCPU returns the CPU time the threads of process pid have run so
// far: the sum of their scheduler run times (/proc/<pid>/task/*/schedstat,
// nanoseconds). A thread that exits takes its time along, which the Go
// runtime of the helpers does not do while they serve.
func processCPU(pid int) (time.Duration, error) {
	dirs, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/schedstat", pid))
	if err != nil || len(dirs) == 0 {
		return 0, fmt.Errorf("no threads of process %d: %v", pid, err)
	}
	var sum time.Duration
	for _, path := range dirs {
		b, err := os.ReadFile(path)
		if err != nil {
			continue // the thread exited
		}
		f := bytes.Fields(b)
		if len(f) == 0 {
			return 0, fmt.Errorf("%s: empty", path)
		}
		ns, err := strconv.ParseInt(string(f[0]), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%s: %w", path, err)
		}
		sum += time.Duration(ns)
	}
	return sum, nil
}

// ksoftirqd returns the process ID of the softirq thread of cpu.
func ksoftirqd(cpu int) (int, error) {
	want := fmt.Sprintf("ksoftirqd/%d", cpu)
	procs, err := os.ReadDir("/proc")
	if err != nil {
		return 0, err
	}
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err != nil {
			continue
		}
		if comm, err := os.ReadFile(filepath.Join("/proc", p.Name(), "comm")); err == nil && strings.TrimSpace(string(comm)) == want {
			return pid, nil
		}
	}
	return 0, fmt.Errorf("no %s", want)
}
