package e2e

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"palisade.dev/palisade/internal/client"
	"palisade.dev/palisade/internal/testutil"
)

// startTimeout bounds how long a server may take to answer /healthz.
const startTimeout = 20 * time.Second

// server is one running `palisade serve`.
type server struct {
	t        testing.TB
	dir      string // its data directory
	addr     string // host:port it listens on
	endpoint string // http://addr
	cmd      *exec.Cmd
	log      *tail
	exited   chan struct{} // closed when the process has exited
	exitErr  error         // set before exited is closed
	http     *http.Client  // trusts the server's certificate when it serves TLS
}

// startServer runs palisade serve on a free loopback port (the kernel's
// pick: --listen 127.0.0.1:0, read back from the log) with dir as its data
// directory, and waits until /healthz answers 200. The server is killed
// when the test ends if it is still running.
func startServer(t testing.TB, dir string, args ...string) *server {
	t.Helper()
	return startServerEnv(t, dir, baseEnv(t), args...)
}

// startServerEnv is startServer with the given environment.
func startServerEnv(t testing.TB, dir string, env []string, args ...string) *server {
	t.Helper()
	return startServerTLS(t, dir, env, nil, args...)
}

// startServerTLS starts a server; roots, when set, are the CAs of the certificate
// it serves HTTPS with (args then hold --tls-cert and --tls-key).
func startServerTLS(t testing.TB, dir string, env []string, roots *x509.CertPool, args ...string) *server {
	t.Helper()
	return launchServer(t, dir, env, roots, nil, args...)
}

// startServerAs is startServer run as the user cred names, who must be
// able to create dir.
func startServerAs(t testing.TB, dir string, cred *syscall.Credential, args ...string) *server {
	t.Helper()
	return launchServer(t, dir, baseEnv(t), nil, cred, args...)
}

// launchServer starts a server as startServerTLS does, as the user cred
// names when it is set.
func launchServer(t testing.TB, dir string, env []string, roots *x509.CertPool, cred *syscall.Credential, args ...string) *server {
	t.Helper()
	cmd := exec.Command(palisadeBin, append([]string{"serve", "--listen", "127.0.0.1:0", "--data-dir", dir}, args...)...)
	cmd.Env = env
	// A test binary that dies without its cleanups (killed, timed out)
	// takes its servers with it: a lab server left running would keep its
	// namespaces alive.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM, Credential: cred}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	s := &server{t: t, dir: dir, cmd: cmd, log: &tail{}, exited: make(chan struct{}), http: testutil.SDKHTTPClient}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	addrc := make(chan string, 1)
	go s.readLog(stderr, addrc)
	go func() { s.exitErr = cmd.Wait(); close(s.exited) }()
	t.Cleanup(s.cleanup)

	select {
	case s.addr = <-addrc:
	case <-s.exited:
		t.Fatalf("palisade serve exited before listening: %v\n%s", s.exitErr, s.log)
	case <-time.After(startTimeout):
		t.Fatalf("palisade serve did not log its address within %v\n%s", startTimeout, s.log)
	}
	s.endpoint = "http://" + s.addr
	if roots != nil {
		s.endpoint = "https://" + s.addr
		s.http = &http.Client{Transport: client.SDKTransport(&http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}})}
	}
	s.waitHealthy()
	return s
}

var listeningRE = regexp.MustCompile(`msg=listening addr=(\S+)`)

// readLog copies the server's log into s.log and reports the address of
// its "listening" line.
func (s *server) readLog(r io.Reader, addrc chan<- string) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		s.log.add(line)
		if m := listeningRE.FindStringSubmatch(line); m != nil {
			select {
			case addrc <- m[1]:
			default:
			}
		}
	}
}

