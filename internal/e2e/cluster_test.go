package e2e

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"palisade.dev/palisade/internal/lab"
	"palisade.dev/palisade/internal/labtest"
	"palisade.dev/palisade/internal/testutil"
)

// cluster is a cluster of three hosts on this machine: a three-member
// etcd with authentication on, two serve replicas on it (as etcd's root),
// and an agent per host with the role docs/cluster.md gives it (read
// everything, write its host's keys), each host a namespace of
// lab.Machines that the VXLAN overlay really crosses.
type cluster struct {
	t        testing.TB
	etcd     *testutil.EtcdCluster
	api      [2]*server
	ec2      *ec2.Client // the admin's, through api[0]
	machines lab.Machines
	hosts    []*hostAgent
}

// hostAgent is one host: its machine namespace and its agent process.
type hostAgent struct {
	c       *cluster
	name    string
	machine lab.Machine
	id      string // h-…
	cmd     *exec.Cmd
	metrics atomic.Value // the URL of its /metrics, once it said
	log     *tail
	exited  chan struct{}
}

// startCluster starts everything; when the test ends the agents are
// stopped and every namespace of every host is removed, failed or not.
func startCluster(t testing.TB, n int) *cluster {
	t.Helper()
	testutil.RequireRoot(t)
	c := &cluster{t: t, etcd: testutil.StartEtcd(t, 3, "--auth-token", jwtTokens(t))}
	tag := strings.TrimPrefix(uniqueName(""), "-")[:5]
	c.machines = lab.Machines{Switch: "csw" + tag, Subnet: netip.MustParsePrefix("192.168.77.0/24")}
	var names []string
	for i := range n {
		names = append(names, fmt.Sprintf("c%s-%d", tag, i+1))
	}
	c.etcd.Etcdctl(t, "user", "add", "root:root-pw", "--interactive=false")
	for _, h := range names {
		for _, args := range agentRole(h) {
			c.etcd.Etcdctl(t, args...)
		}
	}
	c.etcd.Etcdctl(t, "auth", "enable")
	for i := range c.api {
		c.api[i] = startServer(t, t.TempDir(), "--store", "etcd", "--etcd-endpoints", strings.Join(c.etcd.Endpoints, ","),
			"--etcd-user", "root:root-pw")
	}
	c.ec2 = c.api[0].ec2(c.api[0].adminKey())
	t.Cleanup(func() {
		for _, h := range c.hosts {
			h.kill()
			l, err := lab.New(lab.Config{RouterPrefix: "palisade-" + h.name + "-"})
			if err == nil {
				err = l.Down()
			}
			if err != nil {
				t.Errorf("take host %s down: %v", h.name, err)
			}
		}
		if err := c.machines.Remove(names); err != nil {
			t.Errorf("remove machines: %v", err)
		}
	})
	ms, err := c.machines.Ensure(names)
	if err != nil {
		t.Fatal(err)
	}
	for i, m := range ms {
		h := &hostAgent{c: c, name: names[i], machine: m}
		c.hosts = append(c.hosts, h)
		h.start()
	}
	c.waitHosts(n)
	return c
}

