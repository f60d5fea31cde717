package dataplane

import (
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"palisade.dev/palisade/internal/lab"
	"palisade.dev/palisade/internal/model"
	"palisade.dev/palisade/internal/policy"
)

// BenchmarkObservationConnRate measures what observation costs new
// connections: the rate of TCP connections (connect, one byte each way,
// close) from a lab host to an instance through the router, with the table
// as it is without Observe ("off"), with the observation rules and nobody
// reading them ("rules"), and with an observer that reads every copy and
// names its rules with policy's Explain, as the agent does ("observed").
// The observation rules see only first packets (see observe.go).
// The three take turns (interleaved repeats) in one run on one machine;
// it reports the median rate of each and their ratios to "off".
//
//	go test -run '^$' -bench ObservationConnRate -benchtime 1x ./internal/dataplane
func BenchmarkObservationConnRate(b *testing.B) {
	const (
		repeats = 5
		run     = 2 * time.Second
		workers = 4
	)
	w := newTestVPC(b)
	web := gid(1)
	srv := w.instance("10.0.1.10/24", "", web)
	cli := w.host("203.0.113.7", "")
	w.groups = []model.SecurityGroup{group(web, in("tcp", "0.0.0.0/0", 80, 80), in("tcp", "203.0.113.0/24", 81, 90))}
	tcpEcho(b, srv, 80)
	dst := netip.AddrPortFrom(srv.v4, 80)
	rates := map[string][]float64{}
	states := []string{"off", "rules", "observed"}
	for b.Loop() {
		for range repeats {
			for _, state := range states {
				d := w.desired()
				d.Observe = state != "off"
				mustApply(b, w.tbl, d)
				stop := func() {}
				if state == "observed" {
					stop = observeAll(b, w.tbl, w.compiled, model.VpcID(w.vpc))
				}
				n := connLoop(b, cli, dst, workers, run)
				stop()
				rates[state] = append(rates[state], float64(n)/run.Seconds())
			}
		}
	}
	for _, state := range states {
		m := median(rates[state])
		b.ReportMetric(m, state+"_conn/s")
		if state != "off" {
			b.ReportMetric(m/median(rates["off"]), state+"/off")
		}
	}
	b.ReportMetric(0, "ns/op")
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	return s[len(s)/2]
}

// observeAll reads the table's copies until stopped, explaining every
// first packet that passed (as the agent does once it is decided); it
// fails the benchmark if it sees none.
func observeAll(b *testing.B, t *Table, c *policy.Compiled, vpc model.VpcID) (stop func()) {
	o, err := t.Observer()
	if err != nil {
		b.Fatal(err)
	}
	var seen atomic.Int64
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			ps, err := o.Read()
			if err != nil && err != ErrLost {
				return
			}
			for _, p := range ps {
				if p.Verdict == Passed {
					src, _ := c.ENIByAddr(vpc, p.Src)
					dst, _ := c.ENIByAddr(vpc, p.Dst)
					c.Explain(policy.Endpoint{ENI: src, Addr: p.Src}, policy.Endpoint{ENI: dst, Addr: p.Dst}, p.Proto, p.DstPort)
					seen.Add(1)
				}
			}
		}
	})
	return func() {
		o.Close()
		wg.Wait()
		if seen.Load() == 0 {
			b.Fatal("the observer saw no accepted flow")
		}
	}
}

// connLoop opens connections from n to dst with workers in parallel for d
// and returns how many completed (connect, a byte each way, close with a
// reset so that no TIME_WAIT piles up).
func connLoop(b *testing.B, n *node, dst netip.AddrPort, workers int, d time.Duration) int64 {
	var done atomic.Int64
	var wg sync.WaitGroup
	end := time.Now().Add(d)
	for range workers {
		wg.Go(func() {
			err := lab.Do(n.ns, func() error {
				buf := []byte{1}
				for time.Now().Before(end) {
					c, err := net.DialTimeout("tcp", dst.String(), time.Second)
					if err != nil {
						return err
					}
					if _, err := c.Write(buf); err == nil {
						_, err = c.Read(buf)
					}
					c.(*net.TCPConn).SetLinger(0)
					c.Close()
					if err != nil {
						return err
					}
					done.Add(1)
				}
				return nil
			})
			if err != nil {
				b.Error(err)
			}
		})
	}
	wg.Wait()
	return done.Load()
}
