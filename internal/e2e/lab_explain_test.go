package e2e

import (
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"testing"
)

// probeOut is the part of `palisade explain --probe --output json` the test reads.
type probeOut struct {
	Allowed bool `json:"allowed"`
	Probe   *struct {
		Kernel string `json:"kernel"`
		Agrees bool   `json:"agrees"`
	} `json:"probe"`
}

// TestLabExplainProbe: explain --probe sends a real first packet through
// the lab and reports what the kernel did beside the policy's verdict, in
// both directions and for several protocols; when the kernel does not do
// what the policy says (here: a table of someone else's that drops
// everything in the router), it says so loudly and exits 3.
func TestLabExplainProbe(t *testing.T) {
	l := startLab(t)
	v := newVPC(t, l.ec2, false)
	g := newGroup(t, l.ec2, v.ID, tcp(22, officeIP+"/32"), udp(53, officeIP+"/32"))
	i := launch(t, l.ec2, v, g)
	host := l.addHost(t, "us-east-1", v.ID, officeIP, "")
	waitNS(t, i.ID, host)
	env := profileEnv(t, l.dir)
	explain := func(args ...string) (probeOut, string, int) {
		t.Helper()
		args = append([]string{"explain", "--probe", "--output", "json", "--endpoint-url", l.endpoint}, args...)
		stdout, stderr, code := palisade(t, env, args...)
		var out probeOut
		if code != 2 {
			if err := json.Unmarshal([]byte(stdout), &out); err != nil || out.Probe == nil {
				t.Fatalf("explain %v: exit %d, %v\n%s%s", args, code, err, stdout, stderr)
			}
		}
		return out, stderr, code
	}
	for _, c := range []struct {
		from, to, port, proto string
		allowed               bool
	}{
		{officeIP, i.ID, "22", "tcp", true},
		{officeIP, i.ID, "23", "tcp", false},
		{officeIP, i.ID, "53", "udp", true},
		{officeIP, i.ID, "8", "icmp", false},
		{i.ID, officeIP, "443", "tcp", true}, // the default egress
	} {
		name := fmt.Sprintf("%s %s/%s → %s", c.from, c.proto, c.port, c.to)
		eventually(t, name, fmt.Sprintf("policy %v, kernel agrees", c.allowed), func() string {
			out, stderr, code := explain("--from", c.from, "--to", c.to, "--port", c.port, "--protocol", c.proto)
			if code != 0 && code != 3 {
				t.Fatalf("%s: exit %d\n%s", name, code, stderr)
			}
			if out.Probe.Agrees != (code == 0) {
				t.Fatalf("%s: exit %d with agrees %v", name, code, out.Probe.Agrees)
			}
			return fmt.Sprintf("policy %v, kernel %s", out.Allowed, map[bool]string{true: "agrees", false: "disagrees"}[out.Probe.Agrees])
		})
	}

	// A table of someone else's in the router drops everything: the policy
	// still allows SSH from the office, the kernel does not.
	router := "palisade-" + v.ID
	tamper := "table inet explaintest {\n chain f {\n  type filter hook forward priority -10; policy drop;\n }\n}\n"
	cmd := exec.Command("ip", "netns", "exec", router, "nft", "-f", "-")
	cmd.Stdin = strings.NewReader(tamper)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("nft in %s: %v\n%s", router, err, out)
	}
	args := []string{"explain", "--probe", "--endpoint-url", l.endpoint, "--from", officeIP, "--to", i.ID, "--port", "22"}
	stdout, stderr, code := palisade(t, env, args...)
	if code != 3 || !strings.Contains(stdout, "DISAGREEMENT") || !strings.Contains(stderr, "DISAGREEMENT") {
		t.Fatalf("with a table dropping everything: exit %d\n%s%s", code, stdout, stderr)
	}
	t.Logf("%s", stdout)

	// Probing needs both ends in the lab.
	if _, stderr, code := explain("--from", "192.0.2.1", "--to", i.ID, "--port", "22"); code != 2 || !strings.Contains(stderr, "neither an instance nor a lab host") {
		t.Errorf("probe from an address outside the lab: exit %d, %s", code, stderr)
	}
}
