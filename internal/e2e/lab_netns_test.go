package e2e

import (
	"os/exec"
	"testing"
)

// TestLabDownAfterIPNetnsAdd is the reproduction, with the binary:
// on a machine where /run/netns is not yet a mount point (this test
// binary's own /run starts empty, see TestMain), serve --dataplane lab runs
// an instance, then someone runs `ip netns add`. The instance keeps
// working, palisade lab down (serve stopped) removes every namespace of the
// lab, and the other namespace stays usable and removable by ip.
func TestLabDownAfterIPNetnsAdd(t *testing.T) {
	l := startLab(t)
	v := newVPC(t, l.ec2, false)
	g := newGroup(t, l.ec2, v.ID, tcp(22, officeIP+"/32"))
	i := launch(t, l.ec2, v, g)
	a := l.addHost(t, "us-east-1", v.ID, officeIP, "")
	waitNS(t, i.ID, a)
	ipNetns := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("ip", append([]string{"netns"}, args...)...).CombinedOutput(); err != nil {
			t.Fatalf("ip netns %v: %v\n%s", args, err, out)
		}
	}
	other := uniqueName("other")
	ipNetns("add", other)
	serveTCP(t, i.ID, 22)
	eventuallyTCP(t, a, port(i.IP, 22), connected)
	ipNetns("exec", i.ID, "true")

	l.stop()
	labDown(t) // fails the test on a failed lab down, or on anything left
	ipNetns("exec", other, "true")
	ipNetns("delete", other)
	if nsExists(other) {
		t.Errorf("%s still exists after ip netns delete", other)
	}
}
