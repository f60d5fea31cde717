package e2e

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"palisade.dev/palisade/internal/labtest"
	"palisade.dev/palisade/internal/testutil"
)

// TestLabRunningMeansReachable: an instance is pending until the lab has
// wired it, so at the very first moment DescribeInstances reports it
// running (polled back to back), it reaches out and is reached: a TCP
// connection from the instance to a lab host, and one from the host to a
// listener opened in the instance at that moment, both succeed at the
// first attempt. Several launches in a row, then the same with the aws
// CLI: run-instances, wait instance-running, connect.
func TestLabRunningMeansReachable(t *testing.T) {
	l := startLab(t)
	v := newVPC(t, l.ec2, false)
	g := newGroup(t, l.ec2, v.ID, tcp(22, officeIP+"/32"))
	a := l.addHost(t, "us-east-1", v.ID, officeIP, "")
	waitNS(t, a)
	serveTCP(t, a, 9)
	eventuallyTCP(t, a, port(office, 9), connected) // the host itself is wired

	connectAtOnce := func(id, ip string) {
		t.Helper()
		c, err := labtest.Dial(id, port(office, 9), okWait)
		if err != nil {
			t.Fatalf("%s → office at the moment it runs: %v", id, err)
		}
		c.Close()
		serveTCP(t, id, 22)
		c, err = labtest.Dial(a, port(netip.MustParseAddr(ip), 22), okWait)
		if err != nil {
			t.Fatalf("office → %s at the moment it runs: %v", id, err)
		}
		c.Close()
	}
	poll := poller(l.ec2)
	for round := range 5 {
		r, err := l.ec2.RunInstances(t.Context(), &ec2.RunInstancesInput{ImageId: aws.String("lab"),
			MinCount: aws.Int32(1), MaxCount: aws.Int32(1), SubnetId: aws.String(v.Subnet), SecurityGroupIds: []string{g}})
		if err != nil {
			t.Fatal(err)
		}
		id, ip := aws.ToString(r.Instances[0].InstanceId), aws.ToString(r.Instances[0].PrivateIpAddress)
		start, polls := time.Now(), 0
		for {
			polls++
			d, err := poll.DescribeInstances(t.Context(), &ec2.DescribeInstancesInput{InstanceIds: []string{id}})
			if err != nil {
				t.Fatal(err)
			}
			state := d.Reservations[0].Instances[0].State.Name
			if state == types.InstanceStateNameRunning {
				break
			}
			if state != types.InstanceStateNamePending {
				t.Fatalf("%s is %s", id, state)
			}
			if time.Since(start) > applyWait {
				t.Fatalf("%s still pending after %v", id, applyWait)
			}
		}
		connectAtOnce(id, ip)
		t.Logf("round %d: %s running after %v (%d polls), reachable at once", round, id, time.Since(start).Round(time.Millisecond), polls)
	}

	testutil.RequireCommand(t, awsCLI)
	env := profileEnv(t, l.dir)
	aws := func(args ...string) string {
		t.Helper()
		stdout, stderr, code := run(t, env, awsCLI, append([]string{"--endpoint-url", l.endpoint}, args...)...)
		if code != 0 {
			t.Fatalf("aws %s: exit %d\n%s", strings.Join(args, " "), code, stderr)
		}
		return strings.TrimSpace(stdout)
	}
	out := aws("ec2", "run-instances", "--image-id", "lab", "--subnet-id", v.Subnet, "--security-group-ids", g,
		"--query", "Instances[0].[InstanceId,PrivateIpAddress,State.Name]", "--output", "text")
	f := strings.Fields(out)
	if len(f) != 3 || f[2] != "pending" {
		t.Fatalf("aws ec2 run-instances: %q, want an ID, an address and pending", out)
	}
	aws("ec2", "wait", "instance-running", "--instance-ids", f[0])
	connectAtOnce(f[0], f[1])
}
