package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"time"

	"golang.org/x/sys/unix"

	"palisade.dev/palisade/internal/lab"
)

// HelperFunc returns a command that runs Helper with args in a new
// process (the caller sets nothing else on it but its standard streams).
type HelperFunc func(args ...string) *exec.Cmd

// startIn starts cmd inside network namespace ns, pinned to cpu: it forks
// from a thread that is in the namespace and allows only that CPU, so the
// child starts with both, as `ip netns exec ns taskset -c cpu` would (and
// the Go runtime in it sees one CPU). The thread's affinity is restored.
func startIn(ns string, cpu int, cmd *exec.Cmd) error {
	return lab.Do(ns, func() error {
		var old, one unix.CPUSet
		if err := unix.SchedGetaffinity(0, &old); err != nil {
			return err
		}
		one.Set(cpu)
		if err := unix.SchedSetaffinity(0, &one); err != nil {
			return fmt.Errorf("pin to CPU %d: %w", cpu, err)
		}
		err := cmd.Start()
		return errors.Join(err, unix.SchedSetaffinity(0, &old))
	})
}

// trafficServer is a running server helper.
type trafficServer struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stderr bytes.Buffer
	done   chan error
}

// startTrafficServer runs the server helper in namespace ns and waits until
// it listens.
func startTrafficServer(h HelperFunc, ns string, cpu int) (*trafficServer, error) {
	s := &trafficServer{cmd: h("serve", "-conn", strconv.Itoa(connPort), "-bulk", strconv.Itoa(bulkPort)), done: make(chan error, 1)}
	stdin, err := s.cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	s.stdin = stdin
	stdout, err := s.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	s.cmd.Stderr = &s.stderr
	if err := startIn(ns, cpu, s.cmd); err != nil {
		return nil, fmt.Errorf("start traffic server in %s: %w", ns, err)
	}
	ready := make(chan error, 1)
	go func() { ready <- readReady(stdout); io.Copy(io.Discard, stdout) }()
	go func() { s.done <- s.cmd.Wait() }()
	select {
	case err = <-ready:
	case <-time.After(10 * time.Second):
		err = errors.New("traffic server not ready after 10s")
	}
	if err != nil {
		s.stop()
		return nil, fmt.Errorf("%w: %s", err, s.stderr.String())
	}
	return s, nil
}

// stop closes the server's stdin (its signal to exit) and kills it if it
// lingers.
func (s *trafficServer) stop() {
	s.stdin.Close()
	select {
	case <-s.done:
	case <-time.After(3 * time.Second):
		s.cmd.Process.Kill()
		<-s.done
	}
}

// runClient runs a client helper in namespace ns and decodes its JSON
// answer into out.
func runClient(ctx context.Context, h HelperFunc, ns string, cpu int, out any, args ...string) error {
	cmd := h(args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := startIn(ns, cpu, cmd); err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-ctx.Done():
		cmd.Process.Kill()
		<-done
		return ctx.Err()
	}
	if err != nil {
		return fmt.Errorf("traffic client %v: %w: %s", args, err, stderr.String())
	}
	return json.Unmarshal(stdout.Bytes(), out)
}

// side is one of the two setups traffic is measured on: the firewall's
// VPC, or the baseline built the same way without a firewall table.
type side struct {
	name     string
	router   string // router namespace
	client   string // client instance's namespace
	server   string // server instance's namespace
	addr     netip.Addr
	srv      *trafficServer
	conntrak bool // flush the router's conntrack before a connection run
	noBulk   bool // measure connection rate only
}

// measurer runs the traffic of both sides, interleaved.
type measurer struct {
	h        HelperFunc
	cfg      DataplaneConfig
	softirqd int // the process ID of the traffic CPU's ksoftirqd
}

// connRun measures new connections per second on s, and the CPU time the
// traffic's tasks used for them (see cpu.go).
func (m *measurer) connRun(ctx context.Context, s *side, d time.Duration) (connRun, error) {
	var run connRun
	if s.conntrak {
		if err := flushConntrackIn(s.router); err != nil {
			return run, err
		}
	}
	before, err := m.serverCPU(s)
	if err != nil {
		return run, err
	}
	err = runClient(ctx, m.h, s.client, m.cfg.CPU, &run, "conn",
		"-addr", netip.AddrPortFrom(s.addr, connPort).String(), "-duration", d.String(), "-workers", strconv.Itoa(m.cfg.Workers))
	if err == nil && run.Conns == 0 {
		err = fmt.Errorf("%s: no connection succeeded (%d errors)", s.name, run.Errors)
	}
	if err != nil {
		return run, err
	}
	after, err := m.serverCPU(s)
	run.CPUSeconds += (after - before).Seconds()
	return run, err
}

