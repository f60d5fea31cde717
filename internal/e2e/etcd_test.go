package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"palisade.dev/palisade/internal/testutil"
)

// clientTimeout is how long a test client waits for an answer: a replica
// whose etcd is gone must answer well within it.
const clientTimeout = 15 * time.Second

// startReplica runs palisade serve on the etcd cluster c.
func startReplica(t testing.TB, c *testutil.EtcdCluster) *server {
	t.Helper()
	return startServer(t, t.TempDir(), "--store", "etcd", "--etcd-endpoints", strings.Join(c.Endpoints, ","))
}

// createGroup creates a group through s and returns its ID.
func createGroup(ctx context.Context, s *server, c aws.Credentials, name string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, clientTimeout)
	defer cancel()
	out, err := s.ec2(c).CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{GroupName: aws.String(name), Description: aws.String("d")})
	if err != nil {
		return "", err
	}
	return aws.ToString(out.GroupId), nil
}

// groupsOf returns the IDs and names of every group visible through s.
func groupsOf(ctx context.Context, s *server, c aws.Credentials) (map[string]string, error) {
	ctx, cancel := context.WithTimeout(ctx, clientTimeout)
	defer cancel()
	out, err := s.ec2(c).DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{})
	if err != nil {
		return nil, err
	}
	m := map[string]string{}
	for _, g := range out.SecurityGroups {
		m[aws.ToString(g.GroupId)] = aws.ToString(g.GroupName)
	}
	return m, nil
}

