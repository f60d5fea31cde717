package e2e

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/netip"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"palisade.dev/palisade/internal/testutil"
)

// boto3Prelude opens an EC2 client on the endpoint given as argv[1] with
// the profile serve wrote, and defines call(name, **params), which prints
// the response as JSON or, for a service error, {"Code": …, "Message": …}.
const boto3Prelude = `
import json, sys
import boto3, botocore.exceptions
ec2 = boto3.client("ec2", endpoint_url=sys.argv[1])
out = {}
def call(key, name, **params):
    try:
        r = getattr(ec2, name)(**params)
        r.pop("ResponseMetadata", None)
        out[key] = r
    except botocore.exceptions.ClientError as e:
        out[key] = {"Code": e.response["Error"]["Code"], "Message": e.response["Error"]["Message"]}
`

// boto3 runs a Python script (after boto3Prelude) against s and decodes
// the JSON object it collected in out; args follow the endpoint in argv.
func boto3(t *testing.T, s *server, script string, out any, args ...string) {
	t.Helper()
	py := testutil.RequireCommand(t, "python3")
	testutil.Require(t, exec.Command(py, "-c", "import boto3").Run() == nil, "python3 boto3 (Debian python3-boto3)")
	argv := append([]string{"-c", boto3Prelude + script + "\nprint(json.dumps(out, default=str))", s.endpoint}, args...)
	stdout, stderr, code := run(t, profileEnv(t, s.dir), py, argv...)
	if code != 0 {
		t.Fatalf("python3: exit %d\n%s", code, stderr)
	}
	if err := json.Unmarshal([]byte(stdout), out); err != nil {
		t.Fatalf("boto3 output: %v\n%s", err, stdout)
	}
}

// cliFails runs the aws CLI, requires a service error (exit 254), and
// returns its stderr.
func cliFails(t *testing.T, s *server, args ...string) string {
	t.Helper()
	_, stderr, code := cli(t, s, args...)
	if code != 254 {
		t.Fatalf("aws %s: exit %d, want 254\n%s", strings.Join(args, " "), code, stderr)
	}
	return stderr
}

// TestClientsFidelity drives the small fidelity fixes of issue 10 with
// the aws CLI and boto3 as their users run them.
func TestClientsFidelity(t *testing.T) {
	testutil.RequireCommand(t, awsCLI)
	t.Parallel()
	s := startServer(t, t.TempDir())

	// The aws CLI: a filter without values, and the names clients send.
	var vpcs struct {
		Vpcs []struct{ VpcId, CidrBlock string }
	}
	cliJSON(t, s, &vpcs, "ec2", "describe-vpcs", "--filters", "Name=vpc-id")
	if len(vpcs.Vpcs) != 0 {
		t.Errorf("a filter without values: %+v", vpcs)
	}
	for _, f := range []string{"Name=cidr-block,Values=172.31.0.0/16", "Name=isDefault,Values=true", "Name=dhcp-options-id,Values=default"} {
		cliJSON(t, s, &vpcs, "ec2", "describe-vpcs", "--filters", f)
		if len(vpcs.Vpcs) != 1 || vpcs.Vpcs[0].CidrBlock != "172.31.0.0/16" {
			t.Errorf("describe-vpcs --filters %s: %+v", f, vpcs)
		}
	}

	// --no-associate-public-ip-address sends
	// NetworkInterface.1.AssociatePublicIpAddress=false.
	var run struct{ Instances []struct{ InstanceId string } }
	cliJSON(t, s, &run, "ec2", "run-instances", "--image-id", "ami-12345678", "--no-associate-public-ip-address")
	if len(run.Instances) != 1 {
		t.Fatalf("run-instances: %+v", run)
	}
	live := run.Instances[0].InstanceId
	if stderr := cliFails(t, s, "ec2", "run-instances", "--image-id", "ami-12345678", "--associate-public-ip-address"); !strings.Contains(stderr, "InvalidParameterValue") {
		t.Errorf("--associate-public-ip-address: %s", stderr)
	}

	// Every unknown ID named, and nothing terminated.
	stderr := cliFails(t, s, "ec2", "terminate-instances", "--instance-ids", "i-0123456789abcdef0", live, "i-0123456789abcdef1")
	if !strings.Contains(stderr, "(InvalidInstanceID.NotFound)") || !strings.Contains(stderr, "The instance IDs 'i-0123456789abcdef0, i-0123456789abcdef1' do not exist") {
		t.Errorf("terminate-instances with unknown IDs: %s", stderr)
	}

	// boto3: the same, and the group and prefix-list behaviour.
	var got map[string]struct {
		Code, Message  string
		Vpcs           []struct{ VpcId string }
		Subnets        []struct{ SubnetId string }
		SecurityGroups []struct {
			GroupId, VpcId string
		}
		PrefixList  struct{ PrefixListId, State string }
		PrefixLists []struct{ State string }
		Return      bool
	}
	boto3(t, s, `
call("isDefault", "describe_vpcs", Filters=[{"Name": "isDefault", "Values": ["true"]}])
call("noValues", "describe_subnets", Filters=[{"Name": "vpc-id", "Values": []}])
call("unknownGroup", "authorize_security_group_ingress", GroupId="sg-0123456789abcdef0", IpPermissions=[])
call("terminateNone", "terminate_instances", InstanceIds=[])
call("default", "describe_security_groups", GroupNames=["default"])
g = out["default"]["SecurityGroups"][0]
pair = {"GroupId": g["GroupId"], "VpcId": g["VpcId"]}
call("pairVpc", "authorize_security_group_ingress", GroupId=g["GroupId"],
     IpPermissions=[{"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "UserIdGroupPairs": [pair]}])
call("pairPeering", "authorize_security_group_ingress", GroupId=g["GroupId"],
     IpPermissions=[{"IpProtocol": "tcp", "FromPort": 23, "ToPort": 23,
                     "UserIdGroupPairs": [{"GroupId": g["GroupId"], "VpcPeeringConnectionId": "pcx-0123456789abcdef0"}]}])
pl = ec2.create_managed_prefix_list(PrefixListName="office", MaxEntries=2, AddressFamily="IPv4",
     Entries=[{"Cidr": "192.0.2.0/24"}])["PrefixList"]["PrefixListId"]
ec2.authorize_security_group_egress(GroupId=g["GroupId"],
     IpPermissions=[{"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "PrefixListIds": [{"PrefixListId": pl}]}])
call("deletePL", "delete_managed_prefix_list", PrefixListId=pl)
call("afterDelete", "describe_managed_prefix_lists", PrefixListIds=[pl])
`, &got)
	if len(got["isDefault"].Vpcs) != 1 || len(got["noValues"].Subnets) != 0 {
		t.Errorf("filters: isDefault %+v, no values %+v", got["isDefault"], got["noValues"])
	}
	for key, want := range map[string]string{
		"unknownGroup":  "InvalidGroup.NotFound",
		"terminateNone": "InvalidParameterCombination",
		"pairPeering":   "InvalidVpcPeeringConnectionID.NotFound",
	} {
		if got[key].Code != want {
			t.Errorf("%s: %+v, want %s", key, got[key], want)
		}
	}
	if got["terminateNone"].Message != "No instances specified" {
		t.Errorf("terminate_instances([]): %+v", got["terminateNone"])
	}
	if !got["pairVpc"].Return {
		t.Errorf("a pair naming its own VPC: %+v", got["pairVpc"])
	}
	if got["deletePL"].PrefixList.State != "delete-in-progress" || len(got["afterDelete"].PrefixLists) != 1 ||
		got["afterDelete"].PrefixLists[0].State != "delete-failed" {
		t.Errorf("deleting a referenced prefix list: %+v then %+v", got["deletePL"], got["afterDelete"])
	}
}

