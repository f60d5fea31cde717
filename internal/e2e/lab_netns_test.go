package e2e

import (
	"testing"

	"palisade.dev/palisade/internal/testutil"
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
	other := uniqueName("other")
	testutil.IPNetns(t, "add", other)
	serveTCP(t, i.ID, 22)
	eventuallyTCP(t, a, port(i.IP, 22), connected)
	testutil.IPNetns(t, "exec", i.ID, "true")

	l.stop()
	labDown(t) // fails the test on a failed lab down, or on anything left
	testutil.IPNetns(t, "exec", other, "true")
	testutil.IPNetns(t, "delete", other)
	if nsExists(other) {
		t.Errorf("%s still exists after ip netns delete", other)
	}
}
