// Package archtest holds the import rules of docs/architecture.md as a
// test: a package that imports what its layer must not fails the build of
// trust. It also keeps the documents in step with the code (docs_test.go).
package archtest

import (
	"bytes"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
)

const module = "palisade.dev/palisade"

// allowed lists, for every package of the module, the internal packages its
// non-test code may import (directly). A package missing from this table
// fails the test: whoever adds a package decides its place in the layering.
// Sub-packages (internal/store/bolt) inherit their parent's entry and may
// also import their parent.
var allowed = map[string][]string{
	"cmd/palisade":       {"*"},
	"internal/model":     {},
	"internal/policy":    {"internal/model"},
	"internal/audit":     {"internal/model", "internal/policy"},
	"internal/service":   {"internal/model", "internal/policy", "internal/audit", "internal/store", "internal/hosts"},
	"internal/store":     {},
	"internal/ec2api":    {"internal/service", "internal/model", "internal/auth"},
	"internal/console":   {"internal/service", "internal/model", "internal/auth"}, // the web console: a second edge beside ec2api
	"internal/auth":      {"internal/model", "internal/store"},
	"internal/dataplane": {"internal/policy", "internal/model", "internal/nsexec"},
	"internal/lab":       {"internal/model", "internal/nsexec"},
	"internal/nsexec":    {}, // names namespaces and runs code inside them: shared by lab and dataplane
	"internal/sysmon":    {}, // the Go runtime's monitor thread's timer slack: serve, agent and the e2e floor
	"internal/agent":     {"internal/policy", "internal/dataplane", "internal/lab", "internal/store", "internal/model", "internal/hosts"},
	"internal/hosts":     {"internal/model", "internal/store"}, // the hosts' registry: shared by agent and service
	"internal/client":    {},
	"internal/testutil":  {"internal/client"},
	"internal/archtest":  {},
	"internal/e2e":       {},    // _test.go files only: it drives the built binary from outside
	"internal/bench":     {"*"}, // a harness, like cmd: it wires everything together to measure it

	// Helpers of tests (see testOnly): builders of rules, groups and
	// interfaces; probes and fixtures inside network namespaces.
	"internal/policytest": {"internal/model"},
	"internal/labtest":    {"internal/nsexec", "internal/testutil"},
}

// pure packages decide from values alone: no I/O, no clock, no randomness,
// no logger. They may import the standard library (minus the list below)
// and the listed pure third-party packages.
var pure = []string{"internal/model", "internal/policy", "internal/audit", "internal/policytest"}

// testOnly packages are imported only by _test.go files, and by each other.
var testOnly = []string{"internal/testutil", "internal/policytest", "internal/labtest"}

var ioPackages = []string{
	"net", "net/http", "net/rpc", "net/smtp", "os", "os/exec", "os/signal", "os/user",
	"syscall", "io/ioutil", "path/filepath", "log", "log/slog", "log/syslog",
	"database/sql", "crypto/rand", "math/rand", "math/rand/v2", "plugin", "unsafe",
	"runtime/cgo", "embed",
}

var pureThirdParty = []string{"go4.org/netipx"}

type pkg struct {
	ImportPath string
	Imports    []string
}

func listPackages(t *testing.T) []pkg {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..", "..")
	cmd := exec.Command("go", "list", "-json", "./...")
	cmd.Dir = root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.String())
	}
	var pkgs []pkg
	dec := json.NewDecoder(bytes.NewReader(out))
	for dec.More() {
		var p pkg
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	if len(pkgs) < 3 {
		t.Fatalf("go list found only %d packages", len(pkgs))
	}
	return pkgs
}

// entry finds the table entry that governs rel (itself or its nearest parent).
func entry(rel string) (string, bool) {
	for p := rel; p != "." && p != ""; p = filepath.Dir(p) {
		if _, ok := allowed[p]; ok {
			return p, true
		}
	}
	return "", false
}

