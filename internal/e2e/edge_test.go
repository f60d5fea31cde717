package e2e

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/ec2"

	"palisade.dev/palisade/internal/testutil"
)

// memoryOf reads a field of /proc/PID/status (VmRSS, VmHWM) in bytes.
func memoryOf(t *testing.T, pid int, field string) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				t.Fatalf("%s: %v", line, err)
			}
			return kb << 10
		}
	}
	t.Fatalf("no %s in /proc/%d/status", field, pid)
	return 0
}

// floodBodySize is what each connection of the flood claims and sends:
// just under the 1 MiB cap on bodies.
const floodBodySize = 1<<20 - 1

// flooder is one connection of a body flood. It sends the headers of a
// POST and half of its body, reports, waits for the go-ahead, then sends
// the rest and reads whatever the server answers. Write errors are part of
// the game: the server may answer and close at once.
func flooder(addr, authorization string, sentHalf *sync.WaitGroup, goAhead <-chan struct{}) (status string) {
	halfDone := false
	defer func() {
		if !halfDone {
			sentHalf.Done()
		}
	}()
	conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return "dial: " + err.Error()
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(90 * time.Second))
	head := "POST / HTTP/1.1\r\nHost: " + addr + "\r\nContent-Type: application/x-www-form-urlencoded\r\n" +
		"Content-Length: " + strconv.Itoa(floodBodySize) + "\r\n"
	if authorization != "" {
		head += "Authorization: " + authorization + "\r\nX-Amz-Date: " + time.Now().UTC().Format("20060102T150405Z") + "\r\n"
	}
	chunk := []byte(strings.Repeat("A", 64<<10))
	send := func(n int) {
		for n > 0 {
			k := min(n, len(chunk))
			if _, err := conn.Write(chunk[:k]); err != nil {
				return
			}
			n -= k
		}
	}
	if _, err := io.WriteString(conn, head+"\r\n"); err == nil {
		send(floodBodySize / 2)
	}
	halfDone = true
	sentHalf.Done()
	<-goAhead
	send(floodBodySize - floodBodySize/2)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return "no answer"
	}
	resp.Body.Close()
	return resp.Status
}

// TestBodyFloodHoldsLittleMemory reproduces the attack of many connections
// each sending a body of nearly 1 MiB: anonymous ones (answered from their
// headers, their bodies never held) and, harder, ones naming a real access
// key with a forged signature (their bodies must be read to check it, and
// are held within the server's body budget). serve's peak resident memory
// must grow by less than 100 MB (before the fix it grew by about the sum
// of the bodies), and a signed client is served meanwhile.
func TestBodyFloodHoldsLittleMemory(t *testing.T) {
	s := startServer(t, t.TempDir())
	admin := s.adminKey()
	client := s.ec2(admin)
	ctx := context.Background()
	if _, err := client.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{}); err != nil {
		t.Fatal(err)
	}
	pid := s.cmd.Process.Pid
	before := memoryOf(t, pid, "VmRSS")

	const anonymous, forged = 200, 100 // within the fd limit of a test and below serve's connection cap
	day := time.Now().UTC().Format("20060102")
	forgedAuth := "AWS4-HMAC-SHA256 Credential=" + admin.AccessKeyID + "/" + day + "/us-east-1/ec2/aws4_request, " +
		"SignedHeaders=host;x-amz-date, Signature=" + strings.Repeat("0", 64)
	var sentHalf, done sync.WaitGroup
	goAhead := make(chan struct{})
	statuses := make(chan string, anonymous+forged)
	for i := range anonymous + forged {
		auth := ""
		if i < forged {
			auth = forgedAuth
		}
		sentHalf.Add(1)
		done.Add(1)
		go func() {
			defer done.Done()
			statuses <- flooder(s.addr, auth, &sentHalf, goAhead)
		}()
	}
	sentHalf.Wait()
	start := time.Now()
	_, err := client.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{})
	took := time.Since(start) // logged, not asserted: the machine may be busy
	close(goAhead)
	done.Wait()
	close(statuses)
	if err != nil {
		t.Fatalf("a signed client during the flood: %v", err)
	}
	counts := map[string]int{}
	for st := range statuses {
		counts[st]++
	}
	peak := memoryOf(t, pid, "VmHWM")
	t.Logf("flood of %d anonymous + %d forged bodies of %d bytes: serve's RSS %d MB before, peak %d MB (+%d MB); "+
		"a signed call during it took %v; answers %v",
		anonymous, forged, floodBodySize, before>>20, peak>>20, (peak-before)>>20, took.Round(time.Microsecond), counts)
	limit := int64(100 << 20)
	if raceEnabled {
		limit *= 3 // the race detector's shadow memory grows with the heap
	}
	if peak-before > limit {
		t.Errorf("serve's peak RSS grew by %d MB under the flood (limit %d MB)", (peak-before)>>20, limit>>20)
	}
	if _, err := client.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{}); err != nil {
		t.Fatalf("after the flood: %v", err)
	}
}

