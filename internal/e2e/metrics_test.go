package e2e

import (
	"bufio"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"palisade.dev/palisade/internal/testutil"
)

// scrape reads s's /metrics as Prometheus does and returns each series'
// value by its text ("name{label="value",…}", labels in the order the
// exposition writes them: sorted by name).
func scrape(t *testing.T, s *server) map[string]float64 {
	t.Helper()
	resp, err := s.http.Get(s.endpoint + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET /metrics: %s %s\n%s", resp.Status, resp.Header.Get("Content-Type"), b)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("metrics line %q: %v", line, err)
		}
		out[line[:i]] = v
	}
	return out
}

// TestMetricsAfterAWSCLI drives a real serve with the aws CLI, then
// scrapes /metrics without signing and finds each call counted under its
// action and its EC2 code, timed, and the store's revision.
func TestMetricsAfterAWSCLI(t *testing.T) {
	testutil.RequireCommand(t, awsCLI)
	t.Parallel()
	s := startServer(t, t.TempDir())
	var out any
	cliJSON(t, s, &out, "sts", "get-caller-identity")
	cliJSON(t, s, &out, "ec2", "describe-security-groups")
	cliJSON(t, s, &out, "ec2", "create-security-group", "--group-name", "web", "--description", "web")
	if _, stderr, code := cli(t, s, "ec2", "create-security-group", "--group-name", "web", "--description", "web"); code == 0 ||
		!strings.Contains(stderr, "InvalidGroup.Duplicate") {
		t.Fatalf("a second group web: exit %d\n%s", code, stderr)
	}
	if _, stderr, code := cli(t, s, "ec2", "describe-security-groups", "--group-ids", "sg-nope"); code == 0 ||
		!strings.Contains(stderr, "InvalidGroupId.Malformed") {
		t.Fatalf("a malformed group id: exit %d\n%s", code, stderr)
	}
	// Unsigned, with an action of the client's choosing: it must not
	// become a label.
	resp, err := s.http.PostForm(s.endpoint, url.Values{"Action": {"Made-Up-Action"}, "Version": {"2016-11-15"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()

	got := scrape(t, s)
	want := map[string]float64{
		`palisade_api_requests_total{action="GetCallerIdentity",code="Success"}`:                       1,
		`palisade_api_requests_total{action="DescribeSecurityGroups",code="Success"}`:                  1,
		`palisade_api_requests_total{action="DescribeSecurityGroups",code="InvalidGroupId.Malformed"}`: 1,
		`palisade_api_requests_total{action="CreateSecurityGroup",code="Success"}`:                     1,
		`palisade_api_requests_total{action="CreateSecurityGroup",code="InvalidGroup.Duplicate"}`:      1,
		`palisade_api_requests_total{action="other",code="MissingAuthenticationToken"}`:                1,
		`palisade_api_request_duration_seconds_count{action="DescribeSecurityGroups"}`:                 2,
		`palisade_api_request_duration_seconds_count{action="CreateSecurityGroup"}`:                    2,
	}
	for series, v := range want {
		if got[series] != v {
			t.Errorf("%s = %v, want %v", series, got[series], v)
		}
	}
	for series := range got {
		if strings.Contains(series, "Made-Up") {
			t.Errorf("a client's action became a label: %s", series)
		}
	}
	if got["palisade_store_revision"] < 1 {
		t.Errorf("palisade_store_revision = %v, want the store's revision", got["palisade_store_revision"])
	}
	if _, ok := got["go_goroutines"]; !ok {
		t.Errorf("no Go runtime metrics")
	}
}

// TestServeProcessors: serve runs Go code on one processor, as its
// /metrics reports, unless the environment sets GOMAXPROCS.
func TestServeProcessors(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name string
		env  []string
		want float64
	}{
		{"unset", nil, 1},
		{"GOMAXPROCS=2", []string{"GOMAXPROCS=2"}, 2},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			s := startServerEnv(t, t.TempDir(), append(baseEnv(t), c.env...))
			if got := scrape(t, s)["go_sched_gomaxprocs_threads"]; got != c.want {
				t.Errorf("go_sched_gomaxprocs_threads = %v, want %v", got, c.want)
			}
		})
	}
}

// TestMetricsOff: with --metrics=false, /metrics is the API's, which
// wants a signature.
func TestMetricsOff(t *testing.T) {
	t.Parallel()
	s := startServer(t, t.TempDir(), "--metrics=false")
	resp, err := s.http.Get(s.endpoint + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == http.StatusOK || strings.Contains(string(b), "palisade_api") {
		t.Fatalf("GET /metrics with --metrics=false: %s\n%s", resp.Status, b)
	}
}
