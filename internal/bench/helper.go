package bench

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"sync"
	"time"
)

// The traffic of the data-plane benchmark runs in helper processes, started
// inside the instances' namespaces and pinned to one CPU (the way
// docs/dataplane.md#measured-costs describes): a server in one instance, a
// client in the other. Helper is the entry point of such a process: the
// palisade binary reaches it through a hidden subcommand, tests through
// TestMain. It returns the process's exit code.
//
//	serve -conn PORT -bulk PORT   accept connections until stdin closes: on
//	                              PORT conn write one byte, then wait for the
//	                              client to close; on PORT bulk read and discard
//	conn -addr A -duration D -workers N   dial, read one byte, close with RST,
//	                              in N workers for D; print a connRun as JSON
//	bulk -addr A -duration D      write as fast as possible on one
//	                              connection for D; print a bulkRun as JSON
func Helper(args []string, stdin io.Reader, stdout io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, "bench helper: want serve, conn or bulk")
		return 2
	}
	var err error
	switch args[0] {
	case "serve":
		err = helperServe(args[1:], stdin, stdout)
	case "conn":
		err = helperConn(args[1:], stdout)
	case "bulk":
		err = helperBulk(args[1:], stdout)
	default:
		err = fmt.Errorf("unknown mode %q", args[0])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench helper:", err)
		return 1
	}
	return 0
}

// connRun is what one connection-rate run measured.
type connRun struct {
	Conns   int     `json:"conns"`
	Errors  int     `json:"errors"`
	Seconds float64 `json:"seconds"`
	P50us   float64 `json:"p50_us"` // dial to first byte
	// CPUSeconds is the CPU time the client process used while it
	// connected; the measurer adds the server's and ksoftirqd's.
	CPUSeconds float64 `json:"cpu_s"`
}

// bulkRun is what one throughput run measured.
type bulkRun struct {
	Bytes   int64   `json:"bytes"`
	Seconds float64 `json:"seconds"`
}

func helperServe(args []string, stdin io.Reader, stdout io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	connPort := fs.Int("conn", 5201, "connection-rate port")
	bulkPort := fs.Int("bulk", 5202, "throughput port")
	if err := fs.Parse(args); err != nil {
		return err
	}
	conn, err := net.Listen("tcp", fmt.Sprintf(":%d", *connPort))
	if err != nil {
		return err
	}
	defer conn.Close()
	bulk, err := net.Listen("tcp", fmt.Sprintf(":%d", *bulkPort))
	if err != nil {
		return err
	}
	defer bulk.Close()
	go acceptLoop(conn, serveOneByte)
	go acceptLoop(bulk, func(c net.Conn) { io.Copy(io.Discard, c) })
	fmt.Fprintln(stdout, "ready")
	io.Copy(io.Discard, stdin) // the parent closes stdin (or dies): stop
	return nil
}

func acceptLoop(ln net.Listener, handle func(net.Conn)) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			handle(c)
		}()
	}
}

// serveOneByte writes one byte and waits for the client to close.
func serveOneByte(c net.Conn) {
	if _, err := c.Write([]byte{1}); err == nil {
		var b [1]byte
		c.Read(b[:])
	}
}

func trafficFlags(name string, args []string) (addr string, d time.Duration, workers int, err error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.StringVar(&addr, "addr", "", "server address:port")
	fs.DurationVar(&d, "duration", 3*time.Second, "how long to run")
	fs.IntVar(&workers, "workers", 8, "parallel connections")
	err = fs.Parse(args)
	if err == nil && addr == "" {
		err = errors.New("-addr is required")
	}
	return addr, d, workers, err
}

func helperConn(args []string, stdout io.Writer) error {
	addr, d, workers, err := trafficFlags("conn", args)
	if err != nil {
		return err
	}
	var mu sync.Mutex
	var run connRun
	var lat []time.Duration
	cpu0 := selfCPU()
	start := time.Now()
	deadline := start.Add(d)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			var mine []time.Duration
			errs := 0
			for time.Now().Before(deadline) {
				t0 := time.Now()
				if err := oneConn(addr); err != nil {
					errs++
					continue
				}
				mine = append(mine, time.Since(t0))
			}
			mu.Lock()
			lat = append(lat, mine...)
			run.Errors += errs
			mu.Unlock()
		})
	}
	wg.Wait()
	run.Seconds = time.Since(start).Seconds()
	run.CPUSeconds = (selfCPU() - cpu0).Seconds()
	run.Conns = len(lat)
	if len(lat) > 0 {
		slices.Sort(lat)
		run.P50us = float64(lat[len(lat)/2].Microseconds())
	}
	return json.NewEncoder(stdout).Encode(run)
}

// oneConn dials, reads the server's byte and closes with a reset (no
// TIME_WAIT, so that ports never run out).
func oneConn(addr string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	tc := c.(*net.TCPConn)
	defer tc.Close()
	tc.SetDeadline(time.Now().Add(time.Second))
	var b [1]byte
	if _, err := io.ReadFull(tc, b[:]); err != nil {
		return err
	}
	return tc.SetLinger(0)
}

func helperBulk(args []string, stdout io.Writer) error {
	addr, d, _, err := trafficFlags("bulk", args)
	if err != nil {
		return err
	}
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	buf := make([]byte, 256<<10)
	var run bulkRun
	start := time.Now()
	c.SetWriteDeadline(start.Add(d))
	for {
		n, err := c.Write(buf)
		run.Bytes += int64(n)
		if err != nil {
			break // the deadline
		}
	}
	run.Seconds = time.Since(start).Seconds()
	return json.NewEncoder(stdout).Encode(run)
}

// readReady waits for the server helper's "ready" line.
func readReady(r io.Reader) error {
	line, err := bufio.NewReader(r).ReadString('\n')
	if err != nil {
		return fmt.Errorf("traffic server did not start: %w", err)
	}
	if line != "ready\n" {
		return fmt.Errorf("traffic server said %q", line)
	}
	return nil
}
