package mem_test

import (
	"testing"

	"palisade.dev/palisade/internal/store"
	"palisade.dev/palisade/internal/store/mem"
	"palisade.dev/palisade/internal/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, storetest.Factory{
		Open: func(_ string, cfg storetest.Config) (store.Store, error) {
			return mem.New(mem.Options{LogRetention: cfg.LogRetention}), nil
		},
	})
}