// jwtTokens makes a key pair and returns etcd's --auth-token for JWT
// tokens signed with it: unlike etcd's default simple tokens, a member
// that restarts still accepts the tokens the others issued (docs/cluster.md).
func jwtTokens(t testing.TB) string {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	privFile, pubFile := filepath.Join(dir, "jwt.key"), filepath.Join(dir, "jwt.pub")
	for file, block := range map[string]*pem.Block{
		privFile: {Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)},
		pubFile:  {Type: "PUBLIC KEY", Bytes: pub},
	} {
		if err := os.WriteFile(file, pem.EncodeToMemory(block), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return "jwt,pub-key=" + pubFile + ",priv-key=" + privFile + ",sign-method=RS256,ttl=1h"
}

// agentRole is the etcdctl commands of docs/cluster.md that make host's
// agent user (agent-<host>, password agent-pw) with its role.
func agentRole(host string) [][]string {
	role := "palisade-agent-" + host
	return [][]string{
		{"role", "add", role},
		{"role", "grant-permission", role, "read", "--prefix=true", "/palisade/"},
		{"role", "grant-permission", role, "readwrite", "--prefix=true", "/palisade/d/w/" + host + "/"},
		{"role", "grant-permission", role, "readwrite", "--prefix=true", "/palisade/t/w/" + host + "/"},
		{"user", "add", "agent-" + host + ":agent-pw", "--interactive=false"},
		{"user", "grant-role", "agent-" + host, role},
	}
}

var metricsRE = regexp.MustCompile(`msg="serving metrics" endpoint=(\S+)`)

var registeredRE = regexp.MustCompile(`msg="host registered" host=\S+ id=(h-[0-9a-f]+)`)

// start runs the host's agent and waits until it has registered.
func (h *hostAgent) start() {
	t := h.c.t
	t.Helper()
	h.cmd = exec.Command(palisadeBin, "agent", "--host", h.name, "--host-netns", h.machine.Name,
		"--etcd-endpoints", strings.Join(h.c.etcd.Endpoints, ","), "--etcd-user", "agent-"+h.name+":agent-pw", "--lease-ttl", "3s",
		"--metrics-listen", "127.0.0.1:0")
	h.cmd.Env = baseEnv(t)
	h.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stderr, err := h.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	h.log, h.exited = &tail{}, make(chan struct{})
	if err := h.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	idc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			h.log.add(sc.Text())
			if m := metricsRE.FindStringSubmatch(sc.Text()); m != nil {
				h.metrics.Store(m[1])
			}
			if m := registeredRE.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case idc <- m[1]:
				default:
				}
			}
		}
		io.Copy(io.Discard, stderr)
	}()
	go func(cmd *exec.Cmd, exited chan struct{}) { cmd.Wait(); close(exited) }(h.cmd, h.exited)
	select {
	case h.id = <-idc:
	case <-h.exited:
		t.Fatalf("agent %s exited before registering\n%s", h.name, h.log)
	case <-time.After(startTimeout):
		t.Fatalf("agent %s did not register within %v\n%s", h.name, startTimeout, h.log)
	}
}

// kill ends the agent with kill -9, as a crash would.
func (h *hostAgent) kill() {
	select {
	case <-h.exited:
		return
	default:
	}
	h.cmd.Process.Kill()
	<-h.exited
}

// waitHosts waits until describe-hosts lists n available hosts.
func (c *cluster) waitHosts(n int) {
	c.t.Helper()
	retryFor(c.t, 30*time.Second, "hosts available", func() error {
		out, err := c.ec2.DescribeHosts(context.Background(), &ec2.DescribeHostsInput{})
		if err != nil {
			return err
		}
		avail := 0
		for _, h := range out.Hosts {
			if h.State == types.AllocationStateAvailable {
				avail++
			}
		}
		if avail < n {
			return fmt.Errorf("%d of %d hosts available", avail, n)
		}
		return nil
	})
}

// hostState is what describe-hosts says of host h.
func (c *cluster) hostState(h *hostAgent) types.AllocationState {
	c.t.Helper()
	out, err := c.ec2.DescribeHosts(context.Background(), &ec2.DescribeHostsInput{HostIds: []string{h.id}})
	if err != nil || len(out.Hosts) != 1 {
		c.t.Fatalf("describe-hosts %s: %v", h.id, err)
	}
	return out.Hosts[0].State
}

// group creates a security group in the default VPC with no ingress.
func (c *cluster) group(name string) string {
	c.t.Helper()
	out, err := c.ec2.CreateSecurityGroup(context.Background(), &ec2.CreateSecurityGroupInput{
		GroupName: aws.String(uniqueName(name)), Description: aws.String(name)})
	if err != nil {
		c.t.Fatal(err)
	}
	return aws.ToString(out.GroupId)
}