func (s *server) waitHealthy() {
	s.t.Helper()
	deadline := time.Now().Add(startTimeout)
	for {
		resp, err := s.http.Get(s.endpoint + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("/healthz never answered 200 (%v)\n%s", err, s.log)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// signal sends sig and waits up to timeout for the process to exit; it
// returns the exit code (-1 when killed by a signal) and how long it took.
func (s *server) signal(sig os.Signal, timeout time.Duration) (int, time.Duration) {
	s.t.Helper()
	start := time.Now()
	if err := s.cmd.Process.Signal(sig); err != nil {
		s.t.Fatalf("signal %v: %v", sig, err)
	}
	select {
	case <-s.exited:
	case <-time.After(timeout):
		s.t.Fatalf("palisade serve did not exit within %v of %v\n%s", timeout, sig, s.log)
	}
	return s.cmd.ProcessState.ExitCode(), time.Since(start)
}

// crash kills the server at once (kill -9).
func (s *server) crash() {
	s.t.Helper()
	if code, _ := s.signal(syscall.SIGKILL, 10*time.Second); code != -1 {
		s.t.Fatalf("kill -9: exit code %d", code)
	}
}

// stop ends the server as an operator would, and checks that it went
// cleanly.
func (s *server) stop() {
	s.t.Helper()
	if code, took := s.signal(syscall.SIGTERM, 10*time.Second); code != 0 {
		s.t.Fatalf("SIGTERM: exit code %d after %v\n%s", code, took, s.log)
	}
	s.checkLog()
}

func (s *server) cleanup() {
	select {
	case <-s.exited:
	default:
		s.cmd.Process.Kill()
		<-s.exited
	}
	if s.t.Failed() {
		s.t.Logf("log of palisade serve (%s):\n%s", s.dir, s.log)
	}
	s.checkLog()
}

// checkLog fails the test when the server (built with -race under the race
// detector) reported a data race, or panicked.
func (s *server) checkLog() {
	s.t.Helper()
	text := s.log.String()
	for _, bad := range []string{"WARNING: DATA RACE", "handler panicked", "panic:"} {
		if strings.Contains(text, bad) {
			s.t.Errorf("palisade serve logged %q:\n%s", bad, text)
			return
		}
	}
}

// adminKey returns the access key in the server's credentials file.
func (s *server) adminKey() aws.Credentials {
	s.t.Helper()
	b, err := os.ReadFile(filepath.Join(s.dir, "credentials"))
	if err != nil {
		s.t.Fatal(err)
	}
	var c aws.Credentials
	for _, line := range strings.Split(string(b), "\n") {
		k, v, _ := strings.Cut(line, "=")
		switch strings.TrimSpace(k) {
		case "aws_access_key_id":
			c.AccessKeyID = strings.TrimSpace(v)
		case "aws_secret_access_key":
			c.SecretAccessKey = strings.TrimSpace(v)
		}
	}
	if c.AccessKeyID == "" || c.SecretAccessKey == "" {
		s.t.Fatalf("credentials file without a key:\n%s", b)
	}
	return c
}

// ec2 returns an SDK EC2 client signing with c.
func (s *server) ec2(c aws.Credentials) *ec2.Client { return s.ec2In(c, "us-east-1") }

// sts returns an SDK STS client signing with c.
func (s *server) sts(c aws.Credentials) *sts.Client {
	return sts.New(sts.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(s.endpoint),
		Credentials:  credentials.StaticCredentialsProvider{Value: c},
		Retryer:      aws.NopRetryer{},
		HTTPClient:   s.http,
	})
}

// account returns the account c belongs to, by sts:GetCallerIdentity.
func (s *server) account(c aws.Credentials) string {
	s.t.Helper()
	out, err := s.sts(c).GetCallerIdentity(context.Background(), &sts.GetCallerIdentityInput{})
	if err != nil {
		s.t.Fatal(err)
	}
	return aws.ToString(out.Account)
}

// baseEnv is a minimal environment for child processes: no AWS_* or
// PALISADE_* settings of the developer, no SUDO_* (serve would hand its
// files to that user), and a HOME of its own.
func baseEnv(t testing.TB) []string {
	return []string{"PATH=" + os.Getenv("PATH"), "HOME=" + homeDir, "LANG=C.UTF-8"}
}

// tail keeps the last maxTail bytes of a log, safe for concurrent use.
type tail struct {
	mu    sync.Mutex
	lines []string
	size  int
}

const maxTail = 256 << 10

func (l *tail) add(line string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, line)
	l.size += len(line) + 1
	for l.size > maxTail && len(l.lines) > 1 {
		l.size -= len(l.lines[0]) + 1
		l.lines = l.lines[1:]
	}
}

func (l *tail) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

// run runs a command with env and returns its stdout, stderr and exit code.
func run(t testing.TB, env []string, name string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = env
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("%s %v: %v", name, args, err)
	}
	return stdout.String(), stderr.String(), cmd.ProcessState.ExitCode()
}

// profileEnv is baseEnv plus the aws CLI settings of the admin profile that
// serve wrote into dir.
func profileEnv(t testing.TB, dir string) []string {
	return append(baseEnv(t),
		"AWS_SHARED_CREDENTIALS_FILE="+filepath.Join(dir, "credentials"),
		"AWS_CONFIG_FILE="+filepath.Join(dir, "config"),
		"AWS_PROFILE=palisade",
		"AWS_PAGER=",
		"AWS_EC2_METADATA_DISABLED=true")
}
