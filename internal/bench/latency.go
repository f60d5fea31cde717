package bench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"golang.org/x/sys/unix"

	"palisade.dev/palisade/internal/lab"
)

// Probing for the API-to-enforced latency: a new connection attempt every
// probeEvery, each given up after attemptLimit, so that the first packet
// after the kernel's change is at most probeEvery late.
const (
	probeEvery   = 250 * time.Microsecond
	attemptLimit = 50 * time.Millisecond
	blockedWait  = 30 * time.Millisecond // a connection not made by then is blocked
)

// firstConnect connects from namespace ns to dst again and again until an
// attempt is established (or refused: the SYN reached the instance either
// way), and returns when that was seen.
func firstConnect(ns string, dst netip.AddrPort, limit time.Duration) (time.Time, error) {
	var at time.Time
	err := lab.Do(ns, func() error {
		p := newProber(dst)
		defer p.closeAll()
		deadline := time.Now().Add(limit)
		for {
			now := time.Now()
			if now.After(deadline) {
				return fmt.Errorf("no connection from %s to %s within %v", ns, dst, limit)
			}
			if err := p.launch(now); err != nil {
				return err
			}
			ok, err := p.poll(probeEvery)
			if err != nil || ok {
				at = time.Now()
				return err
			}
		}
	})
	return at, err
}

// prober holds the connection attempts in flight.
type prober struct {
	family int
	sa     unix.Sockaddr
	live   []attempt
}

type attempt struct {
	fd   int
	born time.Time
}

func newProber(dst netip.AddrPort) *prober {
	if dst.Addr().Is4() {
		return &prober{family: unix.AF_INET, sa: &unix.SockaddrInet4{Port: int(dst.Port()), Addr: dst.Addr().As4()}}
	}
	return &prober{family: unix.AF_INET6, sa: &unix.SockaddrInet6{Port: int(dst.Port()), Addr: dst.Addr().As16()}}
}

// launch gives up attempts older than attemptLimit and starts a new one.
func (p *prober) launch(now time.Time) error {
	keep := p.live[:0]
	for _, a := range p.live {
		if now.Sub(a.born) > attemptLimit {
			unix.Close(a.fd)
		} else {
			keep = append(keep, a)
		}
	}
	p.live = keep
	fd, err := unix.Socket(p.family, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	// Closing sends a reset: no connection lingers on either side.
	unix.SetsockoptLinger(fd, unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1})
	if err := unix.Connect(fd, p.sa); err != nil && !errors.Is(err, unix.EINPROGRESS) {
		unix.Close(fd)
		return fmt.Errorf("connect: %w", err)
	}
	p.live = append(p.live, attempt{fd: fd, born: now})
	return nil
}

// poll waits up to wait for an attempt to finish; ok reports one that
// reached the instance. Attempts that failed otherwise are dropped.
func (p *prober) poll(wait time.Duration) (ok bool, err error) {
	fds := make([]unix.PollFd, len(p.live))
	for i, a := range p.live {
		fds[i] = unix.PollFd{Fd: int32(a.fd), Events: unix.POLLOUT}
	}
	ts := unix.NsecToTimespec(int64(wait))
	n, err := unix.Ppoll(fds, &ts, nil)
	if err != nil && !errors.Is(err, unix.EINTR) {
		return false, err
	}
	if n <= 0 {
		return false, nil
	}
	keep := p.live[:0]
	for i, f := range fds {
		if f.Revents == 0 {
			keep = append(keep, p.live[i])
			continue
		}
		soErr, _ := unix.GetsockoptInt(int(f.Fd), unix.SOL_SOCKET, unix.SO_ERROR)
		if soErr == 0 || soErr == int(unix.ECONNREFUSED) {
			ok = true
		}
		unix.Close(p.live[i].fd)
	}
	p.live = keep
	return ok, nil
}

func (p *prober) closeAll() {
	for _, a := range p.live {
		unix.Close(a.fd)
	}
	p.live = nil
}

// connects reports whether one connection from ns to dst is made within
// wait.
func connects(ns string, dst netip.AddrPort, wait time.Duration) (bool, error) {
	var c net.Conn
	err := lab.Do(ns, func() (err error) {
		c, err = (&net.Dialer{Timeout: wait}).Dial("tcp", dst.String())
		return err
	})
	if err == nil {
		c.Close()
		return true, nil
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return false, nil
	}
	return false, err
}

