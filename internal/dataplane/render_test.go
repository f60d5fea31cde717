package dataplane

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"palisade.dev/palisade/internal/model"
	"palisade.dev/palisade/internal/nsexec"
	"palisade.dev/palisade/internal/policy"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden with the current output")

// goldenCases are the compiled policies whose rendering is kept in
// testdata/<name>.golden; the kernel tests load the same ones.
func goldenCases() map[string]Desired {
	web, lb, admin := gid(1), gid(2), gid(3)
	webENI, lbENI, lb2ENI := eniID(1), eniID(2), eniID(3)
	webSnap := policy.Snapshot{
		Groups: []model.SecurityGroup{
			group(web, []model.Rule{
				in("tcp", "203.0.113.5/32", 22, 22),
				in("tcp", string(lb), 80, 80),
				in("tcp", "10.0.0.0/8", 1000, 2000),
				in("tcp", "10.1.0.0/16", 1500, 1500), // inside the rule above: cells must not overlap
				in("tcp", "0.0.0.0/0", 443, 443),
				in("udp", "198.51.100.0/24", 53, 53),
				in("icmp", "0.0.0.0/0", 8, -1),
				in("icmp", "192.0.2.0/24", 3, 4),
				in("icmpv6", "::/0", 128, -1),
				in("icmpv6", string(lb)),
				in("icmp", string(lb), 8, -1), // a reference with an ICMP type
				in("tcp", string(lb), 8080, 8090),
				in("tcp", string(lb), 8085, 8100), // overlaps the one above: one element
				in("50", "198.51.100.0/24"),
				in("tcp", "2001:db8::/32", 443, 443),
				in("-1", "198.51.100.128/25"),
				out("tcp", "0.0.0.0/0", 443, 443),
				out("udp", string(lb), 5000, 5100),
			}...),
			group(lb, allOut()...),
			group(admin, in("tcp", "203.0.113.0/24", 22, 22)),
		},
		ENIs: []model.ENI{
			iface(webENI, gs(web, admin), addr("10.0.1.10"), addr("2001:db8:1::10")),
			iface(lbENI, gs(lb), addr("10.0.2.20"), addr("10.0.2.21"), addr("2001:db8:2::20")),
			iface(lb2ENI, gs(lb), addr("10.0.2.30")),
		},
	}
	webSnap.ENIs[0].Conntrack = model.ConntrackTimeouts{TCPEstablished: 3600, UDP: 60}

	def := gid(10)
	defSnap := policy.Snapshot{
		Groups: []model.SecurityGroup{group(def, append(allOut(), in("-1", string(def)))...)},
		ENIs: []model.ENI{
			iface(eniID(10), gs(def), addr("172.31.5.9")),
			iface(eniID(11), gs(def), addr("172.31.5.10"), addr("2600:1f18::11")),
		},
	}

	pl := model.PrefixListID("pl-00000001")
	plGroup := gid(20)
	plSnap := policy.Snapshot{
		Groups: []model.SecurityGroup{group(plGroup,
			in("tcp", string(pl), 0, 65535),
			in("tcp", "10.20.0.0/16", 8080, 8080),
			in("udp", string(pl), 1000, 2000),
			in("udp", "10.0.0.0/8", 1500, 3000),
		)},
		ENIs: []model.ENI{iface(eniID(20), gs(plGroup), addr("10.9.9.9"))},
		PrefixLists: []model.PrefixList{{ID: pl, MaxEntries: 5, Entries: []model.PrefixListEntry{
			{CIDR: pfx("10.0.0.0/16")}, {CIDR: pfx("10.1.0.0/16")}, {CIDR: pfx("10.20.0.0/16")}, {CIDR: pfx("192.0.2.0/24")},
		}}},
	}
	observed := desired(defSnap, nil, "hb0000000000001")
	observed.Observe = true
	return map[string]Desired{
		"observed":   observed,
		"empty":      {},
		"web":        desired(webSnap, nil, "hb0000000000001"),
		"default":    desired(defSnap, nil),
		"prefixlist": desired(plSnap, nil),
	}
}