// allowFromGroup lets group src reach group dst on tcp port.
func (c *cluster) allowFromGroup(dst, src string, port int32) {
	c.t.Helper()
	_, err := c.ec2.AuthorizeSecurityGroupIngress(context.Background(), &ec2.AuthorizeSecurityGroupIngressInput{
		GroupId: aws.String(dst), IpPermissions: groupPermission(src, port)})
	if err != nil {
		c.t.Fatal(err)
	}
}

// revokeFromGroup takes that away again.
func (c *cluster) revokeFromGroup(dst, src string, port int32) {
	c.t.Helper()
	_, err := c.ec2.RevokeSecurityGroupIngress(context.Background(), &ec2.RevokeSecurityGroupIngressInput{
		GroupId: aws.String(dst), IpPermissions: groupPermission(src, port)})
	if err != nil {
		c.t.Fatal(err)
	}
}

func groupPermission(src string, port int32) []types.IpPermission {
	return []types.IpPermission{{IpProtocol: aws.String("tcp"), FromPort: aws.Int32(port), ToPort: aws.Int32(port),
		UserIdGroupPairs: []types.UserIdGroupPair{{GroupId: aws.String(src)}}}}
}

// instance launches one instance with the groups on host h and waits until
// it runs; it returns its ID (its namespace) and private address.
func (c *cluster) instance(h *hostAgent, groups ...string) (string, netip.Addr) {
	c.t.Helper()
	ctx := context.Background()
	out, err := c.ec2.RunInstances(ctx, &ec2.RunInstancesInput{ImageId: aws.String("ami-lab"), MinCount: aws.Int32(1),
		MaxCount: aws.Int32(1), SecurityGroupIds: groups, Placement: &types.Placement{HostId: aws.String(h.id)}})
	if err != nil {
		c.t.Fatal(err)
	}
	id := aws.ToString(out.Instances[0].InstanceId)
	addr := netip.MustParseAddr(aws.ToString(out.Instances[0].PrivateIpAddress))
	retryFor(c.t, applyWait, id+" running", func() error {
		d, err := c.ec2.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{id}})
		if err != nil {
			return err
		}
		inst := d.Reservations[0].Instances[0]
		if got := aws.ToString(inst.Placement.HostId); got != h.id {
			c.t.Fatalf("%s placed on %q, want %s", id, got, h.id)
		}
		if inst.State.Name != types.InstanceStateNameRunning {
			return fmt.Errorf("%s is %s", id, inst.State.Name)
		}
		return nil
	})
	return id, addr
}

// labHost adds an outside computer with address ip to the VPC of instance
// inst, attached to host h's router, with palisade lab host add --host; it
// returns its namespace.
func (c *cluster) labHost(t *testing.T, h *hostAgent, inst, ip string) string {
	t.Helper()
	d, err := c.ec2.DescribeInstances(context.Background(), &ec2.DescribeInstancesInput{InstanceIds: []string{inst}})
	if err != nil {
		t.Fatal(err)
	}
	vpc := aws.ToString(d.Reservations[0].Instances[0].VpcId)
	args := []string{"lab", "host", "add", uniqueName("lh"), "--vpc", vpc, "--ip", ip, "--host", h.name,
		"--endpoint-url", c.api[0].endpoint, "--region", "us-east-1"}
	stdout, stderr, code := palisade(t, profileEnv(t, c.api[0].dir), args...)
	if code != 0 {
		t.Fatalf("palisade %s: exit %d\n%s", strings.Join(args, " "), code, stderr)
	}
	ns := hostNamespace(t, stdout)
	waitNS(t, ns)
	return ns
}

