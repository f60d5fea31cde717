package e2e

import (
	"context"
	"errors"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"
)

// tcpFrom is one TCP port open to one CIDR, as the SDK sends it (the
// permission tcp of lab_api_test.go builds).
func tcpFrom(port int32, cidr string) []types.IpPermission {
	return []types.IpPermission{tcp(port, cidr)}
}

func wantCode(t testing.TB, err error, code string) {
	t.Helper()
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != code {
		t.Fatalf("got %v, want %s", err, code)
	}
}

func TestSDK(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := startServer(t, t.TempDir())
	admin := s.adminKey()
	id, err := s.sts(admin).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatal(err)
	}
	account := aws.ToString(id.Account)
	if len(account) != 12 || aws.ToString(id.Arn) != "arn:aws:iam::"+account+":root" {
		t.Fatalf("identity %+v", id)
	}

	e := s.ec2(admin)
	g, err := e.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{GroupName: aws.String("db"), Description: aws.String("database")})
	if err != nil {
		t.Fatal(err)
	}
	auth, err := e.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{
		GroupId: g.GroupId, IpPermissions: tcpFrom(5432, "10.0.0.0/8")})
	if err != nil {
		t.Fatal(err)
	}
	if len(auth.SecurityGroupRules) != 1 || aws.ToString(auth.SecurityGroupRules[0].CidrIpv4) != "10.0.0.0/8" {
		t.Fatalf("authorize answered %+v", auth.SecurityGroupRules)
	}
	out, err := e.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{GroupIds: []string{aws.ToString(g.GroupId)}})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.SecurityGroups) != 1 || aws.ToString(out.SecurityGroups[0].OwnerId) != account ||
		len(out.SecurityGroups[0].IpPermissions) != 1 || aws.ToInt32(out.SecurityGroups[0].IpPermissions[0].FromPort) != 5432 {
		t.Fatalf("described %+v", out.SecurityGroups)
	}

	_, err = e.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{
		GroupId: g.GroupId, IpPermissions: tcpFrom(5432, "10.0.0.0/8")})
	wantCode(t, err, "InvalidPermission.Duplicate")
	_, err = e.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{GroupName: aws.String("db"), Description: aws.String("again")})
	wantCode(t, err, "InvalidGroup.Duplicate")
	_, err = e.DeleteSecurityGroup(ctx, &ec2.DeleteSecurityGroupInput{GroupId: g.GroupId, DryRun: aws.Bool(true)})
	wantCode(t, err, "DryRunOperation")

	bad := admin
	bad.SecretAccessKey = "not the secret"
	_, err = s.ec2(bad).DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{})
	wantCode(t, err, "SignatureDoesNotMatch")
	_, err = s.sts(bad).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	wantCode(t, err, "SignatureDoesNotMatch")
	bad.AccessKeyID = "AKIANOSUCHKEY0000000"
	_, err = s.ec2(bad).DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{})
	wantCode(t, err, "AuthFailure")
	s.stop()
}

// Responses larger than net/http's 4 KiB write buffer reach the SDK whole,
// request after request, with no retry (see testutil.SDKHTTPClient: the SDK's own
// transport lost one within a few dozen).
func TestSDKReadsLargeResponses(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := startServer(t, t.TempDir())
	client := s.ec2(s.adminKey())
	g, err := client.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{GroupName: aws.String("big"), Description: aws.String("d")})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		if _, err := authorizeOne(ctx, client, g.GroupId, cidrN(int64(i))); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 300 {
		out, err := client.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{GroupIds: []string{aws.ToString(g.GroupId)}})
		if err != nil {
			t.Fatalf("describe %d: %v", i, err)
		}
		if n := len(out.SecurityGroups[0].IpPermissions[0].IpRanges); n != 20 {
			t.Fatalf("describe %d: %d ranges", i, n)
		}
	}
	s.stop()
}
