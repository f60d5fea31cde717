package main

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"

	"palisade.dev/palisade/internal/store/bolt"
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

// secretFiles are the files of the data directory that hold secrets: the
// store (every account's keys) and the admin's credentials. configFile holds
// none and stays readable (0644).
var secretFiles = []string{dbFile, bolt.WALPath(dbFile), credentialsFile}

// secureDataDir makes sure nobody but who runs serve can read or replace
// what it keeps in dir, before anything is read or written there. The
// directory and the files already in it must belong to the effective user
// or, under sudo, to the invoking user (whom serve hands its files to):
// another user owning them could read the keys or swap the files, so serve
// refuses with an error that says what to do. Modes are repaired, with a
// warning in the log: the directory to 0700, the secret files to 0600. A
// secret file that is a symbolic link or not a regular file is refused.
func secureDataDir(dir string, euid int, o owner, log *slog.Logger) error {
	if err := checkOwner(dir, euid, o); err != nil {
		return err
	}
	if err := tightenMode(dir, 0o700, log); err != nil {
		return err
	}
	for _, name := range append(slices.Clone(secretFiles), configFile) {
		path := filepath.Join(dir, name)
		info, err := os.Lstat(path)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("data directory: %w", err)
		}
		if !info.Mode().IsRegular() {
			return fmt.Errorf("%s is not a regular file (%s): refusing to use it; remove it or choose another --data-dir", path, info.Mode().Type())
		}
		if err := checkOwner(path, euid, o); err != nil {
			return err
		}
		if slices.Contains(secretFiles, name) {
			if err := tightenMode(path, 0o600, log); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkOwner refuses path unless it belongs to euid or to the sudo user o.
func checkOwner(path string, euid int, o owner) error {
	info, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	uid := int(info.Sys().(*syscall.Stat_t).Uid)
	if uid == euid || o.set && uid == o.uid {
		return nil
	}
	want := userName(euid)
	if o.set {
		want += " or " + userName(o.uid)
	}
	return fmt.Errorf("%s belongs to %s, not to %s: serve keeps every account's keys there, which its owner could read or replace; "+
		"use a directory of your own (--data-dir) or give this one to %s (chown)", path, userName(uid), want, userName(euid))
}

// tightenMode removes the permission bits of path beyond max, and says so.
func tightenMode(path string, max os.FileMode, log *slog.Logger) error {
	info, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	mode := info.Mode().Perm()
	if mode&^max == 0 {
		return nil
	}
	if err := os.Chmod(path, mode&max); err != nil {
		return fmt.Errorf("restrict %s to mode %#o: %w", path, mode&max, err)
	}
	log.Warn("restricted the mode of a data directory entry that others could use", "path", path,
		"was", fmt.Sprintf("%#o", mode), "now", fmt.Sprintf("%#o", mode&max))
	return nil
}

// userName is "uid N (name)", or "uid N" when the name is unknown.
func userName(uid int) string {
	if u, err := user.LookupId(strconv.Itoa(uid)); err == nil {
		return fmt.Sprintf("uid %d (%s)", uid, u.Username)
	}
	return fmt.Sprintf("uid %d", uid)
}
