// Package labtest is what tests that send real traffic through network
// namespaces share: unique names, namespaces made for one test and removed
// when it ends (even when it fails), and probes that run inside a
// namespace: a TCP server that greets and echoes, a UDP echo server, TCP
// connects classified as a user sees them (connected, refused, timeout),
// UDP exchanges and ICMP echo. It is the one copy of these helpers for the
// tests of lab, dataplane, bench and e2e.
//
// It enters namespaces by name through nsexec, not through lab, so that
// lab's own tests (package lab) can use it without an import cycle. Only
// _test.go files may import it (internal/archtest).
package labtest

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"testing"
	"time"

	"palisade.dev/palisade/internal/nsexec"
	"palisade.dev/palisade/internal/testutil"
)

// A probe that should pass waits up to OKWait: the first IPv6 packet may
// wait about a second for neighbour discovery (docs/dataplane.md#pitfalls).
// One that should be dropped waits BlockedWait, so that every expected
// timeout costs well under a second: on a veth between namespaces a packet
// that passes takes well under a millisecond, even on a loaded machine.
const (
	OKWait      = 3 * time.Second
	BlockedWait = 600 * time.Millisecond
)

// RandHex returns n random lower-case hex digits, for names that must be
// unique on the whole machine (namespaces, lab prefixes, resource IDs).
func RandHex(n int) string {
	b := make([]byte, (n+1)/2)
	rand.Read(b)
	return hex.EncodeToString(b)[:n]
}

// In runs fn on an OS thread inside the named network namespace (see
// nsexec.In: sockets fn opens stay there; fn must not call t.FailNow).
func In(ns string, fn func() error) error {
	f, err := os.Open(nsexec.Path(ns))
	if err != nil {
		return fmt.Errorf("open namespace %s: %w", ns, err)
	}
	defer f.Close()
	return nsexec.In(int(f.Fd()), fn)
}

// Exists reports whether a namespace of that name is under /run/netns.
func Exists(name string) bool {
	_, err := os.Lstat(nsexec.Path(name))
	return err == nil
}

// RequireGone fails the test for every name still under /run/netns.
func RequireGone(t testing.TB, names ...string) {
	t.Helper()
	for _, n := range names {
		if _, err := os.Lstat(nsexec.Path(n)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("namespace %s still in %s (err %v)", n, nsexec.Dir, err)
		}
	}
}

// Netns makes an empty network namespace named prefix and 10 random hex
// digits (root only: skips otherwise), and removes it when the test ends,
// whether it passed or not.
func Netns(t testing.TB, prefix string) string {
	t.Helper()
	testutil.RequireRoot(t)
	name := prefix + RandHex(10)
	if err := nsexec.CreateNamed(name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := nsexec.RemoveNamed(name); err != nil {
			t.Error(err)
		}
	})
	return name
}
