package e2e

import (
	"bufio"
	"compress/gzip"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"palisade.dev/palisade/internal/testutil"
)

// startLabArgs is startLab with more flags for serve.
func startLabArgs(t *testing.T, args ...string) *labServer {
	t.Helper()
	testutil.RequireRoot(t)
	testutil.RequireCommand(t, "ip")
	requireNoOtherLab(t)
	dir := t.TempDir()
	t.Cleanup(func() { labDown(t) })
	s := startServer(t, dir, append([]string{"--dataplane", "lab"}, args...)...)
	t.Cleanup(func() { s.terminate(t) })
	return &labServer{server: s, ec2: s.ec2In(s.adminKey(), "us-east-1")}
}

// flowOut is one record of `palisade flows --output json`.
type flowOut struct {
	InterfaceID string   `json:"interfaceId"`
	SrcAddr     string   `json:"srcAddr"`
	DstAddr     string   `json:"dstAddr"`
	DstPort     int      `json:"dstPort"`
	Packets     int      `json:"packets"`
	Action      string   `json:"action"`
	RuleIDs     []string `json:"securityGroupRuleIds"`
	RejectSide  string   `json:"rejectSide"`
}

// TestLabFlowLogsNameTheRule: with a flow log on an instance's interface,
// an allowed connection appears in `palisade flows` and in the S3-layout
// .log.gz files as ACCEPT with the rule that allowed it, and blocked ones
// as REJECT with the side that dropped them; the hit counters of the rule
// count the connection.
func TestLabFlowLogsNameTheRule(t *testing.T) {
	l := startLabArgs(t, "--hit-counters", "--flow-window", "2s")
	v := newVPC(t, l.ec2, false)
	g := newGroup(t, l.ec2, v.ID, tcp(22, officeIP+"/32"), tcp(2222, officeIP+"/32"))
	revokeEgress(t, l.ec2, g, allTraffic("0.0.0.0/0"))
	i := launch(t, l.ec2, v, g)
	a := l.addHost(t, "us-east-1", v.ID, officeIP, "")
	waitNS(t, i.ID, a)
	serveTCP(t, i.ID, 22)
	serveTCP(t, a, 9)
	rule := ruleFor(t, l.ec2, g, 22, officeIP+"/32")
	unused := ruleFor(t, l.ec2, g, 2222, officeIP+"/32")

	format := "${version} ${account-id} ${interface-id} ${srcaddr} ${dstaddr} ${srcport} ${dstport} ${protocol} " +
		"${packets} ${bytes} ${start} ${end} ${action} ${log-status} ${security-group-rule-ids} ${reject-side}"
	var made cliFlowLogs
	cliJSON(t, l.server, &made, "ec2", "create-flow-logs", "--resource-type", "NetworkInterface", "--resource-ids", i.ENI,
		"--traffic-type", "ALL", "--log-destination-type", "s3", "--log-destination", "arn:aws:s3:::lab-flows/team",
		"--log-format", format, "--max-aggregation-interval", "60")
	if len(made.FlowLogIds) != 1 {
		t.Fatalf("create-flow-logs: %+v", made)
	}
	waitObserved(t, "palisade-"+v.ID)
	env := profileEnv(t, l.dir)
	follow := followFlows(t, env, "flows", "--follow", "--output", "json", "--instance", i.ID, "--endpoint-url", l.endpoint)

	eventuallyTCP(t, a, port(i.IP, 22), connected)
	accepted := time.Now()
	expectTCP(t, a, port(i.IP, 23), timedOut)
	expectTCP(t, i.ID, port(office, 9), timedOut)
	sent := time.Now()

	// --follow prints the accepted flow as it comes, as one JSON object a line.
	select {
	case f := <-follow:
		t.Logf("palisade flows --follow printed the accepted flow %v after its connection", time.Since(accepted).Round(10*time.Millisecond))
		if !slices.Contains(f.RuleIDs, rule) {
			t.Errorf("followed record names %v, want %s", f.RuleIDs, rule)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("palisade flows --follow printed no ACCEPT record of tcp 22 within 20 s")
	}

	want := map[string]func(flowOut) bool{
		"ACCEPT tcp 22 with its rule": func(f flowOut) bool {
			return f.Action == "ACCEPT" && f.DstPort == 22 && f.DstAddr == i.IP.String() && slices.Contains(f.RuleIDs, rule)
		},
		"REJECT tcp 23 on ingress": func(f flowOut) bool {
			return f.Action == "REJECT" && f.DstPort == 23 && f.RejectSide == "ingress" && len(f.RuleIDs) == 0
		},
		"REJECT tcp 9 out on egress": func(f flowOut) bool {
			return f.Action == "REJECT" && f.DstPort == 9 && f.DstAddr == officeIP && f.RejectSide == "egress"
		},
	}
	var flows []flowOut
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		stdout, stderr, code := palisade(t, env, "flows", "--instance", i.ID, "--output", "json", "--endpoint-url", l.endpoint)
		var out struct{ Flows []flowOut }
		if code != 0 || json.Unmarshal([]byte(stdout), &out) != nil {
			t.Fatalf("palisade flows: exit %d\n%s%s", code, stdout, stderr)
		}
		flows = out.Flows
		if missing := missingFlows(want, flows); len(missing) == 0 {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("palisade flows lacks %v after 20 s:\n%s", missing, stdout)
		}
	}
	t.Logf("all three flows shown %v after the last was sent", time.Since(sent).Round(10*time.Millisecond))
	for _, f := range flows {
		if f.InterfaceID != i.ENI {
			t.Errorf("palisade flows --instance %s shows another interface's flow: %+v", i.ID, f)
		}
	}

	// The files, in AWS's S3 key layout under the data directory.
	pattern := filepath.Join(l.dir, "flowlogs", "lab-flows", "team", "AWSLogs", "*", "vpcflowlogs", "us-east-1", "*", "*", "*",
		"*_vpcflowlogs_us-east-1_"+made.FlowLogIds[0]+"_*.log.gz")
	wantLines := map[string]func([]string) bool{
		"ACCEPT tcp 22 with its rule": func(f []string) bool { return f[6] == "22" && f[12] == "ACCEPT" && strings.Contains(f[14], rule) },
		"REJECT tcp 23 on ingress":    func(f []string) bool { return f[6] == "23" && f[12] == "REJECT" && f[14] == "-" && f[15] == "ingress" },
		"REJECT tcp 9 out on egress":  func(f []string) bool { return f[6] == "9" && f[12] == "REJECT" && f[15] == "egress" },
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		lines := readFlowFiles(t, pattern, format)
		missing := []string{}
		for name, ok := range wantLines {
			if !slices.ContainsFunc(lines, func(l []string) bool { return len(l) == 16 && l[2] == i.ENI && ok(l) }) {
				missing = append(missing, name)
			}
		}
		if len(missing) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the flow log files (%s) lack %v after 30 s: %q", pattern, missing, lines)
		}
	}

	// The hit counters of the rule counted the connection.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(500 * time.Millisecond) {
		stdout, stderr, code := palisade(t, env, "rules", "--group-id", g, "--output", "json", "--endpoint-url", l.endpoint)
		var out struct {
			Rules []struct {
				RuleID  string `json:"ruleId"`
				Packets int    `json:"packets"`
				Bytes   int    `json:"bytes"`
				LastHit string `json:"lastHit"`
			}
		}
		if code != 0 || json.Unmarshal([]byte(stdout), &out) != nil {
			t.Fatalf("palisade rules: exit %d\n%s%s", code, stdout, stderr)
		}
		i := slices.IndexFunc(out.Rules, func(r struct {
			RuleID  string `json:"ruleId"`
			Packets int    `json:"packets"`
			Bytes   int    `json:"bytes"`
			LastHit string `json:"lastHit"`
		}) bool {
			return r.RuleID == rule
		})
		if i >= 0 && out.Rules[i].Packets > 0 && out.Rules[i].Bytes > 0 && out.Rules[i].LastHit != "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("palisade rules: no hits on %s after 30 s:\n%s", rule, stdout)
		}
	}

	// The audit names the rule that never matched (PAL.4), not the one that did.
	stdout, stderr, code := palisade(t, env, "audit", "--output", "json", "--endpoint-url", l.endpoint)
	var audit struct {
		Findings []struct{ Control, RuleID string }
	}
	if code != 0 || json.Unmarshal([]byte(stdout), &audit) != nil {
		t.Fatalf("palisade audit: exit %d\n%s%s", code, stdout, stderr)
	}
	var pal4 []string
	for _, f := range audit.Findings {
		if f.Control == "PAL.4" {
			pal4 = append(pal4, f.RuleID)
		}
	}
	if !slices.Contains(pal4, unused) || slices.Contains(pal4, rule) {
		t.Errorf("audit PAL.4 names %v; want %s (never hit) and not %s (hit)", pal4, unused, rule)
	}
}

