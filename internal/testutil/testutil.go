// Package testutil holds helpers shared by Palisade's tests. Only _test.go
// files import it.
package testutil

import (
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// InCI reports whether the tests run under CI (CI=true), where a missing
// prerequisite is a failure, never a skip.
func InCI() bool {
	v := os.Getenv("CI")
	return v != "" && v != "false" && v != "0"
}

// Require skips the test when ok is false, or fails it under CI: a test that
// CI silently skips proves nothing.
func Require(t testing.TB, ok bool, what string) {
	t.Helper()
	if ok {
		return
	}
	if InCI() {
		t.Fatalf("prerequisite missing in CI: %s", what)
	}
	t.Skipf("prerequisite missing: %s", what)
}

// RequireRoot needs uid 0 (network namespaces, nftables).
func RequireRoot(t testing.TB) {
	t.Helper()
	Require(t, os.Geteuid() == 0, "root (uid 0)")
}

// RequireCommand needs an executable on PATH or at an absolute path, and
// returns its path.
func RequireCommand(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	Require(t, err == nil, "command "+name)
	return p
}

// IPNetns runs `ip netns ARGS...` (iproute2, as a user or a container tool
// would) and fails the test on error.
func IPNetns(t testing.TB, args ...string) {
	t.Helper()
	ipCmd := RequireCommand(t, "ip")
	if out, err := exec.Command(ipCmd, append([]string{"netns"}, args...)...).CombinedOutput(); err != nil {
		t.Fatalf("ip netns %v: %v\n%s", args, err, out)
	}
}

// LogWriter is an io.Writer that sends each write to the test log as one
// line (its final newline dropped): for the progress output of a harness
// or a slog handler under test.
func LogWriter(t testing.TB) io.Writer { return logWriter{t} }

type logWriter struct{ t testing.TB }

func (w logWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}
