package e2e

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"palisade.dev/palisade/internal/testutil"
)

// awsCLI is the Debian awscli v2, at the path the package installs it to:
// the aws first on PATH may be an older v1.
const awsCLI = "/usr/bin/aws"

// cli runs the aws CLI against s with the admin profile serve wrote, and
// returns stdout, stderr and the exit code.
func cli(t *testing.T, s *server, args ...string) (string, string, int) {
	t.Helper()
	testutil.RequireCommand(t, awsCLI)
	return run(t, profileEnv(t, s.dir), awsCLI, append([]string{"--endpoint-url", s.endpoint, "--output", "json"}, args...)...)
}

// cliJSON runs the aws CLI, requires success, and decodes its JSON output.
func cliJSON(t *testing.T, s *server, out any, args ...string) {
	t.Helper()
	stdout, stderr, code := cli(t, s, args...)
	if code != 0 {
		t.Fatalf("aws %s: exit %d\n%s", strings.Join(args, " "), code, stderr)
	}
	if err := json.Unmarshal([]byte(stdout), out); err != nil {
		t.Fatalf("aws %s: %v\n%s", strings.Join(args, " "), err, stdout)
	}
}

type cliGroup struct {
	GroupId, GroupName, Description, VpcId, OwnerId string
	IpPermissions                                   []cliPermission
	IpPermissionsEgress                             []cliPermission
}

type cliPermission struct {
	IpProtocol       string
	FromPort, ToPort *int
	IpRanges         []struct{ CidrIp, Description string }
	UserIdGroupPairs []struct{ GroupId, UserId string }
}

func TestAWSCLI(t *testing.T) {
	testutil.RequireCommand(t, awsCLI)
	t.Parallel()
	s := startServer(t, t.TempDir())

	var id struct{ Account, Arn, UserId string }
	cliJSON(t, s, &id, "sts", "get-caller-identity")
	account := s.account(s.adminKey())
	if id.Account != account || id.UserId != account || id.Arn != "arn:aws:iam::"+account+":root" {
		t.Fatalf("get-caller-identity: %+v, want account %s", id, account)
	}

	var groups struct{ SecurityGroups []cliGroup }
	cliJSON(t, s, &groups, "ec2", "describe-security-groups")
	if len(groups.SecurityGroups) != 1 || groups.SecurityGroups[0].GroupName != "default" ||
		groups.SecurityGroups[0].OwnerId != account {
		t.Fatalf("a new account should have exactly its default group: %+v", groups)
	}

	var created struct{ GroupId string }
	cliJSON(t, s, &created, "ec2", "create-security-group", "--group-name", "web", "--description", "web tier")
	if !strings.HasPrefix(created.GroupId, "sg-") {
		t.Fatalf("create-security-group: %+v", created)
	}
	authorize := []string{"ec2", "authorize-security-group-ingress", "--group-id", created.GroupId,
		"--protocol", "tcp", "--port", "22", "--cidr", "203.0.113.5/32"}
	var authorized struct {
		Return             bool
		SecurityGroupRules []struct{ SecurityGroupRuleId, CidrIpv4 string }
	}
	cliJSON(t, s, &authorized, authorize...)
	if !authorized.Return || len(authorized.SecurityGroupRules) != 1 ||
		authorized.SecurityGroupRules[0].CidrIpv4 != "203.0.113.5/32" ||
		!strings.HasPrefix(authorized.SecurityGroupRules[0].SecurityGroupRuleId, "sgr-") {
		t.Fatalf("authorize: %+v", authorized)
	}

	cliJSON(t, s, &groups, "ec2", "describe-security-groups", "--group-ids", created.GroupId)
	if len(groups.SecurityGroups) != 1 {
		t.Fatalf("describe --group-ids: %+v", groups)
	}
	g := groups.SecurityGroups[0]
	if g.GroupId != created.GroupId || g.GroupName != "web" || g.Description != "web tier" || len(g.IpPermissions) != 1 {
		t.Fatalf("described %+v", g)
	}
	p := g.IpPermissions[0]
	if p.IpProtocol != "tcp" || p.FromPort == nil || *p.FromPort != 22 || *p.ToPort != 22 ||
		len(p.IpRanges) != 1 || p.IpRanges[0].CidrIp != "203.0.113.5/32" {
		t.Fatalf("ingress %+v", p)
	}
	if len(g.IpPermissionsEgress) != 1 || g.IpPermissionsEgress[0].IpProtocol != "-1" {
		t.Fatalf("a new group allows all egress: %+v", g.IpPermissionsEgress)
	}

	// The same rule again: the aws CLI's service-error exit code and AWS's
	// error code.
	_, stderr, code := cli(t, s, authorize...)
	if code != 254 || !strings.Contains(stderr, "InvalidPermission.Duplicate") ||
		!strings.Contains(stderr, "when calling the AuthorizeSecurityGroupIngress operation") {
		t.Fatalf("duplicate authorize: exit %d\n%s", code, stderr)
	}

	// Without a signature there is nothing to see.
	resp, err := http.PostForm(s.endpoint, url.Values{"Action": {"DescribeSecurityGroups"}, "Version": {"2016-11-15"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode < 400 || resp.StatusCode >= 500 {
		t.Fatalf("unsigned request: HTTP %d", resp.StatusCode)
	}
	s.stop()
}