func TestImportRules(t *testing.T) {
	for _, p := range listPackages(t) {
		rel := strings.TrimPrefix(strings.TrimPrefix(p.ImportPath, module), "/")
		owner, ok := entry(rel)
		if !ok {
			t.Errorf("%s is not in the layering table of archtest: add it, and describe it in docs/architecture.md", rel)
			continue
		}
		for _, imp := range p.Imports {
			if msg := checkImport(rel, owner, imp); msg != "" {
				t.Errorf("%s imports %s: %s", rel, imp, msg)
			}
		}
	}
}

// checkImport returns why rel (governed by owner) may not import imp, or "".
func checkImport(rel, owner, imp string) string {
	if strings.HasPrefix(imp, module+"/") {
		target := strings.TrimPrefix(imp, module+"/")
		if slices.Contains(testOnly, target) && !slices.Contains(testOnly, owner) {
			return strings.TrimPrefix(target, "internal/") + " is for _test.go files only"
		}
		ok := allowed[owner]
		if slices.Contains(ok, "*") || strings.HasPrefix(target, owner+"/") || strings.HasPrefix(rel, target+"/") {
			return ""
		}
		for _, a := range ok {
			if target == a || strings.HasPrefix(target, a+"/") {
				return ""
			}
		}
		return "not allowed by docs/architecture.md (" + owner + " may import " + strings.Join(ok, ", ") + ")"
	}
	if !slices.Contains(pure, owner) {
		return ""
	}
	if slices.Contains(ioPackages, imp) {
		return "pure packages do no I/O"
	}
	if isThirdParty(imp) && !slices.Contains(pureThirdParty, imp) {
		return "pure packages import only the standard library and " + strings.Join(pureThirdParty, ", ")
	}
	return ""
}

func isThirdParty(imp string) bool {
	first, _, _ := strings.Cut(imp, "/")
	return strings.Contains(first, ".")
}

// TestCheckImportCatchesViolations makes sure the rule checker itself can fail.
func TestCheckImportCatchesViolations(t *testing.T) {
	bad := []struct{ rel, imp string }{
		{"internal/model", "net/http"},
		{"internal/model", "os"},
		{"internal/policy", "os/exec"},
		{"internal/policy", "github.com/vishvananda/netlink"},
		{"internal/policy", module + "/internal/store"},
		{"internal/model", module + "/internal/policy"},
		{"internal/dataplane", module + "/internal/store"},
		{"internal/ec2api", module + "/internal/dataplane"},
		{"internal/store/bolt", module + "/internal/service"},
		{"internal/service", module + "/internal/testutil"},
		{"internal/service", module + "/internal/policytest"},
		{"internal/policytest", "os"},
		{"internal/policytest", module + "/internal/policy"},
		{"cmd/palisade", module + "/internal/policytest"},
		{"internal/dataplane", module + "/internal/labtest"},
		{"internal/bench", module + "/internal/labtest"},
		{"internal/labtest", module + "/internal/lab"},
	}
	for _, c := range bad {
		owner, ok := entry(c.rel)
		if !ok {
			t.Fatalf("%s has no entry", c.rel)
		}
		if checkImport(c.rel, owner, c.imp) == "" {
			t.Errorf("%s importing %s was accepted", c.rel, c.imp)
		}
	}
	good := []struct{ rel, imp string }{
		{"internal/policy", module + "/internal/model"},
		{"internal/policy", "go4.org/netipx"},
		{"internal/model", "net/netip"},
		{"internal/store/bolt", module + "/internal/store"},
		{"internal/store/bolt", "go.etcd.io/bbolt"},
		{"cmd/palisade", module + "/internal/agent"},
		{"internal/policytest", module + "/internal/model"},
		{"internal/labtest", module + "/internal/testutil"},
		{"internal/labtest", "golang.org/x/net/icmp"},
	}
	for _, c := range good {
		owner, _ := entry(c.rel)
		if msg := checkImport(c.rel, owner, c.imp); msg != "" {
			t.Errorf("%s importing %s was refused: %s", c.rel, c.imp, msg)
		}
	}
	if _, ok := entry("internal/newthing"); ok {
		t.Error("a package missing from the table was accepted")
	}
}
