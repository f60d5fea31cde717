package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"

	"palisade.dev/palisade/internal/testutil"
)

// ackedRule is a rule the server acknowledged: port p from the CIDR.
type ackedRule struct {
	group string
	port  int32
	cidr  string
}

// Every write the server acknowledged survives kill -9: writers keep
// creating groups and authorizing rules while the server is killed, and
// after a restart on the same data directory everything that got a 200 is
// there.
func TestKill9KeepsAcknowledgedWrites(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	s := startServer(t, dir)
	admin := s.adminKey()
	client := s.ec2(admin)

	const writers = 4
	var (
		mu     sync.Mutex
		groups = map[string]string{} // acknowledged group ID -> name
		rules  []ackedRule
		wg     sync.WaitGroup
	)
	for w := range writers {
		wg.Go(func() {
			for i := 0; ; i++ {
				name := fmt.Sprintf("crash-%d-%d", w, i)
				g, err := client.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{GroupName: aws.String(name), Description: aws.String("d")})
				if err != nil {
					return // the server is gone
				}
				mu.Lock()
				groups[aws.ToString(g.GroupId)] = name
				mu.Unlock()
				for p := range int32(3) {
					cidr := fmt.Sprintf("198.51.100.%d/32", w)
					_, err := client.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{
						GroupId: g.GroupId, IpPermissions: tcpFrom(1000+p, cidr)})
					if err != nil {
						return
					}
					mu.Lock()
					rules = append(rules, ackedRule{aws.ToString(g.GroupId), 1000 + p, cidr})
					mu.Unlock()
				}
			}
		})
	}
	// Let the writers get going, then pull the plug mid-stream.
	deadline := time.Now().Add(20 * time.Second)
	for {
		mu.Lock()
		n := len(rules)
		mu.Unlock()
		if n >= 300 || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	s.crash()
	wg.Wait()
	if len(rules) < 50 {
		t.Fatalf("only %d rules acknowledged before the crash", len(rules))
	}
	t.Logf("%d groups and %d rules acknowledged before kill -9", len(groups), len(rules))

	s2 := startServer(t, dir)
	if s2.adminKey() != admin {
		t.Fatal("the restart changed the admin key")
	}
	out, err := s2.ec2(admin).DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{})
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	names := map[string]string{}
	for _, g := range out.SecurityGroups {
		id := aws.ToString(g.GroupId)
		names[id] = aws.ToString(g.GroupName)
		for _, p := range g.IpPermissions {
			for _, r := range p.IpRanges {
				have[fmt.Sprintf("%s/%d/%s", id, aws.ToInt32(p.FromPort), aws.ToString(r.CidrIp))] = true
			}
		}
	}
	for id, name := range groups {
		if names[id] != name {
			t.Errorf("acknowledged group %s (%s) lost", id, name)
		}
	}
	for _, r := range rules {
		if !have[fmt.Sprintf("%s/%d/%s", r.group, r.port, r.cidr)] {
			t.Errorf("acknowledged rule %+v lost", r)
		}
	}
	s2.stop()
}

// fileState is what a restart must not change about a file.
type fileState struct {
	content string
	mode    os.FileMode
	mtime   time.Time
}

func stateOf(t *testing.T, path string) fileState {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fileState{string(b), info.Mode().Perm(), info.ModTime()}
}

