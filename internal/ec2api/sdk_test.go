package ec2api

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/smithy-go"

	"palisade.dev/palisade/internal/auth"
	"palisade.dev/palisade/internal/model"
	"palisade.dev/palisade/internal/testutil"
)

const (
	sdkKeyID  = "AKIDPALISADESDK"
	sdkSecret = "sdk-secret"
)

// fakeEC2 is a test server wired the way the real one will be: read the
// body, verify SigV4, decode, dispatch, and answer through this package's
// writers. Its "handlers" return canned answers and record what they read.
type fakeEC2 struct {
	mu   sync.Mutex
	seen map[string][]string // parameter name -> values read
}

func (f *fakeEC2) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	id := NewRequestID()
	if err := f.serve(w, r, id); err != nil {
		WriteError(w, err, id)
	}
}

func (f *fakeEC2) serve(w http.ResponseWriter, r *http.Request, id string) error {
	body, _, release, err := newBodyBudget(DefaultBodyBudget).read(r, DefaultMaxBody)
	defer release()
	if err != nil {
		return err
	}
	keys := auth.StaticKeys{sdkKeyID: {Secret: sdkSecret, AccountID: "123456789012"}}
	if _, err := auth.Verify(r, body, keys, time.Now()); err != nil {
		return err
	}
	q, err := DecodeRequest(r, body)
	if err != nil {
		return err
	}
	if err := q.CheckVersion(APIVersion); err != nil {
		return err
	}
	return f.dispatch(w, q, id)
}

func (f *fakeEC2) dispatch(w http.ResponseWriter, q *Request, id string) error {
	p := q.Params
	switch q.Action {
	case "DescribeSecurityGroups":
		ids, err := p.Strings("GroupId")
		if err != nil {
			return err
		}
		filters, err := p.List("Filter")
		if err != nil {
			return err
		}
		f.record("GroupId", ids...)
		for _, fl := range filters {
			values, _ := fl.Strings("Value")
			f.record("Filter."+fl.String("Name"), values...)
		}
		if err := p.RejectUnread(); err != nil {
			return err
		}
		return WriteResponse(w, q.Action, id, cannedGroups())
	case "CreateSecurityGroup":
		name := p.String("GroupName")
		return model.Errorf(model.CodeInvalidGroupDuplicate, "The security group '%s' already exists for VPC '%s'", name, p.String("VpcId"))
	case "DeleteSecurityGroup":
		if dry, err := p.Bool("DryRun"); err != nil || dry {
			return errors.Join(err, model.Errorf(model.CodeDryRunOperation, "Request would have succeeded, but DryRun flag is set."))
		}
		return WriteResponse(w, q.Action, id, testReturn{Return: true})
	case "DescribeRegions":
		return model.Errorf(model.CodeRequestLimitExceeded, "Request limit exceeded.")
	}
	return UnknownAction(q.Action)
}

func (f *fakeEC2) record(name string, values ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.seen[name] = values
}

func newClient(t *testing.T, secret string) (*ec2.Client, *fakeEC2) {
	t.Helper()
	fake := &fakeEC2{seen: map[string][]string{}}
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	client := ec2.New(ec2.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(srv.URL),
		Credentials:  credentials.NewStaticCredentialsProvider(sdkKeyID, secret, ""),
		Retryer:      aws.NopRetryer{},
		HTTPClient:   testutil.SDKHTTPClient,
	})
	return client, fake
}

