package bolt_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"palisade.dev/palisade/internal/store/bolt"
)

func TestOpenLockedFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "db")
	s, err := bolt.Open(path, bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := bolt.Open(path, bolt.Options{LockTimeout: 50 * time.Millisecond}); err == nil {
		t.Fatal("a second store opened the same file")
	}
}

func TestOpenGarbage(t *testing.T) {
	path := filepath.Join(t.TempDir(), "db")
	if err := os.WriteFile(path, []byte("this is not a bbolt file, not even close to one"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := bolt.Open(path, bolt.Options{}); err == nil {
		t.Fatal("garbage opened as a store")
	}
	if _, err := bolt.Open(filepath.Join(t.TempDir(), "missing", "db"), bolt.Options{}); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("open in a missing directory: %v", err)
	}
}
