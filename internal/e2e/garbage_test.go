package e2e

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// signedPost builds a POST of body to s, signed with c for service in
// region (at the given time, to test skew).
func signedPost(t testing.TB, s *server, c aws.Credentials, service, region, body string, at time.Time) *http.Request {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, s.endpoint+"/", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	sum := sha256.Sum256([]byte(body))
	if err := v4.NewSigner().SignHTTP(context.Background(), c, req, hex.EncodeToString(sum[:]), service, region, at); err != nil {
		t.Fatal(err)
	}
	return req
}

func statusOf(t *testing.T, req *http.Request) int {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

// rawStatus writes raw bytes to the server's port, half-closes, and returns
// the status code of the answer (0 when the server just closes).
func rawStatus(t *testing.T, s *server, raw string) int {
	t.Helper()
	conn, err := net.DialTimeout("tcp", s.addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(conn, raw)
	conn.(*net.TCPConn).CloseWrite()
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// Whatever a client sends, the server answers with a client error (or, for
// the few valid signed requests among the random ones, success), never 5xx,
// and stays up.
func TestGarbageNeverGets5xx(t *testing.T) {
	t.Parallel()
	s := startServer(t, t.TempDir())
	admin := s.adminKey()
	now := time.Now()

	check := func(what string, status int) {
		t.Helper()
		if status >= 500 {
			t.Errorf("%s: HTTP %d", what, status)
		}
	}

	// Broken HTTP, straight on the socket.
	host := "Host: " + s.addr + "\r\n"
	for name, raw := range map[string]string{
		"not HTTP":            "GARBAGE\r\n\r\n",
		"bad chunk":           "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked\r\nContent-Type: application/x-www-form-urlencoded\r\n\r\nZZZ\r\nAction=X\r\n0\r\n\r\n",
		"short body":          "POST / HTTP/1.1\r\n" + host + "Content-Length: 100\r\nContent-Type: application/x-www-form-urlencoded\r\n\r\nAction=Describe",
		"huge header":         "GET / HTTP/1.1\r\n" + host + "X-Big: " + strings.Repeat("a", 100<<10) + "\r\n\r\n",
		"NUL in path":         "GET /\x00 HTTP/1.1\r\n" + host + "\r\n",
		"HTTP/1.0 no host":    "GET /?Action=DescribeSecurityGroups HTTP/1.0\r\n\r\n",
		"two content lengths": "POST / HTTP/1.1\r\n" + host + "Content-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
	} {
		status := rawStatus(t, s, raw)
		if status == 0 {
			t.Errorf("%s: no answer", name)
		}
		check(name, status)
	}

	// Well-formed HTTP, unsigned or badly signed.
	type req struct {
		method, path, body string
		header             map[string]string
	}
	form := "application/x-www-form-urlencoded"
	for _, r := range []req{
		{"GET", "/", "", nil},
		{"GET", "/favicon.ico", "", nil},
		{"GET", "/../../etc/passwd", "", nil},
		{"POST", "/", "", nil},
		{"PUT", "/", "Action=DescribeSecurityGroups", nil},
		{"DELETE", "/", "", nil},
		{"OPTIONS", "/", "", nil},
		{"PATCH", "/healthz", "", nil},
		{"POST", "/", `{"Action":"DescribeSecurityGroups"}`, map[string]string{"Content-Type": "application/json"}},
		{"POST", "/", "Action=%zz&Version=2016-11-15", map[string]string{"Content-Type": form}},
		{"POST", "/", strings.Repeat("A", 2<<20), map[string]string{"Content-Type": form}},
		{"GET", "/?Action=DescribeSecurityGroups&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=a/b/c/d/e&X-Amz-Expires=-5", "", nil},
		{"GET", "/?X-Amz-Signature=zz&X-Amz-Credential=%00", "", nil},
		{"POST", "/", "Action=DescribeSecurityGroups", map[string]string{"Authorization": "garbage"}},
		{"POST", "/", "Action=DescribeSecurityGroups", map[string]string{"Authorization": "AWS4-HMAC-SHA256 Credential=" + admin.AccessKeyID + "/20261125/us-east-1/ec2/aws4_request, SignedHeaders=host, Signature=" + strings.Repeat("0", 64)}},
		{"POST", "/", "Action=DescribeSecurityGroups", map[string]string{"Authorization": "AWS4-HMAC-SHA256 Credential=" + admin.AccessKeyID + "/20261125/us-east-1/ec2/aws4_request, SignedHeaders=host, Signature=" + strings.Repeat("0", 64), "X-Amz-Date": "yesterday"}},
		{"POST", "/", "Action=DescribeSecurityGroups", map[string]string{"Authorization": "AWS4-HMAC-SHA256 Credential=AKIANOBODY/20261125/us-east-1/sts/aws4_request, SignedHeaders=host;x-amz-date, Signature=" + strings.Repeat("a", 64), "X-Amz-Date": now.UTC().Format("20060102T150405Z")}},
	} {
		hr, err := http.NewRequest(r.method, s.endpoint+r.path, strings.NewReader(r.body))
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range r.header {
			hr.Header.Set(k, v)
		}
		check(r.method+" "+r.path+" "+clip(r.body), statusOf(t, hr))
	}

	// Properly signed, but for the wrong service, region or time.
	good := "Action=DescribeSecurityGroups&Version=2016-11-15"
	check("service s3", statusOf(t, signedPost(t, s, admin, "s3", "us-east-1", good, now)))
	check("region garbage", statusOf(t, signedPost(t, s, admin, "ec2", "Not_A_Region", good, now)))
	check("an hour ago", statusOf(t, signedPost(t, s, admin, "ec2", "us-east-1", good, now.Add(-time.Hour))))
	check("tomorrow", statusOf(t, signedPost(t, s, admin, "ec2", "us-east-1", good, now.Add(24*time.Hour))))

	// Signed by the admin, so that they reach the handlers, with
	// hand-picked and random nonsense.
	for _, body := range []string{
		"Version=2016-11-15",
		"Action=DescribeSecurityGroups",
		"Action=DescribeSecurityGroups&Version=1999-01-01",
		"Action=No%00Such&Version=2016-11-15",
		"Action=" + strings.Repeat("X", 10000) + "&Version=2016-11-15",
		"Action=AuthorizeSecurityGroupIngress&Version=2016-11-15&GroupId=sg-1&IpPermissions.99999999.IpProtocol=tcp",
		"Action=AuthorizeSecurityGroupIngress&Version=2016-11-15&GroupName=default&IpPermissions.1.IpProtocol=tcp&IpPermissions.1.FromPort=99999999999&IpPermissions.1.ToPort=-7",
		"Action=AuthorizeSecurityGroupIngress&Version=2016-11-15&GroupName=default&IpPermissions.1.IpProtocol=-1&IpPermissions.1.IpRanges.1.CidrIp=300.1.1.1/99",
		"Action=DescribeSecurityGroups&Version=2016-11-15&MaxResults=-1&NextToken=%FF%FE",
		"Action=DescribeSecurityGroups&Version=2016-11-15&Filter.1.Name=%FF&Filter.1.Value.1=*%00*",
		"Action=DescribeSecurityGroups&Version=2016-11-15&GroupId.1=" + strings.Repeat("sg-", 5000),
		"Action=DescribeSecurityGroups&Version=2016-11-15&GroupId.0=x&GroupId.01=y&GroupId.x=z",
		"Action=CreateSecurityGroup&Version=2016-11-15&GroupName=%FF%FF&GroupDescription=%00",
		"Action=DeleteSecurityGroup&Version=2016-11-15&GroupId=sg-&DryRun=maybe",
		"Action=PalisadeCreateAccount&Version=2016-11-15&Name=%FF&AccountId=-1",
		"Action=PalisadeCreateAccount&Version=2016-11-15&Name=x&AccessKeyId=K&SecretAccessKey=%00",
		"Action=DescribeSecurityGroups&Version=2016-11-15&Action=DeleteVpc",
	} {
		check(clip(body), statusOf(t, signedPost(t, s, admin, "ec2", "us-east-1", body, now)))
	}
	for _, body := range []string{"Action=GetCallerIdentity", "Action=AssumeRole&Version=2011-06-15&RoleArn=%FF", "Version=2011-06-15"} {
		check("sts "+body, statusOf(t, signedPost(t, s, admin, "sts", "us-east-1", body, now)))
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 300 {
		body := randomForm(rng)
		check(fmt.Sprintf("random %d: %s", i, clip(body)), statusOf(t, signedPost(t, s, admin, "ec2", "us-east-1", body, now)))
	}

	s.waitHealthy()
	s.stop()
}

// The actions random forms call, and the pieces their parameters are made
// of.
var (
	randomActions = []string{
		"CreateSecurityGroup", "DeleteSecurityGroup", "DescribeSecurityGroups", "AuthorizeSecurityGroupIngress",
		"AuthorizeSecurityGroupEgress", "RevokeSecurityGroupIngress", "RevokeSecurityGroupEgress",
		"ModifySecurityGroupRules", "DescribeSecurityGroupRules", "UpdateSecurityGroupRuleDescriptionsIngress",
		"DescribeSecurityGroupReferences", "DescribeStaleSecurityGroups", "CreateTags", "DeleteTags", "DescribeTags",
		"CreateVpc", "DescribeVpcs", "DeleteVpc", "CreateSubnet", "DescribeSubnets", "DeleteSubnet",
		"RunInstances", "DescribeInstances", "TerminateInstances", "ModifyInstanceAttribute",
		"CreateNetworkInterface", "DescribeNetworkInterfaces", "ModifyNetworkInterfaceAttribute",
		"CreateManagedPrefixList", "DescribeManagedPrefixLists", "PalisadeCreateAccount", "NoSuchAction",
	}
	randomNames = []string{
		"GroupId", "GroupName", "GroupDescription", "VpcId", "SubnetId", "CidrBlock", "DryRun", "MaxResults", "NextToken",
		"IpPermissions.1.IpProtocol", "IpPermissions.1.FromPort", "IpPermissions.1.ToPort",
		"IpPermissions.1.IpRanges.1.CidrIp", "IpPermissions.1.Ipv6Ranges.1.CidrIpv6", "IpPermissions.1.Groups.1.GroupId",
		"IpPermissions.1.PrefixListIds.1.PrefixListId", "IpPermissions.2.IpProtocol", "SecurityGroupRuleId.1",
		"SecurityGroupRule.1.SecurityGroupRuleId", "SecurityGroupRule.1.SecurityGroupRule.IpProtocol",
		"Filter.1.Name", "Filter.1.Value.1", "GroupId.1", "GroupId.2", "ResourceId.1", "Tag.1.Key", "Tag.1.Value",
		"TagSpecification.1.ResourceType", "TagSpecification.1.Tag.1.Key", "InstanceId", "SecurityGroupId.1",
		"ImageId", "MinCount", "MaxCount", "Entry.1.Cidr", "AddressFamily", "Name", "AccountId",
	}
	randomValues = []string{
		"", "-1", "0", "1", "65535", "65536", "-2147483649", "99999999999999999999", "tcp", "udp", "icmp", "icmpv6",
		"all", "58", "256", "true", "false", "TRUE", "sg-", "sg-0123456789abcdef0", "sg-zzzzzzzz", "vpc-1",
		"default", "0.0.0.0/0", "::/0", "10.1.2.3/16", "10.0.0.0/33", "fe80::/129", "1.2.3.4", "pl-1",
		"ip-permission.cidr", "group-name", "*", "?", "\x00", "\xff\xfe", "ü", strings.Repeat("x", 300),
		"security-group", "IPv4", "lab", "123456789012",
	}
)

func randomForm(rng *rand.Rand) string {
	v := url.Values{"Action": {randomActions[rng.IntN(len(randomActions))]}, "Version": {"2016-11-15"}}
	for range rng.IntN(8) {
		v.Set(randomNames[rng.IntN(len(randomNames))], randomValues[rng.IntN(len(randomValues))])
	}
	return v.Encode()
}

func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}
