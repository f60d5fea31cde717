package model

import (
	"net"
	"strings"
	"testing"
)

func FuzzParseProtocol(f *testing.F) {
	for _, s := range []string{"tcp", "TCP", "6", "-1", "all", "", "256", "icmpv6", "058", "+1", "1e1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParseProtocol(s)
		if err != nil {
			if CodeOf(err) != CodeInvalidParameterValue {
				t.Fatalf("error without the EC2 code: %v", err)
			}
			return
		}
		again, err := ParseProtocol(p.String())
		if err != nil || again != p {
			t.Fatalf("%q -> %s does not re-parse to itself: %v %v", s, p, again, err)
		}
		if p.String() != strings.ToLower(p.String()) {
			t.Fatalf("canonical form %q is not lower case", p)
		}
	})
}

func FuzzParseCIDR(f *testing.F) {
	for _, s := range []string{"10.1.2.3/16", "0.0.0.0/0", "::/0", "2001:db8::1/33", "1.2.3.4", "::ffff:1.2.3.4/120", "300.1.1.1/8"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParseCIDR(s)
		if err != nil {
			if CodeOf(err) != CodeInvalidParameterValue {
				t.Fatalf("error without the EC2 code: %v", err)
			}
			return
		}
		if p != p.Masked() {
			t.Fatalf("%q: host bits left in %s", s, p)
		}
		if again, err := ParseCIDR(p.String()); err != nil || again != p {
			t.Fatalf("%q -> %s does not re-parse to itself", s, p)
		}
		// Differential check against the standard library's older parser,
		// which always masks.
		if _, n, err := net.ParseCIDR(s); err == nil && !p.Addr().Is4In6() {
			if n.String() != p.String() {
				t.Fatalf("%q: net.ParseCIDR says %s, we say %s", s, n, p)
			}
		}
		if v4, err4 := ParseCIDR4(s); (err4 == nil) != p.Addr().Is4() || (err4 == nil && v4 != p) {
			t.Fatalf("%q: ParseCIDR4 disagrees", s)
		}
		if v6, err6 := ParseCIDR6(s); (err6 == nil) != p.Addr().Is6() || (err6 == nil && v6 != p) {
			t.Fatalf("%q: ParseCIDR6 disagrees", s)
		}
	})
}

func FuzzParsePorts(f *testing.F) {
	f.Add("tcp", int32(22), int32(22), true, true, false)
	f.Add("icmp", int32(-1), int32(4), true, true, false)
	f.Add("icmpv6", int32(0), int32(0), false, false, false)
	f.Add("-1", int32(1), int32(2), true, true, true)
	f.Fuzz(func(t *testing.T, proto string, from, to int32, hasFrom, hasTo, strict bool) {
		p, err := ParseProtocol(proto)
		if err != nil {
			return
		}
		var fp, tp *int32
		if hasFrom {
			fp = &from
		}
		if hasTo {
			tp = &to
		}
		ports, icmp, err := ParsePorts(p, fp, tp, strict)
		if err != nil {
			if CodeOf(err) == "" {
				t.Fatalf("error without a code: %v", err)
			}
			return
		}
		n, ok := p.Number()
		switch {
		case ok && n.HasPorts():
			if ports.From > ports.To || int32(ports.From) != from || int32(ports.To) != to {
				t.Fatalf("bad range %v from %d-%d", ports, from, to)
			}
		case ok && n.IsICMP():
			if icmp.Type < -1 || icmp.Code < -1 || (icmp.Type == -1 && icmp.Code != -1) {
				t.Fatalf("bad icmp filter %v", icmp)
			}
		default:
			if ports != (PortRange{}) || icmp != (ICMPFilter{}) {
				t.Fatalf("protocol %s kept ports", p)
			}
		}
	})
}

func FuzzParseID(f *testing.F) {
	for _, s := range []string{"sg-0123456789abcdef0", "sg-51530134", "sg-123abc", "foobar", "sg-", "sgr-00000000"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for k := KindGroup; k <= KindPrefixList; k++ {
			id, err := ParseID(k, s)
			if err == nil {
				rest := strings.TrimPrefix(id, k.Prefix())
				if id != s || !strings.HasPrefix(s, k.Prefix()) || (len(rest) != 8 && len(rest) != 17) || !isLowerHex(rest) {
					t.Fatalf("%v accepted %q", k, s)
				}
				continue
			}
			if c := CodeOf(err); c != kinds[k].malformed && c != kinds[k].notFound {
				t.Fatalf("%v: %q gave code %q", k, s, c)
			}
		}
	})
}

func FuzzGroupName(f *testing.F) {
	for _, s := range []string{"web", "sg-1", " x ", "", "a\x00b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		name, err := CanonicalGroupName(s)
		if err != nil {
			if CodeOf(err) == "" {
				t.Fatal("no code")
			}
			return
		}
		if again, err := CanonicalGroupName(name); err != nil || again != name {
			t.Fatalf("%q not stable: %q %v", name, again, err)
		}
		if len(name) > MaxTextLen || strings.HasSuffix(name, " ") {
			t.Fatalf("accepted %q", name)
		}
	})
}
