package e2e

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
	"time"

	"palisade.dev/palisade/internal/testutil"
)

// TestLabREADMEWalkthrough follows README.md's "The lab: see a security
// group work" with the same commands: the aws CLI, palisade lab host add,
// and netcat in the namespaces through ip netns exec. Only the server's
// address (a free port) and the host names (namespace names are unique on
// the machine, so they get a random suffix) differ. The agent applies
// asynchronously where a reader types slowly, so the first command of each
// step is retried until it shows what the README says.
func TestLabREADMEWalkthrough(t *testing.T) {
	testutil.RequireCommand(t, awsCLI)
	testutil.RequireCommand(t, "nc")
	testutil.RequireCommand(t, "nft")
	l := startLab(t)
	aws, pal := readmeShell(t, l)
	office, stranger := uniqueName("office"), uniqueName("stranger")

	sg := aws("ec2", "create-security-group", "--group-name", "ssh", "--description", "SSH from the office", "--query", "GroupId", "--output", "text")
	aws("ec2", "authorize-security-group-ingress", "--group-id", sg, "--protocol", "tcp", "--port", "22", "--cidr", "203.0.113.5/32")
	i := aws("ec2", "run-instances", "--image-id", "lab", "--security-group-ids", sg, "--query", "Instances[0].InstanceId", "--output", "text")
	aws("ec2", "wait", "instance-running", "--instance-ids", i)
	ip := aws("ec2", "describe-instances", "--instance-ids", i, "--query", "Reservations[0].Instances[0].PrivateIpAddress", "--output", "text")
	vpc := aws("ec2", "describe-instances", "--instance-ids", i, "--query", "Reservations[0].Instances[0].VpcId", "--output", "text")
	officeNS := hostNamespace(t, pal("lab", "host", "add", office, "--vpc", vpc, "--ip", "203.0.113.5"))
	strangerNS := hostNamespace(t, pal("lab", "host", "add", stranger, "--vpc", vpc, "--ip", "198.51.100.7"))
	acct := aws("sts", "get-caller-identity", "--query", "Account", "--output", "text")
	if officeNS != office+"."+acct || strangerNS != stranger+"."+acct {
		t.Fatalf("namespaces %s and %s, want <name>.%s", officeNS, strangerNS, acct)
	}

	waitNS(t, i, officeNS, strangerNS)
	listener := exec.Command("ip", "netns", "exec", i, "nc", "-l", "-k", "22")
	if err := listener.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { listener.Process.Kill(); listener.Wait() })
	knock := func(ns, port string) string {
		_, stderr, _ := run(t, baseEnv(t), "ip", "netns", "exec", ns, "nc", "-vz", "-w", "3", ip, port)
		return strings.TrimSpace(stderr)
	}
	says := func(ns, port, want string) {
		t.Helper()
		if got := knock(ns, port); !strings.Contains(got, want) {
			t.Errorf("nc -vz -w 3 %s %s from %s: %q, want %q", ip, port, ns, got, want)
		}
	}
	eventually(t, "nc from the office to port 22", "succeeded", func() string {
		if strings.Contains(knock(officeNS, "22"), "succeeded") {
			return "succeeded"
		}
		time.Sleep(200 * time.Millisecond) // nc -l may not listen yet
		return "not yet"
	})
	says(strangerNS, "22", "timed out")
	says(officeNS, "23", "timed out")
	// "Why is it blocked? palisade explain"
	if out := pal("explain", "--from", "198.51.100.7", "--to", i, "--port", "22"); !strings.Contains(out, "BLOCKED: the user sees timeout") ||
		!strings.Contains(out, "(lab host "+stranger+", outside)") || !strings.Contains(out, "no inbound rule of "+sg+" matches tcp/22 from 198.51.100.7") {
		t.Errorf("palisade explain --from 198.51.100.7 --to %s --port 22:\n%s", i, out)
	}

	aws("ec2", "authorize-security-group-ingress", "--group-id", sg, "--protocol", "tcp", "--port", "23", "--cidr", "203.0.113.0/24")
	eventually(t, "nc from the office to port 23", "Connection refused", func() string {
		got := knock(officeNS, "23")
		if strings.Contains(got, "Connection refused") {
			return "Connection refused"
		}
		return got
	})

	// The rules live in the VPC's router, not in the instance.
	if out, err := exec.Command("ip", "netns", "exec", i, "nft", "list", "ruleset").CombinedOutput(); err != nil || strings.TrimSpace(string(out)) != "" {
		t.Errorf("nft list ruleset in the instance: %v\n%s", err, out)
	}
	out, err := exec.Command("ip", "netns", "exec", "palisade-"+vpc, "nft", "list", "table", "inet", "palisade").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "203.0.113.5") || !strings.Contains(string(out), "203.0.113.0/24") {
		t.Errorf("nft list table inet palisade in the router: %v\n%s", err, out)
	}

	var ls struct{ LabHosts []labHost }
	if err := json.Unmarshal([]byte(pal("lab", "host", "ls", "--output", "json")), &ls); err != nil {
		t.Fatal(err)
	}
	// By default a table: a row per host.
	table := pal("lab", "host", "ls")
	for _, name := range []string{officeNS, strangerNS} {
		if !strings.Contains(table, name) || !strings.Contains(table, "|") || strings.Contains(table, "{") {
			t.Errorf("palisade lab host ls prints no table row of %s:\n%s", name, table)
		}
	}
	want := []labHost{{office, officeNS, vpc, "203.0.113.5"}, {stranger, strangerNS, vpc, "198.51.100.7"}}
	if len(ls.LabHosts) != 2 || ls.LabHosts[0] != want[0] || ls.LabHosts[1] != want[1] {
		t.Errorf("palisade lab host ls: %+v, want %+v", ls.LabHosts, want)
	}
	pal("lab", "host", "rm", stranger)
	waitNSGone(t, strangerNS)
	l.stop()
}