func TestRenderGolden(t *testing.T) {
	for name, d := range goldenCases() {
		t.Run(name, func(t *testing.T) {
			got, err := Render(d)
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("testdata", name+".golden")
			if *update {
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("Render differs from %s (run with -update after checking):\n%s", path, lineDiff(string(want), got))
			}
			again, _ := Render(d)
			if again != got {
				t.Error("Render is not deterministic")
			}
		})
	}
}

func TestRenderRejects(t *testing.T) {
	good := goldenCases()["default"]
	p0, p1 := good.Ports[0], good.Ports[1]
	other := desired(policy.Snapshot{
		Groups: []model.SecurityGroup{group(gid(10), in("tcp", "0.0.0.0/0", 22, 22))},
		ENIs:   []model.ENI{iface(eniID(12), gs(gid(10)), addr("172.31.5.12"))},
	}, nil).Ports[0]
	cases := []struct {
		name string
		d    Desired
		want error
	}{
		{"two ports, one interface", Desired{Ports: []Port{p0, {ENI: p1.ENI, IfName: p0.IfName, Policy: p1.Policy}}}, ErrInvalid},
		{"one port twice", Desired{Ports: []Port{p0, p0}}, ErrInvalid},
		{"interface name too long", Desired{Ports: []Port{{ENI: p0.ENI, IfName: "e0123456789abcdef", Policy: p0.Policy}}}, ErrInvalid},
		{"no policy", Desired{Ports: []Port{{ENI: p0.ENI, IfName: p0.IfName}}}, ErrInvalid},
		{"bad ENI id", Desired{Ports: []Port{{ENI: "eni 1", IfName: p0.IfName, Policy: p0.Policy}}}, ErrInvalid},
		{"host and port share an interface", Desired{Ports: []Port{p0}, HostIfaces: []string{p0.IfName}}, ErrInvalid},
		{"host twice", Desired{HostIfaces: []string{"h1", "h1"}}, ErrInvalid},
		{"policies of two compilations", Desired{Ports: []Port{p0, other}}, ErrInconsistent},
	}
	for _, c := range cases {
		if _, err := Render(c.d); !errors.Is(err, c.want) {
			t.Errorf("%s: err %v, want %v", c.name, err, c.want)
		}
	}
}

// TestRenderLeavesOutClashingInterfaces: of two interfaces whose names hash
// to one index, the first in name order is in the table and the other is
// left out altogether, so that neither can send as the other.
func TestRenderLeavesOutClashingInterfaces(t *testing.T) {
	const first, second = "e000051b9", "e00024694" // nsexec.IfIndex alike
	if nsexec.IfIndex(first) != nsexec.IfIndex(second) {
		t.Fatal("the two names no longer share an index: find another pair")
	}
	d := goldenCases()["default"]
	p0, p1 := d.Ports[0], d.Ports[1]
	p0.IfName, p1.IfName = second, first
	rs, _, err := build(Desired{Ports: []Port{p0, p1}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(rs.clash, []string{second + " (index of " + first + ")"}) {
		t.Fatalf("left out %q", rs.clash)
	}
	text, err := Render(Desired{Ports: []Port{p0, p1}})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(text, portChainName(p1.ENI, model.Ingress)) || strings.Contains(text, portChainName(p0.ENI, model.Ingress)) {
		t.Fatalf("want %s's chains and not %s's:\n%s", p1.ENI, p0.ENI, text)
	}
	idx := strconv.Itoa(nsexec.IfIndex(first))
	if n := strings.Count(text, idx+" : goto "+portChainName(p1.ENI, model.Ingress)); n != 1 {
		t.Fatalf("the index is in in_ports %d times, want once:\n%s", n, text)
	}
	if len(p1.Policy.Addrs) == 0 {
		t.Fatal("the port has no address")
	}
	for _, a := range p1.Policy.Addrs {
		if n := strings.Count(text, idx+" . "+a.String()+" : goto "+portChainName(p1.ENI, model.Egress)); n != 1 {
			t.Fatalf("%s . %s is in the egress maps %d times, want once:\n%s", idx, a, n, text)
		}
	}
	if n := strings.Count(text, idx+" "); n != 1+2*len(p1.Policy.Addrs) {
		t.Fatalf("the index is in the table %d times, want %d (in_ports; own and out_ports for each address):\n%s", n, 1+2*len(p1.Policy.Addrs), text)
	}
}
