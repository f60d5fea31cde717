package dataplane

import (
	"errors"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"

	"palisade.dev/palisade/internal/labtest"
	"palisade.dev/palisade/internal/nsexec"
	"palisade.dev/palisade/internal/testutil"
)

// newNetns makes an empty network namespace with a unique name, deleted
// when the test ends.
func newNetns(t testing.TB) string { return labtest.Netns(t, "pdt-") }

func nsPath(name string) string { return nsexec.Path(name) }

func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testutil.LogWriter(t), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// openTable opens the table in ns, closed when the test ends.
func openTable(t testing.TB, ns string) *Table {
	t.Helper()
	tbl, err := Open(nsPath(ns), testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tbl.Close() })
	return tbl
}

func mustApply(t testing.TB, tbl *Table, d Desired) Result {
	t.Helper()
	res, err := tbl.Apply(d)
	if err != nil {
		t.Fatalf("apply: %v", err)
	}
	return res
}

func mustNoDrift(t testing.TB, tbl *Table) {
	t.Helper()
	drift, err := tbl.Check()
	if err != nil {
		t.Fatalf("check: %v", err)
	}
	if drift {
		t.Fatal("check reports drift right after apply")
	}
}

// nftList runs `nft --debug=netlink list table inet palisade` in ns: the
// bytecode of every rule and every set element, then the table as text.
func nftList(t *testing.T, ns string) string {
	t.Helper()
	ip := testutil.RequireCommand(t, "ip")
	nft := testutil.RequireCommand(t, "nft")
	out, err := exec.Command(ip, "netns", "exec", ns, nft, "--debug=netlink", "list", "table", "inet", TableName).CombinedOutput()
	if err != nil {
		t.Fatalf("nft list in %s: %v\n%s", ns, err, out)
	}
	return string(out)
}

func nftLoad(t *testing.T, ns, text string) {
	t.Helper()
	ip := testutil.RequireCommand(t, "ip")
	nft := testutil.RequireCommand(t, "nft")
	cmd := exec.Command(ip, "netns", "exec", ns, nft, "-f", "-")
	cmd.Stdin = strings.NewReader(text)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("nft -f of Render's text: %v\n%s", err, out)
	}
}

var (
	ruleHeader  = regexp.MustCompile(`^(inet palisade \S+) \d+( \d+)?$`)
	setHeader   = regexp.MustCompile(`^inet palisade @\S+$`)
	elementsRun = regexp.MustCompile(`(?s)elements = \{[^}]*\}`)
)

// normalize makes two listings of equal tables equal: rule handles go,
// element lines are sorted within their set (dump order differs between
// tables built differently), the text's element lists go (the bytecode part
// has them), and nft's "byteorder" of a one-byte field in a concatenation
// goes: it is a no-op (a 2-byte swap of 1 byte) that Apply leaves out.
func normalize(listing string) string {
	var out, elems []string
	flush := func() {
		slices.Sort(elems)
		out = append(out, elems...)
		elems = nil
	}
	lines := strings.Split(elementsRun.ReplaceAllString(listing, "elements = {…}"), "\n")
	for _, l := range lines {
		switch {
		case strings.Contains(l, "[ byteorder "):
			continue
		case strings.HasPrefix(l, "\telement "):
			elems = append(elems, l)
			continue
		}
		flush()
		if m := ruleHeader.FindStringSubmatch(l); m != nil && !setHeader.MatchString(l) {
			l = m[1]
		}
		out = append(out, l)
	}
	flush()
	return strings.Join(out, "\n")
}

// TestKernelMatchesRender is the cross-check of the two renderings: for
// every golden policy, the table Apply programs over netlink and the table
// nft compiles from Render's text must list identically, bytecode and
// elements included; Check must see no drift; and nft must be able to parse
// its own listing of our table again.
func TestKernelMatchesRender(t *testing.T) {
	for name, d := range goldenCases() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ours, theirs := newNetns(t), newNetns(t)
			tbl := openTable(t, ours)
			mustApply(t, tbl, d)
			mustNoDrift(t, tbl)
			text, err := Render(d)
			if err != nil {
				t.Fatal(err)
			}
			nftLoad(t, theirs, text)
			got, want := normalize(nftList(t, ours)), normalize(nftList(t, theirs))
			if got != want {
				t.Errorf("kernel table (netlink) differs from nft's compilation of Render:\n%s", lineDiff(want, got))
			}
			// Pitfall 5 of docs/dataplane.md#pitfalls: names stay nft-parseable.
			plain := exec.Command("ip", "netns", "exec", ours, "nft", "list", "table", "inet", TableName)
			listing, err := plain.Output()
			if err != nil {
				t.Fatal(err)
			}
			check := exec.Command("ip", "netns", "exec", theirs, "nft", "-c", "-f", "-")
			// nft 1.0.6 lists a ct timeout object whose timeouts are all
			// its defaults as "policy = {  }", which it cannot parse.
			relist := strings.ReplaceAll(string(listing), "policy = {  }", "")
			check.Stdin = strings.NewReader(strings.Replace(relist, "table inet palisade", "table inet reparse", 1))
			if out, err := check.CombinedOutput(); err != nil {
				t.Errorf("nft cannot parse its listing of our table: %v\n%s", err, out)
			}
		})
	}
}

