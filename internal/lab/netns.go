package lab

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"palisade.dev/palisade/internal/nsexec"
)

// netnsDir is where named namespaces are bind-mounted, as iproute2 does, so
// that `ip netns exec NAME …` sees them.
const netnsDir = nsexec.Dir

// NamespacePath returns the file of the named namespace, for what opens a
// namespace by path (the data plane's firewall table).
func NamespacePath(name string) string { return nsexec.Path(name) }

// Do runs fn on an OS thread that is inside the named network namespace, and
// returns fn's error. Sockets that fn opens stay in that namespace after Do
// returns (they may be used from any goroutine); goroutines that fn starts do
// not run in it. fn must not call runtime.Goexit (so no t.FailNow); a panic
// in fn is re-raised in the caller.
func Do(nsName string, fn func() error) error {
	ns, err := openNamespace(nsName)
	if err != nil {
		return err
	}
	defer ns.Close()
	return doIn(ns, fn)
}

// doIn runs fn inside the namespace ns.
func doIn(ns netns.NsHandle, fn func() error) error { return nsexec.In(int(ns), fn) }

// errNoNamespace reports a named namespace that does not exist.
var errNoNamespace = errors.New("no such namespace")

// openNamespace opens the named namespace; the error wraps errNoNamespace
// when there is none (or only a stale file that is no namespace).
func openNamespace(name string) (netns.NsHandle, error) {
	ns, err := netns.GetFromName(name)
	if errors.Is(err, fs.ErrNotExist) {
		return ns, fmt.Errorf("open namespace %s: %w", name, errNoNamespace)
	}
	if err != nil {
		return ns, fmt.Errorf("open namespace %s: %w", name, err)
	}
	if !isNamespace(int(ns)) {
		ns.Close()
		return netns.None(), fmt.Errorf("open namespace %s: %w (stale file)", name, errNoNamespace)
	}
	return ns, nil
}

// isNamespace reports whether fd refers to a namespace (nsfs), not to a
// plain file left by an interrupted creation.
func isNamespace(fd int) bool {
	var st unix.Statfs_t
	return unix.Fstatfs(fd, &st) == nil && st.Type == unix.NSFS_MAGIC
}

// createNamespace creates the named namespace under netnsDir (see
// nsexec.CreateNamed: the directory is made a shared mount point first, as
// iproute2 does, and a stale file of that name is reused).
func createNamespace(name string) error { return nsexec.CreateNamed(name) }

// deleteNamespace removes the named namespace's name, whatever is mounted
// on it; a missing one is not an error. The kernel frees the namespace once
// nothing holds it. A name that only something outside the lab's reach can
// free (nsexec.Dead) is left, with a warning.
func (l *Lab) deleteNamespace(name string) error {
	if err := nsexec.RemoveNamed(name); err != nil {
		return err
	}
	if nsexec.Dead(name) {
		l.log.Warn("namespace unmounted, but its name stays: another mount of "+netnsDir+
			" hides its first mount (someone bind-mounted "+netnsDir+" over itself); it goes when that mount does",
			"ns", name)
	}
	return nil
}

// namespaceNames lists the named namespaces of the machine.
func namespaceNames() ([]string, error) {
	entries, err := os.ReadDir(netnsDir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", netnsDir, err)
	}
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names, nil
}

// space is an open namespace with a netlink handle whose socket lives in it.
type space struct {
	name string
	ns   netns.NsHandle
	h    *netlink.Handle
}

// openSpace opens the named namespace and a netlink socket inside it.
func openSpace(name string) (*space, error) {
	ns, err := openNamespace(name)
	if err != nil {
		return nil, err
	}
	var h *netlink.Handle
	err = doIn(ns, func() error {
		var err error
		h, err = netlink.NewHandle(unix.NETLINK_ROUTE)
		return err
	})
	if err != nil {
		ns.Close()
		return nil, fmt.Errorf("netlink socket in %s: %w", name, err)
	}
	return &space{name: name, ns: ns, h: h}, nil
}

// Close releases the netlink socket and the namespace handle.
func (s *space) Close() {
	s.h.Close()
	s.ns.Close()
}