// followFlows runs `palisade args…` (flows --follow --output json) until
// the test ends, and delivers the first ACCEPT record of tcp 22 it prints.
func followFlows(t *testing.T, env []string, args ...string) <-chan flowOut {
	t.Helper()
	cmd := exec.Command(palisadeBin, args...)
	cmd.Env = env
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	got := make(chan flowOut, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			var f flowOut
			if json.Unmarshal(sc.Bytes(), &f) == nil && f.Action == "ACCEPT" && f.DstPort == 22 {
				got <- f
				return
			}
		}
	}()
	return got
}

func missingFlows(want map[string]func(flowOut) bool, flows []flowOut) []string {
	var out []string
	for name, ok := range want {
		if !slices.ContainsFunc(flows, ok) {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

// readFlowFiles reads every flow log file that matches pattern: each must
// start with the header of format's field names.
func readFlowFiles(t *testing.T, pattern, format string) [][]string {
	t.Helper()
	header := strings.NewReplacer("${", "", "}", "").Replace(format)
	paths, err := filepath.Glob(pattern)
	if err != nil {
		t.Fatal(err)
	}
	var out [][]string
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		zr, err := gzip.NewReader(f)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		sc := bufio.NewScanner(zr)
		for n := 0; sc.Scan(); n++ {
			if n == 0 {
				if sc.Text() != header {
					t.Fatalf("%s: header %q, want %q", p, sc.Text(), header)
				}
				continue
			}
			out = append(out, strings.Fields(sc.Text()))
		}
		f.Close()
	}
	return out
}

// waitObserved waits until the router's table has the observation rules
// (the agent applied the flow log).
func waitObserved(t *testing.T, router string) {
	t.Helper()
	for deadline := time.Now().Add(applyWait); ; time.Sleep(retryEvery) {
		out, _ := exec.Command("ip", "netns", "exec", router, "nft", "list", "chain", "inet", "palisade", "fwd_ingress").Output()
		if strings.Contains(string(out), `log prefix "N" group 1`) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: no observation rules within %v of the flow log", router, applyWait)
		}
	}
}