// waitBlocked waits until connections from ns to dst time out.
func waitBlocked(ns string, dst netip.AddrPort, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		ok, err := connects(ns, dst, blockedWait)
		if err != nil || !ok {
			return err
		}
		time.Sleep(5 * time.Millisecond)
	}
	return fmt.Errorf("connections from %s to %s still pass after %v", ns, dst, limit)
}

// listenIn accepts (and at once closes) connections on port in namespace
// ns until the returned listener is closed.
func listenIn(ns string, port int) (net.Listener, error) {
	var ln net.Listener
	err := lab.Do(ns, func() (err error) {
		ln, err = net.Listen("tcp", fmt.Sprintf(":%d", port))
		return err
	})
	if err != nil {
		return nil, err
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	return ln, nil
}

// change is what a latency sample does through the API: do makes sample
// i's change, undo (when not nil) takes it back; dst is the address sample
// i's connections go to.
type change struct {
	do, undo func(ctx context.Context, i int) error
	dst      func(i int) netip.AddrPort
}

// latency measures, Samples times, the time from a change's API call
// returning to the first connection it allows from namespace ns. Each
// sample starts with the agent settled and the connection blocked.
func (r *dpRun) latency(ctx context.Context, ns string, c change) (LatencyReport, error) {
	var rep LatencyReport
	for i := range r.cfg.Samples {
		if err := r.cp.settle(ctx, time.Minute); err != nil {
			return rep, err
		}
		if err := waitBlocked(ns, c.dst(i), 5*time.Second); err != nil {
			return rep, fmt.Errorf("before sample %d: %w", i+1, err)
		}
		if err := c.do(ctx, i); err != nil {
			return rep, err
		}
		t0 := time.Now()
		t1, err := firstConnect(ns, c.dst(i), 10*time.Second)
		if err != nil {
			return rep, err
		}
		rep.add(t1.Sub(t0))
		if c.undo != nil {
			if err := c.undo(ctx, i); err != nil {
				return rep, err
			}
		}
	}
	rep.summarize()
	return rep, nil
}

// ruleLatency opens a new port of the server (rulePort+i) for the lab
// host's address in every sample, so that no sample waits for the agent to
// apply a revoke; the rules are revoked together at the end.
func (r *dpRun) ruleLatency(ctx context.Context) (LatencyReport, error) {
	group := aws.String(r.sc.server)
	perm := func(i int) types.IpPermission {
		port := aws.Int32(int32(rulePort + i))
		return types.IpPermission{IpProtocol: aws.String("tcp"), FromPort: port, ToPort: port,
			IpRanges: []types.IpRange{{CidrIp: aws.String(r.sc.hostAddr.String() + "/32")}}}
	}
	var opened []types.IpPermission
	c := change{
		do: func(ctx context.Context, i int) error {
			_, err := r.cp.ec2.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{
				GroupId: group, IpPermissions: []types.IpPermission{perm(i)}})
			if err == nil {
				opened = append(opened, perm(i))
			}
			return err
		},
		dst: func(i int) netip.AddrPort { return netip.AddrPortFrom(r.sc.srv.addr, uint16(rulePort+i)) },
	}
	rep, err := r.latency(ctx, r.sc.hostName, c)
	if len(opened) > 0 {
		_, rerr := r.cp.ec2.RevokeSecurityGroupIngress(ctx, &ec2.RevokeSecurityGroupIngressInput{GroupId: group, IpPermissions: opened})
		err = errors.Join(err, rerr, r.cp.settle(ctx, time.Minute))
	}
	return rep, err
}

// memberLatency adds the prober's interface to the referenced group (which
// the server lets reach memberPort) and takes it out again.
func (r *dpRun) memberLatency(ctx context.Context) (LatencyReport, error) {
	b := &builder{cp: r.cp}
	c := change{
		do: func(ctx context.Context, _ int) error {
			return b.setGroups(ctx, r.sc.probe.eni, r.sc.prober, r.sc.member)
		},
		undo: func(ctx context.Context, _ int) error { return b.setGroups(ctx, r.sc.probe.eni, r.sc.prober) },
		dst:  func(int) netip.AddrPort { return netip.AddrPortFrom(r.sc.srv.addr, memberPort) },
	}
	return r.latency(ctx, r.sc.probe.id, c)
}
