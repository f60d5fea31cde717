package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"palisade.dev/palisade/internal/labtest"
	"palisade.dev/palisade/internal/testutil"
)

// TestLabRuleExpiry: a rule tagged palisade:expires-at with the plain aws
// CLI admits the office until its time, then new connections time out
// while an established one lives on, describe-security-group-rules no
// longer lists it, and serve's log names it. A second rule's expiry passes
// while serve is killed: the kernel stops admitting on time by itself, and
// the restarted serve revokes the rule on start.
func TestLabRuleExpiry(t *testing.T) {
	testutil.RequireCommand(t, awsCLI)
	l := startLab(t)
	v := newVPC(t, l.ec2, false)
	g := newGroup(t, l.ec2, v.ID)
	i := launch(t, l.ec2, v, g)
	a := l.addHost(t, "us-east-1", v.ID, officeIP, "")
	b := l.addHost(t, "us-east-1", v.ID, strangerIP, "")
	waitNS(t, i.ID, a, b)
	serveTCP(t, i.ID, 22)
	ssh := port(i.IP, 22)
	env := profileEnv(t, l.dir)
	allowFor := func(d time.Duration) (string, time.Time) {
		t.Helper()
		at := time.Now().Add(d).Truncate(time.Second)
		stdout, stderr, code := run(t, env, awsCLI, "--endpoint-url="+l.endpoint, "ec2", "authorize-security-group-ingress",
			"--group-id", g, "--protocol", "tcp", "--port", "22", "--cidr", officeIP+"/32",
			"--tag-specifications", "ResourceType=security-group-rule,Tags=[{Key=palisade:expires-at,Value="+at.UTC().Format(time.RFC3339)+"}]",
			"--query", "SecurityGroupRules[0].SecurityGroupRuleId", "--output", "text")
		if code != 0 {
			t.Fatalf("authorize with an expiry: exit %d\n%s", code, stderr)
		}
		return strings.TrimSpace(stdout), at
	}
	listed := func(c *ec2.Client, rule string) bool {
		out, err := c.DescribeSecurityGroupRules(t.Context(), &ec2.DescribeSecurityGroupRulesInput{
			Filters: []types.Filter{{Name: aws.String("group-id"), Values: []string{g}}}})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range out.SecurityGroupRules {
			if aws.ToString(r.SecurityGroupRuleId) == rule {
				return true
			}
		}
		return false
	}

	// withdraw revokes a rule whose expiry came too close to be tested: a
	// rule that expired first has gone by itself.
	withdraw := func(rule string) {
		t.Helper()
		_, err := l.ec2.RevokeSecurityGroupIngress(t.Context(), &ec2.RevokeSecurityGroupIngressInput{
			GroupId: aws.String(g), SecurityGroupRuleIds: []string{rule}})
		if err != nil && !isCode(err, "InvalidSecurityGroupRuleId.NotFound") {
			t.Fatalf("revoke %s: %v", rule, err)
		}
	}
	// admitted knocks from the office until it gets in, while more than
	// margin is left before at.
	admitted := func(at time.Time, margin time.Duration) bool {
		for time.Until(at) > margin {
			if knock(a, ssh, connected) == connected {
				return true
			}
			time.Sleep(retryEvery)
		}
		return false
	}
	// On a slow machine the aws CLI, the lab and the probes can take most
	// of an 8 s expiry: then the rule is withdrawn and authorized again
	// with twice the time, so that the test checks the expiry rather than
	// a rule that expired before it was seen to apply.
	const mostExpiry = 64 * time.Second
	tooLate := func(rule string, d time.Duration) {
		t.Helper()
		if d >= mostExpiry {
			t.Fatalf("the office did not get in by 1-2 s before the expiry of %s, authorized %v ahead", rule, d)
		}
		t.Logf("the office did not get in by 1-2 s before the expiry of %s, authorized %v ahead: again with %v", rule, d, 2*d)
		withdraw(rule)
	}

	var rule string
	var at time.Time
	var session *labtest.Conn
	for d := 8 * time.Second; ; d *= 2 {
		rule, at = allowFor(d)
		if admitted(at, time.Second) {
			expectTCP(t, b, ssh, timedOut)
			var err error
			if session, err = labtest.Dial(a, ssh, okWait); err != nil {
				t.Fatal(err)
			}
			if time.Until(at) >= time.Second {
				break
			}
			session.Close()
		}
		tooLate(rule, d)
	}
	defer session.Close()
	time.Sleep(time.Until(at) + time.Second) // "within 1 s"
	if listed(l.ec2, rule) {
		t.Errorf("%s is still listed 1 s after its expiry", rule)
	}
	if n := l.logged("rule expired", "rule="+rule, "group="+g); n != 1 {
		t.Errorf("serve logged the expiry of %s %d times, want 1:\n%s", rule, n, l.log)
	}
	expectTCP(t, a, ssh, timedOut)
	if err := session.RoundTrip(okWait); err != nil {
		t.Errorf("the session established before the expiry: %v", err)
	}

	for d := 8 * time.Second; ; d *= 2 {
		rule, at = allowFor(d)
		if admitted(at, 2*time.Second) {
			break
		}
		tooLate(rule, d)
	}
	l.crash()
	time.Sleep(time.Until(at) + 500*time.Millisecond)
	expectTCP(t, a, ssh, timedOut) // nobody but the kernel is there
	l2 := runLab(t, l.dir)
	deadline := time.Now().Add(5 * time.Second)
	for listed(l2.ec2, rule) && time.Now().Before(deadline) {
		time.Sleep(retryEvery)
	}
	if listed(l2.ec2, rule) {
		t.Errorf("the restarted serve did not revoke %s, expired while it was down", rule)
	}
	if n := l2.logged("rule expired", "rule="+rule); n != 1 {
		t.Errorf("the restarted serve logged the expiry of %s %d times, want 1", rule, n)
	}
	expectTCP(t, a, ssh, timedOut)
	expectTCP(t, b, ssh, timedOut)
	l2.stop()
}
