package bench

import (
	"os"
	"os/exec"
	"testing"

	"palisade.dev/palisade/internal/testutil"
)

// helperEnv marks a run of the test binary as a traffic helper process.
const helperEnv = "PALISADE_BENCH_HELPER"

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) == "1" {
		os.Exit(Helper(os.Args[1:], os.Stdin, os.Stdout))
	}
	testutil.IsolateMain() // namespace names live and die with the test binary
	os.Exit(m.Run())
}

// testHelper runs the traffic helper as this test binary.
func testHelper(args ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), helperEnv+"=1")
	return cmd
}