// TestClusterThreeHosts: three hosts on one machine enforce one VPC's
// groups across the overlay: egress where the sender lives, ingress where
// the receiver lives, group references resolved to members on any host.
// Then the faults: an agent killed keeps its host enforcing the last rules
// and, restarted, adopts them with no wrong verdict meanwhile and catches
// up; one etcd member lost changes nothing; all of etcd lost keeps every
// host enforcing, and when etcd returns a change made then is enforced
// without a restart.
func TestClusterThreeHosts(t *testing.T) {
	c := startCluster(t, 3)
	h1, h2, h3 := c.hosts[0], c.hosts[1], c.hosts[2]
	web, client, other := c.group("web"), c.group("client"), c.group("other")
	c.allowFromGroup(web, client, 8080)
	a, _ := c.instance(h1, client)
	b, bAddr := c.instance(h2, web)
	x, _ := c.instance(h3, other)
	serveTCP(t, b, 8080)
	toB := port(bAddr, 8080)

	// Across hosts: allowed by reference to a group whose member lives on
	// another host; blocked (a timeout) for a non-member; a port nobody
	// allows times out too.
	eventuallyTCP(t, a, toB, connected)
	expectTCP(t, x, toB, timedOut)
	expectTCP(t, a, port(bAddr, 8081), timedOut)

	// A membership change on host 3 reaches host 2's sets.
	c.allowFromGroup(web, other, 8080)
	eventuallyTCP(t, x, toB, connected)
	c.revokeFromGroup(web, other, 8080)
	eventuallyTCP(t, x, toB, timedOut)

	// Outside computers attached on chosen hosts: the office on gamma is
	// allowed by a CIDR rule and reaches beta's instance across the
	// overlay; the stranger on alpha is not.
	office := c.labHost(t, h3, a, "203.0.113.9")
	stranger := c.labHost(t, h1, a, "198.51.100.7")
	if _, err := c.ec2.AuthorizeSecurityGroupIngress(context.Background(), &ec2.AuthorizeSecurityGroupIngressInput{
		GroupId: aws.String(web), IpProtocol: aws.String("tcp"), FromPort: aws.Int32(8080), ToPort: aws.Int32(8080),
		CidrIp: aws.String("203.0.113.9/32")}); err != nil {
		t.Fatal(err)
	}
	eventuallyTCP(t, office, toB, connected)
	expectTCP(t, stranger, toB, timedOut)
	// The stranger's path works too: what blocked it was the group.
	allowStranger := &ec2.AuthorizeSecurityGroupIngressInput{GroupId: aws.String(web), IpProtocol: aws.String("tcp"),
		FromPort: aws.Int32(8080), ToPort: aws.Int32(8080), CidrIp: aws.String("198.51.100.7/32")}
	if _, err := c.ec2.AuthorizeSecurityGroupIngress(context.Background(), allowStranger); err != nil {
		t.Fatal(err)
	}
	eventuallyTCP(t, stranger, toB, connected)
	if _, err := c.ec2.RevokeSecurityGroupIngress(context.Background(), &ec2.RevokeSecurityGroupIngressInput{
		GroupId: allowStranger.GroupId, IpProtocol: allowStranger.IpProtocol, FromPort: allowStranger.FromPort,
		ToPort: allowStranger.ToPort, CidrIp: allowStranger.CidrIp}); err != nil {
		t.Fatal(err)
	}
	eventuallyTCP(t, stranger, toB, timedOut)

	// Each agent, running alone, serves its metrics: beta's applied the
	// changes above.
	retryFor(t, 10*time.Second, "beta's metrics", func() error {
		url, _ := h2.metrics.Load().(string)
		if url == "" {
			return fmt.Errorf("beta's agent did not say where its metrics are")
		}
		resp, err := http.Get(url)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		for _, want := range []string{"palisade_agent_applied_revision ", "palisade_dataplane_apply_duration_seconds_count ", "palisade_store_revision "} {
			if !strings.Contains(string(b), want) {
				return fmt.Errorf("no %s in\n%s", want, b)
			}
		}
		return nil
	})

	t.Run("agent killed", func(t *testing.T) {
		h2.kill()
		// The host keeps enforcing exactly the last rules.
		expectTCP(t, a, toB, connected)
		expectTCP(t, x, toB, timedOut)
		retryFor(t, 20*time.Second, "host 2 under assessment", func() error {
			if s := c.hostState(h2); s != types.AllocationStateUnderAssessment {
				return fmt.Errorf("host 2 is %s", s)
			}
			return nil
		})
		// A change while the agent is down, enforced once it is back;
		// meanwhile a continuous probe of an unchanged allowed flow sees
		// no wrong verdict across the restart.
		c.allowFromGroup(web, other, 8080)
		stop := make(chan struct{})
		var wrong []string
		var wg sync.WaitGroup
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if got := knock(a, toB, connected); got != connected {
					wrong = append(wrong, got)
				}
				time.Sleep(20 * time.Millisecond)
			}
		})
		h2.start()
		eventuallyTCP(t, x, toB, connected)
		close(stop)
		wg.Wait()
		if len(wrong) > 0 {
			t.Fatalf("the allowed flow failed %d times while the agent restarted: %v", len(wrong), wrong)
		}
		c.waitHosts(3)
	})

	t.Run("etcd member killed", func(t *testing.T) {
		c.etcd.Kill(t, 0)
		defer c.etcd.Restart(t, 0)
		retryFor(t, 30*time.Second, "revoke with one member down", func() error {
			_, err := c.ec2.RevokeSecurityGroupIngress(context.Background(), &ec2.RevokeSecurityGroupIngressInput{
				GroupId: aws.String(web), IpPermissions: groupPermission(other, 8080)})
			return err
		})
		eventuallyTCP(t, x, toB, timedOut)
	})

	t.Run("etcd down", func(t *testing.T) {
		for i := range 3 {
			c.etcd.Kill(t, i)
		}
		// Every host keeps enforcing; the API says 503.
		expectTCP(t, a, toB, connected)
		expectTCP(t, x, toB, timedOut)
		_, err := c.ec2.DescribeSecurityGroups(context.Background(), &ec2.DescribeSecurityGroupsInput{})
		wantServiceUnavailable(t, err)
		for i := range 3 {
			c.etcd.Restart(t, i)
		}
		retryFor(t, 60*time.Second, "authorize once etcd is back", func() error {
			_, err := c.ec2.AuthorizeSecurityGroupIngress(context.Background(), &ec2.AuthorizeSecurityGroupIngressInput{
				GroupId: aws.String(web), IpPermissions: groupPermission(other, 8080)})
			return err
		})
		eventuallyTCP(t, x, toB, connected)
		expectTCP(t, a, toB, connected)
	})
}

