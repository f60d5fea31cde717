package e2e

import (
	"strings"
	"testing"

	"palisade.dev/palisade/internal/testutil"
)

// cliFlowLogs is what the aws CLI prints for create-flow-logs and
// delete-flow-logs.
type cliFlowLogs struct {
	FlowLogIds   []string
	Unsuccessful []struct {
		ResourceId string
		Error      struct{ Code, Message string }
	}
}

// TestFlowLogsAPI drives CreateFlowLogs, DescribeFlowLogs and
// DeleteFlowLogs with the aws CLI, errors included.
func TestFlowLogsAPI(t *testing.T) {
	testutil.RequireCommand(t, awsCLI)
	t.Parallel()
	s := startServer(t, t.TempDir())
	var vpc struct{ Vpc struct{ VpcId string } }
	cliJSON(t, s, &vpc, "ec2", "create-vpc", "--cidr-block", "10.7.0.0/16")
	var sn struct{ Subnet struct{ SubnetId string } }
	cliJSON(t, s, &sn, "ec2", "create-subnet", "--vpc-id", vpc.Vpc.VpcId, "--cidr-block", "10.7.1.0/24")
	var eni struct {
		NetworkInterface struct{ NetworkInterfaceId string }
	}
	cliJSON(t, s, &eni, "ec2", "create-network-interface", "--subnet-id", sn.Subnet.SubnetId)
	create := func(typ, traffic string, ids ...string) []string {
		return append([]string{"ec2", "create-flow-logs", "--resource-type", typ, "--traffic-type", traffic,
			"--log-destination-type", "s3", "--log-destination", "arn:aws:s3:::my-flow-logs/team-a",
			"--resource-ids"}, ids...)
	}

	var made cliFlowLogs
	cliJSON(t, s, &made, append(create("VPC", "ALL", vpc.Vpc.VpcId, "vpc-0123456789abcdef0"),
		"--log-format", "${version} ${interface-id} ${srcaddr} ${dstaddr} ${dstport} ${action} ${security-group-rule-ids} ${reject-side}",
		"--max-aggregation-interval", "60", "--tag-specifications", "ResourceType=vpc-flow-log,Tags=[{Key=team,Value=a}]")...)
	if len(made.FlowLogIds) != 1 || !strings.HasPrefix(made.FlowLogIds[0], "fl-") || len(made.Unsuccessful) != 1 ||
		made.Unsuccessful[0].ResourceId != "vpc-0123456789abcdef0" || made.Unsuccessful[0].Error.Code != "InvalidVpcID.NotFound" {
		t.Fatalf("create-flow-logs of a VPC and a missing one: %+v", made)
	}
	vpcLog := made.FlowLogIds[0]
	var again cliFlowLogs
	cliJSON(t, s, &again, create("VPC", "ALL", vpc.Vpc.VpcId)...)
	if len(again.FlowLogIds) != 0 || len(again.Unsuccessful) != 1 || again.Unsuccessful[0].Error.Code != "FlowLogAlreadyExists" {
		t.Fatalf("the same flow log twice: %+v", again)
	}
	var two cliFlowLogs
	cliJSON(t, s, &two, create("NetworkInterface", "REJECT", eni.NetworkInterface.NetworkInterfaceId)...)
	cliJSON(t, s, &two, create("Subnet", "ACCEPT", sn.Subnet.SubnetId)...)
	if len(two.FlowLogIds) != 1 {
		t.Fatalf("create-flow-logs of a subnet: %+v", two)
	}

	var described struct {
		FlowLogs []struct {
			FlowLogId, ResourceId, TrafficType, LogDestinationType, LogDestination, LogFormat, FlowLogStatus, DeliverLogsStatus string
			MaxAggregationInterval                                                                                              int
			Tags                                                                                                                []struct{ Key, Value string }
		}
	}
	cliJSON(t, s, &described, "ec2", "describe-flow-logs", "--flow-log-ids", vpcLog)
	if len(described.FlowLogs) != 1 {
		t.Fatalf("describe-flow-logs %s: %+v", vpcLog, described)
	}
	d := described.FlowLogs[0]
	if d.ResourceId != vpc.Vpc.VpcId || d.TrafficType != "ALL" || d.LogDestinationType != "s3" ||
		d.LogDestination != "arn:aws:s3:::my-flow-logs/team-a" || !strings.HasSuffix(d.LogFormat, "${reject-side}") ||
		d.MaxAggregationInterval != 60 || d.FlowLogStatus != "ACTIVE" || d.DeliverLogsStatus != "SUCCESS" ||
		len(d.Tags) != 1 || d.Tags[0].Key != "team" {
		t.Errorf("describe-flow-logs: %+v", d)
	}
	cliJSON(t, s, &described, "ec2", "describe-flow-logs", "--filter", "Name=resource-id,Values="+sn.Subnet.SubnetId)
	if len(described.FlowLogs) != 1 || described.FlowLogs[0].TrafficType != "ACCEPT" {
		t.Errorf("describe-flow-logs by resource-id: %+v", described)
	}
	cliJSON(t, s, &described, "ec2", "describe-flow-logs")
	if len(described.FlowLogs) != 3 {
		t.Errorf("describe-flow-logs: %d flow logs, want 3", len(described.FlowLogs))
	}

	for _, c := range []struct {
		args []string
		code string
	}{
		{create("Instance", "ALL", vpc.Vpc.VpcId), "InvalidParameterValue"},
		{create("VPC", "SOME", vpc.Vpc.VpcId), "InvalidParameterValue"},
		{[]string{"ec2", "create-flow-logs", "--resource-type", "VPC", "--traffic-type", "ALL", "--resource-ids", vpc.Vpc.VpcId,
			"--log-group-name", "g", "--deliver-logs-permission-arn", "arn:aws:iam::123456789012:role/x"}, "InvalidParameter"},
		{append(create("VPC", "REJECT", vpc.Vpc.VpcId)[:8], "--log-destination", "arn:aws:s3:::Bad_Bucket", "--resource-ids", vpc.Vpc.VpcId), "InvalidParameter"},
		{append(create("VPC", "REJECT", vpc.Vpc.VpcId), "--max-aggregation-interval", "30"), "InvalidParameter"},
		{append(create("VPC", "REJECT", vpc.Vpc.VpcId), "--log-format", "${version} ${no-such-field}"), "InvalidParameter"},
		{[]string{"ec2", "delete-flow-logs", "--flow-log-ids", "flow-1"}, "InvalidFlowLogId.Malformed"},
	} {
		_, stderr, code := cli(t, s, c.args...)
		if code == 0 || !strings.Contains(stderr, "("+c.code+")") {
			t.Errorf("aws %s: exit %d, want %s\n%s", strings.Join(c.args, " "), code, c.code, stderr)
		}
	}

	// Without the lab data plane nothing observes flows, and rules count nothing.
	env := profileEnv(t, s.dir)
	if _, stderr, code := palisade(t, env, "flows", "--endpoint-url", s.endpoint); code != 2 || !strings.Contains(stderr, "UnsupportedOperation") {
		t.Errorf("palisade flows without a data plane: exit %d\n%s", code, stderr)
	}
	var groups struct{ SecurityGroups []struct{ GroupId string } }
	cliJSON(t, s, &groups, "ec2", "describe-security-groups", "--filters", "Name=vpc-id,Values="+vpc.Vpc.VpcId)
	stdout, stderr, code := palisade(t, env, "rules", "--group-id", groups.SecurityGroups[0].GroupId, "--output", "json", "--endpoint-url", s.endpoint)
	if code != 0 || !strings.Contains(stdout, `"ruleId": "sgr-`) || !strings.Contains(stdout, `"packets": 0`) {
		t.Errorf("palisade rules of a default group: exit %d\n%s%s", code, stdout, stderr)
	}
	if _, stderr, code := palisade(t, env, "rules", "--group-id", "sg-0123456789abcdef0", "--endpoint-url", s.endpoint); code != 2 || !strings.Contains(stderr, "InvalidGroup.NotFound") {
		t.Errorf("palisade rules of a missing group: exit %d\n%s", code, stderr)
	}

	var deleted cliFlowLogs
	cliJSON(t, s, &deleted, "ec2", "delete-flow-logs", "--flow-log-ids", vpcLog, "fl-0123456789abcdef0")
	if len(deleted.Unsuccessful) != 1 || deleted.Unsuccessful[0].ResourceId != "fl-0123456789abcdef0" ||
		deleted.Unsuccessful[0].Error.Code != "InvalidFlowLogId.NotFound" {
		t.Errorf("delete-flow-logs of one that exists and one that does not: %+v", deleted)
	}
	cliJSON(t, s, &described, "ec2", "describe-flow-logs", "--flow-log-ids", vpcLog)
	if len(described.FlowLogs) != 0 {
		t.Errorf("a deleted flow log is described: %+v", described)
	}
}
