package testutil

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Tests that create named network namespaces run in a mount namespace of
// their own in which /run is an empty tmpfs: the names they make (under
// /run/netns) exist only there, and vanish with the test process however
// it ends (failed, interrupted, killed), so the suite can never leave a
// namespace on the machine, and nothing it does with /run/netns (mounting
// it over itself, racing `ip netns add`) touches the machine's own. The
// network namespaces themselves are the kernel's as always; only their
// names are private.
//
// isolatedEnv carries the state to the child: "fresh:<mount ns>" asks it
// to check that it runs in a mount namespace other than <mount ns> (its
// parent's) and to mount the tmpfs; "ready:<mount ns>" says that it is
// done in <mount ns>. isolatedTestEnv names the one test an Isolate child
// runs.
const (
	isolatedEnv     = "PALISADE_TEST_MOUNTNS"
	isolatedTestEnv = "PALISADE_TEST_ISOLATED"
)

// IsolateMain is the first call of the TestMain of a package whose tests
// create named namespaces. As root, it runs the test binary again, with
// the same arguments, in a new mount namespace with a fresh /run, and
// exits with its exit code; in that child (or not as root) it returns and
// TestMain goes on.
func IsolateMain() {
	if os.Geteuid() != 0 {
		return
	}
	if isolated, err := enterFreshRun(); err != nil {
		fmt.Fprintln(os.Stderr, "testutil: isolate:", err)
		os.Exit(1)
	} else if isolated {
		return
	}
	cmd, err := isolatedCommand(os.Args[1:], "")
	if err != nil {
		fmt.Fprintln(os.Stderr, "testutil: isolate:", err)
		os.Exit(1)
	}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	os.Exit(runLocked(cmd))
}

// Isolate runs the calling test alone in a child process of the test binary
// with a mount namespace and a /run of its own (as IsolateMain does for a
// whole package), for a test that changes the mount table itself. It
// returns true in that child, where the test goes on; in the parent it
// waits for the child, logs its output, fails the test if the child failed
// and returns false: the test must then return at once.
func Isolate(t *testing.T) bool {
	t.Helper()
	RequireRoot(t)
	if os.Getenv(isolatedTestEnv) == t.Name() {
		if isolated, err := enterFreshRun(); err != nil || !isolated {
			t.Fatalf("isolate %s: not in a fresh mount namespace (%v)", t.Name(), err)
		}
		return true
	}
	args := []string{"-test.run=" + runPattern(t.Name()), "-test.count=1", "-test.v"}
	if d, ok := t.Deadline(); ok {
		args = append(args, "-test.timeout="+time.Until(d).Round(time.Second).String())
	}
	cmd, err := isolatedCommand(args, t.Name())
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	code := runLocked(cmd)
	t.Logf("%s in its own mount namespace:\n%s", t.Name(), out.String())
	if code != 0 || !strings.Contains(out.String(), "--- PASS: "+t.Name()) {
		t.Errorf("%s failed in its own mount namespace (exit code %d)", t.Name(), code)
	}
	return false
}

// runPattern is the -test.run pattern matching exactly the test name
// (subtests included).
func runPattern(name string) string {
	parts := strings.Split(name, "/")
	for i, p := range parts {
		parts[i] = "^" + regexp.QuoteMeta(p) + "$"
	}
	return strings.Join(parts, "/")
}

// isolatedCommand is the test binary with args, to be started in a new
// mount namespace (Go makes every mount in it private before the exec, so
// nothing the child mounts or unmounts propagates back).
func isolatedCommand(args []string, test string) (*exec.Cmd, error) {
	self, err := mountNS()
	if err != nil {
		return nil, err
	}
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe, args...)
	cmd.Env = append(os.Environ(), isolatedEnv+"=fresh:"+self, isolatedTestEnv+"="+test)
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Unshareflags: syscall.CLONE_NEWNS,
		Pdeathsig:    syscall.SIGKILL, // the child dies with its parent
	}
	return cmd, nil
}

// runLocked runs cmd from a thread that stays alive while it runs
// (Pdeathsig follows the thread that started the child), and returns its
// exit code.
func runLocked(cmd *exec.Cmd) int {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &exit) && exit.ExitCode() > 0:
		return exit.ExitCode()
	}
	fmt.Fprintln(os.Stderr, "testutil: isolated run:", err)
	return 1
}

// enterFreshRun prepares the child's /run when this process is an isolated
// child that has not done so yet, and reports whether the process is
// isolated.
func enterFreshRun() (bool, error) {
	state, parent, _ := strings.Cut(os.Getenv(isolatedEnv), ":")
	self, err := mountNS()
	if err != nil {
		return false, err
	}
	switch state {
	case "":
		return false, nil
	case "ready":
		// Started by an isolated process without a mount namespace of its
		// own (a helper): its /run is ready.
		return parent == self, nil
	case "fresh":
	default:
		return false, fmt.Errorf("%s=%q", isolatedEnv, os.Getenv(isolatedEnv))
	}
	if parent == self {
		return false, fmt.Errorf("still in the parent's mount namespace %s", self)
	}
	if err := unix.Mount("palisade-test-run", "/run", "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=0755"); err != nil {
		return false, fmt.Errorf("mount a tmpfs on /run: %w", err)
	}
	os.Setenv(isolatedEnv, "ready:"+self)
	return true, nil
}

// mountNS identifies the mount namespace of the calling thread.
func mountNS() (string, error) {
	ns, err := os.Readlink("/proc/thread-self/ns/mnt")
	if err != nil {
		return "", fmt.Errorf("read the mount namespace: %w", err)
	}
	return ns, nil
}