// TestClientsLaunchOptions: launch options are kept (UserData,
// DisableApiTermination) or refused (KeyName), never dropped, with the aws
// CLI, boto3 and aws-sdk-go-v2.
func TestClientsLaunchOptions(t *testing.T) {
	testutil.RequireCommand(t, awsCLI)
	t.Parallel()
	s := startServer(t, t.TempDir())
	userData := base64.StdEncoding.EncodeToString([]byte("#!/bin/sh\necho hi\n"))

	// The aws CLI encodes --user-data itself.
	var run struct{ Instances []struct{ InstanceId string } }
	cliJSON(t, s, &run, "ec2", "run-instances", "--image-id", "ami-12345678", "--user-data", "#!/bin/sh\necho hi\n", "--disable-api-termination")
	id := run.Instances[0].InstanceId
	var attr struct{ UserData struct{ Value string } }
	cliJSON(t, s, &attr, "ec2", "describe-instance-attribute", "--instance-id", id, "--attribute", "userData")
	if attr.UserData.Value != userData {
		t.Errorf("userData: %+v, want %s", attr, userData)
	}
	if stderr := cliFails(t, s, "ec2", "terminate-instances", "--instance-ids", id); !strings.Contains(stderr, "(OperationNotPermitted)") ||
		!strings.Contains(stderr, "may not be terminated. Modify its 'disableApiTermination' instance attribute and try again.") {
		t.Errorf("terminating a protected instance: %s", stderr)
	}
	if _, stderr, code := cli(t, s, "ec2", "modify-instance-attribute", "--instance-id", id, "--no-disable-api-termination"); code != 0 {
		t.Fatalf("modify-instance-attribute: %s", stderr)
	}
	cliJSON(t, s, &struct{}{}, "ec2", "terminate-instances", "--instance-ids", id)
	if stderr := cliFails(t, s, "ec2", "run-instances", "--image-id", "ami-12345678", "--key-name", "mykey"); !strings.Contains(stderr, "(InvalidKeyPair.NotFound)") ||
		!strings.Contains(stderr, "The key pair 'mykey' does not exist") {
		t.Errorf("--key-name: %s", stderr)
	}

	// boto3 also encodes UserData of RunInstances itself.
	var got map[string]struct {
		Code, Message string
		UserData      struct{ Value string }
	}
	boto3(t, s, `
i = ec2.run_instances(ImageId="ami-12345678", MinCount=1, MaxCount=1, UserData="#!/bin/sh\necho hi\n",
                      DisableApiTermination=True)["Instances"][0]["InstanceId"]
call("userData", "describe_instance_attribute", InstanceId=i, Attribute="userData")
call("protected", "terminate_instances", InstanceIds=[i])
ec2.modify_instance_attribute(InstanceId=i, DisableApiTermination={"Value": False})
call("terminated", "terminate_instances", InstanceIds=[i])
call("keyName", "run_instances", ImageId="ami-12345678", MinCount=1, MaxCount=1, KeyName="mykey")
`, &got)
	if got["userData"].UserData.Value != userData || got["protected"].Code != "OperationNotPermitted" ||
		got["terminated"].Code != "" || got["keyName"].Code != "InvalidKeyPair.NotFound" {
		t.Errorf("boto3: %+v", got)
	}

	// aws-sdk-go-v2: UserData of RunInstances is base64 already; that of
	// ModifyInstanceAttribute a blob the SDK encodes.
	ctx := context.Background()
	c := s.ec2(s.adminKey())
	out, err := c.RunInstances(ctx, &ec2.RunInstancesInput{ImageId: aws.String("ami-12345678"), MinCount: aws.Int32(1), MaxCount: aws.Int32(1),
		UserData: aws.String(userData), DisableApiStop: aws.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	sid := out.Instances[0].InstanceId
	_, err = c.StopInstances(ctx, &ec2.StopInstancesInput{InstanceIds: []string{*sid}})
	wantCode(t, err, "OperationNotPermitted")
	if _, err := c.ModifyInstanceAttribute(ctx, &ec2.ModifyInstanceAttributeInput{InstanceId: sid, DisableApiStop: &types.AttributeBooleanValue{Value: aws.Bool(false)}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.StopInstances(ctx, &ec2.StopInstancesInput{InstanceIds: []string{*sid}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ModifyInstanceAttribute(ctx, &ec2.ModifyInstanceAttributeInput{InstanceId: sid, UserData: &types.SecureBlobAttributeValue{Value: []byte("new")}}); err != nil {
		t.Fatal(err)
	}
	a, err := c.DescribeInstanceAttribute(ctx, &ec2.DescribeInstanceAttributeInput{InstanceId: sid, Attribute: types.InstanceAttributeNameUserData})
	if err != nil || aws.ToString(a.UserData.Value) != base64.StdEncoding.EncodeToString([]byte("new")) {
		t.Errorf("userData after modify: %+v %v", a, err)
	}
}

// TestClientsInstanceStatus: DescribeInstanceStatus behind each client's
// instance-status-ok waiter, RebootInstances, and the reasons of a stop.
func TestClientsInstanceStatus(t *testing.T) {
	testutil.RequireCommand(t, awsCLI)
	t.Parallel()
	s := startServer(t, t.TempDir())

	var run struct{ Instances []struct{ InstanceId string } }
	cliJSON(t, s, &run, "ec2", "run-instances", "--image-id", "ami-12345678")
	id := run.Instances[0].InstanceId
	for _, args := range [][]string{
		{"ec2", "wait", "instance-status-ok", "--instance-ids", id},
		{"ec2", "reboot-instances", "--instance-ids", id},
		{"ec2", "stop-instances", "--instance-ids", id},
	} {
		if _, stderr, code := cli(t, s, args...); code != 0 {
			t.Fatalf("aws %s: exit %d\n%s", strings.Join(args, " "), code, stderr)
		}
	}
	var desc struct {
		Reservations []struct {
			Instances []struct {
				StateTransitionReason string
				StateReason           struct{ Code, Message string }
			}
		}
	}
	cliJSON(t, s, &desc, "ec2", "describe-instances", "--instance-ids", id)
	inst := desc.Reservations[0].Instances[0]
	if !strings.HasPrefix(inst.StateTransitionReason, "User initiated (") || inst.StateReason.Code != "Client.UserInitiatedShutdown" {
		t.Errorf("after stop-instances: %+v", inst)
	}
	var statuses struct {
		InstanceStatuses []struct {
			InstanceId     string
			InstanceStatus struct{ Status string }
		}
	}
	cliJSON(t, s, &statuses, "ec2", "describe-instance-status", "--include-all-instances", "--instance-ids", id)
	if len(statuses.InstanceStatuses) != 1 || statuses.InstanceStatuses[0].InstanceStatus.Status != "not-applicable" {
		t.Errorf("status of a stopped instance: %+v", statuses)
	}
	if stderr := cliFails(t, s, "ec2", "reboot-instances", "--instance-ids", id); !strings.Contains(stderr, "(IncorrectInstanceState)") {
		t.Errorf("rebooting a stopped instance: %s", stderr)
	}

	var got map[string]struct {
		Code, Message    string
		InstanceStatuses []struct{ InstanceStatus struct{ Status string } }
	}
	boto3(t, s, `
i = ec2.run_instances(ImageId="ami-12345678", MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
ec2.get_waiter("instance_status_ok").wait(InstanceIds=[i], WaiterConfig={"Delay": 1, "MaxAttempts": 5})
call("status", "describe_instance_status", InstanceIds=[i])
call("reboot", "reboot_instances", InstanceIds=[i])
call("unknown", "reboot_instances", InstanceIds=["i-0123456789abcdef0"])
`, &got)
	if len(got["status"].InstanceStatuses) != 1 || got["status"].InstanceStatuses[0].InstanceStatus.Status != "ok" ||
		got["reboot"].Code != "" || got["unknown"].Code != "InvalidInstanceID.NotFound" {
		t.Errorf("boto3: %+v", got)
	}

	ctx := context.Background()
	c := s.ec2(s.adminKey())
	out, err := c.RunInstances(ctx, &ec2.RunInstancesInput{ImageId: aws.String("ami-12345678"), MinCount: aws.Int32(1), MaxCount: aws.Int32(1)})
	if err != nil {
		t.Fatal(err)
	}
	ids := []string{aws.ToString(out.Instances[0].InstanceId)}
	if out.Instances[0].StateReason == nil || aws.ToString(out.Instances[0].StateReason.Code) != "pending" {
		t.Errorf("RunInstances' state reason: %+v", out.Instances[0].StateReason)
	}
	waiter := ec2.NewInstanceStatusOkWaiter(c, func(o *ec2.InstanceStatusOkWaiterOptions) {
		o.MinDelay, o.MaxDelay = time.Millisecond, time.Millisecond
	})
	if err := waiter.Wait(ctx, &ec2.DescribeInstanceStatusInput{InstanceIds: ids}, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if _, err := c.RebootInstances(ctx, &ec2.RebootInstancesInput{InstanceIds: ids}); err != nil {
		t.Fatal(err)
	}
	_, err = c.DescribeInstanceStatus(ctx, &ec2.DescribeInstanceStatusInput{Filters: []types.Filter{{Name: aws.String("nope"), Values: []string{"x"}}}})
	wantCode(t, err, "InvalidParameterValue")
}

// TestClientsSecondaryAddresses: secondary private IPv4 addresses with the
// aws CLI, boto3 and aws-sdk-go-v2.
func TestClientsSecondaryAddresses(t *testing.T) {
	testutil.RequireCommand(t, awsCLI)
	t.Parallel()
	s := startServer(t, t.TempDir())
	var subnets struct {
		Subnets []struct{ SubnetId, CidrBlock string }
	}
	cliJSON(t, s, &subnets, "ec2", "describe-subnets", "--filters", "Name=availability-zone,Values=us-east-1a")
	sn := subnets.Subnets[0].SubnetId // 172.31.0.0/20

	type eniJSON struct {
		NetworkInterfaceId string
		PrivateIpAddresses []struct {
			PrivateIpAddress string
			Primary          bool
		}
	}
	var created struct{ NetworkInterface eniJSON }
	cliJSON(t, s, &created, "ec2", "create-network-interface", "--subnet-id", sn, "--secondary-private-ip-address-count", "2")
	eni := created.NetworkInterface
	if len(eni.PrivateIpAddresses) != 3 || !eni.PrivateIpAddresses[0].Primary || eni.PrivateIpAddresses[1].Primary {
		t.Fatalf("create-network-interface: %+v", eni)
	}
	var assigned struct {
		NetworkInterfaceId         string
		AssignedPrivateIpAddresses []struct{ PrivateIpAddress string }
	}
	cliJSON(t, s, &assigned, "ec2", "assign-private-ip-addresses", "--network-interface-id", eni.NetworkInterfaceId, "--private-ip-addresses", "172.31.0.50")
	if len(assigned.AssignedPrivateIpAddresses) != 1 || assigned.AssignedPrivateIpAddresses[0].PrivateIpAddress != "172.31.0.50" {
		t.Fatalf("assign-private-ip-addresses: %+v", assigned)
	}
	if _, stderr, code := cli(t, s, "ec2", "unassign-private-ip-addresses", "--network-interface-id", eni.NetworkInterfaceId,
		"--private-ip-addresses", eni.PrivateIpAddresses[1].PrivateIpAddress); code != 0 {
		t.Fatalf("unassign-private-ip-addresses: %s", stderr)
	}
	var described struct{ NetworkInterfaces []eniJSON }
	cliJSON(t, s, &described, "ec2", "describe-network-interfaces", "--filters", "Name=addresses.private-ip-address,Values=172.31.0.50")
	if len(described.NetworkInterfaces) != 1 || len(described.NetworkInterfaces[0].PrivateIpAddresses) != 3 {
		t.Fatalf("after assign and unassign: %+v", described)
	}
	if stderr := cliFails(t, s, "ec2", "unassign-private-ip-addresses", "--network-interface-id", eni.NetworkInterfaceId,
		"--private-ip-addresses", eni.PrivateIpAddresses[0].PrivateIpAddress); !strings.Contains(stderr, "Some of the specified addresses are not assigned to interface") {
		t.Errorf("unassigning the primary: %s", stderr)
	}

	var got map[string]struct {
		Code, Message              string
		NetworkInterface           eniJSON
		AssignedPrivateIpAddresses []struct{ PrivateIpAddress string }
		Instances                  []struct{ NetworkInterfaces []eniJSON }
	}
	boto3(t, s, `
sn = sys.argv[2]
call("create", "create_network_interface", SubnetId=sn, PrivateIpAddresses=[
    {"PrivateIpAddress": "172.31.0.60", "Primary": True}, {"PrivateIpAddress": "172.31.0.61", "Primary": False}])
eni = out["create"]["NetworkInterface"]["NetworkInterfaceId"]
call("assign", "assign_private_ip_addresses", NetworkInterfaceId=eni, SecondaryPrivateIpAddressCount=1)
call("limit", "assign_private_ip_addresses", NetworkInterfaceId=eni, SecondaryPrivateIpAddressCount=9)
call("run", "run_instances", ImageId="ami-12345678", MinCount=1, MaxCount=1, NetworkInterfaces=[
    {"DeviceIndex": 0, "SubnetId": sn, "SecondaryPrivateIpAddressCount": 1}])
`+"\n", &got, sn)
	if ips := got["create"].NetworkInterface.PrivateIpAddresses; len(ips) != 2 || ips[0].PrivateIpAddress != "172.31.0.60" || !ips[0].Primary {
		t.Errorf("boto3 create: %+v", got["create"])
	}
	if len(got["assign"].AssignedPrivateIpAddresses) != 1 || got["limit"].Code != "PrivateIpAddressLimitExceeded" {
		t.Errorf("boto3 assign: %+v, %+v", got["assign"], got["limit"])
	}
	if r := got["run"].Instances; len(r) != 1 || len(r[0].NetworkInterfaces[0].PrivateIpAddresses) != 2 {
		t.Errorf("boto3 run_instances: %+v", got["run"])
	}

	ctx := context.Background()
	c := s.ec2(s.adminKey())
	n, err := c.CreateNetworkInterface(ctx, &ec2.CreateNetworkInterfaceInput{SubnetId: aws.String(sn), SecondaryPrivateIpAddressCount: aws.Int32(1)})
	if err != nil || len(n.NetworkInterface.PrivateIpAddresses) != 2 {
		t.Fatalf("SDK create: %+v %v", n, err)
	}
	a, err := c.AssignPrivateIpAddresses(ctx, &ec2.AssignPrivateIpAddressesInput{NetworkInterfaceId: n.NetworkInterface.NetworkInterfaceId, PrivateIpAddresses: []string{"172.31.0.70"}})
	if err != nil || len(a.AssignedPrivateIpAddresses) != 1 || aws.ToString(a.NetworkInterfaceId) != aws.ToString(n.NetworkInterface.NetworkInterfaceId) {
		t.Fatalf("SDK assign: %+v %v", a, err)
	}
	if _, err := c.UnassignPrivateIpAddresses(ctx, &ec2.UnassignPrivateIpAddressesInput{NetworkInterfaceId: n.NetworkInterface.NetworkInterfaceId, PrivateIpAddresses: []string{"172.31.0.70"}}); err != nil {
		t.Fatal(err)
	}
	_, err = c.AssignPrivateIpAddresses(ctx, &ec2.AssignPrivateIpAddressesInput{NetworkInterfaceId: n.NetworkInterface.NetworkInterfaceId, PrivateIpAddresses: []string{"10.9.9.9"}})
	wantCode(t, err, "InvalidParameterValue")
}

// TestClientsIPv6Addresses: IPv6 addresses chosen or counted, with the aws
// CLI, boto3 and aws-sdk-go-v2.
func TestClientsIPv6Addresses(t *testing.T) {
	testutil.RequireCommand(t, awsCLI)
	t.Parallel()
	s := startServer(t, t.TempDir())
	vpcID, v6 := cliIPv6VPC(t, s)
	var subnet struct{ Subnet struct{ SubnetId string } }
	cliJSON(t, s, &subnet, "ec2", "create-subnet", "--vpc-id", vpcID, "--cidr-block", "10.0.1.0/24", "--ipv6-cidr-block", v6.String())
	sn := subnet.Subnet.SubnetId
	at := func(n byte) string {
		b := v6.Addr().As16()
		b[15] = n
		return netip.AddrFrom16(b).String()
	}

	var created struct {
		NetworkInterface struct {
			NetworkInterfaceId string
			Ipv6Addresses      []struct{ Ipv6Address string }
		}
	}
	cliJSON(t, s, &created, "ec2", "create-network-interface", "--subnet-id", sn, "--ipv6-addresses", "Ipv6Address="+at(0x50))
	eni := created.NetworkInterface.NetworkInterfaceId
	if a := created.NetworkInterface.Ipv6Addresses; len(a) != 1 || a[0].Ipv6Address != at(0x50) {
		t.Fatalf("create-network-interface --ipv6-addresses: %+v", created)
	}
	var assigned struct{ AssignedIpv6Addresses []string }
	cliJSON(t, s, &assigned, "ec2", "assign-ipv6-addresses", "--network-interface-id", eni, "--ipv6-address-count", "2")
	if len(assigned.AssignedIpv6Addresses) != 2 {
		t.Fatalf("assign-ipv6-addresses: %+v", assigned)
	}
	var unassigned struct{ UnassignedIpv6Addresses []string }
	cliJSON(t, s, &unassigned, "ec2", "unassign-ipv6-addresses", "--network-interface-id", eni, "--ipv6-addresses", at(0x50))
	if len(unassigned.UnassignedIpv6Addresses) != 1 || unassigned.UnassignedIpv6Addresses[0] != at(0x50) {
		t.Fatalf("unassign-ipv6-addresses: %+v", unassigned)
	}
	if stderr := cliFails(t, s, "ec2", "assign-ipv6-addresses", "--network-interface-id", eni, "--ipv6-addresses", "2001:db8::1"); !strings.Contains(stderr, "(InvalidParameterValue)") {
		t.Errorf("an address outside the subnet: %s", stderr)
	}

	var got map[string]struct {
		Code, Message         string
		AssignedIpv6Addresses []string
		Instances             []struct {
			NetworkInterfaces []struct {
				Ipv6Addresses []struct{ Ipv6Address string }
			}
		}
	}
	boto3(t, s, `
sn, eni, addr = sys.argv[2], sys.argv[3], sys.argv[4]
call("assign", "assign_ipv6_addresses", NetworkInterfaceId=eni, Ipv6Addresses=[addr])
call("both", "create_network_interface", SubnetId=sn, Ipv6AddressCount=1, Ipv6Addresses=[{"Ipv6Address": addr}])
call("run", "run_instances", ImageId="ami-12345678", MinCount=1, MaxCount=1, SubnetId=sn, Ipv6AddressCount=1)
`, &got, sn, eni, at(0x60))
	if a := got["assign"].AssignedIpv6Addresses; len(a) != 1 || a[0] != at(0x60) {
		t.Errorf("boto3 assign: %+v", got["assign"])
	}
	if got["both"].Code != "InvalidParameterCombination" {
		t.Errorf("boto3 chosen and counted: %+v", got["both"])
	}
	if r := got["run"].Instances; len(r) != 1 || len(r[0].NetworkInterfaces[0].Ipv6Addresses) != 1 {
		t.Errorf("boto3 run_instances: %+v", got["run"])
	}

	ctx := context.Background()
	c := s.ec2(s.adminKey())
	out, err := c.RunInstances(ctx, &ec2.RunInstancesInput{ImageId: aws.String("ami-12345678"), MinCount: aws.Int32(1), MaxCount: aws.Int32(1),
		NetworkInterfaces: []types.InstanceNetworkInterfaceSpecification{{DeviceIndex: aws.Int32(0), SubnetId: aws.String(sn),
			Ipv6Addresses: []types.InstanceIpv6Address{{Ipv6Address: aws.String(at(0x70))}}}}})
	if err != nil || aws.ToString(out.Instances[0].NetworkInterfaces[0].Ipv6Addresses[0].Ipv6Address) != at(0x70) {
		t.Fatalf("SDK run with a chosen IPv6 address: %+v %v", out, err)
	}
	id := out.Instances[0].NetworkInterfaces[0].NetworkInterfaceId
	a, err := c.AssignIpv6Addresses(ctx, &ec2.AssignIpv6AddressesInput{NetworkInterfaceId: id, Ipv6AddressCount: aws.Int32(1)})
	if err != nil || len(a.AssignedIpv6Addresses) != 1 {
		t.Fatalf("SDK assign: %+v %v", a, err)
	}
	u, err := c.UnassignIpv6Addresses(ctx, &ec2.UnassignIpv6AddressesInput{NetworkInterfaceId: id, Ipv6Addresses: []string{at(0x70)}})
	if err != nil || len(u.UnassignedIpv6Addresses) != 1 {
		t.Fatalf("SDK unassign: %+v %v", u, err)
	}
	_, err = c.UnassignIpv6Addresses(ctx, &ec2.UnassignIpv6AddressesInput{NetworkInterfaceId: id, Ipv6Addresses: []string{at(0x70)}})
	wantCode(t, err, "InvalidParameterValue")
}

// TestClientsSubnetsAfterCreation: CreateDefaultSubnet, ModifySubnetAttribute
// and AvailabilityZoneId with the aws CLI, boto3 and aws-sdk-go-v2.
func TestClientsSubnetsAfterCreation(t *testing.T) {
	testutil.RequireCommand(t, awsCLI)
	t.Parallel()
	s := startServer(t, t.TempDir())
	var subnets struct{ Subnets []struct{ SubnetId string } }
	cliJSON(t, s, &subnets, "ec2", "describe-subnets", "--filters", "Name=availability-zone,Values=us-east-1b")
	if _, stderr, code := cli(t, s, "ec2", "delete-subnet", "--subnet-id", subnets.Subnets[0].SubnetId); code != 0 {
		t.Fatalf("delete-subnet: %s", stderr)
	}
	var created struct {
		Subnet struct {
			SubnetId, CidrBlock, AvailabilityZone string
			DefaultForAz                          bool
		}
	}
	cliJSON(t, s, &created, "ec2", "create-default-subnet", "--availability-zone", "us-east-1b")
	if c := created.Subnet; c.CidrBlock != "172.31.16.0/20" || c.AvailabilityZone != "us-east-1b" || !c.DefaultForAz {
		t.Fatalf("create-default-subnet: %+v", created)
	}
	if stderr := cliFails(t, s, "ec2", "create-default-subnet", "--availability-zone", "us-east-1b"); !strings.Contains(stderr, "(DefaultSubnetAlreadyExistsInAvailabilityZone)") {
		t.Errorf("a second default subnet: %s", stderr)
	}
	if _, stderr, code := cli(t, s, "ec2", "modify-subnet-attribute", "--subnet-id", created.Subnet.SubnetId, "--no-map-public-ip-on-launch"); code != 0 {
		t.Errorf("modify-subnet-attribute --no-map-public-ip-on-launch: %s", stderr)
	}

	var got map[string]struct {
		Code, Message string
		Subnet        struct {
			SubnetId, AvailabilityZone, AvailabilityZoneId string
			AssignIpv6AddressOnCreation                    bool
		}
		Subnets []struct{ AssignIpv6AddressOnCreation bool }
	}
	boto3(t, s, `
v = ec2.create_vpc(CidrBlock="10.0.0.0/16", AmazonProvidedIpv6CidrBlock=True)["Vpc"]
block = v["Ipv6CidrBlockAssociationSet"][0]["Ipv6CidrBlock"].replace("/56", "/64")
call("create", "create_subnet", VpcId=v["VpcId"], CidrBlock="10.0.1.0/24", Ipv6CidrBlock=block, AvailabilityZoneId="use1-az3")
sn = out["create"]["Subnet"]["SubnetId"]
call("modify", "modify_subnet_attribute", SubnetId=sn, AssignIpv6AddressOnCreation={"Value": True})
call("described", "describe_subnets", SubnetIds=[sn])
call("public", "modify_subnet_attribute", SubnetId=sn, MapPublicIpOnLaunch={"Value": True})
i = ec2.run_instances(ImageId="ami-12345678", MinCount=1, MaxCount=1, Placement={"AvailabilityZoneId": "use1-az1"})["Instances"][0]
out["run"] = {"Subnet": {"AvailabilityZone": i["Placement"]["AvailabilityZone"]}}
`, &got)
	if got["run"].Subnet.AvailabilityZone != "us-east-1a" {
		t.Errorf("boto3 run_instances by zone ID: %+v", got["run"])
	}
	if c := got["create"].Subnet; c.AvailabilityZone != "us-east-1c" || c.AvailabilityZoneId != "use1-az3" {
		t.Errorf("boto3 create_subnet by zone ID: %+v", got["create"])
	}
	if d := got["described"].Subnets; got["modify"].Code != "" || len(d) != 1 || !d[0].AssignIpv6AddressOnCreation {
		t.Errorf("boto3 modify_subnet_attribute: %+v then %+v", got["modify"], got["described"])
	}
	if got["public"].Code != "InvalidParameterValue" {
		t.Errorf("boto3 MapPublicIpOnLaunch: %+v", got["public"])
	}

	ctx := context.Background()
	c := s.ec2(s.adminKey())
	_, err := c.CreateDefaultSubnet(ctx, &ec2.CreateDefaultSubnetInput{AvailabilityZone: aws.String("us-east-1a")})
	wantCode(t, err, "DefaultSubnetAlreadyExistsInAvailabilityZone")
	_, err = c.ModifySubnetAttribute(ctx, &ec2.ModifySubnetAttributeInput{SubnetId: aws.String(created.Subnet.SubnetId),
		AssignIpv6AddressOnCreation: &types.AttributeBooleanValue{Value: aws.Bool(true)}})
	wantCode(t, err, "InvalidParameterValue") // the default subnet has no IPv6 block
	run, err := c.RunInstances(ctx, &ec2.RunInstancesInput{ImageId: aws.String("ami-12345678"), MinCount: aws.Int32(1), MaxCount: aws.Int32(1),
		Placement: &types.Placement{AvailabilityZoneId: aws.String("use1-az3")}})
	if err != nil || aws.ToString(run.Instances[0].Placement.AvailabilityZone) != "us-east-1c" {
		t.Fatalf("SDK run by zone ID: %+v %v", run, err)
	}
}

// TestClientsIPv6Blocks: IPv6 blocks associated and disassociated after
// creation with the aws CLI, boto3 and aws-sdk-go-v2.
func TestClientsIPv6Blocks(t *testing.T) {
	testutil.RequireCommand(t, awsCLI)
	t.Parallel()
	s := startServer(t, t.TempDir())
	var vpc struct{ Vpc struct{ VpcId string } }
	cliJSON(t, s, &vpc, "ec2", "create-vpc", "--cidr-block", "10.0.0.0/16")
	var subnet struct{ Subnet struct{ SubnetId string } }
	cliJSON(t, s, &subnet, "ec2", "create-subnet", "--vpc-id", vpc.Vpc.VpcId, "--cidr-block", "10.0.1.0/24")
	type assoc struct {
		AssociationId, Ipv6CidrBlock string
		Ipv6CidrBlockState           struct{ State string }
	}
	var v6 struct {
		VpcId                    string
		Ipv6CidrBlockAssociation assoc
	}
	cliJSON(t, s, &v6, "ec2", "associate-vpc-cidr-block", "--vpc-id", vpc.Vpc.VpcId, "--amazon-provided-ipv6-cidr-block")
	block := netip.MustParsePrefix(v6.Ipv6CidrBlockAssociation.Ipv6CidrBlock)
	if block.Bits() != 56 || v6.Ipv6CidrBlockAssociation.Ipv6CidrBlockState.State != "associating" {
		t.Fatalf("associate-vpc-cidr-block: %+v", v6)
	}
	var sn6 struct{ Ipv6CidrBlockAssociation assoc }
	cliJSON(t, s, &sn6, "ec2", "associate-subnet-cidr-block", "--subnet-id", subnet.Subnet.SubnetId, "--ipv6-cidr-block", netip.PrefixFrom(block.Addr(), 64).String())
	if sn6.Ipv6CidrBlockAssociation.AssociationId == "" {
		t.Fatalf("associate-subnet-cidr-block: %+v", sn6)
	}
	if stderr := cliFails(t, s, "ec2", "disassociate-vpc-cidr-block", "--association-id", v6.Ipv6CidrBlockAssociation.AssociationId); !strings.Contains(stderr, "(DependencyViolation)") {
		t.Errorf("disassociating a VPC block a subnet uses: %s", stderr)
	}

	var got map[string]struct {
		Code, Message            string
		Ipv6CidrBlockAssociation assoc
	}
	boto3(t, s, `
call("subnet", "disassociate_subnet_cidr_block", AssociationId=sys.argv[2])
call("vpc", "disassociate_vpc_cidr_block", AssociationId=sys.argv[3])
call("again", "disassociate_vpc_cidr_block", AssociationId=sys.argv[3])
`, &got, sn6.Ipv6CidrBlockAssociation.AssociationId, v6.Ipv6CidrBlockAssociation.AssociationId)
	if got["subnet"].Ipv6CidrBlockAssociation.Ipv6CidrBlockState.State != "disassociating" ||
		got["vpc"].Ipv6CidrBlockAssociation.Ipv6CidrBlockState.State != "disassociating" ||
		got["again"].Code != "InvalidVpcCidrBlockAssociationID.NotFound" {
		t.Errorf("boto3: %+v", got)
	}

	ctx := context.Background()
	c := s.ec2(s.adminKey())
	out, err := c.AssociateVpcCidrBlock(ctx, &ec2.AssociateVpcCidrBlockInput{VpcId: aws.String(vpc.Vpc.VpcId), AmazonProvidedIpv6CidrBlock: aws.Bool(true)})
	if err != nil || out.Ipv6CidrBlockAssociation == nil {
		t.Fatalf("SDK associate: %+v %v", out, err)
	}
	_, err = c.AssociateVpcCidrBlock(ctx, &ec2.AssociateVpcCidrBlockInput{VpcId: aws.String(vpc.Vpc.VpcId), CidrBlock: aws.String("10.1.0.0/16"),
		AmazonProvidedIpv6CidrBlock: aws.Bool(true)})
	wantCode(t, err, "InvalidParameterCombination")
	_, err = c.AssociateSubnetCidrBlock(ctx, &ec2.AssociateSubnetCidrBlockInput{SubnetId: aws.String(subnet.Subnet.SubnetId), Ipv6CidrBlock: aws.String("2001:db8::/64")})
	wantCode(t, err, "InvalidSubnet.Range")
}

// cliIPv6VPC creates a VPC 10.0.0.0/16 with an Amazon-provided IPv6 block
// through the aws CLI and returns its ID and the block's first /64.
func cliIPv6VPC(t *testing.T, s *server) (string, netip.Prefix) {
	t.Helper()
	var vpc struct {
		Vpc struct {
			VpcId                       string
			Ipv6CidrBlockAssociationSet []struct{ Ipv6CidrBlock string }
		}
	}
	cliJSON(t, s, &vpc, "ec2", "create-vpc", "--cidr-block", "10.0.0.0/16", "--amazon-provided-ipv6-cidr-block")
	block := netip.MustParsePrefix(vpc.Vpc.Ipv6CidrBlockAssociationSet[0].Ipv6CidrBlock)
	return vpc.Vpc.VpcId, netip.PrefixFrom(block.Addr(), 64)
}
