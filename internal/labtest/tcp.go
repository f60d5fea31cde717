package labtest

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// What a TCP client sees (Outcome, Knock).
const (
	Connected = "connected" // handshake, the server's greeting, one echoed line
	Refused   = "refused"   // an RST: the packet got through to a closed port
	TimedOut  = "timeout"   // no answer: dropped
)

// Server is a TCP or UDP server that ServeTCP or ServeUDP started inside a
// namespace: where it listens, and the sources of what it received, safe
// for concurrent use.
type Server struct {
	Addr netip.AddrPort // the address it listens on, its port chosen when 0 was asked

	mu   sync.Mutex
	seen []netip.Addr // the source of every connection or datagram, in order
}

func (s *Server) add(a netip.Addr) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seen = append(s.seen, a.Unmap())
}

// Saw reports whether anything from a ever reached the server.
func (s *Server) Saw(a netip.Addr) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Contains(s.seen, a)
}

// Mark counts what reached the server so far: Await(a, Mark(), wait) waits
// for what is sent after the mark only.
func (s *Server) Mark() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.seen)
}

// Await reports whether something from a reaches the server within wait,
// counting what arrived since mark.
func (s *Server) Await(a netip.Addr, mark int, wait time.Duration) bool {
	deadline := time.Now().Add(wait)
	for {
		s.mu.Lock()
		found := slices.Contains(s.seen[min(mark, len(s.seen)):], a)
		s.mu.Unlock()
		if found || time.Now().After(deadline) {
			return found
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// listenAddr is at as net.Listen takes it: the zero Addr is every address.
func listenAddr(at netip.AddrPort) string {
	if !at.Addr().IsValid() {
		return fmt.Sprintf(":%d", at.Port())
	}
	return at.String()
}

// ServeTCP listens inside namespace ns on at (the zero Addr: every address
// of both families; port 0: any) until the test ends. It greets every
// connection with one line, "<ns> <the client's address as it saw it>",
// then echoes what it reads.
func ServeTCP(t testing.TB, ns string, at netip.AddrPort) *Server {
	t.Helper()
	var ln net.Listener
	err := In(ns, func() (err error) {
		ln, err = net.Listen("tcp", listenAddr(at))
		return err
	})
	if err != nil {
		t.Fatalf("listen on tcp %s in %s: %v", listenAddr(at), ns, err)
	}
	t.Cleanup(func() { ln.Close() })
	s := &Server{Addr: netip.MustParseAddrPort(ln.Addr().String())}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			src := c.RemoteAddr().(*net.TCPAddr).AddrPort().Addr().Unmap()
			s.add(src)
			go func() {
				defer c.Close()
				fmt.Fprintf(c, "%s %s\n", ns, src)
				io.Copy(c, c)
			}()
		}
	}()
	return s
}

// Conn is a client's connection to a ServeTCP server.
type Conn struct {
	net.Conn
	Server string     // the namespace that answered, from its greeting
	Src    netip.Addr // the client's address as the server saw it
	r      *bufio.Reader
}

// Dial connects from namespace ns to dst and reads the server's greeting,
// within wait.
func Dial(ns string, dst netip.AddrPort, wait time.Duration) (*Conn, error) {
	return DialFrom(ns, netip.Addr{}, dst, wait)
}

// DialFrom is Dial from the local address src (the zero Addr: the one the
// route says).
func DialFrom(ns string, src netip.Addr, dst netip.AddrPort, wait time.Duration) (*Conn, error) {
	d := &net.Dialer{Timeout: wait}
	if src.IsValid() {
		d.LocalAddr = net.TCPAddrFromAddrPort(netip.AddrPortFrom(src, 0))
	}
	var c net.Conn
	if err := In(ns, func() (err error) { c, err = d.Dial("tcp", dst.String()); return err }); err != nil {
		return nil, err
	}
	lc := &Conn{Conn: c, r: bufio.NewReader(c)}
	c.SetReadDeadline(time.Now().Add(wait))
	hello, err := lc.r.ReadString('\n')
	if err == nil {
		err = lc.parseGreeting(strings.TrimSpace(hello))
		lc.ackNow()
	}
	if err != nil {
		c.Close()
		return nil, err
	}
	return lc, nil
}

// Read reads what the server sent after its greeting (through the buffer
// Dial read the greeting with).
func (c *Conn) Read(p []byte) (int, error) { return c.r.Read(p) }

func (c *Conn) parseGreeting(hello string) error {
	server, src, ok := strings.Cut(hello, " ")
	a, err := netip.ParseAddr(src)
	if !ok || err != nil {
		return fmt.Errorf("greeting %q is not \"<namespace> <address>\"", hello)
	}
	c.Server, c.Src = server, a
	return nil
}

// RoundTrip sends a line and reads it back within wait.
func (c *Conn) RoundTrip(wait time.Duration) error {
	c.SetDeadline(time.Now().Add(wait))
	if _, err := io.WriteString(c, "ping\n"); err != nil {
		return err
	}
	line, err := c.r.ReadString('\n')
	if err == nil && line != "ping\n" {
		err = fmt.Errorf("echo %q", line)
	}
	c.ackNow()
	return err
}

// ackNow sends the acknowledgement of what the client read at once
// (TCP_QUICKACK), instead of the delayed ACK Linux sends a client that
// has just written: a probe leaves no segment of the server's
// unacknowledged behind it. Otherwise the server retransmits it later,
// and when a test has cut the flow's conntrack entry meanwhile, that
// retransmission opens the flow again from the server's side.
func (c *Conn) ackNow() {
	if tc, ok := c.Conn.(*net.TCPConn); ok {
		if rc, err := tc.SyscallConn(); err == nil {
			rc.Control(func(fd uintptr) { unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_QUICKACK, 1) })
		}
	}
}