// A restart keeps the accounts, the keys and the credentials files as they
// were, and SIGTERM ends the server cleanly, with exit code 0.
func TestRestartKeepsAccountsAndFiles(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "state", "palisade") // serve creates it
	s := startServer(t, dir)
	admin := s.adminKey()
	adminAccount := s.account(admin)
	stdout, stderr, code := palisade(t, append(profileEnv(t, dir), "AWS_ENDPOINT_URL="+s.endpoint), "account", "create", "bob")
	if code != 0 {
		t.Fatalf("account create: %s", stderr)
	}
	before := map[string]fileState{}
	for _, f := range []string{"credentials", "config"} {
		before[f] = stateOf(t, filepath.Join(dir, f))
	}
	if before["credentials"].mode != 0o600 || !strings.HasPrefix(before["credentials"].content, "[palisade]\naws_access_key_id = AKIA") ||
		before["config"].content != "[profile palisade]\nregion = us-east-1\n" {
		t.Fatalf("files after first start: %+v", before)
	}
	if info, err := os.Stat(dir); err != nil || info.Mode().Perm() != 0o700 {
		t.Fatalf("data directory: %v %v", info.Mode(), err)
	}
	s.stop()
	if !strings.Contains(s.log.String(), "msg=stopped") {
		t.Fatalf("no clean stop in the log:\n%s", s.log)
	}

	time.Sleep(10 * time.Millisecond) // a rewrite would show in the mtime
	s2 := startServer(t, dir)
	for f, st := range before {
		if got := stateOf(t, filepath.Join(dir, f)); got != st {
			t.Errorf("%s changed across a restart: %+v -> %+v", f, st, got)
		}
	}
	if strings.Contains(s2.log.String(), "admin account created") {
		t.Error("a second admin was created on restart")
	}
	if got := s2.account(admin); got != adminAccount {
		t.Errorf("admin key now belongs to %s, not %s", got, adminAccount)
	}
	var bob createdAccount
	if err := json.Unmarshal([]byte(stdout), &bob); err != nil {
		t.Fatal(err)
	}
	if got := s2.account(bob.creds()); got != bob.AccountId {
		t.Errorf("bob's key now belongs to %s, not %s", got, bob.AccountId)
	}
	s2.stop()
}

func TestSignalsStopCleanly(t *testing.T) {
	t.Parallel()
	for _, sig := range []os.Signal{syscall.SIGTERM, syscall.SIGINT} {
		s := startServer(t, t.TempDir())
		code, took := s.signal(sig, 10*time.Second)
		if code != 0 || took > 5*time.Second {
			t.Errorf("%v: exit code %d after %v\n%s", sig, code, took, s.log)
		}
		for _, want := range []string{"msg=\"shutting down\"", "msg=stopped"} {
			if !strings.Contains(s.log.String(), want) {
				t.Errorf("%v: log lacks %s:\n%s", sig, want, s.log)
			}
		}
	}
}

// A second server on the same data directory is refused while the first
// runs (the store's file lock), rather than corrupting it.
func TestSecondServerOnSameDataDirIsRefused(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := startServer(t, dir)
	start := time.Now()
	_, stderr, code := palisade(t, baseEnv(t), "serve", "--listen", "127.0.0.1:0", "--data-dir", dir)
	if code == 0 || !strings.Contains(stderr, "palisade: open store") {
		t.Fatalf("second server: exit %d after %v\n%s", code, time.Since(start), stderr)
	}
	s.waitHealthy()
	s.stop()
}

// Run through sudo (as root, with SUDO_UID and SUDO_GID), serve gives the
// directories and files it creates to the invoking user, who can then use
// the credentials without root.
func TestSudoHandsFilesToTheInvokingUser(t *testing.T) {
	testutil.RequireRoot(t)
	t.Parallel()
	const uid, gid = 4321, 4322
	base := t.TempDir()
	for _, d := range []string{filepath.Dir(base), base} { // let the user reach the data directory
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	dir := filepath.Join(base, "state", "palisade")
	env := append(baseEnv(t), fmt.Sprintf("SUDO_UID=%d", uid), fmt.Sprintf("SUDO_GID=%d", gid), "SUDO_USER=nobody-in-particular")
	s := startServerEnv(t, dir, env)
	for _, p := range []string{filepath.Join(base, "state"), dir, filepath.Join(dir, "palisade.db"),
		filepath.Join(dir, "credentials"), filepath.Join(dir, "config")} {
		info, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		st := info.Sys().(*syscall.Stat_t)
		if st.Uid != uid || st.Gid != gid {
			t.Errorf("%s owned by %d:%d, want %d:%d", p, st.Uid, st.Gid, uid, gid)
		}
	}
	if info, _ := os.Stat(base); info.Sys().(*syscall.Stat_t).Uid != 0 {
		t.Errorf("the existing directory %s was given away", base)
	}

	// The user, not root, reads the credentials and creates an account.
	cmd := exec.Command(palisadeBin, "account", "create", "from-user", "--endpoint-url", s.endpoint)
	cmd.Env = append(profileEnv(t, dir), "HOME="+base)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: gid}}
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), `"AccountId"`) {
		t.Fatalf("account create as uid %d: %v\n%s", uid, err, out)
	}
	s.stop()
}
