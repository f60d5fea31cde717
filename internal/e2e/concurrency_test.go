package e2e

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"golang.org/x/sys/unix"
)

// cidrN is the n-th /32 of 10.0.0.0/8.
func cidrN(n int64) string {
	return fmt.Sprintf("10.%d.%d.%d/32", n>>16&255, n>>8&255, n&255)
}

// Many clients authorizing on one group at once, through the real server:
// every rule lands, once, with its own ID.
func TestParallelAuthorizeOnOneGroup(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := startServer(t, t.TempDir(), "--max-rules-per-group", "1000")
	client := s.ec2(s.adminKey())
	g, err := client.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{GroupName: aws.String("busy"), Description: aws.String("d")})
	if err != nil {
		t.Fatal(err)
	}
	const workers, each = 16, 25
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		granted = map[string]string{} // rule ID -> CIDR
		dupIDs  atomic.Int32
	)
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				cidr := cidrN(int64(w*each + i))
				out, err := client.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{
					GroupId: g.GroupId, IpPermissions: tcpFrom(443, cidr)})
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				for _, r := range out.SecurityGroupRules {
					id := aws.ToString(r.SecurityGroupRuleId)
					if _, dup := granted[id]; dup {
						dupIDs.Add(1)
					}
					granted[id] = aws.ToString(r.CidrIpv4)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if dupIDs.Load() > 0 || len(granted) != workers*each {
		t.Fatalf("%d rule IDs for %d authorizations, %d handed out twice", len(granted), workers*each, dupIDs.Load())
	}

	// What is stored is exactly what was granted.
	rules := describeRules(t, client, aws.ToString(g.GroupId))
	stored := map[string]string{}
	for _, r := range rules {
		if aws.ToBool(r.IsEgress) {
			continue
		}
		id := aws.ToString(r.SecurityGroupRuleId)
		if _, dup := stored[id]; dup {
			t.Fatalf("rule ID %s stored twice", id)
		}
		stored[id] = aws.ToString(r.CidrIpv4)
	}
	if len(stored) != len(granted) {
		t.Fatalf("%d ingress rules stored, %d granted", len(stored), len(granted))
	}
	cidrs := map[string]bool{}
	for id, cidr := range granted {
		if stored[id] != cidr {
			t.Fatalf("rule %s: stored %q, granted %q", id, stored[id], cidr)
		}
		cidrs[cidr] = true
	}
	if len(cidrs) != workers*each {
		t.Fatalf("%d distinct CIDRs", len(cidrs))
	}
	s.stop()
}

// describeRules lists every rule of a group, page by page.
func describeRules(t testing.TB, client *ec2.Client, group string) []types.SecurityGroupRule {
	t.Helper()
	var all []types.SecurityGroupRule
	p := ec2.NewDescribeSecurityGroupRulesPaginator(client, &ec2.DescribeSecurityGroupRulesInput{
		Filters:    []types.Filter{{Name: aws.String("group-id"), Values: []string{group}}},
		MaxResults: aws.Int32(100),
	})
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, page.SecurityGroupRules...)
	}
	return all
}

// BenchmarkAPI measures requests per second through the real binary over
// HTTP, signed and decoded by aws-sdk-go-v2, with parallel clients, each
// sub-benchmark in an account of its own so that they do not weigh on each
// other:
//
//   - Describe reads one group of 10 rules by ID;
//
//   - Authorize adds one rule per operation (to groups of up to 50 rules);
//
//   - AuthorizeDescribeRevoke adds a rule to a group of 10, reads the group
//     back and revokes the rule by its ID: three requests per operation, on
//     a state that does not grow.
//
//   - CPUPerCall is one client doing the same on a group of 20 rules, one
//     request at a time, and reports the server's CPU time per call of
//     each action (ms-cpu/authorize, ms-cpu/describe, ms-cpu/revoke) and of
//     the three together (ms-cpu/sum): user+system time of the serve
//     process, read from its process CPU clock around each request, so the
//     client's own CPU is not counted; background work (GC, the store's
//     commit) falls into the request during or after which it runs.
//
//     go test -run '^$' -bench API -benchtime 5s ./internal/e2e/
//     go test -run '^$' -bench 'API$/CPUPerCall' -benchtime 2000x ./internal/e2e/
func BenchmarkAPI(b *testing.B) { benchmarkAPI(b, startServer(b, b.TempDir())) }

