package e2e

import (
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"

	"palisade.dev/palisade/internal/lab"
	"palisade.dev/palisade/internal/labtest"
	"palisade.dev/palisade/internal/testutil"
)

// The lab is one per machine: a palisade serve --dataplane lab holds
// labLock (cmd/palisade/lab.go), and its agent removes every namespace of
// the lab's router prefix that its own store does not have. So the lab
// tests never run in parallel, refuse to start on a machine where someone
// else's lab is running or left behind, and take the whole lab down when
// they end, failed or not.
const (
	labLock     = "/run/palisade/lab.lock"
	labLockWait = time.Minute // another lab test (or bench) may be finishing
	netnsDir    = "/run/netns"
)

// labServer is a palisade serve --dataplane lab and the admin's EC2 client
// in us-east-1.
type labServer struct {
	*server
	ec2 *ec2.Client
}

// startLab starts palisade serve --dataplane lab on a fresh data directory.
// When the test ends the server gets SIGTERM (it must exit cleanly) and
// `palisade lab down` removes every namespace, veth and table it made.
func startLab(t *testing.T) *labServer {
	t.Helper()
	testutil.RequireRoot(t)
	testutil.RequireCommand(t, "ip")
	requireNoOtherLab(t)
	dir := t.TempDir()
	t.Cleanup(func() { labDown(t) }) // after the server is gone
	return runLab(t, dir)
}

// runLab starts (or restarts) the lab's server on dir; it is stopped with
// SIGTERM when the test ends.
func runLab(t *testing.T, dir string) *labServer {
	t.Helper()
	s := startServer(t, dir, "--dataplane", "lab")
	t.Cleanup(func() { s.terminate(t) })
	return &labServer{server: s, ec2: s.ec2In(s.adminKey(), "us-east-1")}
}

// ec2In returns an SDK EC2 client signing with c for region.
func (s *server) ec2In(c aws.Credentials, region string) *ec2.Client {
	return ec2At(s.endpoint, region, c, s.http)
}

// ec2At returns an SDK EC2 client of endpoint that signs with c for
// region, never retries, and sends through hc (nil: the SDK's own).
func ec2At(endpoint, region string, c aws.Credentials, hc *http.Client) *ec2.Client {
	o := ec2.Options{
		Region:       region,
		BaseEndpoint: aws.String(endpoint),
		Credentials:  credentials.StaticCredentialsProvider{Value: c},
		Retryer:      aws.NopRetryer{},
	}
	if hc != nil {
		o.HTTPClient = hc
	}
	return ec2.New(o)
}

// terminate stops the server with SIGTERM unless it has exited already,
// and reports an unclean exit. Unlike stop it never calls t.Fatal, so it
// is safe in a cleanup.
func (s *server) terminate(t *testing.T) {
	select {
	case <-s.exited:
		return
	default:
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
		if code := s.cmd.ProcessState.ExitCode(); code != 0 {
			t.Errorf("palisade serve --dataplane lab: exit code %d after SIGTERM", code)
		}
	case <-time.After(15 * time.Second):
		t.Errorf("palisade serve --dataplane lab did not exit within 15s of SIGTERM")
		s.cmd.Process.Kill()
		<-s.exited
	}
}

// requireNoOtherLab waits (boundedly) until no palisade serve holds the lab
// lock, then requires the lab to be empty: starting a lab server would
// remove someone else's namespaces.
func requireNoOtherLab(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(labLockWait)
	for labLocked(t) {
		if time.Now().After(deadline) {
			testutil.Require(t, false, "no other palisade serve --dataplane lab on this machine (it holds "+labLock+")")
		}
		time.Sleep(500 * time.Millisecond)
	}
	st := labState(t)
	if n := len(st.VPCs) + len(st.Instances) + len(st.Hosts); n != 0 {
		testutil.Require(t, false, "an empty lab: this machine has one left behind (run palisade lab down)")
	}
}

// labLocked reports whether a process holds the lab lock.
func labLocked(t *testing.T) bool {
	f, err := os.Open(labLock)
	if errors.Is(err, os.ErrNotExist) {
		return false
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		return true
	}
	syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	return false
}

// labState reads what the lab (the agent's router prefix) has on the
// machine.
func labState(t *testing.T) lab.State {
	t.Helper()
	l, err := lab.New(lab.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	st, err := l.List()
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// labDown runs `palisade lab down` and checks that nothing of the lab is
// left. On failure it first logs each router's firewall.
func labDown(t *testing.T) {
	st := labState(t)
	if t.Failed() {
		for _, v := range st.VPCs {
			out, _ := exec.Command("ip", "netns", "exec", v.Router, "nft", "list", "ruleset").CombinedOutput()
			t.Logf("firewall of %s:\n%s", v.Router, out)
		}
	}
	stdout, stderr, code := palisade(t, baseEnv(t), "lab", "down")
	if code != 0 {
		t.Errorf("palisade lab down: exit %d\n%s", code, stderr)
	}
	after := labState(t)
	if n := len(after.VPCs) + len(after.Instances) + len(after.Hosts); n != 0 {
		t.Errorf("palisade lab down left %+v", after)
	}
	for _, name := range namesOf(st) {
		if _, err := os.Lstat(filepath.Join(netnsDir, name)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("namespace %s still in %s after lab down (%v)", name, netnsDir, err)
		}
	}
	t.Logf("palisade lab down: %s", strings.TrimSpace(stdout))
}

func namesOf(st lab.State) []string {
	var names []string
	for _, v := range st.VPCs {
		names = append(names, v.Router)
	}
	for _, i := range st.Instances {
		names = append(names, string(i.ID))
	}
	for _, h := range st.Hosts {
		names = append(names, h.Name)
	}
	return names
}

// logged counts the server's log lines that contain every one of parts.
func (s *server) logged(parts ...string) int {
	n := 0
	for _, line := range strings.Split(s.log.String(), "\n") {
		all := true
		for _, p := range parts {
			all = all && strings.Contains(line, p)
		}
		if all {
			n++
		}
	}
	return n
}

// uniqueName returns prefix-<8 random hex digits>: lab host names are
// namespace names, unique on the whole machine.
func uniqueName(prefix string) string { return prefix + "-" + labtest.RandHex(8) }
