package nsexec

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"golang.org/x/sys/unix"
)

// Dir is where named network namespaces live, as iproute2 keeps them: each
// is a file that a namespace is bind-mounted on, so `ip netns exec NAME`
// and every other tool finds it.
const Dir = "/run/netns"

// Path returns the file of the named namespace.
func Path(name string) string { return filepath.Join(Dir, name) }

// ErrExist reports a named namespace that exists already.
var ErrExist = fs.ErrExist

// named serialises this process's changes under Dir.
var named sync.Mutex

// CreateNamed creates a new, empty network namespace and names it: it is
// bind-mounted on Dir/name. Before that it makes Dir a shared mount point
// of its own exactly as iproute2's `ip netns add` does, so that a later
// `ip netns add` (which would otherwise bind-mount Dir over itself, hiding
// the mounts made so far under copies that cannot be removed) finds it
// ready and leaves it alone. A file of that name that holds no namespace
// (left by an interrupted creation, or a dead name, see RemoveNamed) is
// reused; a live namespace of that name is an error wrapping ErrExist.
func CreateNamed(name string) error {
	if name == "" || name == "." || name == ".." || filepath.Base(name) != name {
		return fmt.Errorf("create namespace %q: invalid name", name)
	}
	named.Lock()
	defer named.Unlock()
	if err := prepareDir(); err != nil {
		return fmt.Errorf("create namespace %s: %w", name, err)
	}
	path := Path(name)
	created, err := createFile(path)
	if err != nil {
		return fmt.Errorf("create namespace %s: %w", name, err)
	}
	err = OnThread(func() error {
		// The thread is switched to the new namespace; OnThread restores it.
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			return fmt.Errorf("unshare: %w", err)
		}
		if err := unix.Mount("/proc/thread-self/ns/net", path, "none", unix.MS_BIND, ""); err != nil {
			return fmt.Errorf("bind-mount on %s: %w", path, err)
		}
		return nil
	})
	if err != nil {
		if created {
			os.Remove(path)
		}
		return fmt.Errorf("create namespace %s: %w", name, err)
	}
	return nil
}

// prepareDir makes Dir a shared mount point, recursively, as iproute2's
// netns_add does: mount --make-rshared Dir; where Dir is no mount point
// yet (EINVAL), bind-mount it on itself first. A Dir that is one already
// is left as it is. Mounts under a shared Dir propagate, and so do their
// unmounts, which is what keeps every name removable.
func prepareDir() error {
	if err := os.Mkdir(Dir, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	for made := false; ; made = true {
		err := unix.Mount("", Dir, "none", unix.MS_SHARED|unix.MS_REC, "")
		if err == nil {
			return nil
		}
		if !errors.Is(err, unix.EINVAL) || made {
			return fmt.Errorf("mount --make-rshared %s: %w", Dir, err)
		}
		if err := unix.Mount(Dir, Dir, "none", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			return fmt.Errorf("mount --rbind %s %s: %w", Dir, Dir, err)
		}
	}
}

// createFile creates the empty file a namespace is mounted on; created is
// false when it reuses a file that holds no namespace.
func createFile(path string) (created bool, err error) {
	for range 2 {
		fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CREAT|unix.O_EXCL|unix.O_CLOEXEC, 0)
		if err == nil {
			return true, unix.Close(fd)
		}
		if !errors.Is(err, unix.EEXIST) {
			return false, fmt.Errorf("create %s: %w", path, err)
		}
		if IsNamespace(path) {
			return false, fmt.Errorf("%s: %w", path, ErrExist)
		}
		if err := removeFile(path); err != nil {
			return false, err
		}
	}
	return false, nil // a dead name: mount over it
}

// Dead reports whether the name exists but holds no namespace.
func Dead(name string) bool {
	_, err := os.Lstat(Path(name))
	return err == nil && !IsNamespace(Path(name))
}

// IsNamespace reports whether path is a namespace (a file of nsfs), not a
// plain file.
func IsNamespace(path string) bool {
	var st unix.Statfs_t
	return unix.Statfs(path, &st) == nil && st.Type == unix.NSFS_MAGIC
}

// RemoveNamed removes the name of a namespace: it unmounts Dir/name, as
// many times as something is mounted there (copies may be stacked), then
// removes the file. The kernel frees the namespace once nothing else holds
// it. A missing name is no error.
//
// A name whose original mount lies hidden under another mount of Dir (as
// `ip netns add` leaves the namespaces made before it in a Dir that was no
// mount point, which CreateNamed never leaves) cannot be unlinked by anyone
// ("device or resource busy") until that Dir is unmounted: once its visible
// copy is unmounted, the name is dead, a plain file that enters no
// namespace. RemoveNamed leaves such a name and succeeds; Dead tells it
// apart, and CreateNamed mounts a new namespace over it.
func RemoveNamed(name string) error {
	if name == "" || name == "." || name == ".." || filepath.Base(name) != name {
		return fmt.Errorf("remove namespace %q: invalid name", name)
	}
	named.Lock()
	defer named.Unlock()
	return removeFile(Path(name))
}

// maxUnmounts bounds the unmounts of one name (each removes one stacked
// mount; more than a few means something keeps mounting there).
const maxUnmounts = 64

func removeFile(path string) error {
	for i := 0; ; i++ {
		err := unix.Unmount(path, unix.MNT_DETACH)
		if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOENT) {
			break // nothing (more) mounted there
		}
		if err != nil {
			return fmt.Errorf("unmount %s: %w", path, err)
		}
		if i == maxUnmounts {
			return fmt.Errorf("unmount %s: still mounted after %d unmounts", path, maxUnmounts)
		}
	}
	err := unix.Unlink(path)
	switch {
	case err == nil, errors.Is(err, unix.ENOENT):
		return nil
	case errors.Is(err, unix.EBUSY) && !IsNamespace(path):
		return nil // a dead name (see RemoveNamed)
	}
	return fmt.Errorf("remove %s: %w", path, err)
}
