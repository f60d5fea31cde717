package dataplane

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/google/nftables"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// Table is Palisade's nftables table in one router namespace. Its methods
// are safe for concurrent use; each holds the table for its duration.
type Table struct {
	mu   sync.Mutex
	log  *slog.Logger
	ns   *os.File // the router namespace, held open for netlink sockets in it
	conn *nftables.Conn
	tbl  *nftables.Table
	// last is what the kernel holds as of the last successful Apply; nil
	// when unknown (after Open of an existing table, a failed batch or
	// drift), which makes the next Apply a full rebuild.
	last *ruleset
	// cache holds the pieces of the last build, which the next one reuses
	// where their inputs did not change (see cache).
	cache *cache
	// gen is the namespace's nf_tables generation when the kernel last held
	// exactly last (see generation.go); valid when genKnown.
	gen      uint32
	genKnown bool
	// clash: the interfaces the last Apply left out (validate), logged
	// when they change rather than at every Apply.
	clash []string
}

// Result describes what one Apply did.
type Result struct {
	Full     bool // the table was rebuilt in one batch (first Apply, after drift or a failed update)
	Sets     int  // sets and maps added or deleted
	Chains   int  // chains added, rewritten or deleted
	Elements int  // set and map elements added or deleted
	// Commit is the time from sending the batch to the kernel's answer:
	// nf_tables commits a batch before it answers, so this is the kernel's
	// time to make the change, with no rules in force half-changed.
	Commit time.Duration
}

// sockBuffer is the forced size of the netlink socket's buffers: a full
// rebuild is one sendmsg of every message (a few MiB for 10,000 members
// and rules), beyond the default limits (docs/dataplane.md#pitfalls, pitfall 2).
const sockBuffer = 64 << 20

func bigBuffers(c *netlink.Conn) error {
	rc, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	err = rc.Control(func(fd uintptr) {
		if serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, sockBuffer); serr == nil {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, sockBuffer)
		}
	})
	return errors.Join(err, serr)
}

// Open opens the table in the network namespace at netnsPath (e.g.
// /run/netns/<router>). When the table does not exist yet it is created
// empty, which drops every forwarded packet (fail closed) until the first
// Apply; an existing table keeps enforcing what it holds, and the first
// Apply replaces it in one batch. Either way Open sets the namespace's
// conntrack timeouts to AWS's defaults (conntrackDefaults), which the
// table relies on. log may be nil.
func Open(netnsPath string, log *slog.Logger) (*Table, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ns, err := os.Open(netnsPath)
	if err != nil {
		return nil, fmt.Errorf("open namespace: %w", err)
	}
	conn, err := nftables.New(nftables.WithNetNSFd(int(ns.Fd())), nftables.AsLasting(),
		nftables.WithSockOptions(bigBuffers))
	if err != nil {
		ns.Close()
		return nil, fmt.Errorf("nftables netlink in %s: %w", netnsPath, err)
	}
	t := &Table{
		log:  log.With("component", "dataplane", "netns", netnsPath),
		ns:   ns,
		conn: conn,
		tbl:  &nftables.Table{Name: TableName, Family: nftables.TableFamilyINet},
	}
	exists, err := t.exists()
	if err == nil && !exists {
		if _, err = t.Apply(Desired{}); err == nil {
			t.log.Info("table created: forwarding is dropped until the first Apply")
		}
	}
	if err == nil {
		// After the table: its conntrack rules load nf_conntrack, whose
		// settings do not exist before.
		err = setSysctls(ns, conntrackDefaults())
	}
	if err != nil {
		t.Close()
		return nil, err
	}
	return t, nil
}

func (t *Table) exists() (bool, error) {
	tables, err := t.conn.ListTablesOfFamily(nftables.TableFamilyINet)
	if err != nil {
		return false, fmt.Errorf("list tables: %w", err)
	}
	for _, x := range tables {
		if x.Name == TableName {
			return true, nil
		}
	}
	return false, nil
}

// Apply makes the kernel hold exactly what d renders to, in one atomic
// batch: only the differences from the last Apply (set elements for
// members and addresses, the chains and sets of changed groups, the chains
// and map elements of attached or detached ports), or, the first time,
// after drift or when an update fails, the whole table replaced at once.
// A batch that fails changes nothing. Sets that got many elements are
// counted back from the kernel.
func (t *Table) Apply(d Desired) (Result, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	want, next, err := build(d, t.cache)
	if err != nil {
		return Result{}, err
	}
	if len(want.clash) > 0 && !slices.Equal(want.clash, t.clash) {
		t.log.Error("interfaces left out of the table: their names hash to the index of another (the lab cannot make them either)", "interfaces", want.clash)
	}
	t.clash = want.clash
	t.cache = next
	if t.last != nil {
		if p, ok := diff(t.last, want); ok {
			res, err := t.run(p, want)
			if err == nil {
				return res, nil
			}
			t.log.Warn("update failed, rebuilding the table", "err", err)
		}
	}
	return t.run(rebuild(want), want)
}

// run sends the batch of p, counts back the sets it loaded, and records
// want as the kernel's state; after a failure that state is unknown.
func (t *Table) run(p *plan, want *ruleset) (Result, error) {
	before, beforeOK := t.generation()
	res, err := t.commit(p.enqueue(t), p.result())
	if err == nil {
		err = t.verify(want, p.bulk())
	}
	if err != nil {
		t.last, t.genKnown = nil, false
		return res, err
	}
	t.last = want
	t.noteCommit(before, beforeOK)
	return res, nil
}

// commit sends the queued batch; enqueueErr is an error from queueing.
// google/nftables records every queueing error in the connection, and
// Flush then discards the batch unsent, so a half-queued batch never
// reaches the kernel.
func (t *Table) commit(enqueueErr error, res Result) (Result, error) {
	start := time.Now()
	err := t.conn.Flush()
	res.Commit = time.Since(start)
	if err = errors.Join(enqueueErr, err); err != nil {
		return res, fmt.Errorf("nftables batch: %w", err)
	}
	return res, nil
}

// Remove deletes the table: the router namespace then forwards everything
// unfiltered. Removing a table that is not there succeeds.
func (t *Table) Remove() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.last = nil
	exists, err := t.exists()
	if err != nil || !exists {
		return err
	}
	t.conn.DelTable(t.tbl)
	if err := t.conn.Flush(); err != nil {
		return fmt.Errorf("delete table: %w", err)
	}
	return nil
}

// Close releases the netlink socket and the namespace; the table stays in
// force.
func (t *Table) Close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return errors.Join(t.conn.CloseLasting(), t.ns.Close())
}
