package bench

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

// etcdProcs is an etcd cluster of member processes the benchmark started
// with scripts/etcd-cluster.
type etcdProcs struct {
	script    string
	dir       string // the members' data, logs and pid files
	endpoints []string
	pids      []int
}

// startEtcd starts n members on free loopback ports with script.
func startEtcd(ctx context.Context, script string, n int) (*etcdProcs, error) {
	if script == "" {
		return nil, errors.New("no etcd endpoints and no scripts/etcd-cluster to start members with")
	}
	if _, err := os.Stat(script); err != nil {
		return nil, fmt.Errorf("starting etcd members needs the project's scripts/etcd-cluster (run from the repository, or give --etcd-script or --etcd-endpoints): %w", err)
	}
	if _, err := exec.LookPath("etcd"); err != nil {
		return nil, fmt.Errorf("starting etcd members needs the etcd binary (Debian: apt install etcd-server), or give --etcd-endpoints: %w", err)
	}
	top, err := os.MkdirTemp("", "palisade-bench-etcd-")
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(top, "c")
	var lastErr error
	for range 5 { // a port taken between the check and the start: try others
		out, err := exec.CommandContext(ctx, script, "start", dir, strconv.Itoa(n), strconv.Itoa(freePortRun(2*n))).Output()
		if err == nil {
			e := &etcdProcs{script: script, dir: dir, endpoints: strings.Split(strings.TrimSpace(string(out)), ",")}
			for i := range n {
				b, err := os.ReadFile(filepath.Join(dir, fmt.Sprintf("m%d.pid", i)))
				if pid, perr := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && perr == nil {
					e.pids = append(e.pids, pid)
				}
			}
			return e, nil
		}
		lastErr = err
		if ee := (*exec.ExitError)(nil); errors.As(err, &ee) {
			lastErr = fmt.Errorf("%w: %s", err, ee.Stderr)
		}
		_ = exec.Command(script, "stop", dir).Run()
		if ctx.Err() != nil {
			break
		}
	}
	_ = os.RemoveAll(top)
	return nil, fmt.Errorf("start etcd members: %w", lastErr)
}

// stop kills the members and removes their data.
func (e *etcdProcs) stop() {
	_ = exec.Command(e.script, "stop", e.dir).Run()
	_ = os.RemoveAll(filepath.Dir(e.dir))
}

// freePortRun returns the first of count consecutive loopback ports free
// now, drawn at random below Linux's range of outgoing ports.
func freePortRun(count int) int {
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
