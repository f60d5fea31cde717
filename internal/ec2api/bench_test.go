package ec2api

import (
	"fmt"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"palisade.dev/palisade/internal/store/bolt"
)

// BenchmarkServeRuleChange is the server's own share of BenchmarkAPI's
// CPUPerCall (internal/e2e) without the network: one operation is an
// AuthorizeSecurityGroupIngress, a DescribeSecurityGroups and a
// RevokeSecurityGroupIngress of one rule on a group of 20 rules, each a
// request signed as the SDK signs it (the signing is counted too) and
// served by Server.ServeHTTP over a bolt store on disk. It reports the
// process's CPU per operation (ms-cpu/op; ns/op mostly waits for fsync).
// Its profile is the server's:
//
//	go test -run '^$' -bench ServeRuleChange -benchmem -cpuprofile cpu.out ./internal/ec2api/
func BenchmarkServeRuleChange(b *testing.B) {
	st, err := bolt.Open(filepath.Join(b.TempDir(), "palisade.db"), bolt.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	h := newAPIHarnessOn(b, st)
	g := first(b, h.ok("CreateSecurityGroup", "GroupName", "bench", "GroupDescription", "d"), "groupId")
	authorize := func(n int) string {
		return h.ok("AuthorizeSecurityGroupIngress", "GroupId", g, "IpPermissions.1.IpProtocol", "tcp",
			"IpPermissions.1.FromPort", "443", "IpPermissions.1.ToPort", "443",
			"IpPermissions.1.IpRanges.1.CidrIp", fmt.Sprintf("10.%d.%d.%d/32", n>>16&255, n>>8&255, n&255))
	}
	for n := range 20 {
		authorize(1<<20 + n)
	}
	start := processCPU(b)
	for n := 0; b.Loop(); n++ {
		rule := first(b, authorize(n), "securityGroupRuleId")
		h.ok("DescribeSecurityGroups", "GroupId.1", g)
		h.ok("RevokeSecurityGroupIngress", "GroupId", g, "SecurityGroupRuleId.1", rule)
	}
	b.ReportMetric((processCPU(b)-start).Seconds()*1000/float64(b.N), "ms-cpu/op")
}

// processCPU is the CPU time (user and system) this process has used: the
// wall time of an operation waits for the disk, its CPU does not.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
