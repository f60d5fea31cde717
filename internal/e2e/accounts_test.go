package e2e

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
)

// createdAccount is what `palisade account create` prints.
type createdAccount struct {
	AccountId, AccessKeyId, SecretAccessKey string
}

func (c createdAccount) creds() aws.Credentials {
	return aws.Credentials{AccessKeyID: c.AccessKeyId, SecretAccessKey: c.SecretAccessKey}
}

// palisade runs the palisade binary with env.
func palisade(t *testing.T, env []string, args ...string) (string, string, int) {
	t.Helper()
	return run(t, env, palisadeBin, args...)
}

func TestAccountCreate(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := startServer(t, t.TempDir())
	admin := s.adminKey()
	adminEC2 := s.ec2(admin)
	secret, err := adminEC2.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{
		GroupName: aws.String("admin-only"), Description: aws.String("not for bob")})
	if err != nil {
		t.Fatal(err)
	}

	// The admin profile, found the aws CLI's way (AWS_PROFILE and the two
	// files), with the endpoint from AWS_ENDPOINT_URL.
	env := append(profileEnv(t, s.dir), "AWS_ENDPOINT_URL="+s.endpoint)
	stdout, stderr, code := palisade(t, env, "account", "create", "bob")
	if code != 0 {
		t.Fatalf("account create: exit %d\n%s", code, stderr)
	}
	var bob createdAccount
	if err := json.Unmarshal([]byte(stdout), &bob); err != nil {
		t.Fatalf("%v\n%s", err, stdout)
	}
	if !regexp.MustCompile(`^\d{12}$`).MatchString(bob.AccountId) ||
		!regexp.MustCompile(`^AKIA[A-Z0-9]{16}$`).MatchString(bob.AccessKeyId) || len(bob.SecretAccessKey) != 40 {
		t.Fatalf("printed %s", stdout)
	}

	// Bob's credentials work, and bob lives in his own world.
	if got := s.account(bob.creds()); got != bob.AccountId {
		t.Fatalf("bob's key belongs to %s, not %s", got, bob.AccountId)
	}
	groups, err := s.ec2(bob.creds()).DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{})
	if err != nil {
		t.Fatal(err)
	}
	if len(groups.SecurityGroups) != 1 || aws.ToString(groups.SecurityGroups[0].GroupName) != "default" ||
		aws.ToString(groups.SecurityGroups[0].OwnerId) != bob.AccountId {
		t.Fatalf("bob sees %+v", groups.SecurityGroups)
	}
	_, err = s.ec2(bob.creds()).DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{GroupIds: []string{aws.ToString(secret.GroupId)}})
	wantCode(t, err, "InvalidGroup.NotFound")

	// Bob is no admin; the key comes from the environment this time, and
	// the endpoint from the flag.
	bobEnv := append(baseEnv(t), "AWS_ACCESS_KEY_ID="+bob.AccessKeyId, "AWS_SECRET_ACCESS_KEY="+bob.SecretAccessKey)
	_, stderr, code = palisade(t, bobEnv, "account", "create", "eve", "--endpoint-url", s.endpoint)
	if code == 0 || !strings.HasPrefix(stderr, "palisade: UnauthorizedOperation: ") {
		t.Fatalf("bob creating an account: exit %d\n%s", code, stderr)
	}

	// Chosen IDs, a table, and a duplicate.
	stdout, stderr, code = palisade(t, env, "account", "create", "moto", "--account-id", "123456789012",
		"--access-key-id", "FOOBARKEY", "--secret-access-key", "FOOBARSECRET", "--output", "table")
	if code != 0 || !strings.Contains(stdout, "|  AccountId        |  123456789012  |") {
		t.Fatalf("exit %d\n%s%s", code, stdout, stderr)
	}
	if got := s.account(aws.Credentials{AccessKeyID: "FOOBARKEY", SecretAccessKey: "FOOBARSECRET"}); got != "123456789012" {
		t.Fatalf("moto's key belongs to %s", got)
	}
	_, stderr, code = palisade(t, env, "account", "create", "again", "--account-id", "123456789012")
	if code == 0 || !strings.HasPrefix(stderr, "palisade: InvalidAccountID.Duplicate: ") {
		t.Fatalf("duplicate: exit %d\n%s", code, stderr)
	}
	_, stderr, code = palisade(t, env, "account", "create", "half", "--access-key-id", "X")
	if code == 0 || !strings.Contains(stderr, "secret-access-key") {
		t.Fatalf("half a key: exit %d\n%s", code, stderr)
	}
	s.stop()
}

// newAccount creates an account through PalisadeCreateAccount, signed with
// the admin key, and returns its credentials.
func newAccount(t testing.TB, s *server) aws.Credentials {
	t.Helper()
	req := signedPost(t, s, s.adminKey(), "ec2", "us-east-1",
		"Action=PalisadeCreateAccount&Version=2016-11-15&Name=bench", time.Now())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		AccessKeyID     string `xml:"accessKeyId"`
		SecretAccessKey string `xml:"secretAccessKey"`
	}
	if err := xml.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != 200 {
		t.Fatalf("PalisadeCreateAccount: HTTP %d, %v", resp.StatusCode, err)
	}
	return aws.Credentials{AccessKeyID: out.AccessKeyID, SecretAccessKey: out.SecretAccessKey}
}