func TestSDKDecodesDescribeSecurityGroups(t *testing.T) {
	client, fake := newClient(t, sdkSecret)
	out, err := client.DescribeSecurityGroups(context.Background(), &ec2.DescribeSecurityGroupsInput{
		GroupIds: []string{"sg-0123456789abcdef0", "sg-0fedcba9876543210"},
		Filters:  []types.Filter{{Name: aws.String("group-name"), Values: []string{"web", "db"}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(fake.seen["GroupId"], []string{"sg-0123456789abcdef0", "sg-0fedcba9876543210"}) ||
		!reflect.DeepEqual(fake.seen["Filter.group-name"], []string{"web", "db"}) {
		t.Fatalf("server read %v", fake.seen)
	}
	if len(out.SecurityGroups) != 1 {
		t.Fatalf("%d groups", len(out.SecurityGroups))
	}
	g := out.SecurityGroups[0]
	if aws.ToString(g.GroupId) != "sg-0123456789abcdef0" || aws.ToString(g.Description) != "web tier & <friends>" ||
		aws.ToString(g.OwnerId) != "123456789012" || aws.ToString(g.VpcId) != "vpc-0123456789abcdef0" ||
		aws.ToString(g.SecurityGroupArn) == "" || len(g.Tags) != 1 || aws.ToString(g.Tags[0].Value) != "web" {
		t.Fatalf("group %+v", g)
	}
	in := g.IpPermissions[0]
	if aws.ToString(in.IpProtocol) != "tcp" || aws.ToInt32(in.FromPort) != 22 || aws.ToInt32(in.ToPort) != 22 ||
		aws.ToString(in.IpRanges[0].CidrIp) != "10.0.0.0/8" || aws.ToString(in.IpRanges[0].Description) != "ssh" ||
		aws.ToString(in.UserIdGroupPairs[0].GroupId) != "sg-0fedcba9876543210" {
		t.Fatalf("ingress %+v", in)
	}
	if in.Ipv6Ranges == nil || len(in.Ipv6Ranges) != 0 {
		t.Fatalf("an empty set must decode as an empty list, got %#v", in.Ipv6Ranges)
	}
	if e := g.IpPermissionsEgress[0]; aws.ToString(e.IpProtocol) != "-1" || e.FromPort != nil {
		t.Fatalf("egress %+v", e)
	}
	if id, _ := awsmiddleware.GetRequestIDMetadata(out.ResultMetadata); len(id) != 36 {
		t.Errorf("request id %q", id)
	}
}

func TestSDKDecodesErrors(t *testing.T) {
	client, _ := newClient(t, sdkSecret)
	ctx := context.Background()
	cases := []struct {
		name   string
		call   func() error
		code   string
		status int
	}{
		{"duplicate", func() error {
			_, err := client.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{
				GroupName: aws.String("web"), Description: aws.String("d"), VpcId: aws.String("vpc-1")})
			return err
		}, model.CodeInvalidGroupDuplicate, 400},
		{"dry run", func() error {
			_, err := client.DeleteSecurityGroup(ctx, &ec2.DeleteSecurityGroupInput{GroupId: aws.String("sg-1"), DryRun: aws.Bool(true)})
			return err
		}, model.CodeDryRunOperation, 412},
		{"throttled", func() error {
			_, err := client.DescribeRegions(ctx, &ec2.DescribeRegionsInput{})
			return err
		}, model.CodeRequestLimitExceeded, 503},
		{"unknown action", func() error {
			_, err := client.DescribeVpcs(ctx, &ec2.DescribeVpcsInput{})
			return err
		}, model.CodeInvalidAction, 400},
		{"unknown parameter", func() error {
			_, err := client.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{MaxResults: aws.Int32(5)})
			return err
		}, model.CodeUnknownParameter, 400},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			checkAPIError(t, c.call(), c.code, c.status)
		})
	}
	if _, err := client.DeleteSecurityGroup(ctx, &ec2.DeleteSecurityGroupInput{GroupId: aws.String("sg-1")}); err != nil {
		t.Fatalf("plain delete: %v", err)
	}
}

func TestSDKAuthErrors(t *testing.T) {
	client, _ := newClient(t, "wrong-secret")
	_, err := client.DescribeSecurityGroups(context.Background(), &ec2.DescribeSecurityGroupsInput{})
	checkAPIError(t, err, model.CodeSignatureDoesNotMatch, 403)

	fake := &fakeEC2{seen: map[string][]string{}}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	stranger := ec2.New(ec2.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(srv.URL), Retryer: aws.NopRetryer{}, HTTPClient: testutil.SDKHTTPClient,
		Credentials: credentials.NewStaticCredentialsProvider("AKIDSTRANGER", "x", ""),
	})
	_, err = stranger.DescribeSecurityGroups(context.Background(), &ec2.DescribeSecurityGroupsInput{})
	checkAPIError(t, err, model.CodeAuthFailure, 401)
}

// TestPresignedGet sends a GET presigned by aws-sdk-go-v2 through the whole
// chain: auth takes the X-Amz-* parameters, DecodeRequest the rest.
func TestPresignedGet(t *testing.T) {
	srv := httptest.NewServer(&fakeEC2{seen: map[string][]string{}})
	defer srv.Close()
	req, err := http.NewRequest("GET", srv.URL+"/?Action=DeleteSecurityGroup&Version=2016-11-15&GroupId=sg-1&X-Amz-Expires=60", nil)
	if err != nil {
		t.Fatal(err)
	}
	creds := aws.Credentials{AccessKeyID: sdkKeyID, SecretAccessKey: sdkSecret}
	emptyHash := "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	u, _, err := v4.NewSigner().PresignHTTP(context.Background(), creds, req, emptyHash, "ec2", "us-east-1", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
}

func checkAPIError(t *testing.T, err error, code string, status int) {
	t.Helper()
	var api smithy.APIError
	if !errors.As(err, &api) {
		t.Fatalf("got %v, want an API error", err)
	}
	if api.ErrorCode() != code || api.ErrorMessage() == "" {
		t.Fatalf("got code %q message %q, want %s", api.ErrorCode(), api.ErrorMessage(), code)
	}
	var re *awshttp.ResponseError
	if !errors.As(err, &re) || re.HTTPStatusCode() != status || len(re.ServiceRequestID()) != 36 {
		t.Fatalf("response error %v: want status %d and a request id", err, status)
	}
}
