package lab

import (
	"errors"
	"fmt"
	"math/big"
	"net/netip"
	"strings"
	"testing"

	"palisade.dev/palisade/internal/model"
)

// unpackHex inverts packHex: 14 base32hex digits back to 17 hex digits.
func unpackHex(s string) string {
	n := new(big.Int)
	for i := range len(s) {
		n.Lsh(n, 5)
		n.Or(n, big.NewInt(int64(strings.IndexByte(digits32, s[i]))))
	}
	return fmt.Sprintf("%017x", n)
}

func TestRouterIfName(t *testing.T) {
	for _, tc := range []struct{ eni, want string }{
		{"eni-00000000000000000", "e00000000000000"},
		{"eni-fffffffffffffffff", "e7vvvvvvvvvvvvv"},
		{"eni-00000000000000001", "e00000000000001"},
		{"eni-10000000000000000", "e0g000000000000"},
		{"eni-0123abcd", "e0123abcd"},
	} {
		if got := RouterIfName(model.ENIID(tc.eni)); got != tc.want {
			t.Errorf("RouterIfName(%q) = %q, want %q", tc.eni, got, tc.want)
		}
	}
	seen := map[string]string{}
	for range 20000 {
		eni := eniID()
		name := RouterIfName(eni)
		if len(name) > 15 || !strings.HasPrefix(name, ENIIfPrefix) || !validChars(name) {
			t.Fatalf("RouterIfName(%q) = %q: not a valid interface name of the lab", eni, name)
		}
		if back := "eni-" + unpackHex(name[1:]); back != string(eni) {
			t.Fatalf("RouterIfName(%q) = %q decodes to %q: not injective", eni, name, back)
		}
		if prev, dup := seen[name]; dup && prev != string(eni) {
			t.Fatalf("%q and %q both map to %q", prev, eni, name)
		}
		seen[name] = string(eni)
	}
}

func TestRouterIfNameOfInvalidIDs(t *testing.T) {
	for _, id := range []string{"", "eni-", "eni-0123456789ABCDEF0", "eni-0123456789abcdef", "sg-0123456789abcdef0"} {
		name := RouterIfName(model.ENIID(id))
		if len(name) != 15 || !strings.HasPrefix(name, ENIIfPrefix+"_") || !validChars(name) {
			t.Errorf("RouterIfName(%q) = %q, want e_ + 13 digits", id, name)
		}
	}
	if RouterIfName("eni-x") == RouterIfName("eni-y") {
		t.Error("two invalid ids share a name")
	}
}

func TestHostIfName(t *testing.T) {
	a, b := HostIfName("alice"), HostIfName("bob")
	if len(a) != 15 || !strings.HasPrefix(a, HostIfPrefix) || a == b || a != HostIfName("alice") {
		t.Errorf("HostIfName: alice %q, bob %q", a, b)
	}
}

func TestMarkerRoundTrip(t *testing.T) {
	for _, m := range []marker{
		{role: roleRouter, vpc: "vpc-0123456789abcdef0", router: "palisade-vpc-0123456789abcdef0"},
		{role: roleNIC, eni: "eni-0123456789abcdef0", ns: "i-0123456789abcdef0", dev: "eth1"},
		{role: roleHost},
	} {
		got, ok := parseMarker(m.String())
		if !ok || got != m {
			t.Errorf("parseMarker(%q) = %+v, %v; want %+v", m.String(), got, ok, m)
		}
	}
	for _, alias := range []string{"", "palisade-lab/v1", "palisade-lab/v2 role=nic", "palisade-lab/v1 colour=red", "my uplink"} {
		if m, ok := parseMarker(alias); ok {
			t.Errorf("parseMarker(%q) = %+v, want no marker", alias, m)
		}
	}
}