// retryFor retries f for up to d (a leader election, a client moving to
// another member) and fails the test with f's last error.
func retryFor(t testing.TB, d time.Duration, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still failing after %v: %v", what, d, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestServeReplicasOnEtcd runs two serve replicas on one three-member etcd
// cluster: what one acknowledges, the other reads at once; accounts made
// through one sign on the other; the loss of one etcd member or of one
// replica loses nothing; with etcd gone the API answers 503
// ServiceUnavailable quickly, and works again when etcd is back.
func TestServeReplicasOnEtcd(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := testutil.StartEtcd(t, 3)
	a := startReplica(t, c)
	b := startReplica(t, c)
	admin := a.adminKey()
	if b.adminKey() != admin {
		t.Fatal("the replicas wrote different admin keys: the admin was created twice")
	}

	// Read your writes across replicas, at once.
	for i := range 10 {
		id, err := createGroup(ctx, a, admin, fmt.Sprintf("rw-%d", i))
		if err != nil {
			t.Fatal(err)
		}
		got, err := groupsOf(ctx, b, admin)
		if err != nil {
			t.Fatal(err)
		}
		if got[id] != fmt.Sprintf("rw-%d", i) {
			t.Fatalf("group %s created through replica a is not visible through b right after", id)
		}
	}

	// Accounts made through either replica sign on the other at once.
	onA, onB := newAccount(t, a), newAccount(t, b)
	if acct := b.account(onA); acct == "" {
		t.Fatal("no account for a key created through a")
	}
	if acct := a.account(onB); acct == "" {
		t.Fatal("no account for a key created through b")
	}
	if _, err := createGroup(ctx, b, onA, "team"); err != nil {
		t.Fatalf("account made through a, writing through b: %v", err)
	}
	// `palisade account create` through b, with b's own credentials files.
	stdout, stderr, code := palisade(t, append(profileEnv(t, b.dir), "AWS_ENDPOINT_URL="+b.endpoint), "account", "create", "carol")
	if code != 0 {
		t.Fatalf("account create through b: exit %d\n%s", code, stderr)
	}
	var carol createdAccount
	if err := json.Unmarshal([]byte(stdout), &carol); err != nil {
		t.Fatalf("%v\n%s", err, stdout)
	}
	if acct := a.account(carol.creds()); acct != carol.AccountId {
		t.Fatalf("carol, created through b, is account %q on a, want %s", acct, carol.AccountId)
	}

	// kill -9 one etcd member: reads and writes go on through both.
	c.Kill(t, 0)
	for i := range 5 {
		for _, s := range []*server{a, b} {
			var id string
			retryFor(t, 20*time.Second, "write after losing an etcd member", func() (err error) {
				id, err = createGroup(ctx, s, admin, fmt.Sprintf("one-down-%d-%s", i, s.addr))
				return err
			})
			other := a
			if s == a {
				other = b
			}
			got, err := groupsOf(ctx, other, admin)
			if err != nil {
				t.Fatalf("read after losing an etcd member: %v", err)
			}
			if got[id] == "" {
				t.Fatalf("group %s acknowledged with one member down is not visible on the other replica", id)
			}
		}
	}

	// kill -9 replica a in the middle of writes: b serves, and has every
	// group a acknowledged.
	var mu sync.Mutex
	acked := map[string]string{}
	var wg sync.WaitGroup
	for w := range 3 {
		wg.Go(func() {
			for i := 0; ; i++ {
				name := fmt.Sprintf("crash-%d-%d", w, i)
				id, err := createGroup(ctx, a, admin, name)
				if err != nil {
					return
				}
				mu.Lock()
				acked[id] = name
				mu.Unlock()
			}
		})
	}
	retryFor(t, 20*time.Second, "writes through a", func() error {
		mu.Lock()
		defer mu.Unlock()
		if len(acked) < 20 {
			return fmt.Errorf("%d groups acknowledged", len(acked))
		}
		return nil
	})
	a.crash()
	wg.Wait()
	got, err := groupsOf(ctx, b, admin)
	if err != nil {
		t.Fatalf("replica b after replica a was killed: %v", err)
	}
	for id, name := range acked {
		if got[id] != name {
			t.Errorf("group %s (%s) acknowledged by the killed replica is lost", id, name)
		}
	}
	t.Logf("%d groups acknowledged by replica a before kill -9, all read through b", len(acked))

	// All of etcd down: 503 ServiceUnavailable, quickly.
	c.Kill(t, 1)
	c.Kill(t, 2)
	for _, call := range []func() error{
		func() error { _, err := groupsOf(ctx, b, admin); return err },
		func() error { _, err := createGroup(ctx, b, admin, "nowhere"); return err },
	} {
		start := time.Now()
		err := call()
		wantServiceUnavailable(t, err)
		t.Logf("answered %v after %v with etcd down", err, time.Since(start).Round(time.Millisecond))
	}

	// etcd back: the same replica works again, without a restart.
	for i := range 3 {
		c.Restart(t, i)
	}
	retryFor(t, 60*time.Second, "write once etcd is back", func() error {
		_, err := createGroup(ctx, b, admin, "back")
		return err
	})
	if got, err := groupsOf(ctx, b, admin); err != nil || len(got) < len(acked) {
		t.Fatalf("after etcd came back: %d groups, %v", len(got), err)
	}
	b.stop()
}

// wantServiceUnavailable checks an API error: ServiceUnavailable, HTTP 503.
func wantServiceUnavailable(t *testing.T, err error) {
	t.Helper()
	var api smithy.APIError
	if !errors.As(err, &api) || api.ErrorCode() != "ServiceUnavailable" {
		t.Fatalf("got %v, want ServiceUnavailable", err)
	}
	var resp *smithyhttp.ResponseError
	if !errors.As(err, &resp) || resp.HTTPStatusCode() != 503 {
		t.Fatalf("got %v, want HTTP 503", err)
	}
}

// BenchmarkAPIEtcd is BenchmarkAPI against a serve on a three-member etcd
// cluster:
//
//	go test -run '^$' -bench APIEtcd -benchtime 5s ./internal/e2e/
func BenchmarkAPIEtcd(b *testing.B) {
	benchmarkAPI(b, startReplica(b, testutil.StartEtcd(b, 3)))
}