// TestOpenFailsClosed: Open of a namespace without the table installs the
// empty one, which drops every forwarded packet; Open of one with a table
// keeps it (the last rules stay in force) and the first Apply rebuilds.
func TestOpenFailsClosed(t *testing.T) {
	ns := newNetns(t)
	tbl := openTable(t, ns)
	if got := nftList(t, ns); !strings.Contains(got, "policy drop") {
		t.Fatalf("fresh table does not drop:\n%s", got)
	}
	d := goldenCases()["web"]
	mustApply(t, tbl, d)
	// Normalized: the kernel may reorder a hash set's elements at any time
	// (a deferred resize of its table), which the dump order shows.
	before := normalize(nftList(t, ns))
	again := openTable(t, ns)
	if got := normalize(nftList(t, ns)); got != before {
		t.Errorf("Open of an existing table changed it:\n%s", lineDiff(before, got))
	}
	if drift, _ := again.Check(); !drift {
		t.Error("a table opened, not yet applied, reports no drift")
	}
	if res := mustApply(t, again, d); !res.Full {
		t.Errorf("first apply of an adopted table was incremental: %+v", res)
	}
	mustNoDrift(t, again)
}

// TestCheckFindsDrift: deleting the table, an element or a rule by hand is
// drift; Apply then restores the table.
func TestCheckFindsDrift(t *testing.T) {
	ns := newNetns(t)
	tbl := openTable(t, ns)
	d := goldenCases()["web"]
	mustApply(t, tbl, d)
	want := nftList(t, ns)
	edits := map[string]func(c *nftables.Conn){
		"table deleted": func(c *nftables.Conn) { c.DelTable(tbl.tbl) },
		"own address deleted": func(c *nftables.Conn) {
			s := tbl.nftSet(tbl.last.sets[1])
			c.SetDeleteElements(s, nftElems(tbl.last.sets[1], tbl.last.sets[1].elems[:1], time.Time{}))
		},
		"chain flushed": func(c *nftables.Conn) {
			c.FlushChain(&nftables.Chain{Name: groupChainName(gid(1), 1), Table: tbl.tbl})
		},
		"map entry retargeted": func(c *nftables.Conn) {
			m := tbl.last.sets[3]
			e := m.elems[0]
			c.SetDeleteElements(tbl.nftSet(m), nftElems(m, []element{e}, time.Time{}))
			e.verdict = m.elems[1].verdict
			c.SetAddElements(tbl.nftSet(m), nftElems(m, []element{e}, time.Time{}))
		},
		"map verdict changed": func(c *nftables.Conn) {
			m := tbl.last.sets[4] // in_ports: its last element is the lab host's accept
			e := m.elems[len(m.elems)-1]
			c.SetDeleteElements(tbl.nftSet(m), nftElems(m, []element{e}, time.Time{}))
			e.verdict = &expr.Verdict{Kind: expr.VerdictDrop}
			c.SetAddElements(tbl.nftSet(m), nftElems(m, []element{e}, time.Time{}))
		},
	}
	for name, edit := range edits {
		mustNoDrift(t, tbl)
		c, err := nftables.New(nftables.WithNetNSFd(int(tbl.ns.Fd())))
		if err != nil {
			t.Fatal(err)
		}
		edit(c)
		if err := c.Flush(); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		drift, err := tbl.Check()
		if err != nil || !drift {
			t.Errorf("%s: drift %v, err %v; want drift", name, drift, err)
		}
		if res := mustApply(t, tbl, d); !res.Full {
			t.Errorf("%s: apply after drift was not a rebuild", name)
		}
		if got := nftList(t, ns); normalize(got) != normalize(want) {
			t.Errorf("%s: apply did not restore the table:\n%s", name, lineDiff(normalize(want), normalize(got)))
		}
	}
}

// TestRemove deletes the table; a second Remove is fine.
func TestRemove(t *testing.T) {
	ns := newNetns(t)
	tbl := openTable(t, ns)
	mustApply(t, tbl, goldenCases()["default"])
	for range 2 {
		if err := tbl.Remove(); err != nil {
			t.Fatal(err)
		}
	}
	exists, err := tbl.exists()
	if err != nil || exists {
		t.Fatalf("table exists %v after Remove (err %v)", exists, err)
	}
	if _, err := Open(nsPath("pdt-none-"+randHex(6)), nil); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Open of a missing namespace: %v", err)
	}
}

// TestIncrementalUpdates applies a sequence of random policies to one
// table: every step must be an incremental batch the kernel accepts (set
// elements replaced inside one transaction, chains rewritten, sets and
// chains added and deleted in a valid order), and leave exactly the table
// a rebuild would.
func TestIncrementalUpdates(t *testing.T) {
	tbl := openTable(t, newNetns(t))
	rng := rand.New(rand.NewPCG(3, 5))
	for i := range 40 {
		d := desired(randomSnapshot(rng), nil, hostIf)
		if i%7 == 3 {
			d.Ports = d.Ports[:i%len(d.Ports)] // some interfaces go away
		}
		res := mustApply(t, tbl, d)
		if i > 0 && res.Full {
			t.Fatalf("step %d fell back to a rebuild (see the log)", i)
		}
		mustNoDrift(t, tbl)
	}
}
