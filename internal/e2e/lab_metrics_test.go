package e2e

import (
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// labMetrics: the lab server's /metrics shows the agent at work. A rule
// added through the API moves the firewall-update and enforce-delay
// histograms, and its delay is no longer than the wall time from the call
// to the moment it was seen enforced; a blocked connection counts on the
// receiving interface's ingress drops; the agent catches up with the
// store's revision.
func labMetrics(t *testing.T, l *labServer) {
	v := newVPC(t, l.ec2, false)
	g := newGroup(t, l.ec2, v.ID, tcp(22, officeIP+"/32"))
	i := launch(t, l.ec2, v, g)
	a := l.addHost(t, "us-east-1", v.ID, officeIP, "")
	b := l.addHost(t, "us-east-1", v.ID, strangerIP, "")
	waitNS(t, i.ID, a, b)
	serveTCP(t, i.ID, 22)
	serveTCP(t, i.ID, 23)
	eventuallyTCP(t, a, port(i.IP, 22), connected)

	before := scrape(t, l.server)
	start := time.Now()
	_, err := l.ec2.AuthorizeSecurityGroupIngress(t.Context(), &ec2.AuthorizeSecurityGroupIngressInput{
		GroupId: aws.String(g), IpPermissions: []types.IpPermission{tcp(23, officeIP+"/32")}})
	if err != nil {
		t.Fatal(err)
	}
	eventuallyTCP(t, a, port(i.IP, 23), connected)
	wall := time.Since(start).Seconds()
	expectTCP(t, b, port(i.IP, 22), timedOut)

	const (
		enforceCount = "palisade_policy_enforce_delay_seconds_count"
		enforceSum   = "palisade_policy_enforce_delay_seconds_sum"
		applyCount   = "palisade_dataplane_apply_duration_seconds_count"
	)
	drops := fmt.Sprintf(`palisade_packets_dropped_total{direction="ingress",interface=%q}`, i.ENI)
	var after map[string]float64
	eventually(t, "metrics of the authorize and the blocked connection", "yes", func() string {
		after = scrape(t, l.server)
		switch {
		case after[enforceCount] <= before[enforceCount]:
			return "no enforce delay observed"
		case after[applyCount] <= before[applyCount]:
			return "no firewall update observed"
		case after[drops] < 1:
			return "no drop counted on " + i.ENI
		case after["palisade_agent_applied_revision"] != after["palisade_store_revision"]:
			return fmt.Sprintf("agent at revision %v, store at %v", after["palisade_agent_applied_revision"], after["palisade_store_revision"])
		}
		return "yes"
	})
	n := after[enforceCount] - before[enforceCount]
	mean := (after[enforceSum] - before[enforceSum]) / n
	if mean <= 0 || mean > wall {
		t.Errorf("mean enforce delay %vs over %v revisions: want more than 0 and at most the %vs from the call to the connection", mean, n, wall)
	}
	if lag := after["palisade_agent_reconcile_lag_seconds"]; lag != 0 {
		t.Errorf("reconcile lag %vs once caught up, want 0", lag)
	}
	t.Logf("enforce delay: %.2f ms mean over %v revisions; %v drops on %s ingress", mean*1000, n, after[drops], i.ENI)
}
