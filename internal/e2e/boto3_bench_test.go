package e2e

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// BenchmarkCPUPerCallBoto3 is BenchmarkCPUPerCallVersusMoto with boto3 as
// the client, the way the CPU per call was first measured: a Python
// driver (boto3Driver) calls palisade serve, moto's server and the replay
// server (the floor, replay_test.go) in turn, call by call, and reads each
// server's process CPU clock around each call. boto3 spends milliseconds
// of its own CPU per call, on the same machine, so each server idles
// between its calls as it would behind a script, and a Go server pays for
// waking its threads on every call. It reports the same metrics as
// BenchmarkCPUPerCallVersusMoto. It skips when python3 cannot import
// boto3 (Debian's python3-boto3) or moto_server is not on PATH.
//
//	go test -run '^$' -bench CPUPerCallBoto3 -benchtime 300x ./internal/e2e/
func BenchmarkCPUPerCallBoto3(b *testing.B) {
	if err := exec.Command("python3", "-c", "import boto3").Run(); err != nil {
		b.Skipf("python3 cannot import boto3: %v", err)
	}
	s, palisade, moto, floor := startCostServers(b)
	var servers []boto3Server
	for _, c := range []*callCosts{palisade, moto, floor} {
		creds, err := c.client.Options().Credentials.Retrieve(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		servers = append(servers, boto3Server{Endpoint: aws.ToString(c.client.Options().BaseEndpoint),
			Key: creds.AccessKeyID, Secret: creds.SecretAccessKey, PID: c.pid, Group: aws.ToString(c.group)})
	}
	spent := runBoto3Driver(b, servers, b.N)
	for i, c := range []*callCosts{palisade, moto, floor} {
		for a := range c.spent {
			c.spent[a] = time.Duration(spent[i][a])
		}
		c.n = b.N
	}
	reportVersusMoto(b, palisade, moto, floor)
	s.stop() // a clean exit, and no race or panic in the log, as BenchmarkCPUPerCallVersusMoto checks
}

// boto3Server is one server the driver calls: where, as whom, which
// process to charge and the group of 20 rules to work on.
type boto3Server struct {
	Endpoint, Key, Secret string
	PID                   int
	Group                 string
}

// runBoto3Driver runs boto3Driver over servers for n rounds and returns
// the CPU (ns) each server spent on each action of the sequence, summed.
func runBoto3Driver(b *testing.B, servers []boto3Server, n int) [][3]int64 {
	spec, err := json.Marshal(servers)
	if err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command("python3", "-c", boto3Driver, string(spec), strconv.Itoa(n))
	cmd.Env = append(os.Environ(), "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null")
	cmd.Stderr = os.Stderr
	b.ResetTimer()
	out, err := cmd.Output()
	b.StopTimer()
	if err != nil {
		b.Fatalf("boto3 driver: %v", err)
	}
	var spent [][3]int64
	if err := json.Unmarshal(out, &spent); err != nil || len(spent) != len(servers) {
		b.Fatalf("boto3 driver's output %q: %v", out, err)
	}
	return spent
}

// boto3Driver (run with python3 -c) calls each server of argv[1] (JSON: boto3Server) in turn:
// 20 warm-up sequences each, then argv[2] rounds, a round being one
// authorize-describe-revoke sequence on each server. It prints, per
// server, the nanoseconds of process CPU spent during each action's calls.
const boto3Driver = `
import json, sys, time, boto3
from botocore.config import Config

def cpu(pid):
    # the process CPU clock of pid, as processCPU reads it (CPUCLOCK_SCHED)
    return time.clock_gettime_ns(((~pid) << 3) | 2)

servers = json.loads(sys.argv[1])
rounds = int(sys.argv[2])
for s in servers:
    s["client"] = boto3.client("ec2", endpoint_url=s["Endpoint"], region_name="us-east-1",
        aws_access_key_id=s["Key"], aws_secret_access_key=s["Secret"],
        config=Config(retries={"max_attempts": 1}))
    s["spent"] = [0, 0, 0]

def sequence(s, n, timed):
    c, g = s["client"], s["Group"]
    calls = [
        lambda: c.authorize_security_group_ingress(GroupId=g, IpPermissions=[{"IpProtocol": "tcp",
            "FromPort": 443, "ToPort": 443,
            "IpRanges": [{"CidrIp": "10.%d.%d.%d/32" % (n >> 16 & 255, n >> 8 & 255, n & 255)}]}]),
        lambda: c.describe_security_groups(GroupIds=[g]),
        lambda: c.revoke_security_group_ingress(GroupId=g, SecurityGroupRuleIds=[rule]),
    ]
    for i, call in enumerate(calls):
        before = cpu(s["PID"])
        out = call()
        if timed:
            s["spent"][i] += cpu(s["PID"]) - before
        if i == 0:
            rule = out["SecurityGroupRules"][0]["SecurityGroupRuleId"]

for n in range(20):
    for s in servers:
        sequence(s, (1 << 21) + n, False)
for n in range(rounds):
    for s in servers:
        sequence(s, (1 << 22) + n, True)
print(json.dumps([s["spent"] for s in servers]))
`
