package e2e

import (
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"palisade.dev/palisade/internal/lab"
	"palisade.dev/palisade/internal/labtest"
)

// probeLoop runs a probe over and over until end, and counts its outcomes
// ("yes": it got through), and separately the passes once marked is set.
type probeLoop struct {
	stop     chan struct{}
	done     sync.WaitGroup
	mu       sync.Mutex
	outcomes map[string]int
	marked   atomic.Bool
	okAfter  atomic.Int64
}

// startProbe starts a loop that runs probe, then pauses.
func startProbe(probe func() bool, pause time.Duration) *probeLoop {
	p := &probeLoop{stop: make(chan struct{}), outcomes: map[string]int{}}
	p.done.Add(1)
	go func() {
		defer p.done.Done()
		for {
			select {
			case <-p.stop:
				return
			default:
			}
			ok := probe()
			p.mu.Lock()
			p.outcomes[yesNo(ok)]++
			p.mu.Unlock()
			if ok && p.marked.Load() {
				p.okAfter.Add(1)
			}
			time.Sleep(pause)
		}
	}()
	return p
}

// end stops the loop and returns its counts.
func (p *probeLoop) end() map[string]int {
	close(p.stop)
	p.done.Wait()
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.outcomes
}

// TestLabRestartDeniesNothing restarts palisade serve (SIGTERM, then a new
// process on the same data directory) while probes run continuously: the
// stranger keeps trying a denied TCP port and sending denied datagrams, and
// the office keeps connecting to its allowed port. The lab stays in force
// while the server is down and the new server adopts it, so no denied
// packet may ever reach the instance, the office must get through after the
// restart (it may pause during it), and its SSH session opened before the
// restart goes on. Then, after lab down, a third server builds the same lab
// again from the store.
func TestLabRestartDeniesNothing(t *testing.T) {
	l := startLab(t)
	v := newVPC(t, l.ec2, false)
	g := newGroup(t, l.ec2, v.ID, tcp(22, officeIP+"/32"), udp(5353, officeIP+"/32"))
	i := launch(t, l.ec2, v, g)
	a := l.addHost(t, "us-east-1", v.ID, officeIP, "")
	b := l.addHost(t, "us-east-1", v.ID, strangerIP, "")
	waitNS(t, i.ID, a, b)
	sawTCP, sawUDP := serveTCP(t, i.ID, 22), serveUDP(t, i.ID, 5353)
	ssh, dns := port(i.IP, 22), port(i.IP, 5353)
	eventuallyTCP(t, a, ssh, connected)
	expectTCP(t, b, ssh, timedOut)
	session, err := labtest.Dial(a, ssh, okWait)
	if err != nil {
		t.Fatal(err)
	}
	defer session.Close()

	// The stranger's SYNs go out every 100 ms, its datagrams every 2 ms
	// (they are counted on arrival: any one that arrives is a breach).
	const probeWait = 100 * time.Millisecond
	connects := func(from string) func() bool {
		return func() bool {
			c, err := labtest.Dial(from, ssh, probeWait)
			if err == nil {
				c.Close()
			}
			return err == nil
		}
	}
	denied, allowed := startProbe(connects(b), 0), startProbe(connects(a), 10*time.Millisecond)
	var udpConn net.Conn
	if err := lab.Do(b, func() (err error) { udpConn, err = net.Dial("udp", dns.String()); return err }); err != nil {
		t.Fatal(err)
	}
	defer udpConn.Close()
	deniedUDP := startProbe(func() bool { udpConn.Write([]byte("denied")); return false }, 2*time.Millisecond)
	time.Sleep(time.Second) // every loop runs a while against the first server

	stopping := time.Now()
	l.stop()
	l2 := runLab(t, l.dir)
	t.Logf("SIGTERM to a healthy new server: %v", time.Since(stopping).Round(time.Millisecond))
	allowed.marked.Store(true)
	deadline := time.Now().Add(applyWait)
	for allowed.okAfter.Load() < 3 && time.Now().Before(deadline) {
		time.Sleep(retryEvery)
	}
	time.Sleep(time.Second) // the denied probes keep trying against the new server
	tcpOut, udpOut, okOut := denied.end(), deniedUDP.end(), allowed.end()
	t.Logf("stranger's connection attempts %v, datagrams sent %d; office's connection attempts %v", tcpOut, udpOut["no"], okOut)

	if tcpOut["yes"] > 0 || sawTCP.Saw(stranger) {
		t.Errorf("the stranger connected to the denied port %d times", tcpOut["yes"])
	}
	if sawUDP.Saw(stranger) {
		t.Errorf("a denied datagram from the stranger reached the instance")
	}
	if tcpOut["no"] < 10 || udpOut["no"] < 100 {
		t.Errorf("too few denied attempts to mean anything: tcp %v, udp %v", tcpOut, udpOut)
	}
	if allowed.okAfter.Load() < 3 {
		t.Errorf("the office did not get through after the restart: %v", okOut)
	}
	expectTCP(t, a, ssh, connected)
	if !udpEcho(a, dns, okWait) {
		t.Errorf("the office's datagram after the restart got no echo")
	}
	if err := session.RoundTrip(okWait); err != nil {
		t.Errorf("the office's session across the restart: %v", err)
	}
	l2.stop()

	// lab down leaves the store alone: the next server builds it all again.
	labDown(t)
	if nsExists(i.ID) || nsExists(a) {
		t.Fatalf("lab down left %s or %s", i.ID, a)
	}
	l3 := runLab(t, l.dir)
	waitNS(t, i.ID, a, b)
	serveTCP(t, i.ID, 22)
	eventuallyTCP(t, a, ssh, connected)
	expectTCP(t, b, ssh, timedOut)
	l3.stop()
}