// labHost is a lab host as `palisade lab host ls` prints it.
type labHost struct {
	Name, Namespace, VpcId, Ipv4Address string
}

// TestLabREADMESSHForOneHour follows README.md's "SSH for one hour" with
// its commands, on the lab of the walkthrough before it, with seconds for
// the hour (enough of them for a loaded machine, where one aws CLI command
// can take five, so the rules that it authorizes or tags expire 15 or 20 s
// later): palisade allow --my-ip and --cidr, then the aws CLI's tag
// when authorizing, create-tags and describe-security-group-rules. The
// stranger gets in, and times out once the rule has expired.
func TestLabREADMESSHForOneHour(t *testing.T) {
	testutil.RequireCommand(t, awsCLI)
	testutil.RequireCommand(t, "nc")
	l := startLab(t)
	aws, pal := readmeShell(t, l)
	sg := aws("ec2", "create-security-group", "--group-name", "ssh", "--description", "SSH from the office", "--query", "GroupId", "--output", "text")
	i := aws("ec2", "run-instances", "--image-id", "lab", "--security-group-ids", sg, "--query", "Instances[0].InstanceId", "--output", "text")
	aws("ec2", "wait", "instance-running", "--instance-ids", i)
	ip := aws("ec2", "describe-instances", "--instance-ids", i, "--query", "Reservations[0].Instances[0].PrivateIpAddress", "--output", "text")
	vpc := aws("ec2", "describe-instances", "--instance-ids", i, "--query", "Reservations[0].Instances[0].VpcId", "--output", "text")
	stranger := hostNamespace(t, pal("lab", "host", "add", uniqueName("stranger"), "--vpc", vpc, "--ip", "198.51.100.7"))
	waitNS(t, i, stranger)
	listener := exec.Command("ip", "netns", "exec", i, "nc", "-l", "-k", "22")
	if err := listener.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { listener.Process.Kill(); listener.Wait() })
	knock := func() string {
		_, stderr, _ := run(t, baseEnv(t), "ip", "netns", "exec", stranger, "nc", "-vz", "-w", "3", ip, "22")
		if s := strings.TrimSpace(stderr); strings.Contains(s, "succeeded") || strings.Contains(s, "timed out") {
			return map[bool]string{true: "succeeded", false: "timed out"}[strings.Contains(s, "succeeded")]
		}
		time.Sleep(200 * time.Millisecond) // nc -l may not listen yet
		return "not yet"
	}
	// waitExpired waits past an expiry (RFC 3339: whole seconds), then
	// checks that the rule is gone and the stranger times out.
	waitExpired := func(rule, expires string) {
		t.Helper()
		at, err := time.Parse(time.RFC3339, expires)
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Until(at) + time.Second)
		if got := knock(); got != "timed out" {
			t.Errorf("nc -vz -w 3 %s 22 from the stranger after %s expired: %s", ip, rule, got)
		}
		if out := aws("ec2", "describe-security-group-rules", "--filters", "Name=tag-key,Values=palisade:expires-at", "--query", "SecurityGroupRules[].SecurityGroupRuleId", "--output", "text"); strings.Contains(out, rule) {
			t.Errorf("%s still listed after its expiry: %s", rule, out)
		}
		if l.logged("rule expired", "rule="+rule, "group="+sg, "expires_at="+expires) != 1 {
			t.Errorf("serve's log does not name %s once:\n%s", rule, l.log)
		}
	}

	var mine allowedRule
	if err := json.Unmarshal([]byte(pal("allow", "--group-id", sg, "--protocol", "tcp", "--port", "22", "--my-ip", "--for", "10s")), &mine); err != nil {
		t.Fatal(err)
	}
	if mine.CIDR != "127.0.0.1/32" || !strings.HasPrefix(mine.RuleID, "sgr-") || mine.ExpiresAt == "" {
		t.Errorf("palisade allow --my-ip: %+v, want a rule for 127.0.0.1/32 with an expiry", mine)
	}
	var theirs allowedRule
	if err := json.Unmarshal([]byte(pal("allow", "--group-id", sg, "--protocol", "tcp", "--port", "22", "--cidr", "198.51.100.7/32", "--for", "10s")), &theirs); err != nil {
		t.Fatal(err)
	}
	eventually(t, "nc from the stranger to port 22", "succeeded", knock)
	waitExpired(theirs.RuleID, theirs.ExpiresAt)
	waitExpired(mine.RuleID, mine.ExpiresAt)

	until := strings.TrimSpace(mustRun(t, "date", "-u", "-d", "+15 seconds", "+%Y-%m-%dT%H:%M:%SZ"))
	rule := aws("ec2", "authorize-security-group-ingress", "--group-id", sg, "--protocol", "tcp", "--port", "22", "--cidr", "198.51.100.0/24",
		"--tag-specifications", "ResourceType=security-group-rule,Tags=[{Key=palisade:expires-at,Value="+until+"}]",
		"--query", "SecurityGroupRules[0].SecurityGroupRuleId", "--output", "text")
	eventually(t, "nc from the stranger to port 22", "succeeded", knock)
	waitExpired(rule, until)

	rule = aws("ec2", "authorize-security-group-ingress", "--group-id", sg, "--protocol", "tcp", "--port", "22", "--cidr", "198.51.100.0/24",
		"--query", "SecurityGroupRules[0].SecurityGroupRuleId", "--output", "text")
	eventually(t, "nc from the stranger to port 22", "succeeded", knock)
	// The 20 s cover the two aws CLI commands and the stranger's connection
	// (the tag made the rule's elements expiring) before the expiry.
	until = strings.TrimSpace(mustRun(t, "date", "-u", "-d", "+20 seconds", "+%Y-%m-%dT%H:%M:%SZ"))
	aws("ec2", "create-tags", "--resources", rule, "--tags", "Key=palisade:expires-at,Value="+until)
	if out := aws("ec2", "describe-security-group-rules", "--filters", "Name=tag-key,Values=palisade:expires-at", "--query", "SecurityGroupRules[].SecurityGroupRuleId", "--output", "text"); out != rule {
		t.Errorf("describe-security-group-rules --filters Name=tag-key,Values=palisade:expires-at: %q, want %s", out, rule)
	}
	eventually(t, "nc from the stranger to port 22", "succeeded", knock)
	waitExpired(rule, until)
	l.stop()
}