// serverCPU is the CPU time used so far by s's server helper and the
// traffic CPU's ksoftirqd.
func (m *measurer) serverCPU(s *side) (time.Duration, error) {
	srv, err := processCPU(s.srv.cmd.Process.Pid)
	if err != nil {
		return 0, err
	}
	soft, err := processCPU(m.softirqd)
	return srv + soft, err
}

// bulkRun measures throughput on s.
func (m *measurer) bulkRun(ctx context.Context, s *side, d time.Duration) (bulkRun, error) {
	var run bulkRun
	err := runClient(ctx, m.h, s.client, m.cfg.CPU, &run, "bulk",
		"-addr", netip.AddrPortFrom(s.addr, bulkPort).String(), "-duration", d.String())
	if err == nil && run.Bytes == 0 {
		err = fmt.Errorf("%s: nothing sent", s.name)
	}
	return run, err
}

// measure warms the sides up, then runs Repeats rounds of connection
// runs, one on each side in turn, and then Repeats rounds of throughput
// runs on each side (but those with noBulk). Odd rounds take the sides in
// reverse order, so that a drift of the machine's speed during a round
// does not always favour the same side. The two kinds are not mixed: a
// connection run right after a bulk run (gigabytes through the same
// sockets' memory a moment before) would be another side's each time. It
// returns a report per side, in order.
func (m *measurer) measure(ctx context.Context, sides []*side, note func(string, ...any)) ([]TrafficReport, error) {
	reports := make([]TrafficReport, len(sides))
	var err error
	if m.softirqd, err = ksoftirqd(m.cfg.CPU); err != nil {
		return nil, err
	}
	for _, s := range sides {
		if s.noBulk {
			continue
		}
		if _, err := m.bulkRun(ctx, s, m.cfg.Duration/6); err != nil {
			return nil, fmt.Errorf("warm-up: %w", err)
		}
	}
	for _, s := range sides {
		if _, err := m.connRun(ctx, s, m.cfg.Duration/6); err != nil {
			return nil, fmt.Errorf("warm-up: %w", err)
		}
	}
	for i := range m.cfg.Repeats {
		for _, k := range roundOrder(i, len(sides)) {
			s := sides[k]
			run, err := m.connRun(ctx, s, m.cfg.Duration)
			if err != nil {
				return nil, err
			}
			reports[k].addConn(run)
			note("  repeat %d, %s: %.0f connections/s (p50 %.0f µs, %d errors), %.1f µs CPU each", i+1, s.name, run.rate(), run.P50us, run.Errors, run.cpuPerConnUs())
		}
	}
	for i := range m.cfg.Repeats {
		for _, k := range roundOrder(i, len(sides)) {
			s := sides[k]
			if s.noBulk {
				continue
			}
			run, err := m.bulkRun(ctx, s, m.cfg.Duration)
			if err != nil {
				return nil, err
			}
			reports[k].addBulk(run)
			note("  repeat %d, %s: %.2f Gbit/s", i+1, s.name, run.gbps())
		}
	}
	for k := range reports {
		reports[k].summarize()
	}
	return reports, nil
}

// roundOrder is the order of n sides in round i: as given in even rounds,
// reversed in odd ones.
func roundOrder(i, n int) []int {
	order := make([]int, n)
	for k := range order {
		order[k] = k
		if i%2 == 1 {
			order[k] = n - 1 - k
		}
	}
	return order
}

func (r connRun) rate() float64 { return float64(r.Conns) / r.Seconds }

// cpuPerConnUs is the CPU time of the traffic's tasks per connection, µs.
func (r connRun) cpuPerConnUs() float64 { return r.CPUSeconds * 1e6 / float64(r.Conns) }

func (r bulkRun) gbps() float64 { return float64(r.Bytes) * 8 / r.Seconds / 1e9 }

// avoidCPU moves every thread of this process off cpu (when the machine
// has another), so that the control plane and the agent (its drift
// checks) never run on the traffic's CPU; restore undoes it.
func avoidCPU(cpu int) (restore func(), err error) {
	var old, rest unix.CPUSet
	if err := unix.SchedGetaffinity(0, &old); err != nil {
		return nil, err
	}
	rest = old
	rest.Clear(cpu)
	if rest.Count() == 0 {
		return func() {}, nil
	}
	if err := setProcessAffinity(&rest); err != nil {
		return nil, err
	}
	return func() { setProcessAffinity(&old) }, nil
}

// setProcessAffinity sets the affinity of every thread of the process
// (threads made later inherit it from the thread that makes them).
func setProcessAffinity(set *unix.CPUSet) error {
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return err
	}
	for _, t := range tasks {
		tid, err := strconv.Atoi(t.Name())
		if err != nil {
			continue
		}
		if err := unix.SchedSetaffinity(tid, set); err != nil && !errors.Is(err, unix.ESRCH) {
			return fmt.Errorf("set affinity of thread %d: %w", tid, err)
		}
	}
	return nil
}
