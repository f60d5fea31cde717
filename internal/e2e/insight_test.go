package e2e

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// accountEnv is the environment of a palisade client subcommand signed
// with c, against s.
func accountEnv(t *testing.T, s *server, c aws.Credentials) []string {
	return append(baseEnv(t), "AWS_ACCESS_KEY_ID="+c.AccessKeyID, "AWS_SECRET_ACCESS_KEY="+c.SecretAccessKey,
		"AWS_ENDPOINT_URL="+s.endpoint, "AWS_REGION=us-east-1", "AWS_EC2_METADATA_DISABLED=true")
}

// ruleFor returns the ID of group g's inbound rule from port from cidr.
// The read is retried when the SDK closed the connection under its own
// response: aws-sdk-go-v2 closes the request body as soon as the response
// arrives, and net/http's last read of it (checking that the body ends)
// then fails and tears the connection down (aws/aws-sdk-go-v2#2737, which
// the SDK's standard retryer retries; these tests use none). Describes of
// more than 4 KiB, such as a group of seven rules, hit it a few times in a
// hundred here.
func ruleFor(t *testing.T, c *ec2.Client, g string, port int32, cidr string) string {
	t.Helper()
	var rules []types.SecurityGroupRule
	for attempt := 0; ; attempt++ {
		out, err := c.DescribeSecurityGroupRules(t.Context(), &ec2.DescribeSecurityGroupRulesInput{
			Filters: []types.Filter{{Name: aws.String("group-id"), Values: []string{g}}}, MaxResults: aws.Int32(1000)})
		if errors.Is(err, net.ErrClosed) && attempt < 3 {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		rules = out.SecurityGroupRules
		break
	}
	for _, r := range rules {
		if !aws.ToBool(r.IsEgress) && aws.ToInt32(r.FromPort) == port && aws.ToString(r.CidrIpv4)+aws.ToString(r.CidrIpv6) == cidr {
			return aws.ToString(r.SecurityGroupRuleId)
		}
	}
	t.Fatalf("%s has no inbound rule from port %d from %s", g, port, cidr)
	return ""
}

// explainOut is the part of `palisade explain --output json` the tests read.
type explainOut struct {
	Allowed  bool   `json:"allowed"`
	UserSees string `json:"userSees"`
	Tracked  bool   `json:"tracked"`
	Egress   struct {
		Outside bool `json:"outside"`
		Allowed bool `json:"allowed"`
		Rules   []struct {
			RuleID  string `json:"ruleId"`
			GroupID string `json:"groupId"`
		} `json:"rules"`
		Groups []string `json:"groups"`
	} `json:"egress"`
	Ingress struct {
		Outside bool `json:"outside"`
		Allowed bool `json:"allowed"`
		Rules   []struct {
			RuleID  string `json:"ruleId"`
			GroupID string `json:"groupId"`
		} `json:"rules"`
		Groups []string `json:"groups"`
	} `json:"ingress"`
}

func TestExplain(t *testing.T) {
	t.Parallel()
	s := startServer(t, t.TempDir())
	bob := newAccount(t, s)
	c := s.ec2(bob)
	env := accountEnv(t, s, bob)
	explain := func(args ...string) (explainOut, string, int) {
		t.Helper()
		stdout, stderr, code := palisade(t, env, append([]string{"explain", "--output", "json"}, args...)...)
		var out explainOut
		if code == 0 {
			if err := json.Unmarshal([]byte(stdout), &out); err != nil {
				t.Fatalf("explain %v: %v\n%s", args, err, stdout)
			}
		}
		return out, stderr, code
	}

	v := newVPC(t, c, false)
	web := newGroup(t, c, v.ID, tcp(22, "203.0.113.0/24"))
	sshRule := ruleFor(t, c, web, 22, "203.0.113.0/24")
	closed := newGroup(t, c, v.ID)
	revokeEgress(t, c, closed, allTraffic("0.0.0.0/0"))
	server := launch(t, c, v, web)
	client := launch(t, c, v, closed)

	// From outside, allowed: the ingress rule that allows it, and its group.
	e, stderr, code := explain("--from", "203.0.113.9", "--to", server.ID, "--port", "22")
	if code != 0 {
		t.Fatalf("explain: exit %d\n%s", code, stderr)
	}
	if !e.Allowed || !e.Egress.Outside || !e.Ingress.Allowed || len(e.Ingress.Rules) != 1 ||
		e.Ingress.Rules[0].RuleID != sshRule || e.Ingress.Rules[0].GroupID != web || e.UserSees != "connected or refused" {
		t.Fatalf("203.0.113.9 → %s tcp/22: %+v (want %s of %s)", server.ID, e, sshRule, web)
	}

	// From another address: blocked, with the group evaluated; still exit 0.
	e, _, code = explain("--from", "198.51.100.7", "--to", server.IP.String(), "--port", "22")
	if code != 0 || e.Allowed || e.Ingress.Allowed || len(e.Ingress.Rules) != 0 ||
		!slices.Equal(e.Ingress.Groups, []string{web}) || e.UserSees != "timeout" {
		t.Fatalf("198.51.100.7 → tcp/22: exit %d, %+v", code, e)
	}

	// Between two instances both sides are evaluated: the client's group
	// has no egress, the server's ingress does not allow the client either.
	e, _, code = explain("--from", client.ENI, "--to", server.ID, "--port", "22")
	if code != 0 || e.Allowed || e.Egress.Outside || e.Egress.Allowed || !slices.Equal(e.Egress.Groups, []string{closed}) ||
		e.Ingress.Allowed || !slices.Equal(e.Ingress.Groups, []string{web}) {
		t.Fatalf("client → server: exit %d, %+v", code, e)
	}

	// The table for people says it plainly.
	stdout, _, code := palisade(t, env, "explain", "--from", "198.51.100.7", "--to", server.ID, "--port", "22")
	if code != 0 || !strings.Contains(stdout, "BLOCKED: the user sees timeout") || !strings.Contains(stdout, web) {
		t.Fatalf("table: exit %d\n%s", code, stdout)
	}

	// Bad input: exit 2 with AWS's error.
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--from", "1.2.3.4", "--to", "i-0123456789abcdef0", "--port", "22"}, "InvalidInstanceID.NotFound: The instance ID 'i-0123456789abcdef0' does not exist"},
		{[]string{"--from", "nowhere", "--to", server.ID, "--port", "22"}, "InvalidParameterValue"},
		{[]string{"--from", "1.2.3.4", "--to", server.ID}, "MissingParameter"},
		{[]string{"--from", "1.2.3.4", "--to", "5.6.7.8", "--port", "22"}, "InvalidParameterValue"},
		{[]string{"--from", "1.2.3.4", "--to", server.ID, "--port", "22", "--protocol", "icmpv6"}, "InvalidParameterCombination"},
		{[]string{"--from", "1.2.3.4", "--to", server.ID, "--port", "x"}, "invalid argument"},
	} {
		_, stderr, code := explain(c.args...)
		if code != 2 || !strings.Contains(stderr, c.want) {
			t.Errorf("explain %v: exit %d, %q; want 2 and %q", c.args, code, stderr, c.want)
		}
	}

	// Every VPC here has the same CIDR: an address is looked up in the other
	// end's VPC, and an address alone must name one interface.
	v2 := newVPC(t, c, false)
	twin := launch(t, c, v2, newGroup(t, c, v2.ID))
	if twin.IP != server.IP && twin.IP != client.IP {
		t.Fatalf("the twin VPC's instance got %s, neither %s nor %s", twin.IP, server.IP, client.IP)
	}
	e, _, code = explain("--from", client.ID, "--to", server.IP.String(), "--port", "22")
	if code != 0 || e.Ingress.Outside || !slices.Equal(e.Ingress.Groups, []string{web}) {
		t.Fatalf("client → %s (the server in the client's VPC): exit %d, %+v", server.IP, code, e)
	}
	for _, args := range [][]string{
		{"--from", "1.2.3.4", "--to", twin.IP.String(), "--port", "22"},
		{"--from", client.ID, "--to", twin.ID, "--port", "22"},
	} {
		if _, stderr, code := explain(args...); code != 2 || !strings.Contains(stderr, "VPCs") {
			t.Errorf("explain %v: exit %d, %s; want 2 and a word on VPCs", args, code, stderr)
		}
	}

	// Another account's instance does not exist for bob.
	other := launch(t, s.ec2(s.adminKey()), newVPC(t, s.ec2(s.adminKey()), false))
	if _, stderr, code := explain("--from", "1.2.3.4", "--to", other.ID, "--port", "22"); code != 2 || !strings.Contains(stderr, "InvalidInstanceID.NotFound") {
		t.Errorf("another account's instance: exit %d, %s", code, stderr)
	}
}

