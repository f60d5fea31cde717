package main

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"palisade.dev/palisade/internal/store/bolt"
	"palisade.dev/palisade/internal/testutil"
)

// foreignDataDir makes a data directory as another user (uid 4321) would
// leave it: theirs, open to everyone, with a world-readable store in it.
func foreignDataDir(t *testing.T) string {
	t.Helper()
	testutil.RequireRoot(t)
	dir := filepath.Join(t.TempDir(), "data")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(dir, dbFile)
	st, err := bolt.Open(db, bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	for _, p := range []string{dir, db, bolt.WALPath(db)} {
		if err := os.Chown(p, 4321, 4322); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(db, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// Run as root, serve refuses a data directory that belongs to another user
// (who could read the keys, or swap the store), before it reads or writes
// anything there: no admin key is written beside their store.
func TestServeRefusesAForeignDataDir(t *testing.T) {
	dir := foreignDataDir(t)
	t.Setenv("SUDO_UID", "")
	t.Setenv("SUDO_GID", "")
	cfg := defaultServeConfig()
	cfg.Listen, cfg.DataDir = "127.0.0.1:0", dir
	err := runServeUntil(t, cfg, filepath.Join(dir, credentialsFile))
	if err == nil || !strings.Contains(err.Error(), dir+" belongs to uid 4321") || !strings.Contains(err.Error(), "--data-dir") {
		t.Fatalf("got %v", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 2 { // the store and its write-ahead log
		t.Fatalf("serve wrote into the foreign directory: %v", entries)
	}
	if _, _, mode := ownerOf(t, filepath.Join(dir, dbFile)); mode != 0o644 {
		t.Fatalf("the foreign store was changed: mode %o", mode)
	}

	// A file of another user in a directory of one's own is refused too.
	own := t.TempDir()
	creds := filepath.Join(own, credentialsFile)
	os.WriteFile(creds, []byte("[palisade]\n"), 0o600)
	os.Chown(creds, 4321, 4322)
	if err := secureDataDir(own, 0, owner{}, slog.New(slog.DiscardHandler)); err == nil || !strings.Contains(err.Error(), creds+" belongs to uid 4321") {
		t.Fatalf("foreign credentials file: %v", err)
	}
	// And so is a symbolic link in place of a secret file.
	os.Remove(creds)
	os.Symlink("/etc/shadow", creds)
	if err := secureDataDir(own, 0, owner{}, slog.New(slog.DiscardHandler)); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Fatalf("symbolic link: %v", err)
	}
}

// runServeUntil runs serve until it fails or has written path (then it is
// stopped), and returns its error.
func runServeUntil(t *testing.T, cfg serveConfig, path string) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- runServe(ctx, cfg, slog.New(slog.DiscardHandler)) }()
	deadline := time.Now().Add(startBound)
	for {
		select {
		case err := <-errc:
			return err
		case <-time.After(10 * time.Millisecond):
		}
		if _, err := os.Stat(path); err == nil || time.Now().After(deadline) {
			cancel()
			return <-errc
		}
	}
}

// startBound bounds how long serve may take to start in these tests.
const startBound = 20 * time.Second

// Under sudo, the invoking user's own directory is theirs to use: serve
// takes it, and closes what was open to others, saying so in the log.
func TestServeTightensTheSudoUsersDataDir(t *testing.T) {
	dir := foreignDataDir(t)
	creds := filepath.Join(dir, credentialsFile)
	os.WriteFile(creds, []byte("[palisade]\n"), 0o644)
	cfgFile := filepath.Join(dir, configFile)
	os.WriteFile(cfgFile, []byte("[profile palisade]\n"), 0o644)
	var logged bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logged, nil))
	if err := secureDataDir(dir, 0, owner{uid: 4321, gid: 4322, set: true}, log); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]os.FileMode{dir: 0o700, filepath.Join(dir, dbFile): 0o600, creds: 0o600, cfgFile: 0o644} {
		if _, _, mode := ownerOf(t, path); mode != want {
			t.Errorf("%s: mode %o, want %o", path, mode, want)
		}
	}
	for _, want := range []string{"path=" + dir + " was=0755 now=0700", "path=" + creds + " was=0644 now=0600"} {
		if !strings.Contains(logged.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, logged.String())
		}
	}
	// Without sudo, the same directory is another user's.
	if err := secureDataDir(dir, 0, owner{}, log); err == nil {
		t.Fatal("accepted without sudo")
	}
}
