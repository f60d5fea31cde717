package main

import (
	"errors"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
)

// owner is who should own what serve creates: the user who ran sudo, so
// that the aws CLI works without root against the files of a server that
// runs as root (the lab data plane needs root). The zero value (not
// through sudo) changes nothing.
type owner struct {
	uid, gid int
	set      bool
}

// sudoOwner returns the invoking user when the process runs as root
// through sudo (SUDO_UID and SUDO_GID set).
func sudoOwner(euid int, getenv func(string) string) owner {
	if euid != 0 {
		return owner{}
	}
	uid, err1 := strconv.Atoi(getenv("SUDO_UID"))
	gid, err2 := strconv.Atoi(getenv("SUDO_GID"))
	if err1 != nil || err2 != nil || uid == 0 {
		return owner{}
	}
	return owner{uid: uid, gid: gid, set: true}
}

// chown gives path to the owner, if any.
func (o owner) chown(path string) error {
	if !o.set {
		return nil
	}
	if err := os.Lchown(path, o.uid, o.gid); err != nil {
		return fmt.Errorf("give %s to uid %d: %w", path, o.uid, err)
	}
	return nil
}

// defaultDataDir is $XDG_STATE_HOME/palisade when XDG_STATE_HOME is an
// absolute path (the XDG spec ignores relative ones), else
// ~/.local/state/palisade, where ~ is the home of the user who ran sudo
// when running through it (sudo usually resets HOME to root's).
func defaultDataDir(getenv func(string) string, euid int, homeOf func(uid string) (string, error)) (string, error) {
	if x := getenv("XDG_STATE_HOME"); filepath.IsAbs(x) {
		return filepath.Join(x, "palisade"), nil
	}
	var home string
	var err error
	if o := sudoOwner(euid, getenv); o.set {
		home, err = homeOf(strconv.Itoa(o.uid))
	} else {
		home, err = os.UserHomeDir()
	}
	if err != nil || home == "" {
		return "", fmt.Errorf("cannot find a home directory for the default data directory (%v): pass --data-dir", err)
	}
	return filepath.Join(home, ".local", "state", "palisade"), nil
}

// homeOfUID looks a user's home directory up by numeric ID.
func homeOfUID(uid string) (string, error) {
	u, err := user.LookupId(uid)
	if err != nil {
		return "", err
	}
	return u.HomeDir, nil
}

// makeDataDir creates dir (mode 0700) and any missing parents, and gives
// every directory it created to o. Existing directories are left as they
// are.
func makeDataDir(dir string, o owner) error {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	var missing []string
	for d := dir; ; d = filepath.Dir(d) {
		_, err := os.Stat(d)
		if err == nil {
			break
		}
		if !errors.Is(err, os.ErrNotExist) || d == filepath.Dir(d) {
			return fmt.Errorf("data directory %s: %w", dir, err)
		}
		missing = append(missing, d)
	}
	for i := len(missing) - 1; i >= 0; i-- {
		mode := os.FileMode(0o755) // parents such as ~/.local/state
		if i == 0 {
			mode = 0o700 // the data directory: it holds secrets
		}
		if err := os.Mkdir(missing[i], mode); err != nil && !errors.Is(err, os.ErrExist) {
			return fmt.Errorf("data directory %s: %w", dir, err)
		}
		if err := o.chown(missing[i]); err != nil {
			return err
		}
	}
	info, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("data directory %s: %w", dir, err)
	}
	if !info.IsDir() {
		return fmt.Errorf("data directory %s is not a directory", dir)
	}
	return nil
}
