package e2e

import (
	"fmt"
	"net"
	"net/netip"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"

	"palisade.dev/palisade/internal/lab"
)

// labSecondaryAddress: a group reference matches a member's secondary
// private address in the kernel, and a non-member's secondary address is
// dropped like its primary.
func labSecondaryAddress(t *testing.T, l *labServer) {
	v := newVPC(t, l.ec2, false)
	app := newGroup(t, l.ec2, v.ID)
	other := newGroup(t, l.ec2, v.ID)
	db := newGroup(t, l.ec2, v.ID, tcpFromGroup(5432, app))
	d := launch(t, l.ec2, v, db)
	member := launch(t, l.ec2, v, app)
	x := launch(t, l.ec2, v, other)
	memberSec, xSec := assignSecondary(t, l.ec2, member.ENI), assignSecondary(t, l.ec2, x.ENI)
	waitNS(t, d.ID, member.ID, x.ID)
	serveTCP(t, d.ID, 5432)
	pg := port(d.IP, 5432)
	eventually(t, fmt.Sprintf("tcp %s from %s → %s", member.ID, memberSec, pg), connected,
		func() string { return knockFrom(member.ID, memberSec, pg, connected) })
	waitAddr(t, x.ID, xSec)
	if got := knockFrom(x.ID, xSec, pg, timedOut); got != timedOut {
		t.Errorf("tcp %s from %s → %s: %s, want %s", x.ID, xSec, pg, got, timedOut)
	}
	expectTCP(t, member.ID, pg, connected)
}

// assignSecondary gives interface eni one more private address and
// returns it.
func assignSecondary(t *testing.T, c *ec2.Client, eni string) netip.Addr {
	t.Helper()
	out, err := c.AssignPrivateIpAddresses(t.Context(), &ec2.AssignPrivateIpAddressesInput{
		NetworkInterfaceId: aws.String(eni), SecondaryPrivateIpAddressCount: aws.Int32(1)})
	if err != nil || len(out.AssignedPrivateIpAddresses) != 1 {
		t.Fatalf("assign a secondary address to %s: %+v %v", eni, out, err)
	}
	return netip.MustParseAddr(aws.ToString(out.AssignedPrivateIpAddresses[0].PrivateIpAddress))
}

// waitAddr waits until the lab has put address a into namespace ns.
func waitAddr(t *testing.T, ns string, a netip.Addr) {
	t.Helper()
	eventually(t, fmt.Sprintf("%s holds %s", ns, a), "yes", func() string {
		err := lab.Do(ns, func() error {
			ln, err := net.Listen("tcp", netip.AddrPortFrom(a, 0).String())
			if err == nil {
				ln.Close()
			}
			return err
		})
		if err != nil {
			return err.Error()
		}
		return "yes"
	})
}