// selfSigned writes a self-signed certificate for 127.0.0.1 and its key
// into dir, and returns their paths and a pool trusting the certificate.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string, roots *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "palisade test"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA:         true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	if err := os.WriteFile(certFile, certPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	roots = x509.NewCertPool()
	roots.AppendCertsFromPEM(certPEM)
	return certFile, keyFile, roots
}

// TestTLS: with --tls-cert and --tls-key, serve speaks HTTPS, which the
// real aws CLI trusts with --ca-bundle and refuses without; plain HTTP gets
// nothing done.
func TestTLS(t *testing.T) {
	testutil.RequireCommand(t, awsCLI)
	t.Parallel()
	certDir := t.TempDir()
	certFile, keyFile, roots := selfSigned(t, certDir)
	dir := t.TempDir()
	s := startServerTLS(t, dir, baseEnv(t), roots, "--tls-cert", certFile, "--tls-key", keyFile)
	if !strings.HasPrefix(s.endpoint, "https://") || !strings.Contains(s.log.String(), "endpoint=https://") {
		t.Fatalf("endpoint %s, log:\n%s", s.endpoint, s.log)
	}
	env := profileEnv(t, dir)
	base := []string{"--endpoint-url", s.endpoint, "--output", "json"}

	stdout, stderr, code := run(t, env, awsCLI, append(base, "--ca-bundle", certFile, "sts", "get-caller-identity")...)
	if code != 0 || !strings.Contains(stdout, s.account(s.adminKey())) {
		t.Fatalf("aws --ca-bundle sts get-caller-identity: exit %d\n%s%s", code, stdout, stderr)
	}
	stdout, stderr, code = run(t, env, awsCLI, append(base, "--ca-bundle", certFile, "ec2", "create-security-group",
		"--group-name", "tls", "--description", "over TLS")...)
	if code != 0 || !strings.Contains(stdout, `"GroupId": "sg-`) {
		t.Fatalf("aws ec2 create-security-group over TLS: exit %d\n%s%s", code, stdout, stderr)
	}
	_, stderr, code = run(t, env, awsCLI, append(base, "sts", "get-caller-identity")...)
	if code == 0 || !strings.Contains(strings.ToLower(stderr), "certificate") {
		t.Fatalf("an untrusted certificate was accepted: exit %d\n%s", code, stderr)
	}
	resp, err := http.Get("http://" + s.addr + "/healthz")
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode == 200 {
			t.Fatal("plain HTTP was served")
		}
	}
	if strings.Contains(s.log.String(), "clear text") {
		t.Fatalf("a TLS server on loopback warned about clear text:\n%s", s.log)
	}
	s.stop()
}

// TestSessionTokenRefused: Palisade issues no temporary credentials, so a
// session token is refused as AWS refuses an invalid one, in EC2's words
// and in STS's, rather than ignored.
func TestSessionTokenRefused(t *testing.T) {
	testutil.RequireCommand(t, awsCLI)
	t.Parallel()
	s := startServer(t, t.TempDir())
	admin := s.adminKey()
	env := append(baseEnv(t), "AWS_ACCESS_KEY_ID="+admin.AccessKeyID, "AWS_SECRET_ACCESS_KEY="+admin.SecretAccessKey,
		"AWS_SESSION_TOKEN=FwoGZXIvYXdzEXAMPLE", "AWS_DEFAULT_REGION=us-east-1", "AWS_PAGER=", "AWS_EC2_METADATA_DISABLED=true")
	base := []string{"--endpoint-url", s.endpoint, "--output", "json"}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"ec2", "describe-security-groups"}, "An error occurred (AuthFailure) when calling the DescribeSecurityGroups operation: " +
			"AWS was not able to validate the provided access credentials"},
		{[]string{"sts", "get-caller-identity"}, "An error occurred (InvalidClientTokenId) when calling the GetCallerIdentity operation: " +
			"The security token included in the request is invalid."},
	} {
		_, stderr, code := run(t, env, awsCLI, append(base, c.args...)...)
		if code != 254 || !strings.Contains(stderr, c.want) {
			t.Errorf("aws %v with a session token: exit %d\n%s", c.args, code, stderr)
		}
	}
}

// TestOnlyGetAndPost: other methods get 405 with Allow, in EC2's error
// format, even signed.
func TestOnlyGetAndPost(t *testing.T) {
	t.Parallel()
	s := startServer(t, t.TempDir())
	req := signedPost(t, s, s.adminKey(), "ec2", "us-east-1", "Action=DescribeSecurityGroups&Version=2016-11-15", time.Now())
	req.Method = http.MethodPut
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 405 || resp.Header.Get("Allow") != "GET, POST" || !strings.Contains(string(body), "<Code>MethodNotAllowed</Code>") {
		t.Fatalf("PUT: %d Allow=%q %s", resp.StatusCode, resp.Header.Get("Allow"), body)
	}
}
