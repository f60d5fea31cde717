package e2e

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	"palisade.dev/palisade/internal/hosts"
	"palisade.dev/palisade/internal/store/etcd"
	"palisade.dev/palisade/internal/testutil"
)

type cliHost struct {
	HostId, State, AvailabilityZone string
	Tags                            []struct{ Key, Value string }
	Instances                       []struct{ InstanceId, InstanceType string }
}

// agentHost registers a host on the cluster as an agent does, through a
// store of its own: closing that store is the agent's death.
func agentHost(t *testing.T, c *testutil.EtcdCluster, name string) (id string, die func()) {
	t.Helper()
	ctx := context.Background()
	st, err := etcd.Open(ctx, etcd.Options{Endpoints: c.Endpoints})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	h, _, err := hosts.Register(ctx, st, name, netip.MustParseAddr("192.0.2.1"), 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return string(h.ID), func() { st.Close() }
}

// describeHosts runs aws ec2 describe-hosts with args.
func describeHosts(t *testing.T, s *server, args ...string) []cliHost {
	t.Helper()
	var out struct{ Hosts []cliHost }
	cliJSON(t, s, &out, append([]string{"ec2", "describe-hosts"}, args...)...)
	return out.Hosts
}

// The aws CLI sees the hosts that agents registered on etcd, places
// instances with --placement HostId or on the least loaded host, and sees a
// host whose agent died go under assessment once its lease lapsed.
func TestHostsAWSCLI(t *testing.T) {
	testutil.RequireCommand(t, awsCLI)
	t.Parallel()
	c := testutil.StartEtcd(t, 1)
	s := startReplica(t, c)
	alpha, _ := agentHost(t, c, "alpha")
	beta, killBeta := agentHost(t, c, "beta")

	all := describeHosts(t, s)
	if len(all) != 2 {
		t.Fatalf("describe-hosts: %+v", all)
	}
	for _, h := range all {
		if h.State != "available" || len(h.Tags) != 1 || h.Tags[0].Key != "Name" || h.AvailabilityZone != "us-east-1a" {
			t.Fatalf("host %+v", h)
		}
	}

	var run struct{ Instances []struct{ InstanceId string } }
	cliJSON(t, s, &run, "ec2", "run-instances", "--image-id", "lab", "--instance-type", "t3.small", "--placement", "HostId="+beta)
	onBeta := run.Instances[0].InstanceId
	cliJSON(t, s, &run, "ec2", "run-instances", "--image-id", "lab")
	onAlpha := run.Instances[0].InstanceId
	var desc struct {
		Reservations []struct {
			Instances []struct {
				InstanceId string
				Placement  struct{ HostId, Tenancy string }
			}
		}
	}
	cliJSON(t, s, &desc, "ec2", "describe-instances", "--instance-ids", onBeta, onAlpha)
	placed := map[string]string{}
	for _, r := range desc.Reservations {
		for _, i := range r.Instances {
			placed[i.InstanceId] = i.Placement.HostId + "/" + i.Placement.Tenancy
		}
	}
	if placed[onBeta] != beta+"/host" || placed[onAlpha] != alpha+"/default" {
		t.Fatalf("placements %v, want %s on beta %s (host tenancy), %s on alpha %s", placed, onBeta, beta, onAlpha, alpha)
	}
	got := describeHosts(t, s, "--host-ids", beta)
	if len(got) != 1 || len(got[0].Instances) != 1 || got[0].Instances[0].InstanceId != onBeta || got[0].Instances[0].InstanceType != "t3.small" {
		t.Fatalf("describe-hosts --host-ids beta: %+v", got)
	}
	if got := describeHosts(t, s, "--filter", "Name=tag:Name,Values=alpha"); len(got) != 1 || got[0].HostId != alpha {
		t.Fatalf("describe-hosts by tag:Name: %+v", got)
	}

	for _, bad := range []struct {
		args []string
		code string
	}{
		{[]string{"ec2", "run-instances", "--image-id", "lab", "--placement", "HostId=h-0123456789abcdef0"}, "InvalidHostID.NotFound"},
		{[]string{"ec2", "describe-hosts", "--host-ids", "host-1"}, "InvalidHostId.Malformed"},
	} {
		if _, stderr, code := cli(t, s, bad.args...); code == 0 || !strings.Contains(stderr, bad.code) {
			t.Fatalf("aws %s: exit %d, %s; want %s", strings.Join(bad.args, " "), code, stderr, bad.code)
		}
	}

	killBeta()
	deadline := time.Now().Add(20 * time.Second)
	for {
		got := describeHosts(t, s, "--filter", "Name=state,Values=under-assessment")
		if len(got) == 1 && got[0].HostId == beta {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("beta not under assessment 20s after its agent died: %+v", got)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