// benchmarkAPI runs the API benchmarks against s.
func benchmarkAPI(b *testing.B, s *server) {
	ctx := context.Background()
	var next atomic.Int64 // unique names and CIDRs
	newGroup := func(client *ec2.Client, rules int) *string {
		g, err := client.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{
			GroupName: aws.String(fmt.Sprintf("bench-%d", next.Add(1))), Description: aws.String("d")})
		if err != nil {
			b.Fatal(err)
		}
		for range rules {
			if _, err := authorizeOne(ctx, client, g.GroupId, cidrN(next.Add(1))); err != nil {
				b.Fatal(err)
			}
		}
		return g.GroupId
	}
	bench := func(name string, setup func(client *ec2.Client) func() error) {
		b.Run(name, func(b *testing.B) {
			client := s.ec2(newAccount(b, s))
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				op := setup(client)
				for pb.Next() {
					if err := op(); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "ops/s")
		})
	}
	bench("Describe", func(client *ec2.Client) func() error {
		g := newGroup(client, 10)
		return func() error {
			_, err := client.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{GroupIds: []string{aws.ToString(g)}})
			return err
		}
	})
	bench("Authorize", func(client *ec2.Client) func() error {
		var g *string
		n := 0
		return func() error {
			if g == nil || n == 50 {
				g, n = newGroup(client, 0), 0
			}
			n++
			_, err := authorizeOne(ctx, client, g, cidrN(next.Add(1)))
			return err
		}
	})
	bench("AuthorizeDescribeRevoke", func(client *ec2.Client) func() error {
		g := newGroup(client, 9)
		return func() error {
			id, err := authorizeOne(ctx, client, g, cidrN(next.Add(1)))
			if err != nil {
				return err
			}
			if _, err := client.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{GroupIds: []string{aws.ToString(g)}}); err != nil {
				return err
			}
			_, err = client.RevokeSecurityGroupIngress(ctx, &ec2.RevokeSecurityGroupIngressInput{
				GroupId: g, SecurityGroupRuleIds: []string{id}})
			return err
		}
	})
	b.Run("CPUPerCall", func(b *testing.B) { benchCPUPerCall(b, s, newGroup) })
	s.stop()
}

// benchCPUPerCall measures the server's CPU per authorize, describe and
// revoke of one rule on a group of 20 rules (see BenchmarkAPI).
func benchCPUPerCall(b *testing.B, s *server, newGroup func(*ec2.Client, int) *string) {
	client := s.ec2(newAccount(b, s))
	costs := &callCosts{pid: s.cmd.Process.Pid, client: client, group: newGroup(client, 20)}
	b.ResetTimer()
	for n := range b.N {
		if err := costs.sequence(int64(1<<20 + n)); err != nil {
			b.Fatalf("iteration %d of %d: %v", n, b.N, err)
		}
	}
	b.StopTimer()
	costs.report(b, "")
}

// callCosts is the CPU a server process spends on each call of the
// sequence authorize, describe, revoke of one rule on one group: the
// process's user and system time around each request, so the client's
// own CPU is not counted.
type callCosts struct {
	pid    int
	client *ec2.Client
	group  *string
	spent  [3]time.Duration // authorize, describe, revoke
	n      int              // sequences run
}

// sequence authorizes TCP 443 from the n-th /32, describes the group and
// revokes the rule by its ID.
func (c *callCosts) sequence(n int64) error {
	ctx := context.Background()
	var id string
	err := c.call(0, func() (err error) {
		id, err = authorizeOne(ctx, c.client, c.group, cidrN(n))
		return err
	})
	if err == nil {
		err = c.call(1, func() error {
			_, err := c.client.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{GroupIds: []string{aws.ToString(c.group)}})
			return err
		})
	}
	if err == nil {
		err = c.call(2, func() error {
			_, err := c.client.RevokeSecurityGroupIngress(ctx, &ec2.RevokeSecurityGroupIngressInput{
				GroupId: c.group, SecurityGroupRuleIds: []string{id}})
			return err
		})
	}
	c.n++
	return err
}

func (c *callCosts) call(i int, f func() error) error {
	before, err := processCPU(c.pid)
	if err != nil {
		return err
	}
	err = f()
	after, cerr := processCPU(c.pid)
	c.spent[i] += after - before
	return errors.Join(err, cerr)
}

// sum is the CPU of one whole sequence, on average.
func (c *callCosts) sum() time.Duration {
	return (c.spent[0] + c.spent[1] + c.spent[2]) / time.Duration(max(c.n, 1))
}

// report reports the CPU per call of each action and of the sequence, in
// milliseconds, each unit prefixed with prefix.
func (c *callCosts) report(b *testing.B, prefix string) {
	perCall := func(d time.Duration) float64 { return d.Seconds() * 1000 / float64(max(c.n, 1)) }
	b.ReportMetric(perCall(c.spent[0]), prefix+"ms-cpu/authorize")
	b.ReportMetric(perCall(c.spent[1]), prefix+"ms-cpu/describe")
	b.ReportMetric(perCall(c.spent[2]), prefix+"ms-cpu/revoke")
	b.ReportMetric(perCall(c.spent[0]+c.spent[1]+c.spent[2]), prefix+"ms-cpu/sum")
}

// processCPU is the CPU time (user and system, all threads) that process
// pid has used so far: its process CPU clock, which Linux lets any process
// read (clock_getcpuclockid(3)), precise to the nanosecond where the
// ticks of /proc/PID/stat are 10 ms.
func processCPU(pid int) (time.Duration, error) {
	const cpuClockSched = 2 // CPUCLOCK_SCHED: utime+stime as the scheduler counts it
	clock := int32(^pid)<<3 | cpuClockSched
	var ts unix.Timespec
	if err := unix.ClockGettime(clock, &ts); err != nil {
		return 0, fmt.Errorf("CPU clock of process %d: %w", pid, err)
	}
	return time.Duration(ts.Nano()), nil
}

// authorizeOne opens TCP 443 to cidr and returns the new rule's ID.
func authorizeOne(ctx context.Context, client *ec2.Client, group *string, cidr string) (string, error) {
	out, err := client.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{
		GroupId: group, IpPermissions: tcpFrom(443, cidr)})
	if err != nil {
		return "", err
	}
	if len(out.SecurityGroupRules) != 1 {
		return "", fmt.Errorf("authorize answered %d rules", len(out.SecurityGroupRules))
	}
	return aws.ToString(out.SecurityGroupRules[0].SecurityGroupRuleId), nil
}