// auditOut is `palisade audit --output json`.
type auditOut struct {
	Findings []struct {
		Control, Severity, GroupID, RuleID, Message string
	} `json:"findings"`
}

func (a auditOut) keys() []string {
	var out []string
	for _, f := range a.Findings {
		out = append(out, fmt.Sprintf("%s %s %s %s", f.Control, f.Severity, f.GroupID, f.RuleID))
	}
	slices.Sort(out)
	return out
}

func TestAudit(t *testing.T) {
	t.Parallel()
	s := startServer(t, t.TempDir())
	bob := newAccount(t, s)
	c := s.ec2(bob)
	env := accountEnv(t, s, bob)
	audit := func(args ...string) (auditOut, int) {
		t.Helper()
		stdout, stderr, code := palisade(t, env, append([]string{"audit", "--output", "json"}, args...)...)
		var out auditOut
		if err := json.Unmarshal([]byte(stdout), &out); err != nil {
			t.Fatalf("audit %v: exit %d, %v\n%s%s", args, code, err, stdout, stderr)
		}
		return out, code
	}

	// A clean account: only AWS's own EC2.2 for the default VPC's default group.
	groups, err := c.DescribeSecurityGroups(t.Context(), &ec2.DescribeSecurityGroupsInput{})
	if err != nil || len(groups.SecurityGroups) != 1 {
		t.Fatalf("a new account's groups: %v %v", groups, err)
	}
	def := aws.ToString(groups.SecurityGroups[0].GroupId)
	got, code := audit()
	if want := []string{"EC2.2 HIGH " + def + " "}; code != 0 || !slices.Equal(got.keys(), want) {
		t.Fatalf("clean account: exit %d, %v; want %v", code, got.keys(), want)
	}
	if _, code := audit("--fail-on", "high"); code != 1 {
		t.Fatalf("--fail-on high with an EC2.2 finding: exit %d", code)
	}

	// Seed one risky or useless rule per control.
	v := newVPC(t, c, true)
	vdef := defaultGroupOf(t, c, v.ID)
	open := newGroup(t, c, v.ID, tcp(22, "0.0.0.0/0"), tcp(3389, "::/0"), tcp(443, "0.0.0.0/0"),
		tcp(8443, "0.0.0.0/0"), perm("tcp", 5000, 5100, "10.0.0.0/8"), tcp(5001, "10.1.0.0/16"))
	ids := []string{ruleFor(t, c, open, 22, "0.0.0.0/0"), ruleFor(t, c, open, 3389, "::/0"), ruleFor(t, c, open, 443, "0.0.0.0/0"),
		ruleFor(t, c, open, 8443, "0.0.0.0/0"), ruleFor(t, c, open, 5000, "10.0.0.0/8"), ruleFor(t, c, open, 5001, "10.1.0.0/16")}
	narrowDB := newGroup(t, c, v.ID, tcp(5432, "10.0.1.0/24"))
	wideDB := newGroup(t, c, v.ID, perm("tcp", 5400, 5500, "10.0.0.0/16"))
	unused := newGroup(t, c, v.ID)
	var many []types.IpPermission
	for i := range 51 {
		many = append(many, tcp(7000, fmt.Sprintf("192.0.2.%d/32", i)))
	}
	big := newGroup(t, c, v.ID, many...)
	launch(t, c, v, open, big)
	launch(t, c, v, narrowDB, wideDB)
	dbRule := ruleFor(t, c, narrowDB, 5432, "10.0.1.0/24")
	want := []string{
		"EC2.2 HIGH " + def + " ",
		"EC2.2 HIGH " + vdef + " ",
		"EC2.13 HIGH " + open + " " + ids[0],
		"EC2.14 HIGH " + open + " " + ids[1],
		"EC2.18 HIGH " + open + " " + ids[0],
		"EC2.18 HIGH " + open + " " + ids[1],
		"EC2.18 HIGH " + open + " " + ids[3],
		"EC2.19 CRITICAL " + open + " " + ids[0],
		"EC2.19 CRITICAL " + open + " " + ids[1],
		"EC2.22 MEDIUM " + unused + " ",
		"PAL.1 LOW " + open + " " + ids[5],
		"PAL.2 LOW " + narrowDB + " " + dbRule,
		"PAL.3 LOW " + big + " ",
	}
	slices.Sort(want)
	got, code = audit()
	if code != 1 || !slices.Equal(got.keys(), want) {
		t.Fatalf("seeded account: exit %d\n got %s\nwant %s", code, strings.Join(got.keys(), "\n     "), strings.Join(want, "\n     "))
	}
	if f := got.Findings[0]; f.Control != "EC2.19" || !strings.Contains(f.Message, "opens high-risk ports to the world") {
		t.Errorf("most severe first: %+v", got.Findings[0])
	}

	// Authorizing 8443 removes its EC2.18 finding; a bad list is exit 2.
	got, _ = audit("--authorized-ports", "80,443,8443")
	if slices.Contains(got.keys(), "EC2.18 HIGH "+open+" "+ids[3]) {
		t.Errorf("8443 authorized, still: %v", got.keys())
	}
	for _, args := range [][]string{{"--authorized-ports", "80,x"}, {"--fail-on", "severe"}} {
		if _, stderr, code := palisade(t, env, append([]string{"audit"}, args...)...); code != 2 {
			t.Errorf("audit %v: exit %d, want 2\n%s", args, code, stderr)
		}
	}

	// The table for people.
	stdout, _, code := palisade(t, env, "audit")
	if code != 1 || !strings.Contains(stdout, "EC2.19") || !strings.Contains(stdout, "CRITICAL") {
		t.Errorf("table: exit %d\n%s", code, stdout)
	}
}

func defaultGroupOf(t *testing.T, c *ec2.Client, vpc string) string {
	t.Helper()
	out, err := c.DescribeSecurityGroups(t.Context(), &ec2.DescribeSecurityGroupsInput{Filters: []types.Filter{
		{Name: aws.String("vpc-id"), Values: []string{vpc}}, {Name: aws.String("group-name"), Values: []string{"default"}}}})
	if err != nil || len(out.SecurityGroups) != 1 {
		t.Fatalf("default group of %s: %v %v", vpc, out, err)
	}
	return aws.ToString(out.SecurityGroups[0].GroupId)
}
