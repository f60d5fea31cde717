package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"syscall"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"

	"palisade.dev/palisade/internal/client"
	"palisade.dev/palisade/internal/sysmon"
	"palisade.dev/palisade/internal/testutil"
)

// The replay server is the floor of the CPU-per-call comparison: a Go
// net/http server that answers each EC2 action with the response
// palisade serve gave to it once, recorded, and does nothing else (no
// signature check, no store). What it spends per call is what any Go
// server spends on the same requests on this machine: the runtime, the
// network and HTTP. Its runtime is tuned as serve's is (cmd/palisade):
// one processor, GOGC=400 and sysmon's timer slack. It is this test
// binary itself, started again with replayEnv naming the file of
// recorded responses.
const replayEnv = "PALISADE_E2E_REPLAY"

// replayed is one recorded response.
type replayed struct {
	Status      int
	ContentType string
	Body        []byte
}

// runReplayServer serves the responses of the file named by replayEnv on a
// loopback port, which it prints on stdout, until it is killed.
func runReplayServer(path string) int {
	runtime.GOMAXPROCS(1)   // serveProcs
	debug.SetGCPercent(400) // daemonGCPercent
	if _, _, err := sysmon.Tune(); err != nil {
		fmt.Fprintln(os.Stderr, "replay server:", err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	var byAction map[string]replayed
	if err := json.Unmarshal(data, &byAction); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println(l.Addr())
	err = http.Serve(l, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		form, _ := url.ParseQuery(string(body))
		resp, ok := byAction[form.Get("Action")]
		if !ok {
			http.Error(w, "no recorded response", http.StatusNotImplemented)
			return
		}
		w.Header().Set("Content-Type", resp.ContentType)
		w.Header().Set("Content-Length", fmt.Sprint(len(resp.Body)))
		w.WriteHeader(resp.Status)
		w.Write(resp.Body)
	}))
	fmt.Fprintln(os.Stderr, err)
	return 1
}

// recorder is an HTTP transport that keeps the last response to each EC2
// action it carries.
type recorder struct {
	next     http.RoundTripper
	byAction map[string]replayed
}

func (t *recorder) RoundTrip(r *http.Request) (*http.Response, error) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, err
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	resp, err := t.next.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	respBody, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(respBody))
	form, _ := url.ParseQuery(string(body))
	t.byAction[form.Get("Action")] = replayed{Status: resp.StatusCode, ContentType: resp.Header.Get("Content-Type"), Body: respBody}
	return resp, nil
}

// startReplay records palisade's responses to one CPUPerCall sequence on
// group (of a client signing with creds for s) and starts the replay
// server on them, stopped when b ends. It returns the replay server's
// costs with a client.
func startReplay(b *testing.B, s *server, creds aws.Credentials, group *string) *callCosts {
	rec := &recorder{next: client.NewSDKHTTPClient().Transport, byAction: map[string]replayed{}}
	recording := &callCosts{client: ec2At(s.endpoint, "us-east-1", creds, &http.Client{Transport: rec}), group: group, pid: s.cmd.Process.Pid}
	if err := recording.sequence(1 << 23); err != nil {
		b.Fatalf("recording palisade's responses: %v", err)
	}
	data, err := json.Marshal(rec.byAction)
	if err != nil {
		b.Fatal(err)
	}
	file := filepath.Join(b.TempDir(), "responses.json")
	if err := os.WriteFile(file, data, 0o600); err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), replayEnv+"="+file)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	addr, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		b.Fatalf("replay server's address: %v", err)
	}
	client := ec2At("http://"+strings.TrimSpace(addr), "us-east-1", creds, testutil.SDKHTTPClient)
	return &callCosts{pid: cmd.Process.Pid, client: client, group: group}
}
