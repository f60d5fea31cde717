package lab

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"palisade.dev/palisade/internal/nsexec"
)

// netnsDir is where named namespaces are bind-mounted, as iproute2 does, so
// that `ip netns exec NAME …` sees them.
const netnsDir = "/run/netns"

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

// createNamespace creates the named namespace, bind-mounted under netnsDir.
// It clears a stale file of that name first.
func createNamespace(name string) error {
	if err := removeStale(name); err != nil {
		return err
	}
	err := nsexec.OnThread(func() error {
		ns, err := netns.NewNamed(name) // switches this thread; OnThread restores it
		if err != nil {
			return err
		}
		return ns.Close()
	})
	if err != nil {
		return fmt.Errorf("create namespace %s: %w", name, err)
	}
	return nil
}

// removeStale removes netnsDir/name when it is a file but no namespace.
func removeStale(name string) error {
	path := filepath.Join(netnsDir, name)
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil || st.Type == unix.NSFS_MAGIC {
		return nil
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove stale %s: %w", path, err)
	}
	return nil
}

// deleteNamespace unmounts and removes the named namespace; a missing one is
// not an error. The kernel frees the namespace once nothing holds it.
func deleteNamespace(name string) error {
	path := filepath.Join(netnsDir, name)
	err := unix.Unmount(path, unix.MNT_DETACH)
	if err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("unmount %s: %w", path, err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove %s: %w", path, err)
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