// Outcome classifies what a client's error means to a user: Connected
// (nil), Refused, TimedOut, or else the error's text.
func Outcome(err error) string {
	var ne net.Error
	switch {
	case err == nil:
		return Connected
	case errors.Is(err, syscall.ECONNREFUSED):
		return Refused
	case errors.Is(err, os.ErrDeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return TimedOut
	}
	return err.Error()
}

// WaitFor is how long a probe expecting want waits: BlockedWait for a
// timeout, OKWait for anything else.
func WaitFor(want string) time.Duration {
	if want == TimedOut {
		return BlockedWait
	}
	return OKWait
}

// ReplyWait is how long a probe waits for an answer it expects (OKWait) or
// expects not to come (BlockedWait).
func ReplyWait(want bool) time.Duration {
	if want {
		return OKWait
	}
	return BlockedWait
}

// Knock is one connection from ns to a ServeTCP server at dst: connect,
// greeting, one line echoed. It returns the Outcome, waiting as long as
// WaitFor(want).
func Knock(ns string, dst netip.AddrPort, want string) string {
	return KnockFrom(ns, netip.Addr{}, dst, want)
}

// KnockFrom is Knock from the local address src.
func KnockFrom(ns string, src netip.Addr, dst netip.AddrPort, want string) string {
	wait := WaitFor(want)
	c, err := DialFrom(ns, src, dst, wait)
	if err == nil {
		defer c.Close()
		err = c.RoundTrip(wait)
	}
	return Outcome(err)
}

// ExpectTCP checks, once, that a client in ns sees want connecting to dst.
func ExpectTCP(t testing.TB, ns string, dst netip.AddrPort, want string) {
	t.Helper()
	start := time.Now()
	if got := Knock(ns, dst, want); got != want {
		t.Errorf("tcp %s → %s: %s, want %s", ns, dst, got, want)
		return
	}
	t.Logf("tcp %s → %s: %s in %v", ns, dst, want, time.Since(start).Round(100*time.Microsecond))
}
