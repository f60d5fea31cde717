package testutil

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// EtcdCluster is a local etcd cluster of member processes, started by the
// project's scripts/etcd-cluster and stopped when the test ends.
type EtcdCluster struct {
	Dir       string   // the members' data, logs and pid files
	Endpoints []string // client URLs, one per member
	script    string
}

// StartEtcd starts an etcd cluster of n members on free loopback ports; it
// skips (fails under CI) without the etcd binary. flags go to every member.
func StartEtcd(t testing.TB, n int, flags ...string) *EtcdCluster {
	t.Helper()
	RequireCommand(t, "etcd")
	RequireCommand(t, "etcdctl")
	_, file, _, _ := runtime.Caller(0)
	script := filepath.Join(filepath.Dir(file), "..", "..", "scripts", "etcd-cluster")
	var lastErr error
	for range 5 { // a port taken between the check and the start: try others
		dir, err := os.MkdirTemp("", "palisade-etcd-")
		if err != nil {
			t.Fatal(err)
		}
		c := &EtcdCluster{Dir: dir, script: script}
		base := freePorts(2 * n)
		cmd := exec.Command(script, "start", filepath.Join(dir, "c"), strconv.Itoa(n), strconv.Itoa(base))
		cmd.Env = append(os.Environ(), "ETCD_FLAGS="+strings.Join(flags, " "))
		out, err := cmd.Output()
		if err == nil {
			c.Dir = filepath.Join(dir, "c")
			c.Endpoints = strings.Split(strings.TrimSpace(string(out)), ",")
			t.Cleanup(func() {
				_ = exec.Command(script, "stop", c.Dir).Run()
				_ = os.RemoveAll(dir)
			})
			return c
		}
		lastErr = fmt.Errorf("%v: %s", err, logs(filepath.Join(dir, "c")))
		_ = exec.Command(script, "stop", filepath.Join(dir, "c")).Run()
		_ = os.RemoveAll(dir)
	}
	t.Fatalf("start etcd cluster: %v", lastErr)
	return nil
}

// logs returns the tail of the members' logs, for a failure message.
func logs(dir string) string {
	var b strings.Builder
	files, _ := filepath.Glob(filepath.Join(dir, "m*.log"))
	for _, f := range files {
		data, _ := os.ReadFile(f)
		if len(data) > 2000 {
			data = data[len(data)-2000:]
		}
		fmt.Fprintf(&b, "\n%s:\n%s", f, data)
	}
	return b.String()
}

// freePorts returns the first of count consecutive loopback ports that are
// free now, drawn at random so that packages testing in parallel do not
// collide, below Linux's default range of ports given to outgoing
// connections (32768 and up).
func freePorts(count int) int {
	for {
		base := 20000 + 2*rand.IntN(6000)
		free := true
		for p := base; p < base+count && free; p++ {
			l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
			if err != nil {
				free = false
				break
			}
			_ = l.Close()
		}
		if free {
			return base
		}
	}
}

// Pid returns the process id of member i.
func (c *EtcdCluster) Pid(t testing.TB, i int) int {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(c.Dir, fmt.Sprintf("m%d.pid", i)))
	if err != nil {
		t.Fatalf("etcd member %d: %v", i, err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil {
		t.Fatalf("etcd member %d pid: %v", i, err)
	}
	return pid
}

// Kill kills member i with SIGKILL and waits for it to be gone.
func (c *EtcdCluster) Kill(t testing.TB, i int) {
	t.Helper()
	pid := c.Pid(t, i)
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatalf("kill etcd member %d: %v", i, err)
	}
	for range 500 {
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil || strings.Contains(string(stat), ") Z ") {
			return // gone, or a zombie its new parent has yet to reap
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("etcd member %d (pid %d) still running after SIGKILL", i, pid)
}

// Restart starts member i again, with its data.
func (c *EtcdCluster) Restart(t testing.TB, i int) {
	t.Helper()
	if out, err := exec.Command(c.script, "member", c.Dir, strconv.Itoa(i)).CombinedOutput(); err != nil {
		t.Fatalf("restart etcd member %d: %v: %s", i, err, out)
	}
}

// Etcdctl runs etcdctl (v3 API) against the cluster, failing the test if it
// fails.
func (c *EtcdCluster) Etcdctl(t testing.TB, args ...string) {
	t.Helper()
	if out, err := c.etcdctl(c.Endpoints, args...); err != nil {
		t.Fatalf("etcdctl %s: %v: %s", strings.Join(args, " "), err, out)
	}
}

// etcdctl runs etcdctl (v3 API) against the given endpoints.
func (c *EtcdCluster) etcdctl(endpoints []string, args ...string) ([]byte, error) {
	cmd := exec.Command("etcdctl", append([]string{"--endpoints", strings.Join(endpoints, ","), "--command-timeout", "5s"}, args...)...)
	cmd.Env = append(os.Environ(), "ETCDCTL_API=3")
	return cmd.CombinedOutput()
}

// Leader returns the index of the member that leads, and the member IDs,
// as the live members report them.
func (c *EtcdCluster) Leader(t testing.TB) (leader int, ids []uint64) {
	t.Helper()
	ids = make([]uint64, len(c.Endpoints))
	var lead uint64
	for i, ep := range c.Endpoints {
		out, err := c.etcdctl([]string{ep}, "endpoint", "status", "-w", "json")
		if err != nil {
			continue // a dead member
		}
		var st []struct {
			Status struct {
				Header struct {
					MemberID uint64 `json:"member_id"`
				} `json:"header"`
				Leader uint64 `json:"leader"`
			}
		}
		if err := json.Unmarshal(out, &st); err != nil || len(st) != 1 {
			t.Fatalf("etcdctl endpoint status: %v: %s", err, out)
		}
		ids[i], lead = st[0].Status.Header.MemberID, st[0].Status.Leader
	}
	for i, id := range ids {
		if id != 0 && id == lead {
			return i, ids
		}
	}
	t.Fatalf("no member leads (ids %v, leader %d)", ids, lead)
	return -1, nil
}

// MoveLeader hands leadership to member to with etcdctl move-leader.
func (c *EtcdCluster) MoveLeader(t testing.TB, to int) {
	t.Helper()
	leader, ids := c.Leader(t)
	if leader == to {
		return
	}
	out, err := c.etcdctl([]string{c.Endpoints[leader]}, "move-leader", strconv.FormatUint(ids[to], 16))
	if err != nil {
		t.Fatalf("etcdctl move-leader: %v: %s", err, out)
	}
}