// allowedRule is what palisade allow prints.
type allowedRule struct {
	RuleID    string `json:"securityGroupRuleId"`
	CIDR      string `json:"cidr"`
	ExpiresAt string `json:"expiresAt"`
}

func mustRun(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).Output()
	if err != nil {
		t.Fatalf("%s %s: %v", name, strings.Join(args, " "), err)
	}
	return string(out)
}

// readmeShell runs the README's commands against l as the reader's shell
// would (the admin's credentials files, AWS_ENDPOINT_URL so that
// ./palisade finds the server): aws with --endpoint-url, and palisade. Each
// fails the test on a non-zero exit and returns the command's output.
func readmeShell(t *testing.T, l *labServer) (aws, pal func(args ...string) string) {
	env := append(profileEnv(t, l.dir), "AWS_ENDPOINT_URL="+l.endpoint)
	ep := "--endpoint-url=" + l.endpoint
	aws = func(args ...string) string {
		t.Helper()
		stdout, stderr, code := run(t, env, awsCLI, append([]string{ep}, args...)...)
		if code != 0 {
			t.Fatalf("aws %s: exit %d\n%s", strings.Join(args, " "), code, stderr)
		}
		return strings.TrimSpace(stdout)
	}
	pal = func(args ...string) string {
		t.Helper()
		stdout, stderr, code := palisade(t, env, args...)
		if code != 0 {
			t.Fatalf("palisade %s: exit %d\n%s", strings.Join(args, " "), code, stderr)
		}
		return stdout
	}
	return aws, pal
}
