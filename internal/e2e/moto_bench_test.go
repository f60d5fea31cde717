package e2e

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
)

// BenchmarkCPUPerCallVersusMoto runs BenchmarkAPI's CPUPerCall sequence
// (authorize, describe and revoke one rule on a group of 20 rules) against
// palisade serve and against moto's server, the Python stand-in for AWS
// that code written for AWS is commonly tested against, with one client
// (aws-sdk-go-v2), taking turns sequence by sequence so that both see the
// same machine. It reports each server's CPU per call and
// moto-cpu/palisade-cpu, how many times less CPU Palisade spends on the
// same calls; its target is 20. It skips when moto_server is not on PATH
// (pip's moto package installs it; Debian has no package of it).
//
// A third server takes the same turns: the replay server (replay_test.go),
// which answers with palisade's recorded responses and does nothing else,
// the floor of any Go server on this machine. floor-cpu/palisade-cpu says
// how close Palisade is to it, and moto-cpu/floor-cpu is the most that
// moto-cpu/palisade-cpu could be here.
//
//	go test -run '^$' -bench CPUPerCallVersusMoto -benchtime 300x ./internal/e2e/
func BenchmarkCPUPerCallVersusMoto(b *testing.B) {
	s, palisade, moto, floor := startCostServers(b)
	b.ResetTimer()
	for n := range b.N {
		for _, c := range []*callCosts{palisade, moto, floor} {
			if err := c.sequence(int64(1<<20 + n)); err != nil {
				b.Fatalf("iteration %d of %d: %v", n, b.N, err)
			}
		}
	}
	b.StopTimer()
	reportVersusMoto(b, palisade, moto, floor)
	s.stop()
}

// reportVersusMoto reports each server's CPU per call and the ratios
// between them.
func reportVersusMoto(b *testing.B, palisade, moto, floor *callCosts) {
	palisade.report(b, "")
	moto.report(b, "moto-")
	floor.report(b, "floor-")
	b.ReportMetric(moto.sum().Seconds()/palisade.sum().Seconds(), "moto-cpu/palisade-cpu")
	b.ReportMetric(floor.sum().Seconds()/palisade.sum().Seconds(), "floor-cpu/palisade-cpu")
	b.ReportMetric(moto.sum().Seconds()/floor.sum().Seconds(), "moto-cpu/floor-cpu")
}

// startCostServers starts palisade serve, moto's server and the replay
// server (recording palisade's responses first), each with a group of 20
// rules, and returns their costs with SDK clients; it skips b when
// moto_server is not on PATH (pip's moto package installs it; Debian has
// no package of it).
func startCostServers(b *testing.B) (s *server, palisade, moto, floor *callCosts) {
	motoPath, err := exec.LookPath("moto_server")
	if err != nil {
		b.Skip("moto_server is not on PATH (pip install 'moto[server]')")
	}
	s = startServer(b, b.TempDir())
	creds := newAccount(b, s)
	client := s.ec2(creds)
	palisade = &callCosts{pid: s.cmd.Process.Pid, client: client, group: newCostGroup(b, client, nil)}
	floor = startReplay(b, s, creds, palisade.group)
	moto = startMoto(b, motoPath)
	vpcs, err := moto.client.DescribeVpcs(context.Background(), &ec2.DescribeVpcsInput{})
	if err != nil || len(vpcs.Vpcs) == 0 {
		b.Fatalf("moto's default VPC: %v", err)
	}
	moto.group = newCostGroup(b, moto.client, vpcs.Vpcs[0].VpcId)
	return s, palisade, moto, floor
}

// newCostGroup creates a group of 20 rules (in vpc, if set) for callCosts.
func newCostGroup(b *testing.B, client *ec2.Client, vpc *string) *string {
	ctx := context.Background()
	g, err := client.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{
		GroupName: aws.String(fmt.Sprintf("cost-%d", time.Now().UnixNano())), Description: aws.String("d"), VpcId: vpc})
	if err != nil {
		b.Fatal(err)
	}
	for n := range 20 {
		if _, err := authorizeOne(ctx, client, g.GroupId, cidrN(int64(n))); err != nil {
			b.Fatal(err)
		}
	}
	return g.GroupId
}

// startMoto starts moto_server on a free loopback port, stopped when b
// ends, and returns its costs with a client (moto takes any credentials).
func startMoto(b *testing.B, path string) *callCosts {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cmd := exec.Command(path, "-H", "127.0.0.1", "-p", strconv.Itoa(port))
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	endpoint := "http://127.0.0.1:" + strconv.Itoa(port)
	for deadline := time.Now().Add(startTimeout); ; {
		resp, err := http.Get(endpoint + "/moto-api/")
		if err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("moto_server did not answer on %s within %v: %v", endpoint, startTimeout, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	client := ec2At(endpoint, "us-east-1", aws.Credentials{AccessKeyID: "testing", SecretAccessKey: "testing"}, nil)
	return &callCosts{pid: cmd.Process.Pid, client: client}
}
