package e2e

import (
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"palisade.dev/palisade/internal/testutil"
)

// TestClientsKeptAndRefusedLaunchOptions: the launch options Palisade
// keeps (monitoring, EBS optimization, instance metadata options) come
// back from DescribeInstances through the aws CLI, boto3 and
// aws-sdk-go-v2; those that name what Palisade does not have (block
// devices, IAM profiles, placement groups, dedicated tenancy) are
// refused with AWS's errors, never dropped.
func TestClientsKeptAndRefusedLaunchOptions(t *testing.T) {
	testutil.RequireCommand(t, awsCLI)
	t.Parallel()
	s := startServer(t, t.TempDir())

	// The aws CLI.
	var run struct {
		Instances []struct {
			InstanceId      string
			Monitoring      struct{ State string }
			EbsOptimized    bool
			MetadataOptions struct {
				State, HttpTokens, HttpEndpoint string
				HttpPutResponseHopLimit         int
			}
		}
	}
	cliJSON(t, s, &run, "ec2", "run-instances", "--image-id", "ami-12345678", "--monitoring", "Enabled=true", "--ebs-optimized",
		"--metadata-options", "HttpTokens=required,HttpPutResponseHopLimit=2")
	i := run.Instances[0]
	if i.Monitoring.State != "enabled" || !i.EbsOptimized || i.MetadataOptions.HttpTokens != "required" ||
		i.MetadataOptions.HttpPutResponseHopLimit != 2 || i.MetadataOptions.HttpEndpoint != "enabled" || i.MetadataOptions.State != "applied" {
		t.Errorf("run-instances kept options: %+v", i)
	}
	var ebs struct{ EbsOptimized struct{ Value bool } }
	cliJSON(t, s, &ebs, "ec2", "describe-instance-attribute", "--instance-id", i.InstanceId, "--attribute", "ebsOptimized")
	if !ebs.EbsOptimized.Value {
		t.Errorf("describe-instance-attribute ebsOptimized: %+v", ebs)
	}
	for args, code := range map[string]string{
		"--block-device-mappings DeviceName=/dev/xvda,Ebs={VolumeSize=8}": "(InvalidBlockDeviceMapping)",
		"--iam-instance-profile Name=web":                                 "(InvalidParameterValue)",
		"--placement Tenancy=dedicated":                                   "(InvalidParameterValue)",
		"--placement GroupName=cluster":                                   "(InvalidPlacementGroup.Unknown)",
		"--metadata-options HttpTokens=always":                            "(InvalidParameterValue)",
	} {
		stderr := cliFails(t, s, append([]string{"ec2", "run-instances", "--image-id", "ami-12345678"}, strings.Fields(args)...)...)
		if !strings.Contains(stderr, code) {
			t.Errorf("run-instances %s: %s, want %s", args, stderr, code)
		}
	}

	// boto3.
	var got map[string]struct {
		Code, Message string
		Reservations  []struct {
			Instances []struct {
				Monitoring      struct{ State string }
				MetadataOptions struct{ HttpTokens string }
			}
		}
	}
	boto3(t, s, `
i = ec2.run_instances(ImageId="ami-12345678", MinCount=1, MaxCount=1, Monitoring={"Enabled": True},
                      MetadataOptions={"HttpTokens": "required"})["Instances"][0]["InstanceId"]
call("described", "describe_instances", InstanceIds=[i])
call("iam", "run_instances", ImageId="ami-12345678", MinCount=1, MaxCount=1, IamInstanceProfile={"Arn": "arn:aws:iam::123456789012:instance-profile/web"})
call("bdm", "run_instances", ImageId="ami-12345678", MinCount=1, MaxCount=1, BlockDeviceMappings=[{"DeviceName": "/dev/sdf", "Ebs": {"VolumeSize": 1}}])
call("host", "run_instances", ImageId="ami-12345678", MinCount=1, MaxCount=1, Placement={"Tenancy": "host"})
`, &got)
	if d := got["described"]; len(d.Reservations) != 1 || d.Reservations[0].Instances[0].Monitoring.State != "enabled" ||
		d.Reservations[0].Instances[0].MetadataOptions.HttpTokens != "required" {
		t.Errorf("boto3 describe_instances: %+v", d)
	}
	if got["iam"].Code != "InvalidParameterValue" || got["bdm"].Code != "InvalidBlockDeviceMapping" || got["host"].Code != "InvalidParameterCombination" {
		t.Errorf("boto3 refused options: %+v", got)
	}

	// aws-sdk-go-v2: the defaults, and a filter on a kept option.
	c := s.ec2(s.adminKey())
	out, err := c.RunInstances(t.Context(), &ec2.RunInstancesInput{ImageId: aws.String("ami-12345678"), MinCount: aws.Int32(1), MaxCount: aws.Int32(1)})
	if err != nil {
		t.Fatal(err)
	}
	m := out.Instances[0].MetadataOptions
	if m == nil || m.HttpTokens != types.HttpTokensStateOptional || aws.ToInt32(m.HttpPutResponseHopLimit) != 1 ||
		out.Instances[0].Monitoring.State != types.MonitoringStateDisabled {
		t.Errorf("SDK defaults: %+v %+v", m, out.Instances[0].Monitoring)
	}
	d, err := c.DescribeInstances(t.Context(), &ec2.DescribeInstancesInput{Filters: []types.Filter{{Name: aws.String("metadata-options.http-tokens"), Values: []string{"required"}}}})
	if err != nil || len(d.Reservations) != 2 {
		t.Errorf("SDK filter metadata-options.http-tokens=required: %d reservations, %v", len(d.Reservations), err)
	}
	_, err = c.RunInstances(t.Context(), &ec2.RunInstancesInput{ImageId: aws.String("ami-12345678"), MinCount: aws.Int32(1), MaxCount: aws.Int32(1),
		MetadataOptions: &types.InstanceMetadataOptionsRequest{HttpPutResponseHopLimit: aws.Int32(0)}})
	wantCode(t, err, "InvalidParameterValue")
}
