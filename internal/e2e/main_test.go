// Package e2e tests the palisade binary from the outside: it builds it,
// runs `palisade serve` on a free loopback port and a temporary data
// directory, and talks to it with the real aws CLI, aws-sdk-go-v2 and the
// palisade client subcommands, as a user would. Every server a test starts
// is stopped when the test ends, failed or not.
package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"

	"palisade.dev/palisade/internal/testutil"
)

// palisadeBin is the binary under test, built once by TestMain; homeDir is
// the HOME of every process the tests start (removed with it).
var palisadeBin, homeDir string

func TestMain(m *testing.M) {
	if file := os.Getenv(replayEnv); file != "" {
		os.Exit(runReplayServer(file)) // BenchmarkCPUPerCallVersusMoto's floor
	}
	// The lab's namespace names (and its lock under /run) live and die with
	// this test binary: see testutil.IsolateMain.
	testutil.IsolateMain()
	dir, err := os.MkdirTemp("", "palisade-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	// Tests may run the binary as another user (see the sudo test).
	os.Chmod(dir, 0o755)
	homeDir = filepath.Join(dir, "home")
	os.Mkdir(homeDir, 0o700)
	code := 1
	if palisadeBin, err = build(dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
	} else {
		code = m.Run()
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

// build compiles cmd/palisade into dir. Under the race detector the
// binary is built with it too, so that the servers these tests drive
// report their own data races (see server.checkLog).
func build(dir string) (string, error) {
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..", "..")
	bin := filepath.Join(dir, "palisade")
	args := []string{"build", "-o", bin}
	if raceEnabled {
		args = append(args, "-race")
	}
	cmd := exec.Command("go", append(args, "./cmd/palisade")...)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/palisade: %v\n%s", err, out)
	}
	return bin, nil
}
