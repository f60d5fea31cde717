package labtest

import (
	"os"
	"testing"

	"palisade.dev/palisade/internal/testutil"
)

// TestMain runs the tests in a mount namespace of their own (namespace
// names live and die with the test binary).
func TestMain(m *testing.M) {
	testutil.IsolateMain()
	os.Exit(m.Run())
}
