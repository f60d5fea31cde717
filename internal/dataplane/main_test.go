package dataplane

import (
	"os"
	"testing"

	"palisade.dev/palisade/internal/testutil"
)

// TestMain runs the tests in a mount namespace of their own with a fresh
// /run: the namespace names they make live and die with the test binary
// (see testutil.IsolateMain).
func TestMain(m *testing.M) {
	testutil.IsolateMain()
	os.Exit(m.Run())
}
