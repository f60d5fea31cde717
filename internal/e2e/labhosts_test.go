package e2e

import (
	"context"
	"net/netip"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"

	"palisade.dev/palisade/internal/lab"
	"palisade.dev/palisade/internal/model"
)

// Lab host names are each account's own: an account cannot learn from
// `palisade lab host add` that another has a host of that name, nor take
// the name from it; each host gets its own namespace, <name>.<account>.
func TestLabHostNamesArePerAccount(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := startServer(t, t.TempDir())
	add := func(env []string, c aws.Credentials) (string, string) {
		t.Helper()
		vpcs, err := s.ec2(c).DescribeVpcs(ctx, &ec2.DescribeVpcsInput{})
		if err != nil || len(vpcs.Vpcs) != 1 {
			t.Fatalf("%+v %v", vpcs, err)
		}
		stdout, stderr, code := palisade(t, env, "lab", "host", "add", "office", "--vpc", aws.ToString(vpcs.Vpcs[0].VpcId),
			"--ip", "203.0.113.5", "--endpoint-url", s.endpoint)
		if code != 0 {
			return "", stderr
		}
		return hostNamespace(t, stdout), ""
	}
	admin := s.adminKey()
	adminNS, stderr := add(profileEnv(t, s.dir), admin)
	if want := "office." + s.account(admin); adminNS != want {
		t.Fatalf("admin's namespace %q (%s), want %q", adminNS, stderr, want)
	}
	bob := newAccount(t, s)
	bobEnv := append(baseEnv(t), "AWS_ACCESS_KEY_ID="+bob.AccessKeyID, "AWS_SECRET_ACCESS_KEY="+bob.SecretAccessKey)
	bobNS, stderr := add(bobEnv, bob)
	if want := "office." + s.account(bob); bobNS != want {
		t.Fatalf("bob's host office: namespace %q, want %q; %s", bobNS, want, stderr)
	}
	if _, stderr := add(bobEnv, bob); !strings.Contains(stderr, "InvalidLabHost.Duplicate: A lab host named 'office' already exists.") {
		t.Fatalf("bob's second office: %q", stderr)
	}
	stdout, _, _ := palisade(t, bobEnv, "lab", "host", "ls", "--endpoint-url", s.endpoint, "--output", "json")
	if !strings.Contains(stdout, bobNS) || strings.Contains(stdout, adminNS) {
		t.Fatalf("bob lists %s", stdout)
	}
	s.stop()
}

// A lab made by an older version named a host's namespace by the host's
// name alone. The next serve replaces it with <name>.<account>: the old
// namespace goes (nothing in the store wants it), the new one gets the
// host's address, and the rules apply to it.
func TestLabMovesHostsToTheirAccountNamespace(t *testing.T) {
	l := startLab(t)
	v := newVPC(t, l.ec2, false)
	g := newGroup(t, l.ec2, v.ID, tcp(22, officeIP+"/32"))
	i := launch(t, l.ec2, v, g)
	ns := l.addHost(t, "us-east-1", v.ID, officeIP, "")
	waitNS(t, i.ID, ns)
	l.stop()

	// Leave the lab as the older version did.
	old := ns[:strings.LastIndexByte(ns, '.')]
	lb, err := lab.New(lab.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if err := lb.RemoveHost(ns); err != nil {
		t.Fatal(err)
	}
	if err := lb.EnsureHost(lab.Host{Name: old, VPC: model.VpcID(v.ID), IPv4: netip.MustParseAddr(officeIP)}); err != nil {
		t.Fatal(err)
	}
	if !nsExists(old) || nsExists(ns) {
		t.Fatalf("before the restart: %s %v, %s %v", old, nsExists(old), ns, nsExists(ns))
	}
	l2 := runLab(t, l.dir)
	waitNSGone(t, old)
	waitNS(t, ns)
	serveTCP(t, i.ID, 22)
	eventuallyTCP(t, ns, port(i.IP, 22), connected)
	l2.stop()
}