func TestValidInstance(t *testing.T) {
	nic := func(eni string, dev int, v4, v6 string) NIC {
		n := NIC{ENI: model.ENIID(eni), Device: dev, IPv4: pfx(v4)}
		if v6 != "" {
			n.IPv6 = pfx(v6)
		}
		return n
	}
	vpc, e1, e2 := "vpc-0123456789abcdef0", "eni-0123456789abcdef0", "eni-0123456789abcdef1"
	ok := nic(e1, 0, "172.31.5.9/20", "2001:db8:1::9/64")
	for _, tc := range []struct {
		name string
		inst Instance
		ok   bool
	}{
		{"one nic", Instance{"i-0123456789abcdef0", model.VpcID(vpc), []NIC{ok}}, true},
		{"two nics", Instance{"i-0123456789abcdef0", model.VpcID(vpc), []NIC{ok, nic(e2, 1, "172.31.16.4/20", "")}}, true},
		{"short ids", Instance{"i-01234567", "vpc-01234567", []NIC{nic("eni-01234567", 0, "10.0.0.5/24", "")}}, true},
		{"bad instance id", Instance{"i-0123", model.VpcID(vpc), []NIC{ok}}, false},
		{"upper-case id", Instance{"i-0123456789ABCDEF0", model.VpcID(vpc), []NIC{ok}}, false},
		{"bad vpc", Instance{"i-0123456789abcdef0", "vpc-x", []NIC{ok}}, false},
		{"no nics", Instance{"i-0123456789abcdef0", model.VpcID(vpc), nil}, false},
		{"no device 0", Instance{"i-0123456789abcdef0", model.VpcID(vpc), []NIC{nic(e1, 1, "172.31.5.9/20", "")}}, false},
		{"device twice", Instance{"i-0123456789abcdef0", model.VpcID(vpc), []NIC{ok, nic(e2, 0, "172.31.5.10/20", "")}}, false},
		{"eni twice", Instance{"i-0123456789abcdef0", model.VpcID(vpc), []NIC{ok, nic(e1, 1, "172.31.5.10/20", "")}}, false},
		{"address twice", Instance{"i-0123456789abcdef0", model.VpcID(vpc), []NIC{ok, nic(e2, 1, "172.31.5.9/20", "")}}, false},
		{"gateway address", Instance{"i-0123456789abcdef0", model.VpcID(vpc), []NIC{nic(e1, 0, "172.31.0.1/20", "")}}, false},
		{"network address", Instance{"i-0123456789abcdef0", model.VpcID(vpc), []NIC{nic(e1, 0, "172.31.0.0/20", "")}}, false},
		{"/31", Instance{"i-0123456789abcdef0", model.VpcID(vpc), []NIC{nic(e1, 0, "172.31.0.3/31", "")}}, false},
		{"v6 in v4", Instance{"i-0123456789abcdef0", model.VpcID(vpc), []NIC{nic(e1, 0, "2001:db8::9/64", "")}}, false},
		{"link-local v6", Instance{"i-0123456789abcdef0", model.VpcID(vpc), []NIC{nic(e1, 0, "172.31.5.9/20", "fe80::9/64")}}, false},
		{"device 100", Instance{"i-0123456789abcdef0", model.VpcID(vpc), []NIC{ok, nic(e2, 100, "172.31.5.10/20", "")}}, false},
	} {
		err := validInstance(tc.inst)
		if (err == nil) != tc.ok || err != nil && !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: validInstance = %v, want ok %v", tc.name, err, tc.ok)
		}
	}
}

func TestValidHost(t *testing.T) {
	l, err := New(Config{RouterPrefix: "palisade-"})
	if err != nil {
		t.Fatal(err)
	}
	vpc := "vpc-0123456789abcdef0"
	for _, tc := range []struct {
		h  Host
		ok bool
	}{
		{Host{"alice", model.VpcID(vpc), ip("203.0.113.7"), netip.Addr{}}, true},
		{Host{"bob.lab_2", model.VpcID(vpc), ip("198.51.100.1"), ip("2001:db8:ff::1")}, true},
		{Host{"i-0123456789abcdef0", model.VpcID(vpc), ip("203.0.113.7"), netip.Addr{}}, false},
		{Host{"palisade-x", model.VpcID(vpc), ip("203.0.113.7"), netip.Addr{}}, false},
		{Host{"with space", model.VpcID(vpc), ip("203.0.113.7"), netip.Addr{}}, false},
		{Host{"a/b", model.VpcID(vpc), ip("203.0.113.7"), netip.Addr{}}, false},
		{Host{"..", model.VpcID(vpc), ip("203.0.113.7"), netip.Addr{}}, false},
		{Host{"", model.VpcID(vpc), ip("203.0.113.7"), netip.Addr{}}, false},
		{Host{strings.Repeat("a", 64) + ".123456789012", model.VpcID(vpc), ip("203.0.113.7"), netip.Addr{}}, true}, // the service's longest
		{Host{strings.Repeat("a", MaxHostNameLen+1), model.VpcID(vpc), ip("203.0.113.7"), netip.Addr{}}, false},
		{Host{"alice", "vpc-1", ip("203.0.113.7"), netip.Addr{}}, false},
		{Host{"alice", model.VpcID(vpc), netip.Addr{}, netip.Addr{}}, false},
		{Host{"alice", model.VpcID(vpc), ip("169.254.0.1"), netip.Addr{}}, false},
		{Host{"alice", model.VpcID(vpc), ip("2001:db8::1"), netip.Addr{}}, false},
		{Host{"alice", model.VpcID(vpc), ip("203.0.113.7"), ip("203.0.113.8")}, false},
	} {
		err := l.validHost(tc.h)
		if (err == nil) != tc.ok || err != nil && !errors.Is(err, ErrInvalid) {
			t.Errorf("validHost(%+v) = %v, want ok %v", tc.h, err, tc.ok)
		}
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	for _, cfg := range []Config{
		{RouterPrefix: "has space"},
		{RouterPrefix: strings.Repeat("p", 33)},
		{MTU: 576},
	} {
		if _, err := New(cfg); !errors.Is(err, ErrInvalid) {
			t.Errorf("New(%+v) = %v, want ErrInvalid", cfg, err)
		}
	}
}