// BenchmarkClusterEnforce measures, on three hosts on this machine, the
// time from an API call that allows a flow returning to the first
// connection of that flow between two other hosts (gamma's instance to
// beta's): the replica's write, etcd, the receiving host's agent's watch,
// compile and nftables commit. Each iteration revokes the rule again and
// waits until the flow is blocked. The probe retries every few tens of
// milliseconds, which bounds the resolution.
//
//	go test -run '^$' -bench ClusterEnforce -benchtime 40x ./internal/e2e/
func BenchmarkClusterEnforce(b *testing.B) {
	c := startCluster(b, 3)
	web, other := c.group("web"), c.group("other")
	server, addr := c.instance(c.hosts[1], web)
	client, _ := c.instance(c.hosts[2], other)
	labtest.ServeTCP(b, server, netip.AddrPortFrom(netip.Addr{}, 8080))
	to := port(addr, 8080)
	const probe = 30 * time.Millisecond
	reaches := func() bool {
		conn, err := labtest.Dial(client, to, probe)
		if err == nil {
			conn.Close()
		}
		return err == nil
	}
	var took []time.Duration
	for b.Loop() {
		c.allowFromGroup(web, other, 8080)
		start := time.Now()
		for !reaches() {
			if time.Since(start) > applyWait {
				b.Fatalf("not enforced within %v", applyWait)
			}
		}
		took = append(took, time.Since(start))
		c.revokeFromGroup(web, other, 8080)
		for deadline := time.Now().Add(applyWait); reaches(); {
			if time.Now().After(deadline) {
				b.Fatalf("revoke not enforced within %v", applyWait)
			}
		}
	}
	slices.Sort(took)
	q := func(f float64) float64 { return float64(took[int(f*float64(len(took)-1))].Microseconds()) / 1000 }
	b.ReportMetric(q(0.5), "p50-ms")
	b.ReportMetric(q(0.99), "p99-ms")
	b.ReportMetric(q(1), "max-ms")
}
