package bolt_test

import (
	"path/filepath"
	"testing"

	"palisade.dev/palisade/internal/store"
	"palisade.dev/palisade/internal/store/bolt"
	"palisade.dev/palisade/internal/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, storetest.Factory{Open: open, Persistent: true})
}

// open opens the store file of dir.
func open(dir string, cfg storetest.Config) (store.Store, error) {
	return bolt.Open(filepath.Join(dir, "palisade.db"), bolt.Options{LogRetention: cfg.LogRetention})
}
